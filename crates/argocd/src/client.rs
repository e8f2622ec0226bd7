//! The client: options, the endpoints, and one exchange with Argo CD (retries, metrics).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};
use serde::de::DeserializeOwned;
use shipyard_core::deploy::argo::{
    Application, ApplicationList, LiveResource, ResourceStatus, ResourceTree,
};
use url::Url;

use crate::error::{ArgoError, Call, Context, Verdict, judge, judge_head};

/// How one attempt ended.
enum Attempt {
    /// A success: its body.
    Done(bytes::Bytes),
    /// A transient failure, and why.
    Retry(String),
    /// A final failure.
    Fail(ArgoError),
}

/// The user agent sent when the options name none.
const DEFAULT_USER_AGENT: &str = concat!("shipyard/", env!("CARGO_PKG_VERSION"));

/// First retry delay; it doubles with every retry, with jitter.
const RETRY_BASE: Duration = Duration::from_millis(200);

/// Longest retry delay.
const RETRY_CAP: Duration = Duration::from_secs(5);

/// Longest time to open a connection (capped by the whole attempt's timeout).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How to reach one Argo CD instance (one environment).
#[derive(Clone)]
pub struct ArgoCdOptions {
    /// The environment (`qa`): named in every error, log line and metric.
    pub environment: String,
    /// Argo CD's base URL including its path prefix, if any (`https://ops.example.com/argocd`),
    /// without `/api`; a trailing slash is ignored.
    pub url: String,
    /// The Argo CD API token; sent as `Authorization: Bearer …` and never logged.
    pub token: String,
    /// Cloudflare Access service token id (`CF-Access-Client-Id`), when Access is in front.
    pub cf_client_id: Option<String>,
    /// Cloudflare Access service token secret (`CF-Access-Client-Secret`); never logged.
    pub cf_client_secret: Option<String>,
    /// The Argo CD project of the applications: sent as `?project=` (`?projects=` on the list),
    /// so a missing application answers 404 rather than 403.
    pub project: Option<String>,
    /// The namespace of the Application objects, for apps outside Argo CD's own namespace.
    pub app_namespace: Option<String>,
    /// Time limit for one attempt.
    pub timeout: Duration,
    /// Further attempts of one call after a 5xx, a broken connection or a timeout.
    pub retries: u32,
    /// The `User-Agent` header (`shipyard/<version>` when empty).
    pub user_agent: String,
}

impl ArgoCdOptions {
    /// Options for `environment` at `url` with `token`: no Cloudflare, project or app
    /// namespace, 10 s per attempt, 3 retries.
    pub fn new(
        environment: impl Into<String>,
        url: impl Into<String>,
        token: impl Into<String>,
    ) -> ArgoCdOptions {
        ArgoCdOptions {
            environment: environment.into(),
            url: url.into(),
            token: token.into(),
            cf_client_id: None,
            cf_client_secret: None,
            project: None,
            app_namespace: None,
            timeout: Duration::from_secs(10),
            retries: 3,
            user_agent: DEFAULT_USER_AGENT.to_owned(),
        }
    }

    /// Sends a Cloudflare Access service token with every request.
    pub fn cloudflare(
        mut self,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> ArgoCdOptions {
        self.cf_client_id = Some(client_id.into());
        self.cf_client_secret = Some(client_secret.into());
        self
    }

    /// Names the applications' project in every request.
    pub fn project(mut self, project: impl Into<String>) -> ArgoCdOptions {
        self.project = Some(project.into());
        self
    }

    /// Names the applications' namespace in every request.
    pub fn app_namespace(mut self, namespace: impl Into<String>) -> ArgoCdOptions {
        self.app_namespace = Some(namespace.into());
        self
    }
}

impl std::fmt::Debug for ArgoCdOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArgoCdOptions")
            .field("environment", &self.environment)
            .field("url", &self.url)
            .field("token", &"<redacted>")
            .field("cf_client_id", &self.cf_client_id)
            .field(
                "cf_client_secret",
                &self.cf_client_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("project", &self.project)
            .field("app_namespace", &self.app_namespace)
            .field("timeout", &self.timeout)
            .field("retries", &self.retries)
            .field("user_agent", &self.user_agent)
            .finish()
    }
}

/// What the list call asks for besides the configured project and app namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    /// Only the application of this name (`?name=`).
    pub name: Option<String>,
    /// A Kubernetes label selector (`?selector=`, e.g. `env=qa,team=payments`).
    pub selector: Option<String>,
}

impl ListFilter {
    /// Every application the token may read.
    pub fn all() -> ListFilter {
        ListFilter::default()
    }

    /// Only the application named `name`.
    pub fn by_name(name: impl Into<String>) -> ListFilter {
        ListFilter {
            name: Some(name.into()),
            selector: None,
        }
    }

    /// The applications matching a label selector.
    pub fn by_selector(selector: impl Into<String>) -> ListFilter {
        ListFilter {
            name: None,
            selector: Some(selector.into()),
        }
    }
}

/// Counters of what one client (and its clones) did since it was built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// HTTP requests sent (every attempt).
    pub requests: u64,
    /// Attempts that were retries.
    pub retries: u64,
    /// Calls that ended in an error (after their retries).
    pub failures: u64,
}

/// A read-only client of one Argo CD instance. Cheap to clone; clones share the HTTP client
/// and the counters.
#[derive(Clone)]
pub struct ArgoCd {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    /// The base URL, its path without a trailing slash.
    base: Url,
    environment: String,
    project: Option<String>,
    app_namespace: Option<String>,
    retries: u32,
    requests: AtomicU64,
    retried: AtomicU64,
    failures: AtomicU64,
}

impl std::fmt::Debug for ArgoCd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArgoCd")
            .field("environment", &self.inner.environment)
            .field("url", &self.inner.base.as_str())
            .finish_non_exhaustive()
    }
}

/// A header value the logs and `Debug` output never show.
fn sensitive(value: &str) -> Option<HeaderValue> {
    let mut value = HeaderValue::from_str(value).ok()?;
    value.set_sensitive(true);
    Some(value)
}

impl ArgoCd {
    /// Builds a client. Fails with [`ArgoError::Invalid`] for a URL that is not `http(s)`, an
    /// empty token, a token or Cloudflare credential that cannot be sent in a header, only one
    /// half of a Cloudflare service token, or a TLS stack that cannot start.
    pub fn new(options: ArgoCdOptions) -> Result<ArgoCd, ArgoError> {
        let ArgoCdOptions {
            environment,
            url,
            token,
            cf_client_id,
            cf_client_secret,
            project,
            app_namespace,
            timeout,
            retries,
            user_agent,
        } = options;
        let invalid = |reason: String| ArgoError::Invalid {
            environment: environment.clone(),
            reason,
        };

        let mut base = Url::parse(url.trim())
            .map_err(|e| invalid(format!("the URL {url:?} cannot be read: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(invalid(format!("the URL {url:?} is not an http(s) URL")));
        }
        if !base.username().is_empty() || base.password().is_some() {
            return Err(invalid(
                "the URL holds credentials; the token goes in the token setting".to_owned(),
            ));
        }
        if base.query().is_some() || base.fragment().is_some() {
            return Err(invalid(format!(
                "the URL {url:?} has a query or fragment; give the base URL only"
            )));
        }
        let path = base.path().trim_end_matches('/').to_owned();
        base.set_path(&path);

        let token = token.trim();
        if token.is_empty() {
            return Err(invalid("no Argo CD token is configured".to_owned()));
        }
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        let bearer = sensitive(&format!("Bearer {token}")).ok_or_else(|| {
            invalid("the token contains characters not allowed in a header".to_owned())
        })?;
        headers.insert(header::AUTHORIZATION, bearer);
        match (cf_client_id.as_deref(), cf_client_secret.as_deref()) {
            (None, None) => {}
            (Some(id), Some(secret)) => {
                let id = HeaderValue::from_str(id.trim()).map_err(|_| {
                    invalid(
                        "the Cloudflare client id contains characters not allowed in a header"
                            .to_owned(),
                    )
                })?;
                let secret = sensitive(secret.trim()).ok_or_else(|| {
                    invalid(
                        "the Cloudflare client secret contains characters not allowed in a header"
                            .to_owned(),
                    )
                })?;
                headers.insert(HeaderName::from_static("cf-access-client-id"), id);
                headers.insert(HeaderName::from_static("cf-access-client-secret"), secret);
            }
            _ => {
                return Err(invalid(
                    "a Cloudflare service token needs both the client id and the client secret"
                        .to_owned(),
                ));
            }
        }

        let user_agent = if user_agent.trim().is_empty() {
            DEFAULT_USER_AGENT.to_owned()
        } else {
            user_agent
        };
        let http = reqwest::Client::builder()
            .user_agent(user_agent)
            .default_headers(headers)
            // A redirect is Cloudflare Access's login page: never followed, never given the token.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout.min(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| invalid(format!("cannot start the HTTP client: {}", source_text(&e))))?;

        let non_empty =
            |v: Option<String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        Ok(ArgoCd {
            inner: Arc::new(Inner {
                http,
                base,
                project: non_empty(project),
                app_namespace: non_empty(app_namespace),
                environment,
                retries,
                requests: AtomicU64::new(0),
                retried: AtomicU64::new(0),
                failures: AtomicU64::new(0),
            }),
        })
    }

    /// The environment this instance deploys to (`qa`).
    pub fn environment(&self) -> &str {
        &self.inner.environment
    }

    /// Counters since the client was built, shared by its clones.
    pub fn stats(&self) -> ClientStats {
        let i = &self.inner;
        ClientStats {
            requests: i.requests.load(Ordering::Relaxed),
            retries: i.retried.load(Ordering::Relaxed),
            failures: i.failures.load(Ordering::Relaxed),
        }
    }

    /// `GET /api/v1/applications/{name}` (with the configured project and app namespace;
    /// never `refresh`).
    pub async fn application(&self, name: &str) -> Result<Application, ArgoError> {
        self.check_name(name)?;
        let url = self.app_url(name, None, &[]);
        self.get(url, Call::App(name)).await
    }

    /// `GET /api/v1/applications`: the applications the token may read, narrowed by the
    /// configured project and app namespace and by `filter`.
    pub async fn applications(&self, filter: &ListFilter) -> Result<ApplicationList, ArgoError> {
        let mut query: Vec<(&str, &str)> = Vec::new();
        if let Some(project) = &self.inner.project {
            query.push(("projects", project));
        }
        if let Some(namespace) = &self.inner.app_namespace {
            query.push(("appNamespace", namespace));
        }
        if let Some(selector) = filter.selector.as_deref().filter(|s| !s.trim().is_empty()) {
            query.push(("selector", selector));
        }
        if let Some(name) = filter.name.as_deref().filter(|s| !s.trim().is_empty()) {
            query.push(("name", name));
        }
        let url = self.url(&[], &query);
        self.get(url, Call::List).await
    }

    /// `GET /api/v1/applications/{app}/resource-tree`.
    pub async fn resource_tree(&self, app: &str) -> Result<ResourceTree, ArgoError> {
        self.check_name(app)?;
        let url = self.app_url(app, Some("resource-tree"), &[]);
        self.get(url, Call::App(app)).await
    }

    /// `GET /api/v1/applications/{app}/resource`: the live object of one of the application's
    /// resources (as listed in `status.resources` or the tree).
    pub async fn live_resource(
        &self,
        app: &str,
        resource: &ResourceStatus,
    ) -> Result<LiveResource, ArgoError> {
        self.check_name(app)?;
        if resource.name.trim().is_empty() || resource.kind.trim().is_empty() {
            return Err(self.invalid(format!("a live resource of {app} needs a kind and a name")));
        }
        let query = [
            ("namespace", resource.namespace.as_str()),
            ("resourceName", resource.name.as_str()),
            ("group", resource.group.as_str()),
            ("version", resource.version.as_str()),
            ("kind", resource.kind.as_str()),
        ];
        let url = self.app_url(app, Some("resource"), &query);
        self.get(url, Call::Resource(app)).await
    }

    fn invalid(&self, reason: String) -> ArgoError {
        ArgoError::Invalid {
            environment: self.inner.environment.clone(),
            reason,
        }
    }

    /// An application name must be a path segment of its own.
    fn check_name(&self, name: &str) -> Result<(), ArgoError> {
        if name.trim().is_empty() || name == "." || name == ".." {
            return Err(self.invalid(format!("{name:?} is not an application name")));
        }
        Ok(())
    }

    /// `…/api/v1/applications/{app}[/{sub}]` with `query`, the project and the app namespace.
    fn app_url(&self, app: &str, sub: Option<&str>, query: &[(&str, &str)]) -> Url {
        let mut pairs: Vec<(&str, &str)> = query.to_vec();
        if let Some(namespace) = &self.inner.app_namespace {
            pairs.push(("appNamespace", namespace));
        }
        if let Some(project) = &self.inner.project {
            pairs.push(("project", project));
        }
        let segments: Vec<&str> = std::iter::once(app).chain(sub).collect();
        self.url(&segments, &pairs)
    }

    /// `{base}/api/v1/applications[/segment…][?query]`, every part percent-encoded.
    fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> Url {
        let mut url = self.inner.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty()
                .extend(["api", "v1", "applications"])
                .extend(segments);
        }
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    /// One call: the exchange, then the body decoded; counted and measured once.
    async fn get<T: DeserializeOwned>(&self, url: Url, call: Call<'_>) -> Result<T, ArgoError> {
        let result = self.exchange(&url, call).await.and_then(|body| {
            serde_json::from_slice::<T>(&body).map_err(|e| ArgoError::Decode {
                environment: self.inner.environment.clone(),
                reason: format!("{}: {e}", url.path()),
            })
        });
        if let Err(e) = &result {
            self.inner.failures.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(environment = %self.inner.environment, path = url.path(), error = %e, "Argo CD call failed");
        }
        result
    }

    /// Sends a GET until it gets a final answer, retrying 5xx answers, broken connections and
    /// timeouts up to the configured number of times; the body of a success.
    async fn exchange(&self, url: &Url, call: Call<'_>) -> Result<bytes::Bytes, ArgoError> {
        let inner = &self.inner;
        let ctx = Context {
            environment: &inner.environment,
            project: inner.project.as_deref(),
            call,
            path: url.path(),
        };
        let mut failures = 0u32;
        loop {
            let reason = match self.attempt(url, &ctx).await {
                Attempt::Done(body) => return Ok(body),
                Attempt::Fail(e) => return Err(e),
                Attempt::Retry(reason) => reason,
            };
            failures += 1;
            if failures > inner.retries {
                return Err(ArgoError::Unavailable {
                    environment: inner.environment.clone(),
                    reason: match inner.retries {
                        0 => reason,
                        1 => format!("{reason} (after 1 retry)"),
                        n => format!("{reason} (after {n} retries)"),
                    },
                });
            }
            inner.retried.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("shipyard_argocd_retries_total", "environment" => inner.environment.clone())
                .increment(1);
            let delay = backoff(failures);
            tracing::debug!(environment = %inner.environment, path = url.path(), %reason, ?delay, "retrying Argo CD request");
            tokio::time::sleep(delay).await;
        }
    }

    /// One attempt: the body of a success, else how the answer is taken.
    async fn attempt(&self, url: &Url, ctx: &Context<'_>) -> Attempt {
        let inner = &self.inner;
        inner.requests.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let outcome = self.send(url, ctx).await;
        let label = outcome_label(&outcome);
        tracing::debug!(environment = %inner.environment, path = url.path(), outcome = label, elapsed = ?started.elapsed(), "Argo CD request");
        metrics::counter!(
            "shipyard_argocd_requests_total",
            "environment" => inner.environment.clone(),
            "outcome" => label
        )
        .increment(1);
        outcome
    }

    async fn send(&self, url: &Url, ctx: &Context<'_>) -> Attempt {
        let resp = match self.inner.http.get(url.clone()).send().await {
            Ok(resp) => resp,
            Err(e) => return network(&e),
        };
        let status = resp.status();
        let content_type = header_text(resp.headers(), header::CONTENT_TYPE).map(str::to_owned);
        let location = header_text(resp.headers(), header::LOCATION).map(str::to_owned);
        // Cloudflare's rejections are decided without reading their bodies.
        if let Some(e) = judge_head(ctx, status, content_type.as_deref(), location.as_deref()) {
            return Attempt::Fail(e);
        }
        let body = match resp.bytes().await {
            Ok(body) => body,
            Err(e) => return network(&e),
        };
        match judge(
            ctx,
            status,
            content_type.as_deref(),
            location.as_deref(),
            &body,
        ) {
            Verdict::Success => Attempt::Done(body),
            Verdict::Retry(reason) => Attempt::Retry(reason),
            Verdict::Fail(e) => Attempt::Fail(e),
        }
    }
}

fn header_text(headers: &HeaderMap, name: HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// A failure to get an answer at all: retried.
fn network(e: &reqwest::Error) -> Attempt {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "the connection failed"
    };
    Attempt::Retry(format!("{kind} ({})", source_text(e)))
}

/// The innermost cause of a reqwest error, which (unlike the error itself) names no URL.
fn source_text(e: &reqwest::Error) -> String {
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    let mut last = None;
    while let Some(s) = source {
        last = Some(s.to_string());
        source = s.source();
    }
    last.unwrap_or_else(|| "network error".to_owned())
}

/// The `outcome` label of an attempt.
fn outcome_label(attempt: &Attempt) -> &'static str {
    match attempt {
        Attempt::Done(_) => "ok",
        Attempt::Retry(_) => "retry",
        Attempt::Fail(e) => match e {
            ArgoError::Invalid { .. } => "invalid",
            ArgoError::CloudflareRejected { .. } => "cloudflare_rejected",
            ArgoError::NotFound { .. } => "not_found",
            ArgoError::PermissionDenied { .. } => "permission_denied",
            ArgoError::Unauthenticated { .. } => "unauthenticated",
            ArgoError::Rejected { .. } => "rejected",
            ArgoError::Unavailable { .. } => "unavailable",
            ArgoError::Decode { .. } => "decode",
        },
    }
}

/// The pause before retry number `retry` (1, 2, …): exponential from [`RETRY_BASE`], at most
/// [`RETRY_CAP`], with jitter over its upper half.
fn backoff(retry: u32) -> Duration {
    let base = u64::try_from(RETRY_BASE.as_millis()).unwrap_or(u64::MAX);
    let cap = u64::try_from(RETRY_CAP.as_millis()).unwrap_or(u64::MAX);
    let ceiling = base
        .saturating_mul(1u64 << retry.saturating_sub(1).min(20))
        .min(cap)
        .max(1);
    Duration::from_millis(rand::random_range(ceiling / 2..=ceiling))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(options: ArgoCdOptions) -> ArgoCd {
        match ArgoCd::new(options) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn urls_keep_the_prefix_and_encode_every_part() {
        let argo = client(
            ArgoCdOptions::new("qa", "https://ops.example.com/argocd/", "a.b.c")
                .project("pay ments")
                .app_namespace("apps"),
        );
        assert_eq!(
            argo.app_url("billing/qa", None, &[]).as_str(),
            "https://ops.example.com/argocd/api/v1/applications/billing%2Fqa?appNamespace=apps&project=pay+ments"
        );
        assert_eq!(
            argo.url(&[], &[("selector", "env=qa,team in (a,b)")])
                .as_str(),
            "https://ops.example.com/argocd/api/v1/applications?selector=env%3Dqa%2Cteam+in+%28a%2Cb%29"
        );
        let root = client(ArgoCdOptions::new("qa", "http://127.0.0.1:8080", "a.b.c"));
        assert_eq!(
            root.app_url("billing-qa", Some("resource-tree"), &[])
                .as_str(),
            "http://127.0.0.1:8080/api/v1/applications/billing-qa/resource-tree"
        );
        assert_eq!(
            root.url(&[], &[]).as_str(),
            "http://127.0.0.1:8080/api/v1/applications"
        );
    }

    #[test]
    fn bad_options_are_refused_without_showing_secrets() {
        let bad = [
            ArgoCdOptions::new("qa", "ftp://example.com", "a.b.c"),
            ArgoCdOptions::new("qa", "not a url", "a.b.c"),
            ArgoCdOptions::new("qa", "https://example.com/?x=1", "a.b.c"),
            ArgoCdOptions::new("qa", "https://admin:XYZZY@example.com", "a.b.c"),
            ArgoCdOptions::new("qa", "https://example.com", " "),
            ArgoCdOptions::new("qa", "https://example.com", "XYZZY\nret"),
            ArgoCdOptions {
                cf_client_id: Some("id.access".into()),
                ..ArgoCdOptions::new("qa", "https://example.com", "a.b.c")
            },
            ArgoCdOptions::new("qa", "https://example.com", "a.b.c")
                .cloudflare("id", "XYZZY\u{7f}ret"),
        ];
        for options in bad {
            match ArgoCd::new(options) {
                Ok(c) => panic!("accepted: {c:?}"),
                Err(e) => {
                    assert!(matches!(e, ArgoError::Invalid { .. }), "{e:?}");
                    assert_eq!(e.environment(), "qa");
                    let text = format!("{e} {e:?}");
                    assert!(!text.contains("XYZZY"), "{text}");
                }
            }
        }
    }

    #[test]
    fn backoff_grows_and_stays_under_the_cap() {
        for retry in 1..40 {
            let d = backoff(retry);
            assert!(d <= RETRY_CAP, "{retry}: {d:?}");
            assert!(d >= RETRY_BASE / 2, "{retry}: {d:?}");
        }
        assert!(backoff(1) <= RETRY_BASE);
        assert!(backoff(6) >= RETRY_CAP / 2);
    }
}
