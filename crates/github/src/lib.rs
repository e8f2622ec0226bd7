//! Shipyard's GitHub client: the REST and GraphQL calls Shipyard makes, and webhook verification.
//!
//! Built on reqwest rather than a general-purpose SDK because Shipyard's needs are narrow but
//! strict: every call shares one concurrency limit, one rate-limit state (so a limit hit by one
//! caller pauses all of them, with one warning), jittered retries on transient failures, and an
//! ETag cache that makes unchanged answers free. See `docs/architecture.md`.
//!
//! It is not a model of GitHub: it returns the few fields Shipyard uses, in Shipyard's own types.
//!
//! Layout:
//! - [`transport`]: one HTTP exchange with retries, rate limits, ETags and the concurrency limit;
//!   it asks one `Auth` value for the `Authorization` header of each request.
//! - [`auth`]: what the client authenticates with: a fixed token or a GitHub App.
//! - [`app`]: GitHub App authentication: the private key, the JWT, and the installation token
//!   cache that renews a token before it expires, one exchange at a time.
//! - [`api`]: the endpoints (org repos, compare, pulls) and the GraphQL overview query.
//! - [`actions`]: GitHub Actions runs and jobs (conditional on the caller's ETags), and job logs
//!   streamed from the host GitHub redirects to, without the token.
//! - [`dashboard`]: what the pull-request dashboard needs: the PR, its comments (every page),
//!   commit statuses, reviews, a collaborator's permission, reactions.
//! - [`webhook`]: `X-Hub-Signature-256` verification.

pub mod actions;
pub mod api;
pub mod app;
pub mod auth;
pub mod dashboard;
pub mod transport;
pub mod webhook;

pub use actions::{Conditional, Job, JobLog, LogRead, WorkflowRun};
pub use api::{BranchOverview, CompareResult, OrgRepo};
pub use app::{AppKey, AppStatus, GithubApp, Installation, KeyError, KeyFormat};
pub use auth::{AuthMode, AuthStatus};
pub use dashboard::{CommitStatus, IssueComment, NewCommitStatus, PullRequest, PullReview};
pub use transport::{GitHub, GitHubOptions, RequestStats};

use std::time::Duration;

/// What went wrong talking to GitHub, in terms a caller can act on.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GithubError {
    /// GitHub could not be reached or kept failing (5xx, resets, timeouts) after retries.
    #[error("GitHub is unavailable: {0}")]
    Unavailable(String),
    /// The rate limit is exhausted until the given unix time.
    #[error("GitHub rate limit exhausted; it resets in {}", humantime::format_duration(Duration::from_secs(*.reset_in_secs)))]
    RateLimited {
        /// Seconds until GitHub accepts calls again.
        reset_in_secs: u64,
    },
    /// GitHub refused the request (bad credentials, no access, invalid input).
    #[error("GitHub refused the request ({status}): {message}")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// GitHub's message.
        message: String,
    },
    /// GitHub refused Shipyard's credentials and trying again will not help; says what to check.
    #[error("GitHub refused Shipyard's credentials: {0}")]
    Unauthorized(String),
    /// GitHub answered something Shipyard could not read.
    #[error("unexpected answer from GitHub: {0}")]
    Decode(String),
}
