//! Simulated Argo CD: the read-only application API of one Argo CD instance on loopback
//! (one per environment), optionally behind a simulated Cloudflare Access, with applications
//! whose sync, rollout and health tests script while it runs.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use std::time::Duration;
//! use shipyard_sim::argocd::{ArgoCdOptions, ArgoCdSim, AppKind, SimApp};
//! let qa = ArgoCdSim::start(ArgoCdOptions::new("qa", "aaa.bbb.ccc")).await?;
//! qa.add_app(SimApp::new("billing-qa", "payments", "billing", "1.1.939"));
//! qa.add_app(SimApp::new("ledger-qa", "payments", "ledger", "2.0.3").kind(AppKind::GitPath));
//! // an Argo CD client points at `qa.url()` with `Authorization: Bearer aaa.bbb.ccc`, then:
//! qa.set_target("billing-qa", "1.1.940"); // OutOfSync
//! qa.start_sync("billing-qa"); // Running, Progressing, old and new pods
//! qa.progress("billing-qa", 2);
//! qa.finish_sync("billing-qa"); // Synced, Healthy, history appended
//! let rollout = qa.roll_out("ledger-qa", "2.0.4", Duration::from_secs(2));
//! # let _ = rollout; Ok(()) }
//! ```
//!
//! Routes (all below [`ArgoCdOptions::path_prefix`], Argo CD's `--rootpath`):
//! `GET /api/v1/applications` (query `name`, `selector`, `projects`/`project`, `repo`,
//! `appNamespace`), `GET /api/v1/applications/{name}` (query `project`/`projects`,
//! `appNamespace`, `refresh`), `GET /api/v1/applications/{name}/resource-tree` and
//! `GET /api/v1/applications/{name}/resource` (query `namespace`, `resourceName`, `group`,
//! `version`, `kind`). Anything else is `404 text/plain` `Not Found`, as grpc-gateway answers.
//!
//! Every answer is built from Argo CD's wire examples in `fixtures/argocd/` (embedded at build
//! time): a copy of the matching file with the app's names, versions and statuses patched in,
//! so it has Argo CD's keys at Argo CD's places; `tests/argocd.rs` checks that key by key.
//! The behaviour follows that directory's README: a missing app is `403 permission denied`
//! without `?project=` and `404` with it; apps the token may not read are `403` and silently
//! left out of the list; apps outside the `argocd` namespace need `?appNamespace=`; the list
//! has no per-resource health; `401` code 16 for a missing or non-JWT token and for a token this
//! instance did not sign; Cloudflare Access (when configured) answers a missing or wrong
//! service token with a `302` to its login page or a `403` HTML page before Argo CD sees the
//! request, and marks every answer with `server: cloudflare` and `cf-ray`.
//!
//! It is not Argo CD: there is no RBAC beyond [`ArgoCdSim::forbid_app`], no writes, no
//! streams, no `managed-resources`, no Argo Rollouts, every app has one Deployment (plus a
//! ConfigMap, a Service and an Ingress) whose pods carry the app's image and an Istio sidecar,
//! `refresh` returns at once, names are unique across app namespaces, and nothing is persisted.

mod fixtures;
mod render;
mod server;
mod state;
mod util;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use render::{git_revision, values_revision};

use state::{App, State};

/// A fresh random API token shaped like Argo CD's (three dot-separated base64url parts, as a
/// JWT), which [`ArgoCdOptions::token`] accepts.
pub fn random_api_token() -> String {
    use base64::Engine as _;
    let part = || {
        let bytes: [u8; 18] = rand::random();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    };
    format!("{}.{}.{}", part(), part(), part())
}

/// How one simulated Argo CD instance is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgoCdOptions {
    /// The environment it deploys to, e.g. `qa`: apps get the label `env=<environment>`, and
    /// it appears in host names and values files.
    pub environment: String,
    /// The bearer token this instance accepts (compared as a string; it must look like a JWT,
    /// three dot-separated parts, or it counts as no token at all).
    pub token: String,
    /// `""` or a path such as `/argocd` (Argo CD's `--rootpath`): every route lives below it.
    pub path_prefix: String,
    /// Cloudflare Access in front, requiring a service token on every request.
    pub cloudflare: Option<CloudflareAccess>,
}

impl ArgoCdOptions {
    /// An instance for `environment` accepting `token`, at the root, without Cloudflare.
    pub fn new(environment: &str, token: &str) -> ArgoCdOptions {
        ArgoCdOptions {
            environment: environment.to_owned(),
            token: token.to_owned(),
            path_prefix: String::new(),
            cloudflare: None,
        }
    }

    /// Serves below `prefix` (e.g. `/argocd`).
    pub fn path_prefix(mut self, prefix: &str) -> ArgoCdOptions {
        prefix.clone_into(&mut self.path_prefix);
        self
    }

    /// Puts Cloudflare Access in front.
    pub fn cloudflare(mut self, access: CloudflareAccess) -> ArgoCdOptions {
        self.cloudflare = Some(access);
        self
    }
}

/// A Cloudflare Access application in front of Argo CD with one service token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudflareAccess {
    /// Expected `CF-Access-Client-Id` (Cloudflare's look `<hex>.access`).
    pub client_id: String,
    /// Expected `CF-Access-Client-Secret`.
    pub client_secret: String,
    /// How a missing or wrong service token is answered.
    pub rejection: Rejection,
}

impl CloudflareAccess {
    /// Access requiring this service token, rejecting with a redirect to the login page.
    pub fn new(client_id: &str, client_secret: &str) -> CloudflareAccess {
        CloudflareAccess {
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            rejection: Rejection::Redirect,
        }
    }

    /// Sets how rejections look.
    pub fn rejection(mut self, rejection: Rejection) -> CloudflareAccess {
        self.rejection = rejection;
        self
    }
}

/// What Cloudflare Access answers a request without a valid service token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rejection {
    /// `302` to `https://<team>.cloudflareaccess.com/cdn-cgi/access/login/<host>?kid=…&
    /// redirect_url=…&meta=…` with a `CF_AppSession` cookie (`cloudflare-access-302.txt`): an
    /// Access application with an identity policy.
    #[default]
    Redirect,
    /// `403` `text/html` (`cloudflare-access-403.html`): Service Auth policies only.
    Html403,
}

/// How an app's version reaches Argo CD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AppKind {
    /// One source: chart `<repo>` from a Helm repository; `targetRevision` is the version
    /// (`application-helm-chart.json`).
    #[default]
    HelmRepo,
    /// The chart source plus a git `ref: values` source; `sync.revisions` holds the version
    /// and a values commit (`application-multi-source.json`).
    MultiSource,
    /// A chart in a git path (`charts/<repo>` at `master`): revisions are commit SHAs
    /// ([`git_revision`]), the version is the `image.tag` parameter
    /// (`application-git-path.json`).
    GitPath,
}

/// An application to add with [`ArgoCdSim::add_app`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimApp {
    /// Application name, e.g. `billing-qa`.
    pub name: String,
    /// Argo CD project.
    pub project: String,
    /// The namespace of the Application resource (`argocd` unless "apps in any namespace").
    pub namespace: String,
    /// The repository: chart name, image `registry.example.com/acme/<repo>:<version>`, label
    /// `repo=<repo>`.
    pub repo: String,
    /// How the version is deployed.
    pub kind: AppKind,
    /// The version it runs at first (Synced, Healthy, with older versions in its history).
    pub version: String,
    /// Pods of the Deployment.
    pub replicas: u32,
    /// Helm release: the name of the Deployment, Service and Ingress (default: the repo).
    pub release_name: String,
    /// Where the resources live (default: the repo).
    pub destination_namespace: String,
    /// Extra labels of the Application (besides `env`, `repo` and `team=<project>`).
    pub labels: Vec<(String, String)>,
}

impl SimApp {
    /// A [`AppKind::HelmRepo`] app in namespace `argocd` with 3 replicas.
    pub fn new(name: &str, project: &str, repo: &str, version: &str) -> SimApp {
        SimApp {
            name: name.to_owned(),
            project: project.to_owned(),
            namespace: "argocd".to_owned(),
            repo: repo.to_owned(),
            kind: AppKind::HelmRepo,
            version: version.to_owned(),
            replicas: 3,
            release_name: repo.to_owned(),
            destination_namespace: repo.to_owned(),
            labels: Vec::new(),
        }
    }

    /// Sets the kind.
    pub fn kind(mut self, kind: AppKind) -> SimApp {
        self.kind = kind;
        self
    }

    /// Sets the Application's namespace.
    pub fn namespace(mut self, namespace: &str) -> SimApp {
        namespace.clone_into(&mut self.namespace);
        self
    }

    /// Sets the number of pods.
    pub fn replicas(mut self, replicas: u32) -> SimApp {
        self.replicas = replicas;
        self
    }

    /// Names the Helm release (and so the Deployment) differently from the repo.
    pub fn release_name(mut self, release: &str) -> SimApp {
        release.clone_into(&mut self.release_name);
        self
    }

    /// Deploys into another namespace than the repo's name.
    pub fn destination_namespace(mut self, namespace: &str) -> SimApp {
        namespace.clone_into(&mut self.destination_namespace);
        self
    }

    /// Adds a label to the Application.
    pub fn label(mut self, key: &str, value: &str) -> SimApp {
        self.labels.push((key.to_owned(), value.to_owned()));
        self
    }
}

/// A failure injected instead of the answer to a request (after Cloudflare, before Argo CD).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `500` with Argo CD's JSON error, gRPC code 13.
    Internal,
    /// `503` `text/plain` from the load balancer in front of Argo CD.
    Unavailable,
    /// The connection is closed without an answer.
    Reset,
    /// The answer comes this much later.
    Delay(Duration),
}

/// Requests received since start (or [`ArgoCdSim::reset_requests`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RequestCounts {
    /// `GET /api/v1/applications` answered by Argo CD.
    pub list: u64,
    /// `GET /api/v1/applications/{name}` answered by Argo CD (errors included).
    pub get: u64,
    /// `GET …/resource-tree` answered by Argo CD.
    pub tree: u64,
    /// `GET …/resource` answered by Argo CD.
    pub resource: u64,
    /// Requests for unknown routes.
    pub other: u64,
    /// Requests rejected for their Argo CD token (`401`) or by Cloudflare Access.
    pub rejected: u64,
    /// The part of `rejected` that Cloudflare Access rejected.
    pub cloudflare_rejected: u64,
    /// Requests answered by an injected [`Fault`] (other than a delay) or while down.
    pub faulted: u64,
    /// Requests that carried a `refresh` query parameter (any route).
    pub refresh: u64,
}

impl RequestCounts {
    /// Every request.
    pub fn total(&self) -> u64 {
        self.list + self.get + self.tree + self.resource + self.other + self.rejected + self.faulted
    }
}

/// One request as the server saw and answered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// HTTP method.
    pub method: String,
    /// Path and query string, as sent (prefix included).
    pub path: String,
    /// Status sent; `None` when the connection was closed instead ([`Fault::Reset`]).
    pub status: Option<u16>,
}

/// What an app looks like now, for assertions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppState {
    /// The desired version (spec).
    pub target: String,
    /// The version the last successful comparison resolved.
    pub compared: String,
    /// The version the pods not yet updated run (all of them outside a rollout).
    pub running: String,
    /// The version a rollout moves to, while one is under way or stuck.
    pub rolling_to: Option<String>,
    /// Pods on `rolling_to`.
    pub updated: u32,
    /// Pods in all.
    pub replicas: u32,
    /// `status.sync.status`.
    pub sync: String,
    /// `status.health.status`.
    pub health: String,
    /// The Deployment's health message.
    pub health_message: Option<String>,
    /// `status.operationState.phase`.
    pub phase: String,
    /// Whether the top-level `operation` is present (a sync is running).
    pub operation_in_flight: bool,
    /// Versions in `status.history`, oldest first.
    pub history: Vec<String>,
    /// `status.summary.images`.
    pub images: Vec<String>,
    /// Whether the token may not read it.
    pub forbidden: bool,
}

/// Shared state behind the server and the scripting handle.
#[derive(Debug)]
pub(crate) struct Inner {
    pub options: ArgoCdOptions,
    state: Mutex<State>,
}

impl Inner {
    /// Locks the state, carrying on with the data if a panicking holder poisoned it.
    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the app named `name` and records the change; `None` if there is no such app.
    fn change<T>(&self, name: &str, f: impl FnOnce(&mut App, u64) -> T) -> Option<T> {
        let now = util::now();
        let mut state = self.state();
        let rv = state.resource_version + 1;
        let app = state.apps.get_mut(name)?;
        let out = f(app, now);
        app.touch(now, rv);
        state.resource_version = rv;
        Some(out)
    }
}

/// Normalises a path prefix to `""` or `/segment[/segment…]` without a trailing slash.
fn normalise_prefix(prefix: &str) -> String {
    let trimmed = prefix.trim().trim_matches('/');
    if trimmed.is_empty() {
        String::new()
    } else {
        format!("/{trimmed}")
    }
}

/// A running simulated Argo CD; it stops when this is dropped or shut down.
pub struct ArgoCdSim {
    inner: Arc<Inner>,
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for ArgoCdSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArgoCdSim")
            .field("addr", &self.addr)
            .field("environment", &self.inner.options.environment)
            .finish_non_exhaustive()
    }
}

impl ArgoCdSim {
    /// Binds 127.0.0.1 on a free port and serves an instance without applications.
    pub async fn start(options: ArgoCdOptions) -> std::io::Result<ArgoCdSim> {
        let mut options = options;
        options.path_prefix = normalise_prefix(&options.path_prefix);
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let inner = Arc::new(Inner {
            options,
            state: Mutex::new(State::default()),
        });
        let app = server::router(inner.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let make = app.into_make_service_with_connect_info::<server::Connection>();
            let serve = axum::serve(server::Listener::new(listener), make).with_graceful_shutdown(
                async move {
                    let _ = rx.await;
                },
            );
            if let Err(e) = serve.await {
                tracing::warn!(error = %e, "simulated Argo CD stopped");
            }
        });
        tracing::debug!(%addr, environment = %inner.options.environment, "simulated Argo CD listening");
        Ok(ArgoCdSim {
            inner,
            addr,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// What a configuration's `url` would hold: `http://127.0.0.1:PORT` plus the path prefix,
    /// without a trailing slash (the API is below `/api/v1`).
    pub fn url(&self) -> String {
        format!("{}{}", self.origin(), self.inner.options.path_prefix)
    }

    /// `http://127.0.0.1:PORT`, without the path prefix.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Socket address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The options it was started with (the prefix normalised).
    pub fn options(&self) -> &ArgoCdOptions {
        &self.inner.options
    }

    /// Adds (or replaces) an app: Synced and Healthy at `app.version`, with a few older
    /// versions in its history.
    pub fn add_app(&self, app: SimApp) {
        let now = util::now();
        let mut state = self.inner.state();
        state.resource_version += 1;
        let rv = state.resource_version;
        let app = App::new(app, &self.inner.options.environment, now, rv);
        state.apps.insert(app.spec.name.clone(), app);
    }

    fn change<T>(&self, app: &str, f: impl FnOnce(&mut App, u64) -> T) -> T {
        match self.inner.change(app, f) {
            Some(out) => out,
            None => panic!("the simulated Argo CD has no app named {app}"),
        }
    }

    /// A new desired version: `targetRevision` (or the `image.tag` parameter of a
    /// [`AppKind::GitPath`] app) changes, sync OutOfSync; the pods and history stay.
    ///
    /// # Panics
    /// If there is no such app (likewise for every method taking an app name, except
    /// [`ArgoCdSim::app_state`] and [`ArgoCdSim::roll_out`]).
    pub fn set_target(&self, app: &str, version: &str) {
        self.change(app, |a, _| a.set_target(version));
    }

    /// Targets a chart the Helm index does not list yet: sync `Unknown` with a
    /// `ComparisonError` condition; the last good comparison, pods, health and history stay.
    pub fn set_unpublished(&self, app: &str, version: &str) {
        self.change(app, |a, now| a.set_unpublished(version, now));
    }

    /// Starts syncing to the compared target: `operation` present, phase Running, health
    /// Progressing, the new ReplicaSet with one pod (not ready yet) beside the old pods.
    pub fn start_sync(&self, app: &str) {
        self.change(app, |a, now| a.start_sync(now));
    }

    /// During a sync, `updated` pods run the new version (the rest the old one); starts the
    /// sync if none is running.
    pub fn progress(&self, app: &str, updated: u32) {
        self.change(app, |a, now| a.progress(updated, now));
    }

    /// The sync succeeds: operation cleared, phase Succeeded, Synced, Healthy, every pod on
    /// the new version, a history entry appended.
    pub fn finish_sync(&self, app: &str) {
        self.change(app, |a, now| a.finish_sync(now));
    }

    /// The new pods crash: health Degraded (the Deployment's health message is `message`),
    /// operation Failed, a `SyncError` condition; history unchanged.
    pub fn degrade(&self, app: &str, message: &str) {
        self.change(app, |a, now| a.degrade(message, now));
    }

    /// Pauses the Deployment: health Suspended (`Deployment is paused`), as a paused rollout.
    pub fn suspend(&self, app: &str) {
        self.change(app, |a, _| a.suspend());
    }

    /// Unpauses the Deployment.
    pub fn resume(&self, app: &str) {
        self.change(app, |a, _| a.resume());
    }

    /// Deletes the app: `403` without `?project=`, `404` with it, gone from the list.
    pub fn remove_app(&self, app: &str) {
        let mut state = self.inner.state();
        if state.apps.remove(app).is_some() {
            state.resource_version += 1;
        }
    }

    /// Whether the token may read the app: when not, `GET`s answer `403` and the list leaves it
    /// out.
    pub fn forbid_app(&self, app: &str, forbidden: bool) {
        self.change(app, |a, _| a.forbidden = forbidden);
    }

    /// While down, every request is answered `503` `text/plain` by the load balancer.
    pub fn set_down(&self, down: bool) {
        self.inner.state().down = down;
    }

    /// Answers the next `requests` requests with `fault` (replacing faults still queued).
    pub fn set_fault(&self, fault: Fault, requests: usize) {
        let mut state = self.inner.state();
        state.faults.clear();
        state.faults.extend(std::iter::repeat_n(fault, requests));
    }

    /// Queues faults, one per request, after those already queued.
    pub fn push_faults(&self, faults: impl IntoIterator<Item = Fault>) {
        self.inner.state().faults.extend(faults);
    }

    /// Drops every queued fault.
    pub fn clear_faults(&self) {
        self.inner.state().faults.clear();
    }

    /// While on, Cloudflare Access rejects even the right service token (a revoked one).
    pub fn set_cloudflare_rejects(&self, rejects: bool) {
        self.inner.state().cloudflare_rejects = rejects;
    }

    /// For the demo: [`set_target`](Self::set_target), [`start_sync`](Self::start_sync),
    /// [`progress`](Self::progress) 1 to the replica count and
    /// [`finish_sync`](Self::finish_sync), one step every `step`. It stops early if the app is
    /// removed.
    pub fn roll_out(&self, app: &str, version: &str, step: Duration) -> JoinHandle<()> {
        let inner = self.inner.clone();
        let app = app.to_owned();
        let version = version.to_owned();
        tokio::spawn(async move {
            let Some(replicas) = inner.change(&app, |a, _| {
                a.set_target(&version);
                a.spec.replicas
            }) else {
                return;
            };
            tokio::time::sleep(step).await;
            if inner.change(&app, |a, now| a.start_sync(now)).is_none() {
                return;
            }
            for n in 1..=replicas {
                tokio::time::sleep(step).await;
                if inner.change(&app, |a, now| a.progress(n, now)).is_none() {
                    return;
                }
            }
            tokio::time::sleep(step).await;
            inner.change(&app, |a, now| a.finish_sync(now));
        })
    }

    /// Requests counted by kind since start or the last [`reset_requests`](Self::reset_requests).
    pub fn requests(&self) -> RequestCounts {
        self.inner.state().counts
    }

    /// Every request since start or the last reset, in order.
    pub fn request_log(&self) -> Vec<RecordedRequest> {
        self.inner.state().log.clone()
    }

    /// Sets the counts to zero and clears the log.
    pub fn reset_requests(&self) {
        let mut state = self.inner.state();
        state.counts = RequestCounts::default();
        state.log.clear();
    }

    /// The app as it is now, or `None` if there is none by that name.
    pub fn app_state(&self, app: &str) -> Option<AppState> {
        let state = self.inner.state();
        let a = state.apps.get(app)?;
        let health = a.health();
        Some(AppState {
            target: a.target.clone(),
            compared: a.compared.clone(),
            running: a.old.clone(),
            rolling_to: a.new.clone().filter(|n| *n != a.old),
            updated: a.updated_replicas(),
            replicas: a.spec.replicas,
            sync: a.sync_status().to_owned(),
            health: health.status.to_owned(),
            health_message: health.message,
            phase: a.operation.phase.as_str().to_owned(),
            operation_in_flight: a.operation.phase == state::Phase::Running,
            history: a.history.iter().map(|d| d.version.clone()).collect(),
            images: render::summary_images(a),
            forbidden: a.forbidden,
        })
    }

    /// Names of every app, sorted.
    pub fn apps(&self) -> Vec<String> {
        self.inner.state().apps.keys().cloned().collect()
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

impl Drop for ArgoCdSim {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
