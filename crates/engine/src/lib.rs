//! Shipyard's use cases: the one place where the domain rules (`shipyard-core`), the database
//! (`shipyard-store`) and the upstreams (`shipyard-github`) meet.
//!
//! The engine knows nothing of HTTP requests, HTML or chat: the web edge and the bot call the
//! same functions with a [`Caller`] and get domain values or an [`EngineError`] back.
//!
//! Layout:
//! - [`releases`]: create, read, refresh, edit, exclude, depend, sign off, change status.
//! - [`gather`]: which repos of the org change between two branches.
//! - [`events`]: live "release changed" events, relayed between replicas on PostgreSQL;
//!   `read_model`: release views kept until such an event.
//! - [`ci_rules`], [`ci`]: CI tracking (pure rules; the tracker that polls and applies webhooks).
//! - [`deploy`]: deployment tracking in Argo CD (the tracker, push hints, auto-deployed).
//! - [`chat`]: what chat is owed (summary and notification texts, written to the outbox).
//! - [`pr_comments`]: the comment kept on each release pull request (`github.pr_comments`).
//! - [`webhooks`]: what a GitHub webhook delivery changes ([`Engine::apply_webhook`]).
//! - [`access`]: sign-ins, sessions, readiness, and which replica leads a singleton task.
//! - [`lead`]: running a singleton task on the replica that leads it.

pub mod access;
pub mod chat;
pub mod ci;
pub mod ci_rules;
pub mod deploy;
pub mod events;
pub mod gather;
pub mod lead;
pub mod pr_comments;
mod read_model;
pub mod releases;
pub mod webhooks;

pub use events::{EventBus, EventKind, Notice, RelaySnapshot, ReleaseEvent};
pub use gather::{Gathered, GithubSetup, SkipReason};
pub use releases::{NewRelease, ReleasePatch, ReleaseView, RepoPatch};
pub use shipyard_core::clock::{Clock, ManualClock, SystemClock};
/// The stored shapes the engine answers with; the edges read them, only the engine writes them.
pub use shipyard_store::{
    CiStatusRecord, DeployStatusRecord, HistoryRecord, Leadership, LoginFlowRecord,
    NotificationRecord, ReleaseFilter, ReleasePage, ReleaseRecord, ReleaseSummaryRecord,
    RepoRecord, SessionRecord, StoreError,
};

use shipyard_core::release::RuleError;
use shipyard_core::{Actor, Role};
use shipyard_github::GithubError;
use shipyard_store::Store;
use std::sync::Arc;

/// Who is asking, and with which roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Recorded in history.
    pub actor: Actor,
    /// What they may do.
    pub roles: Vec<Role>,
}

/// Why a use case did not happen. The web edge maps each variant to one status and error code.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// No such release or repo.
    #[error("{0} not found")]
    NotFound(String),
    /// A field of the request is wrong.
    #[error("{field}: {message}")]
    Invalid {
        /// The field, as the API names it.
        field: &'static str,
        /// Why, for a person.
        message: String,
    },
    /// The caller lacks a role.
    #[error("{0}")]
    Forbidden(String),
    /// The request conflicts with the release's state.
    #[error("{0}")]
    Conflict(String),
    /// GitHub says the request cannot be met (e.g. the branch exists nowhere).
    #[error("{0}")]
    UpstreamRejected(String),
    /// GitHub is rate limited.
    #[error("{0}")]
    RateLimited(String),
    /// GitHub is down or unreachable, or not configured.
    #[error("{0}")]
    UpstreamUnavailable(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<RuleError> for EngineError {
    fn from(e: RuleError) -> Self {
        match e {
            RuleError::MissingRole { .. } | RuleError::NoApproverRole => {
                EngineError::Forbidden(e.to_string())
            }
            RuleError::SameUser { .. } | RuleError::ReadOnly(_) | RuleError::Transition { .. } => {
                EngineError::Conflict(e.to_string())
            }
        }
    }
}

impl From<GithubError> for EngineError {
    fn from(e: GithubError) -> Self {
        match e {
            GithubError::RateLimited { .. } => EngineError::RateLimited(e.to_string()),
            GithubError::Rejected { status: 401, .. } => EngineError::UpstreamUnavailable(
                "GitHub rejected Shipyard's credentials (check github.token)".into(),
            ),
            GithubError::Rejected { .. } => EngineError::UpstreamRejected(e.to_string()),
            GithubError::Unauthorized(_) => EngineError::UpstreamUnavailable(e.to_string()),
            GithubError::Unavailable(_) | GithubError::Decode(_) => {
                EngineError::UpstreamUnavailable(e.to_string())
            }
        }
    }
}

/// Settings of the engine that come from configuration.
#[derive(Debug, Clone, Default)]
pub struct EngineSettings {
    /// `approvals.allow_same_user`.
    pub allow_same_user: bool,
    /// `server.base_url`, for links to a release's page in chat notifications (none when empty).
    pub base_url: String,
    /// CI tracking (the `ci` section); it runs only when GitHub is configured too.
    pub ci: Option<ci::CiOptions>,
    /// Deployment tracking (the `argocd` section).
    pub deploy: Option<deploy::DeployOptions>,
    /// This process's name among the replicas sharing the database (host and process id by
    /// default): in announcements to the others, and in who leads what.
    pub replica: String,
}

/// The use cases, ready to be shared by the web edge, the bot and the trackers.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    github: Option<GithubSetup>,
    settings: EngineSettings,
    clock: Arc<dyn Clock>,
    events: EventBus,
    /// How the relay of other replicas' events is doing.
    relay: Arc<events::RelayStatus>,
    /// The singleton tasks this process takes part in.
    leads: lead::LeadRegistry,
    /// Views of releases as last read, until they change.
    views: read_model::ReadModel,
    /// CI tracking's memory, when GitHub and `ci` are configured.
    ci: Option<Arc<ci::CiState>>,
    /// Deployment tracking's memory, when `argocd` is configured.
    deploy: Option<Arc<deploy::DeployMemory>>,
    /// Repos being refreshed for a push, by release; `true` when another push came meanwhile.
    push_refreshes: webhooks::PushRefreshes,
    /// What this process's chat bot has done.
    chat: chat::ChatProgress,
}

impl Engine {
    /// Assembles an engine. `github` is `None` when the configuration has no GitHub section.
    pub fn new(
        store: Store,
        github: Option<GithubSetup>,
        settings: EngineSettings,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let ci = match (&github, &settings.ci) {
            (Some(_), Some(options)) => Some(Arc::new(ci::CiState::new(options.clone()))),
            _ => None,
        };
        let deploy = settings
            .deploy
            .clone()
            .map(|options| Arc::new(deploy::DeployMemory::new(options)));
        Engine {
            inner: Arc::new(Inner {
                store,
                github,
                settings,
                clock,
                events: EventBus::default(),
                relay: Arc::default(),
                leads: lead::LeadRegistry::default(),
                views: read_model::ReadModel::default(),
                ci,
                deploy,
                push_refreshes: webhooks::PushRefreshes::default(),
                chat: chat::ChatProgress::default(),
            }),
        }
    }

    pub(crate) fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The CI tracker, when GitHub and CI tracking are configured.
    pub fn ci(&self) -> Option<ci::CiTracker> {
        let state = self.inner.ci.clone()?;
        Some(ci::CiTracker::new(self.clone(), state))
    }

    /// Closes the database connections (at shutdown; every later call fails).
    pub async fn close(&self) {
        self.inner.store.close().await;
    }

    /// What this process's chat bot has done (the bot reports here; readiness shows it).
    pub fn chat_progress(&self) -> &chat::ChatProgress {
        &self.inner.chat
    }

    /// Now, by the engine's clock.
    pub fn now(&self) -> i64 {
        self.inner.clock.now()
    }

    /// The GitHub organisation, if GitHub is configured.
    pub fn org(&self) -> Option<&str> {
        self.inner.github.as_ref().map(|g| g.org.as_str())
    }

    /// The settings the engine runs with.
    pub fn settings(&self) -> &EngineSettings {
        &self.inner.settings
    }

    /// The GitHub client, if configured.
    pub fn github(&self) -> Option<&GithubSetup> {
        self.inner.github.as_ref()
    }

    fn github_or_unavailable(&self) -> Result<&GithubSetup, EngineError> {
        self.inner.github.as_ref().ok_or_else(|| {
            EngineError::UpstreamUnavailable(
                "GitHub is not configured: add a `github` section to the configuration".into(),
            )
        })
    }
}
