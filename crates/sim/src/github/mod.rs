//! Simulated GitHub: a REST + GraphQL server on loopback that tests script while it runs.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use shipyard_sim::github::{CommitSpec, SimGithub};
//! let sim = SimGithub::start("acme").await?;
//! sim.add_repo("billing");
//! sim.create_branch("billing", "uat", "main");
//! sim.commit("billing", "uat", CommitSpec::new("feat: invoices", "Ada", "ada@example.com"));
//! let api = sim.url(); // point a GitHub client here
//! # let _ = api; Ok(()) }
//! ```

mod encoding;
mod faults;
mod graphql;
mod payload;
mod rest;
mod seed;
mod state;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use seed::{seed_demo, seed_scale};

use faults::Control;
use state::GitState;

/// What a commit added by [`SimGithub::commit`] looks like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitSpec {
    /// Full commit message (subject, blank line, body).
    pub message: String,
    /// Git author name.
    pub author_name: String,
    /// Git author email.
    pub author_email: String,
    /// GitHub login of the author; `None` answers `"author": null` like an author without an account.
    pub author_login: Option<String>,
    /// Paths the commit touches, with line counts.
    pub files: Vec<FileChange>,
}

impl CommitSpec {
    /// A commit without a GitHub login and touching no files.
    pub fn new(message: &str, author_name: &str, author_email: &str) -> Self {
        CommitSpec {
            message: message.to_owned(),
            author_name: author_name.to_owned(),
            author_email: author_email.to_owned(),
            author_login: None,
            files: Vec::new(),
        }
    }

    /// Sets the author's GitHub login.
    pub fn login(mut self, login: &str) -> Self {
        self.author_login = Some(login.to_owned());
        self
    }

    /// Adds a touched path.
    pub fn file(mut self, path: &str, additions: u64, deletions: u64) -> Self {
        self.files.push(FileChange {
            path: path.to_owned(),
            additions,
            deletions,
        });
        self
    }
}

/// One path changed by a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    /// Repository-relative path.
    pub path: String,
    /// Lines added.
    pub additions: u64,
    /// Lines deleted.
    pub deletions: u64,
}

/// A failure injected into the answer to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status and a GitHub-like JSON error body.
    Status(u16),
    /// Send the headers, then drop the connection in the middle of the body.
    Reset,
    /// Primary rate limit: 403 with `x-ratelimit-remaining: 0` resetting in this many seconds
    /// (on `/graphql`: 200 with a `RATE_LIMITED` error, as GitHub does).
    RateLimited {
        /// Seconds until `x-ratelimit-reset`.
        reset_in_secs: u64,
    },
    /// Secondary rate limit: 403 with a `retry-after` header.
    SecondaryRateLimit {
        /// Value of `retry-after`.
        retry_after_secs: u64,
    },
    /// Extra latency for one request, which is then answered normally.
    Delay(Duration),
}

/// One request as the simulated server saw and answered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// HTTP method.
    pub method: String,
    /// Path and query string.
    pub path: String,
    /// Status sent (200 for a [`Fault::Reset`], whose body then broke off).
    pub status: u16,
    /// Whether the request carried `If-None-Match`.
    pub had_if_none_match: bool,
    /// Whether the request carried an `Authorization` header.
    pub had_authorization: bool,
    /// Whether the connection was dropped mid-answer.
    pub aborted: bool,
}

/// Which rate-limit bucket a request draws on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateResource {
    /// REST API.
    Core,
    /// GraphQL API.
    Graphql,
}

/// A snapshot of one rate-limit bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitState {
    /// Requests allowed per window.
    pub limit: u64,
    /// Requests left in this window.
    pub remaining: u64,
    /// End of the window, epoch seconds (wall clock).
    pub reset: u64,
}

/// Shared state behind the server and the scripting handle.
#[derive(Debug)]
pub(crate) struct Inner {
    pub base_url: String,
    pub org: String,
    pub git: Mutex<GitState>,
    pub ctl: Mutex<Control>,
}

/// Locks a mutex, carrying on with the data if a panicking holder poisoned it.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Inner {
    pub fn git(&self) -> MutexGuard<'_, GitState> {
        lock(&self.git)
    }
    pub fn ctl(&self) -> MutexGuard<'_, Control> {
        lock(&self.ctl)
    }
    /// API URL of a repository on this server.
    pub fn api_repo(&self, repo: &str) -> String {
        format!("{}/repos/{}/{}", self.base_url, self.org, repo)
    }
    /// github.com page of a repository.
    pub fn html_repo(&self, repo: &str) -> String {
        format!("https://github.com/{}/{}", self.org, repo)
    }
}

/// The simulated GraphQL schema in SDL, to validate client queries against.
pub fn graphql_sdl() -> String {
    graphql::sdl()
}

/// A running simulated GitHub; the server stops when this is dropped or shut down.
#[derive(Debug)]
pub struct SimGithub {
    inner: Arc<Inner>,
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl SimGithub {
    /// Binds 127.0.0.1 on a free port and serves until dropped or shut down.
    pub async fn start(org: &str) -> std::io::Result<SimGithub> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        Self::start_on(listener, org).await
    }

    /// Serves on the given listener, so the caller chooses the address.
    pub async fn start_on(listener: TcpListener, org: &str) -> std::io::Result<SimGithub> {
        let addr = listener.local_addr()?;
        let host = if addr.ip().is_unspecified() {
            SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), addr.port())
        } else {
            addr
        };
        let inner = Arc::new(Inner {
            base_url: format!("http://{host}"),
            org: org.to_owned(),
            git: Mutex::new(GitState::new(org)),
            ctl: Mutex::new(Control::new()),
        });
        let app = rest::router(inner.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = rx.await;
            });
            if let Err(e) = serve.await {
                tracing::warn!(error = %e, "simulated GitHub server stopped");
            }
        });
        tracing::debug!(url = %inner.base_url, org, "simulated GitHub listening");
        Ok(SimGithub {
            inner,
            addr: host,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// REST base URL without a trailing slash, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        self.inner.base_url.clone()
    }

    /// GraphQL endpoint, `{url}/graphql`.
    pub fn graphql_url(&self) -> String {
        format!("{}/graphql", self.inner.base_url)
    }

    /// Socket address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Login of the simulated organization.
    pub fn org(&self) -> String {
        self.inner.org.clone()
    }

    /// Requires `Authorization: Bearer <token>` (or `token <token>`) when `Some`; 401 otherwise.
    pub fn set_token(&self, token: Option<String>) {
        self.inner.ctl().token = token;
    }

    /// Creates a repository with a default branch `main` holding one root commit.
    pub fn add_repo(&self, name: &str) {
        self.inner.git().add_repo(name);
    }

    /// Marks a repository archived or not.
    pub fn set_archived(&self, repo: &str, archived: bool) {
        self.inner.git().set_archived(repo, archived);
    }

    /// Creates (or moves) `branch` to the head of branch `from` (a sha works too).
    pub fn create_branch(&self, repo: &str, branch: &str, from: &str) {
        self.inner.git().create_branch(repo, branch, from);
    }

    /// Force-points `branch` at an existing commit, creating the branch if needed.
    pub fn set_branch_head(&self, repo: &str, branch: &str, sha: &str) {
        self.inner.git().set_branch_head(repo, branch, sha);
    }

    /// Adds a commit on top of `branch` and returns its 40-hex sha.
    pub fn commit(&self, repo: &str, branch: &str, c: CommitSpec) -> String {
        self.inner.git().commit(repo, branch, c)
    }

    /// Opens a pull request `head` → `base`; its author is the head commit's login.
    pub fn open_pr(&self, repo: &str, head: &str, base: &str, title: &str) -> u64 {
        self.inner.git().open_pr(repo, head, base, title, None)
    }

    /// Opens a pull request `head` → `base` authored by `login`.
    pub fn open_pr_as(&self, repo: &str, head: &str, base: &str, title: &str, login: &str) -> u64 {
        self.inner
            .git()
            .open_pr(repo, head, base, title, Some(login))
    }

    /// Merges a pull request with a merge commit on its base and returns the merge sha.
    pub fn merge_pr(&self, repo: &str, number: u64) -> String {
        self.inner.git().merge_pr(repo, number)
    }

    /// Closes a pull request without merging it.
    pub fn close_pr(&self, repo: &str, number: u64) {
        self.inner.git().close_pr(repo, number);
    }

    /// Sha at the head of a branch, if the repository and branch exist.
    pub fn branch_head(&self, repo: &str, branch: &str) -> Option<String> {
        self.inner.git().branch_head(repo, branch)
    }

    /// Deletes a branch (no-op when missing).
    pub fn delete_branch(&self, repo: &str, branch: &str) {
        self.inner.git().delete_branch(repo, branch);
    }

    /// Names of all repositories, sorted.
    pub fn repo_names(&self) -> Vec<String> {
        self.inner.git().repos().map(|r| r.name.clone()).collect()
    }

    /// Every request waits this long before it is answered.
    pub fn set_latency(&self, d: Duration) {
        self.inner.ctl().latency = d;
    }

    /// Queues faults, consumed one per request in order before normal handling.
    pub fn push_faults(&self, faults: impl IntoIterator<Item = Fault>) {
        self.inner.ctl().faults.extend(faults);
    }

    /// Each request fails with `fault` with probability `rate` (0 turns it off).
    pub fn set_fault_rate(&self, rate: f64, fault: Fault) {
        let mut ctl = self.inner.ctl();
        ctl.fault_rate = if rate > 0.0 {
            Some((rate.min(1.0), fault))
        } else {
            None
        };
    }

    /// Sets the primary rate-limit state of both the REST and the GraphQL buckets.
    pub fn set_rate_limit(&self, limit: u64, remaining: u64, reset_epoch: u64) {
        let mut ctl = self.inner.ctl();
        for r in [RateResource::Core, RateResource::Graphql] {
            ctl.set_bucket(r, limit, remaining, reset_epoch);
        }
    }

    /// Sets the primary rate-limit state of one bucket.
    pub fn set_rate_limit_for(
        &self,
        resource: RateResource,
        limit: u64,
        remaining: u64,
        reset_epoch: u64,
    ) {
        self.inner
            .ctl()
            .set_bucket(resource, limit, remaining, reset_epoch);
    }

    /// Current state of one rate-limit bucket.
    pub fn rate_limit(&self, resource: RateResource) -> RateLimitState {
        self.inner.ctl().snapshot(resource)
    }

    /// All requests received, including faulted ones and 304s.
    pub fn request_count(&self) -> u64 {
        self.inner.ctl().request_count
    }

    /// Requests answered so far, oldest first (the newest 100,000 are kept).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.inner.ctl().recorded.iter().cloned().collect()
    }

    /// Forgets the request count and the recorded requests.
    pub fn reset_counters(&self) {
        let mut ctl = self.inner.ctl();
        ctl.request_count = 0;
        ctl.recorded.clear();
    }

    /// Stops serving and waits (up to five seconds) for the server task to end.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
}

impl Drop for SimGithub {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
