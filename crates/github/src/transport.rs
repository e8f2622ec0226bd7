//! One exchange with GitHub: concurrency limit, retries, rate limits and ETags, shared by every
//! caller of one [`GitHub`] value.

use crate::GithubError;
use crate::app::GithubApp;
use crate::auth::{Auth, AuthStatus, Credential};
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use shipyard_core::clock::{Clock, SystemClock};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// How to reach GitHub and how patient to be with it. `Debug` leaves the credentials out.
#[derive(Clone)]
pub struct GitHubOptions {
    /// REST base URL, e.g. `https://api.github.com` or `https://ghe.example.com/api/v3`.
    pub api_url: String,
    /// GraphQL endpoint.
    pub graphql_url: String,
    /// Bearer token; never logged.
    pub token: Option<String>,
    /// A GitHub App: when set, every request carries one of its installation tokens and
    /// `token` is not used.
    pub app: Option<GithubApp>,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Retries of one request after a 5xx, a reset connection or a timeout.
    pub max_retries: u32,
    /// First retry delay; doubles each time, with full jitter.
    pub retry_base: Duration,
    /// Longest retry delay.
    pub retry_cap: Duration,
    /// Rate-limit waiting one call may do in all; a limit that would take longer fails the
    /// call with [`GithubError::RateLimited`].
    pub max_rate_limit_wait: Duration,
    /// First pause after a secondary rate limit that names no time (no `retry-after`, no
    /// exhausted `x-ratelimit-remaining`); doubles for each further one in the same call.
    pub secondary_rate_limit_wait: Duration,
    /// Shortest pause after a rate-limit answer.
    pub rate_limit_floor: Duration,
    /// Time limit for one attempt.
    pub request_timeout: Duration,
    /// Entries kept in the ETag cache.
    pub etag_cache_entries: usize,
    /// The time rate-limit pauses are measured on (GitHub's reset times are unix seconds).
    pub clock: Arc<dyn Clock>,
}

impl GitHubOptions {
    /// Options with production defaults for the given endpoints.
    pub fn new(
        api_url: impl Into<String>,
        graphql_url: impl Into<String>,
        token: Option<String>,
    ) -> Self {
        GitHubOptions {
            api_url: api_url.into().trim_end_matches('/').to_owned(),
            graphql_url: graphql_url.into(),
            token,
            app: None,
            concurrency: 8,
            max_retries: 4,
            retry_base: Duration::from_millis(250),
            retry_cap: Duration::from_secs(8),
            max_rate_limit_wait: Duration::from_secs(10),
            rate_limit_floor: Duration::ZERO,
            secondary_rate_limit_wait: Duration::from_secs(60),
            request_timeout: Duration::from_secs(30),
            etag_cache_entries: 4096,
            clock: Arc::new(SystemClock),
        }
    }
}

impl std::fmt::Debug for GitHubOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHubOptions")
            .field("api_url", &self.api_url)
            .field("graphql_url", &self.graphql_url)
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .field("app", &self.app)
            .field("concurrency", &self.concurrency)
            .field("max_retries", &self.max_retries)
            .field("request_timeout", &self.request_timeout)
            .finish_non_exhaustive()
    }
}

/// Counters of what the client did, for benchmarks and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestStats {
    /// HTTP requests sent (every attempt).
    pub requests: u64,
    /// Attempts that were retries.
    pub retries: u64,
    /// Answers served from the ETag cache after a 304.
    pub not_modified: u64,
    /// Rate-limit answers received.
    pub rate_limited: u64,
    /// Last `x-ratelimit-remaining` seen, or -1.
    pub rate_limit_remaining: i64,
    /// Rate-limit pauses begun, each announced by one warning in the log.
    pub rate_limit_pauses: u64,
}

/// An answer from GitHub whose status the caller interprets (anything but 5xx and rate limits).
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: bytes::Bytes,
}

impl Answer {
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, GithubError> {
        serde_json::from_slice(&self.body).map_err(|e| GithubError::Decode(e.to_string()))
    }

    /// GitHub's `message` field of an error answer, or the status text.
    pub fn message(&self) -> String {
        serde_json::from_slice::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
            .unwrap_or_else(|| self.status.canonical_reason().unwrap_or("error").to_owned())
    }

    pub fn rejected(&self) -> GithubError {
        GithubError::Rejected {
            status: self.status.as_u16(),
            message: self.message(),
        }
    }
}

/// A GitHub API client. Cheap to clone; clones share limits, rate-limit state and cache.
#[derive(Clone)]
pub struct GitHub {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    /// Asked for the `Authorization` header of each request.
    auth: Auth,
    /// For hosts GitHub redirects to (job logs): no credentials, no GitHub headers.
    plain: reqwest::Client,
    opts: GitHubOptions,
    permits: Semaphore,
    /// Unix seconds before which no request is sent.
    blocked_until: AtomicU64,
    warned: AtomicBool,
    etags: Mutex<EtagCache>,
    requests: AtomicU64,
    retries: AtomicU64,
    not_modified: AtomicU64,
    rate_limited: AtomicU64,
    pauses: AtomicU64,
    remaining: std::sync::atomic::AtomicI64,
}

impl std::fmt::Debug for GitHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHub")
            .field("api_url", &self.inner.opts.api_url)
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct EtagCache {
    entries: HashMap<String, Cached>,
    order: VecDeque<String>,
}

/// A cached answer: its ETag, body and `Link` header (a 304 need not repeat the pagination).
#[derive(Clone)]
struct Cached {
    etag: String,
    body: bytes::Bytes,
    link: Option<HeaderValue>,
}

impl EtagCache {
    fn get(&self, url: &str) -> Option<&Cached> {
        self.entries.get(url)
    }

    fn put(&mut self, url: String, cached: Cached, cap: usize) {
        if self.entries.insert(url.clone(), cached).is_none() {
            self.order.push_back(url);
        }
        while self.order.len() > cap {
            if let Some(old) = self.order.pop_front() {
                self.entries.remove(&old);
            }
        }
    }
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// What [`GitHub::download`] read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Download {
    pub bytes: u64,
    pub truncated: bool,
}

enum Attempt {
    Done(Answer),
    Retry(String),
    Limited {
        until: u64,
    },
    /// A secondary rate limit that says for how long only in words.
    Secondary,
}

impl GitHub {
    /// Builds a client. Fails only if the TLS stack cannot start.
    pub fn new(opts: GitHubOptions) -> Result<Self, GithubError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/vnd.github+json"),
        );
        headers.insert(
            "x-github-api-version",
            HeaderValue::from_static("2022-11-28"),
        );
        let auth = Auth::new(opts.token.as_deref(), opts.app.as_ref())?;
        let http = reqwest::Client::builder()
            .user_agent(concat!("shipyard/", env!("CARGO_PKG_VERSION")))
            .default_headers(headers)
            // Redirects are followed by hand where GitHub uses them, so the token never leaves GitHub.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(opts.request_timeout)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| GithubError::Unavailable(format!("cannot start the HTTP client: {e}")))?;
        // A log can take longer than one API answer to download: only a stalled read times out.
        let plain = reqwest::Client::builder()
            .user_agent(concat!("shipyard/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::limited(5))
            .read_timeout(opts.request_timeout)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| GithubError::Unavailable(format!("cannot start the HTTP client: {e}")))?;
        let permits = Semaphore::new(opts.concurrency.max(1));
        Ok(GitHub {
            inner: Arc::new(Inner {
                http,
                auth,
                plain,
                permits,
                opts,
                blocked_until: AtomicU64::new(0),
                warned: AtomicBool::new(false),
                etags: Mutex::new(EtagCache::default()),
                requests: AtomicU64::new(0),
                retries: AtomicU64::new(0),
                not_modified: AtomicU64::new(0),
                rate_limited: AtomicU64::new(0),
                pauses: AtomicU64::new(0),
                remaining: std::sync::atomic::AtomicI64::new(-1),
            }),
        })
    }

    /// The options this client was built with.
    pub fn options(&self) -> &GitHubOptions {
        &self.inner.opts
    }

    /// Counters since the client was built.
    pub fn stats(&self) -> RequestStats {
        let i = &self.inner;
        RequestStats {
            requests: i.requests.load(Ordering::Relaxed),
            retries: i.retries.load(Ordering::Relaxed),
            not_modified: i.not_modified.load(Ordering::Relaxed),
            rate_limited: i.rate_limited.load(Ordering::Relaxed),
            rate_limit_remaining: i.remaining.load(Ordering::Relaxed),
            rate_limit_pauses: i.pauses.load(Ordering::Relaxed),
        }
    }

    /// How this client authenticates, and for a GitHub App what it knows of its installation.
    pub fn auth_status(&self) -> AuthStatus {
        self.inner.auth.status()
    }

    /// Makes sure the client holds a usable credential now: for a GitHub App, finds the
    /// installation and obtains a token unless a fresh one is at hand. Nothing to do otherwise.
    pub async fn authenticate(&self) -> Result<(), GithubError> {
        self.inner.auth.credential(self).await.map(|_| ())
    }

    /// A REST URL from a path below the API base.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{}", self.inner.opts.api_url, path)
    }

    /// GET with the ETag cache: an unchanged answer costs no rate limit.
    pub(crate) async fn get(&self, url: &str) -> Result<Answer, GithubError> {
        let cached = self.cached(url);
        let answer = self
            .exchange(
                Method::GET,
                url,
                None,
                cached.as_ref().map(|c| c.etag.as_str()),
            )
            .await?;
        if answer.status == StatusCode::NOT_MODIFIED {
            if let Some(cached) = cached {
                self.inner.not_modified.fetch_add(1, Ordering::Relaxed);
                let mut headers = answer.headers;
                // Pagination follows the cached page's `Link` when the 304 does not repeat it.
                if let Some(link) = cached.link
                    && !headers.contains_key(header::LINK)
                {
                    headers.insert(header::LINK, link);
                }
                return Ok(Answer {
                    status: StatusCode::OK,
                    headers,
                    body: cached.body,
                });
            }
            return Err(GithubError::Decode(
                "304 Not Modified without a cached answer".into(),
            ));
        }
        if answer.status == StatusCode::OK
            && let Some(etag) = answer
                .headers
                .get(header::ETAG)
                .and_then(|v| v.to_str().ok())
            && let Ok(mut cache) = self.inner.etags.lock()
        {
            cache.put(
                url.to_owned(),
                Cached {
                    etag: etag.to_owned(),
                    body: answer.body.clone(),
                    link: answer.headers.get(header::LINK).cloned(),
                },
                self.inner.opts.etag_cache_entries,
            );
        }
        Ok(answer)
    }

    /// GET with the caller's `If-None-Match` (and no use of the ETag cache): a 304 comes back
    /// as is, for callers that keep their own ETags.
    pub(crate) async fn get_conditional(
        &self,
        url: &str,
        if_none_match: Option<&str>,
    ) -> Result<Answer, GithubError> {
        let answer = self.exchange(Method::GET, url, None, if_none_match).await?;
        if answer.status == StatusCode::NOT_MODIFIED {
            self.inner.not_modified.fetch_add(1, Ordering::Relaxed);
        }
        Ok(answer)
    }

    /// Streams the body of `url`, on a host GitHub redirected to, into `sink`: at most
    /// `max_bytes`, then stops reading. Sent without the token or any GitHub header. Failures
    /// before the first byte are retried like API calls; `Ok(None)` when the host answers 404
    /// or 410.
    pub(crate) async fn download(
        &self,
        url: &url::Url,
        max_bytes: usize,
        sink: &mut (dyn FnMut(&[u8]) + Send),
    ) -> Result<Option<Download>, GithubError> {
        let host = url.host_str().unwrap_or_default().to_owned();
        let mut failures = 0u32;
        let mut resp = loop {
            let started = Instant::now();
            let reason = match self.inner.plain.get(url.clone()).send().await {
                Ok(resp) => {
                    let status = resp.status();
                    tracing::debug!(%host, status = status.as_u16(), elapsed = ?started.elapsed(), "log download");
                    metrics::counter!("shipyard_github_log_downloads_total", "status" => status.as_u16().to_string())
                        .increment(1);
                    if status.is_success() {
                        break resp;
                    }
                    if status == StatusCode::NOT_FOUND || status == StatusCode::GONE {
                        return Ok(None);
                    }
                    if !status.is_server_error() {
                        return Err(GithubError::Rejected {
                            status: status.as_u16(),
                            message: format!("the log host {host} answered {status}"),
                        });
                    }
                    format!("the log host {host} answered {status}")
                }
                Err(e) => {
                    tracing::debug!(%host, error = %without_url(&e), elapsed = ?started.elapsed(), "log download failed");
                    metrics::counter!("shipyard_github_log_downloads_total", "status" => "error")
                        .increment(1);
                    format!("cannot reach the log host {host} ({})", without_url(&e))
                }
            };
            failures += 1;
            if failures > self.inner.opts.max_retries {
                return Err(GithubError::Unavailable(reason));
            }
            self.inner.retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(self.backoff(failures)).await;
        };
        let mut read = 0usize;
        let mut truncated = false;
        loop {
            let chunk = match resp.chunk().await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                Err(e) => {
                    return Err(GithubError::Unavailable(format!(
                        "the log download from {host} broke off after {read} bytes ({})",
                        without_url(&e)
                    )));
                }
            };
            if chunk.is_empty() {
                continue;
            }
            let room = max_bytes - read;
            if chunk.len() > room {
                if room > 0 {
                    sink(&chunk[..room]);
                }
                read = max_bytes;
                truncated = true;
                break;
            }
            sink(&chunk);
            read += chunk.len();
        }
        metrics::counter!("shipyard_github_log_bytes_total").increment(read as u64);
        Ok(Some(Download {
            bytes: read as u64,
            truncated,
        }))
    }

    /// Any method with an optional JSON body (writes: POST, PATCH, DELETE).
    pub(crate) async fn send(
        &self,
        method: Method,
        url: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Answer, GithubError> {
        let bytes = body
            .map(serde_json::to_vec)
            .transpose()
            .map_err(|e| GithubError::Decode(e.to_string()))?
            .map(bytes::Bytes::from);
        self.exchange(method, url, bytes, None).await
    }

    /// POST a JSON body (GraphQL).
    pub(crate) async fn post_json(
        &self,
        url: &str,
        body: &serde_json::Value,
    ) -> Result<Answer, GithubError> {
        let bytes = serde_json::to_vec(body).map_err(|e| GithubError::Decode(e.to_string()))?;
        self.exchange(Method::POST, url, Some(bytes::Bytes::from(bytes)), None)
            .await
    }

    fn cached(&self, url: &str) -> Option<Cached> {
        self.inner.etags.lock().ok()?.get(url).cloned()
    }

    /// Sends one request with the client's credentials until it gets a final answer.
    async fn exchange(
        &self,
        method: Method,
        url: &str,
        body: Option<bytes::Bytes>,
        etag: Option<&str>,
    ) -> Result<Answer, GithubError> {
        self.exchange_with(method, url, body, etag, None).await
    }

    /// A body-less request authenticated with `bearer` instead of the client's credentials:
    /// a GitHub App's JWT. Boxed, since fetching an installation token is itself a request.
    pub(crate) fn exchange_as<'a>(
        &'a self,
        method: Method,
        url: &'a str,
        bearer: &'a HeaderValue,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<Answer, GithubError>> + Send + 'a>> {
        Box::pin(self.exchange_with(method, url, None, None, Some(bearer)))
    }

    /// Sends one request until it gets a final answer, retrying transient failures and waiting
    /// out short rate limits. An installation token GitHub refuses is dropped and the request
    /// sent once more with a new one; a second refusal fails the call.
    async fn exchange_with(
        &self,
        method: Method,
        url: &str,
        body: Option<bytes::Bytes>,
        etag: Option<&str>,
        bearer: Option<&HeaderValue>,
    ) -> Result<Answer, GithubError> {
        let mut failures = 0u32;
        let mut waits = Waits::default();
        let mut renewed = false;
        loop {
            self.wait_for_rate_limit(&mut waits).await?;
            // Asked before a permit is taken: fetching a token takes a permit of its own.
            let credential = match bearer {
                Some(header) => Some(Credential {
                    header: header.clone(),
                    installation_token: None,
                }),
                None => self.inner.auth.credential(self).await?,
            };
            let attempt =
                {
                    let _permit =
                        self.inner.permits.acquire().await.map_err(|_| {
                            GithubError::Unavailable("client is shutting down".into())
                        })?;
                    self.attempt(&method, url, body.clone(), etag, credential.as_ref())
                        .await
                };
            match attempt {
                Attempt::Done(answer) => {
                    if answer.status == StatusCode::UNAUTHORIZED
                        && let Some(generation) =
                            credential.as_ref().and_then(|c| c.installation_token)
                        && let Auth::App(app) = &self.inner.auth
                    {
                        app.rejected(generation);
                        if !renewed {
                            renewed = true;
                            tracing::info!(%method, url = %redact(url), "GitHub refused the installation token; retrying once with a new one");
                            continue;
                        }
                        return Err(app.token_refused(&answer));
                    }
                    return Ok(answer);
                }
                Attempt::Limited { until } => {
                    self.inner.rate_limited.fetch_add(1, Ordering::Relaxed);
                    self.block_until(until);
                }
                Attempt::Secondary => {
                    self.inner.rate_limited.fetch_add(1, Ordering::Relaxed);
                    let base = self.inner.opts.secondary_rate_limit_wait.as_secs().max(1);
                    let pause = base.saturating_mul(1 << waits.secondary.min(10));
                    waits.secondary += 1;
                    self.block_until(self.now() + pause);
                }
                Attempt::Retry(reason) => {
                    failures += 1;
                    if failures > self.inner.opts.max_retries {
                        return Err(GithubError::Unavailable(reason));
                    }
                    self.inner.retries.fetch_add(1, Ordering::Relaxed);
                    let delay = self.backoff(failures);
                    tracing::debug!(%method, url = %redact(url), %reason, ?delay, "retrying GitHub request");
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    async fn attempt(
        &self,
        method: &Method,
        url: &str,
        body: Option<bytes::Bytes>,
        etag: Option<&str>,
        credential: Option<&Credential>,
    ) -> Attempt {
        let mut req = self.inner.http.request(method.clone(), url);
        if let Some(credential) = credential {
            req = req.header(header::AUTHORIZATION, credential.header.clone());
        }
        if let Some(etag) = etag {
            req = req.header(header::IF_NONE_MATCH, etag);
        }
        if let Some(body) = body {
            req = req
                .header(header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        let started = Instant::now();
        self.inner.requests.fetch_add(1, Ordering::Relaxed);
        let result = async {
            let resp = req.send().await?;
            let status = resp.status();
            let headers = resp.headers().clone();
            let body = resp.bytes().await?;
            Ok::<_, reqwest::Error>((status, headers, body))
        }
        .await;
        let (status, headers, body) = match result {
            Ok(parts) => parts,
            Err(e) => {
                tracing::debug!(%method, url = %redact(url), error = %e, elapsed = ?started.elapsed(), "GitHub request failed");
                metrics::counter!("shipyard_github_requests_total", "method" => method.to_string(), "status" => "error").increment(1);
                let kind = if e.is_timeout() {
                    "timed out"
                } else {
                    "connection failed"
                };
                return Attempt::Retry(format!("{kind} ({})", without_url(&e)));
            }
        };
        tracing::debug!(%method, url = %redact(url), status = status.as_u16(), elapsed = ?started.elapsed(), "GitHub request");
        metrics::counter!("shipyard_github_requests_total", "method" => method.to_string(), "status" => status.as_u16().to_string())
            .increment(1);
        if let Some(remaining) = header_u64(&headers, "x-ratelimit-remaining") {
            self.inner
                .remaining
                .store(remaining as i64, Ordering::Relaxed);
            metrics::gauge!("shipyard_github_rate_limit_remaining").set(remaining as f64);
        }
        if let Some(until) = rate_limit_until(self.now(), status, &headers, &body) {
            return Attempt::Limited { until };
        }
        if is_secondary_rate_limit(status, &body) {
            return Attempt::Secondary;
        }
        if status.is_server_error() {
            return Attempt::Retry(format!("GitHub answered {status}"));
        }
        // Last call of the window: later calls would fail, so pause them until the reset.
        if header_u64(&headers, "x-ratelimit-remaining") == Some(0)
            && let Some(reset) = header_u64(&headers, "x-ratelimit-reset")
        {
            self.block_until(reset);
        }
        Attempt::Done(Answer {
            status,
            headers,
            body,
        })
    }

    fn now(&self) -> u64 {
        u64::try_from(self.inner.opts.clock.now()).unwrap_or(0)
    }

    /// Now on the client's clock, unix seconds: JWTs and token expiry are measured on it.
    pub(crate) fn now_secs(&self) -> i64 {
        self.inner.opts.clock.now()
    }

    /// How long every call stays paused for a rate limit, if it is paused now. Callers with
    /// work queued (the trackers) skip a round instead of trying call after call.
    pub fn rate_limit_pause(&self) -> Option<Duration> {
        let until = self.inner.blocked_until.load(Ordering::SeqCst);
        let now = self.now();
        (until > now).then(|| Duration::from_secs(until - now))
    }

    fn block_until(&self, until: u64) {
        let now = self.now();
        let floor = now + self.inner.opts.rate_limit_floor.as_secs();
        let until = until.max(floor);
        let previous = self.inner.blocked_until.fetch_max(until, Ordering::SeqCst);
        if previous < now && !self.inner.warned.swap(true, Ordering::SeqCst) {
            self.inner.pauses.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                resets_in_secs = until.saturating_sub(now),
                "GitHub rate limit reached; pausing GitHub calls until it resets"
            );
        }
    }

    /// Waits out a rate-limit pause while the call's waiting stays within
    /// `max_rate_limit_wait`; a longer one fails the call at once.
    async fn wait_for_rate_limit(&self, waits: &mut Waits) -> Result<(), GithubError> {
        let until = self.inner.blocked_until.load(Ordering::SeqCst);
        let now = self.now();
        if until <= now {
            if until != 0 {
                self.inner.warned.store(false, Ordering::SeqCst);
            }
            return Ok(());
        }
        let wait = Duration::from_secs(until - now);
        if waits.waited + wait > self.inner.opts.max_rate_limit_wait || waits.count >= MAX_WAITS {
            return Err(GithubError::RateLimited {
                reset_in_secs: until - now,
            });
        }
        waits.count += 1;
        waits.waited += wait;
        tokio::time::sleep(wait).await;
        Ok(())
    }

    fn backoff(&self, failures: u32) -> Duration {
        let base = self.inner.opts.retry_base.as_millis() as u64;
        let cap = self.inner.opts.retry_cap.as_millis() as u64;
        let ceiling = base
            .saturating_mul(1u64 << failures.min(16))
            .min(cap)
            .max(1);
        Duration::from_millis(rand::random_range(ceiling / 2..=ceiling))
    }
}

/// Rate-limit pauses one call sits through at most (a limit answered again and again with
/// `retry-after: 0` must not loop forever).
const MAX_WAITS: u32 = 8;

/// What one call has waited for rate limits so far.
#[derive(Default)]
struct Waits {
    count: u32,
    waited: Duration,
    secondary: u32,
}

/// A 403/429 whose message names a secondary rate limit but gives no time to wait.
fn is_secondary_rate_limit(status: StatusCode, body: &[u8]) -> bool {
    if status != StatusCode::FORBIDDEN && status != StatusCode::TOO_MANY_REQUESTS {
        return false;
    }
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("message")?.as_str().map(str::to_ascii_lowercase))
        .is_some_and(|m| m.contains("secondary rate limit"))
}

/// When an answer says the rate limit is exhausted, the unix time it resets.
fn rate_limit_until(now: u64, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Option<u64> {
    let limited_status = status == StatusCode::FORBIDDEN || status == StatusCode::TOO_MANY_REQUESTS;
    if limited_status {
        if let Some(after) = header_u64(headers, "retry-after") {
            return Some(now + after);
        }
        if header_u64(headers, "x-ratelimit-remaining") == Some(0) {
            return Some(header_u64(headers, "x-ratelimit-reset").unwrap_or(now + 60));
        }
    }
    // GraphQL reports an exhausted limit as 200 with an error of type RATE_LIMITED.
    if status == StatusCode::OK && header_u64(headers, "x-ratelimit-remaining") == Some(0) {
        let v: serde_json::Value = serde_json::from_slice(body).ok()?;
        let limited = v
            .get("errors")?
            .as_array()?
            .iter()
            .any(|e| e.get("type").and_then(|t| t.as_str()) == Some("RATE_LIMITED"));
        if limited {
            return Some(header_u64(headers, "x-ratelimit-reset").unwrap_or(now + 60));
        }
    }
    None
}

/// The URL without its query, for logs.
fn redact(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

fn without_url(e: &reqwest::Error) -> String {
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    let mut last = None;
    while let Some(s) = source {
        last = Some(s.to_string());
        source = s.source();
    }
    last.unwrap_or_else(|| "network error".into())
}
