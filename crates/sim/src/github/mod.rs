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
//!
//! GitHub Actions runs are scripted the same way: [`SimGithub::start_run`] queues a run,
//! [`SimGithub::set_run_status`], [`SimGithub::complete_run`] and [`SimGithub::rerun`] move it,
//! [`SimGithub::add_job`] gives it jobs with logs. Job logs are downloaded the way GitHub hands
//! them out: the API answers 302 to a short-lived URL on a second listener with another loopback
//! address ([`SimGithub::log_url`]), which records every request ([`SimGithub::log_requests`]).
//! With [`SimGithub::set_webhook`], runs that are created, start or complete, jobs that are
//! queued, start or complete and pull requests that are merged or closed are delivered as signed
//! `workflow_run`, `workflow_job` and `pull_request` webhooks, and every change of a branch head
//! (commit, merge, branch created, moved or deleted) as `push`.
//!
//! What a pull-request bot reads and writes is there too: issue comments on pull requests
//! ([`SimGithub::add_comment`], [`SimGithub::comments`]) with reactions, commit statuses
//! ([`SimGithub::statuses`]) with their combined view, reviews ([`SimGithub::add_review`]) and
//! collaborator permissions ([`SimGithub::set_permission`]). What is written through the API is
//! written by the login the token belongs to ([`SimGithub::set_token_login`]), and a read-only
//! token ([`SimGithub::set_read_only_token`]) has every write refused as a fork pull request's
//! `GITHUB_TOKEN` has.
//!
//! A GitHub App can be registered too ([`SimGithub::set_app`], with a key from
//! [`AppKeyPair::generate`]): its JWTs are checked (RS256 signature, `iss`, `iat`, `exp`, a
//! lifetime of at most ten minutes), its installation is found on the organisation and exchanged
//! for installation tokens that expire ([`SimGithub::set_installation_token_lifetime`]), can be
//! revoked ([`SimGithub::revoke_installation_tokens`]) and are counted
//! ([`SimGithub::installation_token_exchanges`]). While an App is registered, requests are
//! accepted with a live installation token, and still with the token of [`SimGithub::set_token`].

mod actions;
mod app;
mod collab;
mod comments;
mod encoding;
mod faults;
mod graphql;
mod hooks;
mod logs;
mod payload;
mod push;
mod rest;
mod reviews;
mod runs;
mod seed;
mod state;
mod statuses;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::body::Bytes;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

pub use app::AppKeyPair;
pub use seed::{seed_demo, seed_scale};

use faults::Control;
use hooks::{Hooks, Signature};
use logs::LogHost;
use runs::JobChange;
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
    /// Secondary rate limit as GitHub often sends it: 403 with the secondary-rate-limit
    /// message but neither `retry-after` nor `x-ratelimit-remaining: 0` (the usual rate-limit
    /// headers, with requests left), so only the message tells it from other 403s.
    SecondaryRateLimitWithoutRetryAfter,
    /// 403 with this `message`, e.g. `Resource not accessible by integration`.
    Forbidden(String),
    /// Extra latency for one request, which is then answered normally.
    Delay(Duration),
}

/// One issue comment, as tests read it back with [`SimGithub::comments`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimComment {
    /// Comment id; ids grow with creation across the whole simulation.
    pub id: u64,
    /// The issue (pull request) it is on.
    pub number: u64,
    /// Author's login.
    pub login: String,
    /// Markdown body.
    pub body: String,
    /// Creation time, epoch seconds of the simulated clock.
    pub created_at: u64,
    /// Time of the last edit (the creation time when never edited).
    pub updated_at: u64,
}

/// One commit status, as tests read it back with [`SimGithub::statuses`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimStatus {
    /// Status id.
    pub id: u64,
    /// The commit it is on.
    pub sha: String,
    /// `error`, `failure`, `pending` or `success`.
    pub state: String,
    /// The context as written (GitHub compares contexts case-insensitively).
    pub context: String,
    /// Description, if any.
    pub description: Option<String>,
    /// Link, if any.
    pub target_url: Option<String>,
    /// Login that created it.
    pub creator: String,
    /// Creation time, epoch seconds of the simulated clock.
    pub created_at: u64,
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
    /// What the `Authorization` header held.
    pub auth: RequestAuth,
    /// Whether the connection was dropped mid-answer.
    pub aborted: bool,
}

/// What authenticated a request, as the simulated server told it apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestAuth {
    /// No `Authorization` header.
    None,
    /// The token of [`SimGithub::set_token`].
    Token,
    /// An installation token the App was given, live or not.
    InstallationToken,
    /// Something shaped like a JWT (`header.claims.signature`).
    Jwt,
    /// Anything else.
    Other,
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

/// Where the log of a job can be downloaded from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogAvailability {
    /// The API redirects to the log host, which serves the text.
    #[default]
    Available,
    /// The API answers 410 Gone, as for logs past their retention.
    Gone,
    /// The API answers 404 Not Found.
    NotFound,
    /// The API redirects, but the log host answers 404 (`BlobNotFound`).
    MissingAtHost,
}

/// How a workflow run's `path` is written. GitHub's answers and deliveries use all of these
/// (see its REST examples and webhook deliveries); a client must accept each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunPathForm {
    /// `.github/workflows/general.yaml`
    Plain,
    /// `.github/workflows/general.yaml@master` (the run's branch)
    AtBranch,
    /// `.github/workflows/general.yaml@refs/heads/master`
    AtRef,
    /// `acme/svc/.github/workflows/general.yaml@refs/heads/master`
    Qualified,
}

impl RunPathForm {
    /// Every form, in the order new workflows take them.
    pub const ALL: [RunPathForm; 4] = [
        RunPathForm::Plain,
        RunPathForm::AtRef,
        RunPathForm::Qualified,
        RunPathForm::AtBranch,
    ];
}

/// One request as the log host saw and answered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRequest {
    /// HTTP method.
    pub method: String,
    /// Path and query string.
    pub path: String,
    /// Status sent.
    pub status: u16,
    /// Whether the request carried an `Authorization` header.
    pub had_authorization: bool,
    /// Names of every header the request carried, lower-case.
    pub header_names: Vec<String>,
    /// Whether the connection was dropped mid-answer ([`Fault::Reset`]).
    pub aborted: bool,
}

/// One webhook delivery as the simulated GitHub sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookDelivery {
    /// `X-GitHub-Delivery`.
    pub guid: String,
    /// `X-GitHub-Event`, e.g. `workflow_run`.
    pub event: String,
    /// The payload's `action`, if it has one.
    pub action: Option<String>,
    /// Status the receiver answered; `None` when it could not be reached or did not answer
    /// within ten seconds.
    pub status: Option<u16>,
    /// Why there is no status.
    pub error: Option<String>,
    /// `X-Hub-Signature-256` as sent, if any.
    pub signature: Option<String>,
    /// The raw body.
    pub body: String,
}

/// Shared state behind the server and the scripting handle.
#[derive(Debug)]
pub(crate) struct Inner {
    pub base_url: String,
    /// Base URL of the log host.
    pub log_url: String,
    pub org: String,
    pub git: Mutex<GitState>,
    pub ctl: Mutex<Control>,
    pub logs: Mutex<LogHost>,
    pub hooks: Mutex<Hooks>,
    pub apps: Mutex<app::Apps>,
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

/// A job log in GitHub's format: a byte-order mark, then each line prefixed with a timestamp
/// (`2026-01-05T09:00:00.0000000Z `, about a tenth of a second apart, from the start of the
/// simulated clock) and ended with CRLF.
pub fn timestamped_log(lines: &[&str]) -> String {
    timestamped_log_at(state::CLOCK_START, lines)
}

fn timestamped_log_at(start_epoch: u64, lines: &[&str]) -> String {
    let mut out = String::from("\u{feff}");
    for (i, line) in lines.iter().enumerate() {
        let i = i as u64;
        let stamp = state::iso(start_epoch + i / 10);
        let stamp = stamp.trim_end_matches('Z');
        let fraction = (i % 10) * 1_000_000 + (i * 7919) % 1_000_000;
        out.push_str(&format!("{stamp}.{fraction:07}Z {line}\r\n"));
    }
    out
}

/// A running simulated GitHub; the servers stop when this is dropped or shut down.
#[derive(Debug)]
pub struct SimGithub {
    inner: Arc<Inner>,
    addr: SocketAddr,
    delivered: Arc<Mutex<Vec<WebhookDelivery>>>,
    shutdown: Option<watch::Sender<bool>>,
    tasks: Vec<JoinHandle<()>>,
}

impl SimGithub {
    /// Binds 127.0.0.1 on a free port and serves until dropped or shut down.
    pub async fn start(org: &str) -> std::io::Result<SimGithub> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        Self::start_on(listener, org).await
    }

    /// Serves on the given listener, so the caller chooses the address.
    pub async fn start_on(listener: TcpListener, org: &str) -> std::io::Result<SimGithub> {
        Self::start_on_with_prefix(listener, org, "").await
    }

    /// Like [`SimGithub::start`], with the API below a path prefix, as GitHub Enterprise
    /// Server serves it below `/api/v3`: [`SimGithub::url`] then ends with the prefix, and so
    /// does every URL in the answers.
    pub async fn start_with_prefix(org: &str, prefix: &str) -> std::io::Result<SimGithub> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        Self::start_on_with_prefix(listener, org, prefix).await
    }

    /// [`SimGithub::start_on`] with the API below a path prefix such as `/api/v3`.
    pub async fn start_on_with_prefix(
        listener: TcpListener,
        org: &str,
        prefix: &str,
    ) -> std::io::Result<SimGithub> {
        let trimmed = prefix.trim().trim_matches('/');
        let prefix = if trimmed.is_empty() {
            String::new()
        } else {
            format!("/{trimmed}")
        };
        let addr = listener.local_addr()?;
        let host = if addr.ip().is_unspecified() {
            SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), addr.port())
        } else {
            addr
        };
        let (log_listener, log_url) = logs::bind(host.ip()).await?;
        let (hook_tx, hook_rx) = mpsc::unbounded_channel();
        let inner = Arc::new(Inner {
            base_url: format!("http://{host}{prefix}"),
            log_url,
            org: org.to_owned(),
            git: Mutex::new(GitState::new(org)),
            ctl: Mutex::new(Control::new()),
            logs: Mutex::new(LogHost::new()),
            hooks: Mutex::new(Hooks::new(hook_tx)),
            apps: Mutex::new(app::Apps::new()),
        });
        let (stop, stopped) = watch::channel(false);
        let serve = |listener: TcpListener, app: axum::Router, what: &'static str| {
            let mut stopped = stopped.clone();
            tokio::spawn(async move {
                let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                    let _ = stopped.wait_for(|s| *s).await;
                });
                if let Err(e) = serve.await {
                    tracing::warn!(error = %e, "simulated GitHub {what} stopped");
                }
            })
        };
        let delivered = Arc::new(Mutex::new(Vec::new()));
        let tasks = vec![
            serve(listener, rest::router(inner.clone(), &prefix), "server"),
            serve(log_listener, logs::router(inner.clone()), "log host"),
            tokio::spawn(hooks::deliver(hook_rx, delivered.clone())),
        ];
        tracing::debug!(url = %inner.base_url, logs = %inner.log_url, org, "simulated GitHub listening");
        Ok(SimGithub {
            inner,
            addr: host,
            delivered,
            shutdown: Some(stop),
            tasks,
        })
    }

    /// REST base URL without a trailing slash, e.g. `http://127.0.0.1:41234` (with the path
    /// prefix, if started with one).
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

    /// Registers a GitHub App with the public half of its key (see [`AppKeyPair`]) and installs
    /// it on the organisation; returns the installation id. Replaces an App registered before
    /// and forgets its tokens. Until then the App routes answer 401.
    pub fn set_app(&self, app_id: u64, public_key_der: &[u8]) -> u64 {
        lock(&self.inner.apps).register(app_id, public_key_der.to_vec())
    }

    /// Removes the App from the organisation (its installation then answers 404 and its tokens
    /// are refused), or installs it again, as GitHub does under a new installation id.
    pub fn set_app_installed(&self, installed: bool) {
        let mut apps = lock(&self.inner.apps);
        if let Some(app) = apps.app.as_mut() {
            if installed && !app.installed {
                app.installation_id += 1;
            }
            app.installed = installed;
        }
        if !installed {
            apps.revoke_all();
        }
    }

    /// How long installation tokens issued from now on live (an hour unless set).
    pub fn set_installation_token_lifetime(&self, lifetime: Duration) {
        lock(&self.inner.apps).token_lifetime = lifetime;
    }

    /// Moves the clock JWTs and installation tokens are judged by forward (it starts at the
    /// wall clock), so that tokens expire without waiting.
    pub fn advance_app_clock(&self, by: Duration) {
        lock(&self.inner.apps).clock_offset += by.as_secs();
    }

    /// Every installation token issued so far is refused from now on (401 `Bad credentials`),
    /// as after the App's tokens were revoked; new ones work.
    pub fn revoke_installation_tokens(&self) {
        lock(&self.inner.apps).revoke_all();
    }

    /// While `on`, every installation token, new ones included, is refused (401
    /// `Bad credentials`); exchanges still succeed.
    pub fn refuse_installation_tokens(&self, on: bool) {
        lock(&self.inner.apps).refuse_all = on;
    }

    /// Installation tokens issued so far.
    pub fn installation_token_exchanges(&self) -> u64 {
        lock(&self.inner.apps).exchanges
    }

    /// Answered lookups of the organisation's installation (`GET /orgs/{org}/installation`).
    pub fn installation_lookups(&self) -> u64 {
        lock(&self.inner.apps).lookups
    }

    /// The login the token belongs to (`github-actions[bot]` unless set): the author of comments
    /// and reactions and the creator of statuses written through the API.
    pub fn set_token_login(&self, login: &str) {
        login.clone_into(&mut self.inner.ctl().token_login);
    }

    /// With `on`, every write (`POST`, `PATCH`, `PUT`, `DELETE`; not GraphQL) answers 403
    /// `Resource not accessible by integration`, what a fork pull request's `GITHUB_TOKEN`
    /// gets; reads go on working.
    pub fn set_read_only_token(&self, on: bool) {
        self.inner.ctl().read_only = on;
    }

    /// Adds a comment by `login` to pull request `number` and returns its id. Panics when the
    /// repository or the pull request does not exist.
    pub fn add_comment(&self, repo: &str, number: u64, login: &str, body: &str) -> u64 {
        let mut git = self.inner.git();
        let name = Self::issue_repo(&git, repo, number);
        let now = git.tick();
        git.collab.add_comment(&name, number, login, body, now)
    }

    /// Replaces the body of comment `id`, as someone editing it by hand would. Panics when
    /// there is no such comment.
    pub fn set_comment_body(&self, repo: &str, id: u64, body: &str) {
        let mut git = self.inner.git();
        let now = git.tick();
        let c = git
            .collab
            .comment_mut(repo, id)
            .unwrap_or_else(|| panic!("simulated GitHub: no comment {id} in {repo}"));
        body.clone_into(&mut c.body);
        c.updated_at = now;
    }

    /// The comments on pull request `number`, oldest first.
    pub fn comments(&self, repo: &str, number: u64) -> Vec<SimComment> {
        let git = self.inner.git();
        let Some(c) = git.collab.repo(repo) else {
            return Vec::new();
        };
        c.comments_on(number)
            .map(|c| SimComment {
                id: c.id,
                number: c.number,
                login: c.login.clone(),
                body: c.body.clone(),
                created_at: c.created_at,
                updated_at: c.updated_at,
            })
            .collect()
    }

    /// The reactions to comment `comment_id` as (login, content), oldest first.
    pub fn reactions(&self, repo: &str, comment_id: u64) -> Vec<(String, String)> {
        self.inner
            .git()
            .collab
            .comment(repo, comment_id)
            .map(|c| {
                c.reactions
                    .iter()
                    .map(|r| (r.login.clone(), r.content.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Sets a status on commit `sha` (a sha or a branch) as the token's login, like another
    /// CI system would, and returns its id. Panics for an unknown commit or a state other than
    /// `error`, `failure`, `pending` or `success`.
    pub fn add_status(&self, repo: &str, sha: &str, context: &str, state: &str) -> u64 {
        assert!(
            collab::STATUS_STATES.contains(&state),
            "simulated GitHub: {state} is not a commit status state"
        );
        let creator = self.inner.ctl().token_login.clone();
        let mut git = self.inner.git();
        let (name, full) = git
            .repo(repo)
            .and_then(|r| Some((r.name.clone(), r.resolve(sha)?)))
            .unwrap_or_else(|| panic!("simulated GitHub: no commit {sha} in {repo}"));
        let now = git.tick();
        let status = collab::Status {
            id: 0,
            sha: full,
            state: state.to_owned(),
            description: None,
            target_url: None,
            context: context.to_owned(),
            creator,
            created_at: now,
        };
        git.collab.add_status(&name, status).id
    }

    /// Every status of commit `sha` (a sha or a branch), oldest first.
    pub fn statuses(&self, repo: &str, sha: &str) -> Vec<SimStatus> {
        let git = self.inner.git();
        let Some(full) = git.repo(repo).and_then(|r| r.resolve(sha)) else {
            return Vec::new();
        };
        let Some(c) = git.collab.repo(repo) else {
            return Vec::new();
        };
        c.statuses_of(&full)
            .map(|s| SimStatus {
                id: s.id,
                sha: s.sha.clone(),
                state: s.state.clone(),
                context: s.context.clone(),
                description: s.description.clone(),
                target_url: s.target_url.clone(),
                creator: s.creator.clone(),
                created_at: s.created_at,
            })
            .collect()
    }

    /// Adds a review by `login` of pull request `number` on its current head and returns its
    /// id. `state` is `APPROVED`, `CHANGES_REQUESTED`, `COMMENTED`, `DISMISSED` or `PENDING`
    /// (pending reviews have no `submitted_at` and only their author sees them); panics for
    /// another state or an unknown pull request.
    pub fn add_review(&self, repo: &str, number: u64, login: &str, state: &str) -> u64 {
        assert!(
            collab::REVIEW_STATES.contains(&state),
            "simulated GitHub: {state} is not a review state"
        );
        let mut git = self.inner.git();
        let name = Self::issue_repo(&git, repo, number);
        let head = git
            .repo(&name)
            .and_then(|r| {
                let p = r.pulls.iter().find(|p| p.number == number)?;
                Some(r.pull_shas(p).0)
            })
            .unwrap_or_default();
        let now = git.tick();
        let review = collab::Review {
            id: 0,
            number,
            login: login.to_owned(),
            state: state.to_owned(),
            body: String::new(),
            commit_id: head,
            submitted_at: (state != "PENDING").then_some(now),
        };
        git.collab.add_review(&name, review)
    }

    /// Gives `login` a role in `repo`: `admin`, `maintain`, `write`, `triage`, `read` or `none`
    /// (no access, the default). The permission endpoint answers the legacy `permission`
    /// (`maintain` as `write`, `triage` as `read`) and the role as `role_name`. Panics for
    /// another role or an unknown repository.
    pub fn set_permission(&self, repo: &str, login: &str, permission: &str) {
        assert!(
            collab::ROLES.contains(&permission),
            "simulated GitHub: {permission} is not a repository role"
        );
        let mut git = self.inner.git();
        let name = Self::repo_name(&git, repo);
        git.collab
            .repo_mut(&name)
            .roles
            .insert(login.to_ascii_lowercase(), permission.to_owned());
    }

    /// Makes GitHub report `association` (`OWNER`, `MEMBER`, `COLLABORATOR`, `CONTRIBUTOR`,
    /// `NONE`, …) as the `author_association` of `login`'s comments and reviews in `repo`.
    /// Without it: `NONE` for a `[bot]`, `MEMBER` for a login with a role, `CONTRIBUTOR` for an
    /// author of one of the repository's commits, else `NONE`. Panics for an unknown value.
    pub fn set_author_association(&self, repo: &str, login: &str, association: &str) {
        assert!(
            collab::ASSOCIATIONS.contains(&association),
            "simulated GitHub: {association} is not an author_association"
        );
        let mut git = self.inner.git();
        let name = Self::repo_name(&git, repo);
        git.collab
            .repo_mut(&name)
            .associations
            .insert(login.to_ascii_lowercase(), association.to_owned());
    }

    /// The name a repository was created with; panics when there is none.
    fn repo_name(git: &GitState, repo: &str) -> String {
        git.repo(repo)
            .map(|r| r.name.clone())
            .unwrap_or_else(|| panic!("simulated GitHub: no repository {}/{repo}", git.org))
    }

    /// [`Self::repo_name`] of a repository with pull request `number`; panics without one.
    fn issue_repo(git: &GitState, repo: &str, number: u64) -> String {
        let name = Self::repo_name(git, repo);
        let found = git
            .repo(&name)
            .is_some_and(|r| comments::has_issue(r, number));
        assert!(
            found,
            "simulated GitHub: no pull request #{number} in {}/{repo}",
            git.org
        );
        name
    }

    /// Creates a repository with a default branch `main` holding one root commit.
    pub fn add_repo(&self, name: &str) {
        self.inner.git().add_repo(name);
    }

    /// Marks a repository archived or not.
    pub fn set_archived(&self, repo: &str, archived: bool) {
        self.inner.git().set_archived(repo, archived);
    }

    /// Creates (or moves) `branch` to the head of branch `from` (a sha works too). With a
    /// webhook set, delivers `push` when the head changed: `created: true` with `before` all
    /// zeros for a new branch, otherwise like [`SimGithub::set_branch_head`].
    pub fn create_branch(&self, repo: &str, branch: &str, from: &str) {
        let before = {
            let mut git = self.inner.git();
            let before = git.branch_head(repo, branch);
            git.create_branch(repo, branch, from);
            before
        };
        self.push_event(repo, branch, before, None);
    }

    /// Force-points `branch` at an existing commit, creating the branch if needed. With a
    /// webhook set, delivers `push` when the head changed, with `forced: true` when the new
    /// head does not descend from the old one (moving forward is a fast-forward, as in git)
    /// and `created: true` for a new branch.
    pub fn set_branch_head(&self, repo: &str, branch: &str, sha: &str) {
        let before = {
            let mut git = self.inner.git();
            let before = git.branch_head(repo, branch);
            git.set_branch_head(repo, branch, sha);
            before
        };
        self.push_event(repo, branch, before, None);
    }

    /// Stamps later changes (commits, pull requests, runs) with the real time instead of the
    /// simulated clock's fixed steps, e.g. for a demo watched by people. Earlier ones keep
    /// their times.
    pub fn use_real_time(&self) {
        self.inner.git().use_real_time();
    }

    /// Adds a commit on top of `branch` and returns its 40-hex sha. With a webhook set,
    /// delivers `push` for the branch (`before` the old head, `after` the new commit, which
    /// is the one entry of `commits`), pushed by the author's login when there is one.
    pub fn commit(&self, repo: &str, branch: &str, c: CommitSpec) -> String {
        let pusher = c.author_login.clone();
        let (before, sha) = {
            let mut git = self.inner.git();
            let before = git.branch_head(repo, branch);
            (before, git.commit(repo, branch, c))
        };
        self.push_event(repo, branch, before, pusher.as_deref());
        sha
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

    /// Merges a pull request with a merge commit on its base and returns the merge sha. With a
    /// webhook set, delivers `push` to the base branch (`after` the merge commit, pushed by
    /// the merger), then `pull_request` `closed` with `merged: true`: GitHub does not promise
    /// an order between the two, the simulation always sends the push first. Starts no
    /// workflow run.
    pub fn merge_pr(&self, repo: &str, number: u64) -> String {
        let (sha, base, before, merger) = {
            let mut git = self.inner.git();
            let pull = |git: &GitState| {
                git.repo(repo)
                    .and_then(|r| r.pulls.iter().find(|p| p.number == number).cloned())
            };
            let base = pull(&git).map(|p| p.base_ref);
            let before = base.as_deref().and_then(|b| git.branch_head(repo, b));
            let sha = git.merge_pr(repo, number);
            let merger = pull(&git).and_then(|p| p.merged_by);
            (sha, base, before, merger)
        };
        if let Some(base) = base {
            self.push_event(repo, &base, before, merger.as_deref());
        }
        self.pull_event(repo, number, "closed");
        sha
    }

    /// Closes a pull request without merging it; with a webhook set, delivers `pull_request`
    /// `closed` with `merged: false` (nothing when it was closed already).
    pub fn close_pr(&self, repo: &str, number: u64) {
        let was_open = {
            let mut git = self.inner.git();
            let open = git.repo(repo).is_some_and(|r| {
                r.pulls
                    .iter()
                    .any(|p| p.number == number && p.state == state::PullState::Open)
            });
            git.close_pr(repo, number);
            open
        };
        if was_open {
            self.pull_event(repo, number, "closed");
        }
    }

    fn pull_event(&self, repo: &str, number: u64, action: &str) {
        if !lock(&self.inner.hooks).active() {
            return;
        }
        let payload = {
            let git = self.inner.git();
            git.repo(repo).and_then(|r| {
                let p = r.pulls.iter().find(|p| p.number == number)?;
                Some(payload::pull_request_event(&self.inner, r, p, action))
            })
        };
        if let Some(p) = payload {
            hooks::send(&self.inner, "pull_request", &p);
        }
    }

    /// Sha at the head of a branch, if the repository and branch exist.
    pub fn branch_head(&self, repo: &str, branch: &str) -> Option<String> {
        self.inner.git().branch_head(repo, branch)
    }

    /// Deletes a branch (no-op when missing). With a webhook set, delivers `push` with
    /// `deleted: true`, `after` all zeros, no commits and `head_commit: null`.
    pub fn delete_branch(&self, repo: &str, branch: &str) {
        let before = {
            let mut git = self.inner.git();
            let before = git.branch_head(repo, branch);
            git.delete_branch(repo, branch);
            before
        };
        self.push_event(repo, branch, before, None);
    }

    /// Delivers `push` for `branch`, whose head was `before` and is now whatever the state
    /// says; nothing when it did not change. `pusher` defaults to [`state::DEFAULT_LOGIN`].
    fn push_event(&self, repo: &str, branch: &str, before: Option<String>, pusher: Option<&str>) {
        if !lock(&self.inner.hooks).active() {
            return;
        }
        let payload = {
            let git = self.inner.git();
            let Some(r) = git.repo(repo) else {
                return;
            };
            let after = r.branches.get(branch);
            if after == before.as_ref() {
                return;
            }
            let update = push::BranchUpdate {
                branch,
                before: before.as_deref(),
                after: after.map(String::as_str),
                pusher: pusher.unwrap_or(state::DEFAULT_LOGIN),
            };
            push::push_event(&self.inner, r, &update)
        };
        hooks::send(&self.inner, "push", &payload);
    }

    /// Names of all repositories, sorted.
    pub fn repo_names(&self) -> Vec<String> {
        self.inner.git().repos().map(|r| r.name.clone()).collect()
    }

    /// Declares the workflow file `file` (e.g. `general.yaml`) of `repo`, named `name`, and returns
    /// its id. Listing the runs of a workflow the repository does not have answers 404, as on
    /// GitHub; [`SimGithub::start_run`] declares the workflow itself (named after the file).
    pub fn add_workflow(&self, repo: &str, file: &str, name: &str) -> u64 {
        self.inner.git().add_workflow(repo, file, Some(name))
    }

    /// Makes runs of `repo`'s workflow `file` report their `path` in `form` (by default each new
    /// workflow of the org takes the next of [`RunPathForm::ALL`]), in the REST answers and in
    /// `workflow_run` deliveries alike.
    pub fn set_run_path_form(&self, repo: &str, file: &str, form: RunPathForm) {
        self.inner.git().set_run_path_form(repo, file, form);
    }

    /// Queues a `push` run of `.github/workflows/{workflow_file}` for commit `head_sha` (a sha,
    /// a unique prefix or a branch name) on `branch` and returns the run id, unique in the sim.
    /// `run_number` counts up per workflow. With a webhook set, delivers `workflow_run`
    /// `requested`.
    pub fn start_run(&self, repo: &str, workflow_file: &str, branch: &str, head_sha: &str) -> u64 {
        self.start_run_on(repo, workflow_file, branch, head_sha, "push")
    }

    /// [`SimGithub::start_run`] for a run triggered by another `event`, such as
    /// `workflow_dispatch`.
    pub fn start_run_on(
        &self,
        repo: &str,
        workflow_file: &str,
        branch: &str,
        head_sha: &str,
        event: &str,
    ) -> u64 {
        let id = self
            .inner
            .git()
            .start_run(repo, workflow_file, branch, head_sha, event);
        self.run_event(id, "requested");
        id
    }

    /// Sets the status of a run that has not completed: `requested`, `queued`, `waiting`,
    /// `pending` or `in_progress` (jobs that follow the run move with it). Moving to
    /// `in_progress` delivers `workflow_run` `in_progress`, then `workflow_job` `in_progress`
    /// for each job that starts with the run, oldest first. Panics for `completed`: use
    /// [`SimGithub::complete_run`].
    pub fn set_run_status(&self, run_id: u64, status: &str) {
        let (was, started) = {
            let mut git = self.inner.git();
            let was = git.actions.run(run_id).map(|r| r.status.clone());
            (was, git.set_run_status(run_id, status))
        };
        if status == "in_progress" && was.as_deref() != Some("in_progress") {
            self.run_event(run_id, "in_progress");
        }
        self.job_events(&started);
    }

    /// Completes a run with `conclusion` (`success`, `failure`, `cancelled`, `skipped`,
    /// `neutral`, `timed_out`, `action_required`, `startup_failure` or `stale`); jobs still
    /// following the run end with it (`startup_failure` and `stale` end them with `failure`).
    /// Delivers `workflow_job` `completed` for each of those jobs, oldest first, and only then
    /// `workflow_run` `completed`, the order GitHub usually keeps: a receiver that sees the run
    /// complete has already been told about its jobs.
    pub fn complete_run(&self, run_id: u64, conclusion: &str) {
        let completed = self.inner.git().complete_run(run_id, conclusion);
        self.job_events(&completed);
        self.run_event(run_id, "completed");
    }

    /// Re-runs a completed run as GitHub does: same id and run number, `run_attempt` + 1, status
    /// `queued`, no conclusion, and no jobs until [`SimGithub::add_job`] adds some to the new
    /// attempt (the jobs endpoint lists the latest attempt's). Delivers `workflow_run`
    /// `requested`.
    pub fn rerun(&self, run_id: u64) {
        self.inner.git().rerun(run_id);
        self.run_event(run_id, "requested");
    }

    /// Adds a job named `name` with log text `log` to the latest attempt of a run and returns
    /// the job id. The job takes the run's status (and its conclusion once the run completed)
    /// and follows the run until [`SimGithub::complete_job`] finishes it on its own.
    ///
    /// With a webhook set, delivers `workflow_job`: `queued` when the run has not started
    /// (`requested`, `queued`, `waiting` or `pending`; the job's `status` is the run's),
    /// `in_progress` when the run is in progress (the job starts at once), `completed` when the
    /// run has completed. Later, the job's `in_progress` is delivered when its run moves to
    /// `in_progress` ([`SimGithub::set_run_status`]) and its `completed` when it completes on
    /// its own ([`SimGithub::complete_job`]) or with its run ([`SimGithub::complete_run`],
    /// before the run's `workflow_run` `completed`).
    pub fn add_job(&self, run_id: u64, name: &str, log: impl Into<Vec<u8>>) -> u64 {
        let (id, action) = {
            let mut git = self.inner.git();
            let id = git.add_job(run_id, name, Bytes::from(log.into()));
            let status = git.actions.job(id).map(|j| j.status.clone());
            (id, runs::added_job_action(status.as_deref().unwrap_or("")))
        };
        self.job_events(&[(id, action)]);
        id
    }

    /// Completes one job with `conclusion`, whatever its run does; the job no longer follows
    /// its run. With a webhook set, delivers `workflow_job` `completed` right away (nothing when
    /// the job had completed already), whether or not its run completes later; the run's
    /// `workflow_run` `completed` comes only from [`SimGithub::complete_run`].
    pub fn complete_job(&self, job_id: u64, conclusion: &str) {
        let completed = self.inner.git().complete_job(job_id, conclusion);
        self.job_events(completed.as_slice());
    }

    /// Where the log of a job can be downloaded from.
    pub fn set_job_log(&self, job_id: u64, availability: LogAvailability) {
        self.inner.git().set_job_log(job_id, availability);
    }

    /// The job's log is gone: its logs endpoint answers 410.
    pub fn set_job_log_gone(&self, job_id: u64) {
        self.set_job_log(job_id, LogAvailability::Gone);
    }

    /// Ids of the jobs of the latest attempt of a run, oldest first.
    pub fn job_ids(&self, run_id: u64) -> Vec<u64> {
        let git = self.inner.git();
        let Some(run) = git.actions.run(run_id) else {
            return Vec::new();
        };
        git.actions
            .jobs_of(run_id, Some(run.run_attempt))
            .map(|j| j.id)
            .collect()
    }

    /// A whole successful build of `workflow_file` for `head_sha` on `branch`: the run is
    /// queued, goes in progress, gets a `build` job and a `helm` job whose log (see
    /// [`timestamped_log`]) ends with `CHART_VERSION={chart_version}`, and completes with
    /// `success`. Returns the run id; delivers `workflow_run` `requested` and `in_progress`,
    /// `workflow_job` `in_progress` for `build` and for `helm`, `workflow_job` `completed` for
    /// `build` and for `helm`, then `workflow_run` `completed`.
    pub fn successful_build(
        &self,
        repo: &str,
        workflow_file: &str,
        branch: &str,
        head_sha: &str,
        chart_version: &str,
    ) -> u64 {
        let run = self.start_run(repo, workflow_file, branch, head_sha);
        self.set_run_status(run, "in_progress");
        let (start, sha) = {
            let git = self.inner.git();
            let sha = git
                .actions
                .run(run)
                .map(|r| r.head_sha.clone())
                .unwrap_or_default();
            (git.now(), sha)
        };
        let build = timestamped_log_at(
            start,
            &[
                "##[group]Run actions/checkout@v4",
                &format!("Checking out {sha}"),
                "##[endgroup]",
                "##[group]Run make build",
                &format!("Building {repo}"),
                "Finished release build",
                "##[endgroup]",
            ],
        );
        self.add_job(run, "build", build);
        let chart = format!("CHART_VERSION={chart_version}");
        let helm = timestamped_log_at(
            start + 60,
            &[
                "##[group]Run helm package",
                &format!("helm package charts/{repo} --version {chart_version}"),
                &format!(
                    "Successfully packaged chart and saved it to: /home/runner/work/{repo}/{repo}-{chart_version}.tgz"
                ),
                "##[endgroup]",
                "##[group]Run echo chart version",
                &chart,
                "##[endgroup]",
                "Cleaning up orphan processes",
            ],
        );
        self.add_job(run, "helm", helm);
        self.complete_run(run, "success");
        run
    }

    /// Delivers `workflow_job` for each change, in the given order.
    fn job_events(&self, changes: &[JobChange]) {
        if changes.is_empty() || !lock(&self.inner.hooks).active() {
            return;
        }
        let payloads: Vec<Value> = {
            let git = self.inner.git();
            changes
                .iter()
                .filter_map(|&(id, action)| {
                    let job = git.actions.job(id)?;
                    Some(actions::workflow_job_event(&self.inner, &git, job, action))
                })
                .collect()
        };
        for p in &payloads {
            hooks::send(&self.inner, "workflow_job", p);
        }
    }

    fn run_event(&self, run_id: u64, action: &str) {
        if !lock(&self.inner.hooks).active() {
            return;
        }
        let payload = {
            let git = self.inner.git();
            git.actions
                .run(run_id)
                .map(|r| actions::workflow_run_event(&self.inner, &git, r, action))
        };
        if let Some(p) = payload {
            hooks::send(&self.inner, "workflow_run", &p);
        }
    }

    /// Base URL of the log host job-log downloads are redirected to, e.g.
    /// `http://127.0.0.2:40123`: another loopback address than [`SimGithub::url`] (or
    /// `localhost` where only `127.0.0.1` can be bound).
    pub fn log_url(&self) -> String {
        self.inner.log_url.clone()
    }

    /// How long a log URL handed out by the logs endpoint works (one minute by default); later
    /// requests get 403, as expired signed URLs do.
    pub fn set_log_url_ttl(&self, ttl: Duration) {
        lock(&self.inner.logs).ttl = ttl;
    }

    /// Requests the log host received, oldest first (the newest 10,000 are kept).
    pub fn log_requests(&self) -> Vec<LogRequest> {
        lock(&self.inner.logs).recorded.iter().cloned().collect()
    }

    /// Queues faults for the log host, consumed one per request in order. `Status` and `Delay`
    /// behave as on the API; `Reset` sends the first half of the log, then drops the connection;
    /// the rate-limit faults answer 503 `ServerBusy`.
    pub fn push_log_faults(&self, faults: impl IntoIterator<Item = Fault>) {
        lock(&self.inner.logs).faults.extend(faults);
    }

    /// Delivers webhooks to `url`, signed with `secret` in `X-Hub-Signature-256` (unsigned when
    /// `secret` is empty). Deliveries go out one at a time, in the order of the changes.
    pub fn set_webhook(&self, url: &str, secret: &str) {
        lock(&self.inner.hooks).set(url, secret);
    }

    /// Stops delivering webhooks (those already queued still go out).
    pub fn remove_webhook(&self) {
        lock(&self.inner.hooks).clear();
    }

    /// Deliveries made so far, oldest first.
    pub fn deliveries(&self) -> Vec<WebhookDelivery> {
        lock(&self.delivered).clone()
    }

    /// Waits until every delivery queued so far has been made.
    pub async fn flush_webhooks(&self) {
        let done = lock(&self.inner.hooks).flush();
        let _ = done.await;
    }

    /// Delivers `payload` as event `event`, signed with the webhook's secret, after everything
    /// queued before; returns the status the receiver answered (`None` when it did not answer).
    /// Panics when no webhook is set.
    pub async fn deliver(&self, event: &str, payload: &Value) -> Option<u16> {
        self.deliver_with(event, payload.to_string(), Signature::Secret)
            .await
    }

    /// Delivers `body` as event `event` with `signature` as the `X-Hub-Signature-256` header
    /// (no header when `None`), e.g. a wrong one; returns the status the receiver answered.
    /// Panics when no webhook is set.
    pub async fn deliver_raw(
        &self,
        event: &str,
        body: &str,
        signature: Option<&str>,
    ) -> Option<u16> {
        let signature = Signature::Given(signature.map(str::to_owned));
        self.deliver_with(event, body.to_owned(), signature).await
    }

    async fn deliver_with(&self, event: &str, body: String, signature: Signature) -> Option<u16> {
        let (tx, rx) = oneshot::channel();
        assert!(
            hooks::queue(&self.inner, event, body, signature, Some(tx)),
            "simulated GitHub: no webhook is set"
        );
        rx.await.ok().flatten()
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

    /// Stops serving (the API and the log host, and webhook deliveries) and waits up to five
    /// seconds for the servers to end.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(true);
        }
        let tasks = std::mem::take(&mut self.tasks);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        for (i, task) in tasks.into_iter().enumerate() {
            // The last task delivers webhooks and only ends when aborted.
            if i < 2 {
                let abort = task.abort_handle();
                if tokio::time::timeout_at(deadline, task).await.is_err() {
                    abort.abort();
                }
            } else {
                task.abort();
            }
        }
    }
}

impl Drop for SimGithub {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(true);
        }
        for task in self.tasks.drain(..) {
            task.abort();
        }
    }
}
