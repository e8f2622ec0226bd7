//! The client: options, one exchange with Mattermost (retries, rate limits) and the endpoints.

use crate::MattermostError;
use crate::model::{NewPost, Post, PostList, User};
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use std::sync::Arc;
use std::time::{Duration, Instant};
use url::Url;

/// How to reach Mattermost and how patient to be with it.
#[derive(Clone)]
pub struct MattermostOptions {
    /// Server base URL without a trailing slash, e.g. `https://chat.example.com` (the API is
    /// below `/api/v4`).
    pub url: String,
    /// The bot's access token; sent as `Authorization: Bearer …` and never logged.
    pub token: String,
    /// Time limit for one attempt.
    pub request_timeout: Duration,
    /// Further attempts of one call after a 5xx, a broken connection, a timeout or a short
    /// rate limit.
    pub max_retries: u32,
    /// First retry delay; doubles each time, with jitter.
    pub retry_base: Duration,
    /// Longest retry delay.
    pub retry_cap: Duration,
    /// A 429 that asks for a pause no longer than this is waited out; a longer one fails the
    /// call with [`MattermostError::RateLimited`].
    pub max_rate_limit_wait: Duration,
}

impl MattermostOptions {
    /// Options with production defaults.
    pub fn new(url: impl Into<String>, token: impl Into<String>) -> Self {
        MattermostOptions {
            url: url.into().trim_end_matches('/').to_owned(),
            token: token.into(),
            request_timeout: Duration::from_secs(30),
            max_retries: 4,
            retry_base: Duration::from_millis(250),
            retry_cap: Duration::from_secs(8),
            max_rate_limit_wait: Duration::from_secs(10),
        }
    }
}

impl std::fmt::Debug for MattermostOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MattermostOptions")
            .field("url", &self.url)
            .field("token", &"<redacted>")
            .field("request_timeout", &self.request_timeout)
            .field("max_retries", &self.max_retries)
            .field("retry_base", &self.retry_base)
            .field("retry_cap", &self.retry_cap)
            .field("max_rate_limit_wait", &self.max_rate_limit_wait)
            .finish()
    }
}

/// A Mattermost REST client acting as one bot. Cheap to clone; clones share the HTTP client.
#[derive(Clone)]
pub struct Mattermost {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base: Url,
    opts: MattermostOptions,
}

impl std::fmt::Debug for Mattermost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mattermost")
            .field("url", &self.inner.opts.url)
            .finish_non_exhaustive()
    }
}

/// A final answer: a success or a refusal other than 429.
struct Answer {
    status: StatusCode,
    body: Vec<u8>,
}

enum Attempt {
    Done(Answer),
    Retry(String),
    Limited { secs: u64 },
}

impl Mattermost {
    /// Builds a client. Fails if the URL is not an absolute `http(s)` URL, if the token cannot
    /// be sent in a header, or if the TLS stack cannot start.
    pub fn new(opts: MattermostOptions) -> Result<Self, MattermostError> {
        let base = Url::parse(opts.url.trim_end_matches('/')).map_err(|e| {
            MattermostError::InvalidOptions(format!("the URL {:?} is not valid: {e}", opts.url))
        })?;
        if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
            return Err(MattermostError::InvalidOptions(format!(
                "the URL {:?} must be http:// or https:// with a host",
                opts.url
            )));
        }
        if base.query().is_some() || base.fragment().is_some() {
            return Err(MattermostError::InvalidOptions(format!(
                "the URL {:?} must not have a query or fragment",
                opts.url
            )));
        }
        if opts.token.trim().is_empty() {
            return Err(MattermostError::InvalidOptions(
                "the access token is empty".into(),
            ));
        }
        let mut auth =
            HeaderValue::from_str(&format!("Bearer {}", opts.token.trim())).map_err(|_| {
                MattermostError::InvalidOptions(
                    "the access token contains characters not allowed in a header".into(),
                )
            })?;
        auth.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, auth);
        headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        let http = reqwest::Client::builder()
            .user_agent(concat!("shipyard/", env!("CARGO_PKG_VERSION")))
            .default_headers(headers)
            // A redirect could carry the token to another host; it is reported instead.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(opts.request_timeout)
            .connect_timeout(opts.request_timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|e| {
                MattermostError::Unavailable(format!("cannot start the HTTP client: {e}"))
            })?;
        Ok(Mattermost {
            inner: Arc::new(Inner { http, base, opts }),
        })
    }

    /// The options this client was built with.
    pub fn options(&self) -> &MattermostOptions {
        &self.inner.opts
    }

    /// The account the token belongs to (`GET /api/v4/users/me`).
    pub async fn me(&self) -> Result<User, MattermostError> {
        let answer = self.exchange(Method::GET, &["users", "me"], None).await?;
        decode(success(answer)?)
    }

    /// A user by id (`GET /api/v4/users/{id}`); `None` when Mattermost answers 404.
    pub async fn user(&self, user_id: &str) -> Result<Option<User>, MattermostError> {
        let answer = self
            .exchange(Method::GET, &["users", user_id], None)
            .await?;
        if answer.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        decode(success(answer)?).map(Some)
    }

    /// Creates a post (`POST /api/v4/posts`).
    ///
    /// Retried like every call, so a post whose answer was lost can be created twice; see
    /// [`NewPost`] for how to recognise your own posts.
    pub async fn create_post(&self, post: &NewPost) -> Result<Post, MattermostError> {
        let body = encode(post)?;
        let answer = self.exchange(Method::POST, &["posts"], Some(body)).await?;
        decode(success(answer)?)
    }

    /// Replaces the message of one of the bot's posts (`PUT /api/v4/posts/{id}/patch`).
    pub async fn patch_post(&self, post_id: &str, message: &str) -> Result<Post, MattermostError> {
        let body = encode(&serde_json::json!({ "message": message }))?;
        let answer = self
            .exchange(Method::PUT, &["posts", post_id, "patch"], Some(body))
            .await?;
        decode(success(answer)?)
    }

    /// One post (`GET /api/v4/posts/{id}`); `None` when Mattermost answers 404.
    pub async fn post(&self, post_id: &str) -> Result<Option<Post>, MattermostError> {
        let answer = self
            .exchange(Method::GET, &["posts", post_id], None)
            .await?;
        if answer.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        decode(success(answer)?).map(Some)
    }

    /// The posts of a channel created or changed at or after `since_ms` (Unix milliseconds),
    /// oldest first by `create_at`, then in Mattermost's order
    /// (`GET /api/v4/channels/{id}/posts?since=…`).
    ///
    /// Meant for catching up after a gap in the event stream. Edited posts come back with their
    /// new message, so the list can hold posts created long before `since_ms`. Posts that were
    /// deleted are left out. Mattermost stops at 1000 posts.
    pub async fn channel_posts_since(
        &self,
        channel_id: &str,
        since_ms: i64,
    ) -> Result<Vec<Post>, MattermostError> {
        let mut url = self.endpoint(&["channels", channel_id, "posts"]);
        url.query_pairs_mut()
            .append_pair("since", &since_ms.to_string());
        let answer = self.exchange_url(Method::GET, url, None).await?;
        oldest_first(decode(success(answer)?)?)
    }

    /// The WebSocket endpoint: the base URL with `ws`/`wss` for `http`/`https`, plus
    /// `/api/v4/websocket`.
    pub fn websocket_url(&self) -> String {
        let mut url = self.endpoint(&["websocket"]);
        let scheme = if url.scheme() == "https" { "wss" } else { "ws" };
        // Both schemes are "special" in the URL standard, so the change cannot fail.
        let _ = url.set_scheme(scheme);
        url.to_string()
    }

    /// `base/api/v4/<segments>`, each segment percent-encoded.
    fn endpoint(&self, segments: &[&str]) -> Url {
        let mut url = self.inner.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(["api", "v4"]).extend(segments);
        }
        url
    }

    /// Sends one call until it gets a final answer, retrying transient failures and waiting
    /// out short rate limits; every wait uses up one retry.
    async fn exchange(
        &self,
        method: Method,
        segments: &[&str],
        body: Option<Vec<u8>>,
    ) -> Result<Answer, MattermostError> {
        self.exchange_url(method, self.endpoint(segments), body)
            .await
    }

    /// [`exchange`](Self::exchange) with a ready URL (for calls with a query).
    async fn exchange_url(
        &self,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
    ) -> Result<Answer, MattermostError> {
        let opts = &self.inner.opts;
        let mut retries = 0u32;
        loop {
            let (delay, reason) = match self.attempt(&method, &url, body.clone()).await {
                Attempt::Done(answer) => return Ok(answer),
                Attempt::Retry(reason) => {
                    retries += 1;
                    if retries > opts.max_retries {
                        return Err(MattermostError::Unavailable(reason));
                    }
                    (self.backoff(retries), reason)
                }
                Attempt::Limited { secs } => {
                    let wait = Duration::from_secs(secs);
                    retries += 1;
                    if wait > opts.max_rate_limit_wait || retries > opts.max_retries {
                        return Err(MattermostError::RateLimited {
                            retry_after_secs: secs,
                        });
                    }
                    tracing::warn!(
                        %method,
                        path = url.path(),
                        wait_secs = secs,
                        "Mattermost rate limit reached; waiting before trying again"
                    );
                    let delay = if wait.is_zero() {
                        self.backoff(retries)
                    } else {
                        wait
                    };
                    (delay, "rate limited".to_owned())
                }
            };
            tracing::debug!(%method, path = url.path(), %reason, ?delay, retry = retries, "retrying Mattermost request");
            tokio::time::sleep(delay).await;
        }
    }

    async fn attempt(&self, method: &Method, url: &Url, body: Option<Vec<u8>>) -> Attempt {
        let mut req = self.inner.http.request(method.clone(), url.clone());
        if let Some(body) = body {
            req = req
                .header(header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        let started = Instant::now();
        let result = async {
            let resp = req.send().await?;
            let status = resp.status();
            let headers = resp.headers().clone();
            let body = resp.bytes().await?;
            Ok::<_, reqwest::Error>((status, headers, body.to_vec()))
        }
        .await;
        let (status, headers, body) = match result {
            Ok(parts) => parts,
            Err(e) => {
                let reason = describe(&e);
                tracing::debug!(%method, path = url.path(), error = %reason, elapsed = ?started.elapsed(), "Mattermost request failed");
                metrics::counter!("shipyard_mattermost_requests_total", "method" => method.to_string(), "status" => "error")
                    .increment(1);
                return Attempt::Retry(reason);
            }
        };
        tracing::debug!(%method, path = url.path(), status = status.as_u16(), elapsed = ?started.elapsed(), "Mattermost request");
        metrics::counter!("shipyard_mattermost_requests_total", "method" => method.to_string(), "status" => status.as_u16().to_string())
            .increment(1);
        if status == StatusCode::TOO_MANY_REQUESTS {
            let secs = [
                retry_after(&headers, std::time::SystemTime::now()),
                header_u64(&headers, "x-ratelimit-reset"),
            ]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(1);
            return Attempt::Limited { secs };
        }
        if status.is_server_error() {
            return Attempt::Retry(format!(
                "Mattermost answered {status}: {}",
                message(status, &body)
            ));
        }
        Attempt::Done(Answer { status, body })
    }

    fn backoff(&self, retries: u32) -> Duration {
        let base = u64::try_from(self.inner.opts.retry_base.as_millis()).unwrap_or(u64::MAX);
        let cap = u64::try_from(self.inner.opts.retry_cap.as_millis()).unwrap_or(u64::MAX);
        let ceiling = base
            .saturating_mul(1u64 << retries.saturating_sub(1).min(20))
            .min(cap)
            .max(1);
        Duration::from_millis(rand::random_range(ceiling / 2..=ceiling))
    }
}

/// The posts of a list that are not deleted, oldest first by `create_at`, then by id.
fn oldest_first(list: PostList) -> Result<Vec<Post>, MattermostError> {
    let PostList {
        order,
        posts: mut by_id,
    } = list;
    // Mattermost's `order` is newest first, which also orders posts of one millisecond; posts
    // missing from it follow, by id.
    let mut entries: Vec<(String, serde_json::Value)> = order
        .iter()
        .rev()
        .filter_map(|id| by_id.remove(id).map(|v| (id.clone(), v)))
        .collect();
    let mut rest: Vec<(String, serde_json::Value)> = by_id.into_iter().collect();
    rest.sort_by(|a, b| a.0.cmp(&b.0));
    entries.extend(rest);
    let mut posts = Vec::with_capacity(entries.len());
    for (id, value) in entries {
        let deleted = value
            .get("delete_at")
            .and_then(serde_json::Value::as_i64)
            .is_some_and(|at| at != 0);
        if deleted {
            continue;
        }
        let post: Post = serde_json::from_value(value).map_err(|e| {
            MattermostError::Decode(format!("cannot read the post {id:?} of the list: {e}"))
        })?;
        posts.push(post);
    }
    // Stable: the order above decides between posts of the same millisecond.
    posts.sort_by_key(|p| p.create_at);
    Ok(posts)
}

/// `Retry-After` in seconds: given as seconds, or as an HTTP date (counted from `now`).
fn retry_after(headers: &HeaderMap, now: std::time::SystemTime) -> Option<u64> {
    let value = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(secs);
    }
    let at = httpdate::parse_http_date(value).ok()?;
    let wait = at.duration_since(now).unwrap_or_default();
    // Round up: a date half a second away is still a pause.
    Some(wait.as_secs() + u64::from(wait.subsec_nanos() > 0))
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, MattermostError> {
    serde_json::to_vec(value).map_err(|e| MattermostError::Decode(e.to_string()))
}

fn decode<T: serde::de::DeserializeOwned>(answer: Answer) -> Result<T, MattermostError> {
    serde_json::from_slice(&answer.body).map_err(|e| {
        MattermostError::Decode(format!("cannot read the {} answer: {e}", answer.status))
    })
}

/// The answer if it is a success, else the error its status stands for.
fn success(answer: Answer) -> Result<Answer, MattermostError> {
    let status = answer.status;
    if status.is_success() {
        return Ok(answer);
    }
    let message = message(status, &answer.body);
    Err(match status {
        StatusCode::UNAUTHORIZED => MattermostError::Unauthorized(message),
        StatusCode::FORBIDDEN => MattermostError::Forbidden(message),
        StatusCode::NOT_FOUND => MattermostError::NotFound(message),
        _ => MattermostError::Rejected {
            status: status.as_u16(),
            message,
        },
    })
}

/// Mattermost's `message` of an error body, or the status text.
pub(crate) fn message(status: StatusCode, body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("message")
                .and_then(|m| m.as_str())
                .filter(|m| !m.is_empty())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_owned())
}

/// A transport failure in a few words: its kind and innermost cause, without the URL.
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "connection failed"
    };
    let mut cause = None;
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        cause = Some(s.to_string());
        source = s.source();
    }
    match cause {
        Some(cause) => format!("{kind} ({cause})"),
        None => kind.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(url: &str) -> Result<Mattermost, MattermostError> {
        Mattermost::new(MattermostOptions::new(url, "t0ken"))
    }

    #[test]
    fn websocket_url_follows_the_scheme_and_path() -> Result<(), MattermostError> {
        assert_eq!(
            client("https://chat.example.com/")?.websocket_url(),
            "wss://chat.example.com/api/v4/websocket"
        );
        assert_eq!(
            client("http://127.0.0.1:8065")?.websocket_url(),
            "ws://127.0.0.1:8065/api/v4/websocket"
        );
        assert_eq!(
            client("https://example.com/mattermost")?.websocket_url(),
            "wss://example.com/mattermost/api/v4/websocket"
        );
        Ok(())
    }

    #[test]
    fn ids_are_escaped_in_paths() -> Result<(), MattermostError> {
        let mm = client("http://localhost:8065")?;
        assert_eq!(
            mm.endpoint(&["posts", "../users/x?y"]).as_str(),
            "http://localhost:8065/api/v4/posts/..%2Fusers%2Fx%3Fy"
        );
        Ok(())
    }

    #[test]
    fn bad_options_are_refused() {
        for url in ["chat.example.com", "ftp://x", "http://x/?a=1"] {
            assert!(
                matches!(client(url), Err(MattermostError::InvalidOptions(_))),
                "{url}"
            );
        }
        let empty = Mattermost::new(MattermostOptions::new("http://x", " "));
        assert!(matches!(empty, Err(MattermostError::InvalidOptions(_))));
        let newline = Mattermost::new(MattermostOptions::new("http://x", "a\nb"));
        assert!(matches!(newline, Err(MattermostError::InvalidOptions(_))));
    }

    #[test]
    fn options_debug_hides_the_token() {
        let text = format!("{:?}", MattermostOptions::new("http://x", "s3cret"));
        assert!(!text.contains("s3cret"));
    }

    #[test]
    fn error_statuses_map_to_variants() {
        let body = br#"{"id":"x","message":"Nope.","status_code":403}"#;
        let answer = |code: u16| Answer {
            status: StatusCode::from_u16(code).unwrap_or(StatusCode::IM_A_TEAPOT),
            body: body.to_vec(),
        };
        assert_eq!(
            success(answer(403)).err(),
            Some(MattermostError::Forbidden("Nope.".into()))
        );
        assert_eq!(
            success(answer(400)).err(),
            Some(MattermostError::Rejected {
                status: 400,
                message: "Nope.".into()
            })
        );
        let plain = Answer {
            status: StatusCode::UNAUTHORIZED,
            body: b"<html>".to_vec(),
        };
        assert_eq!(
            success(plain).err(),
            Some(MattermostError::Unauthorized("Unauthorized".into()))
        );
    }

    #[test]
    fn post_lists_drop_deleted_posts_and_sort_oldest_first()
    -> Result<(), Box<dyn std::error::Error>> {
        let list: PostList = serde_json::from_value(serde_json::json!({
            "order": ["c", "gone", "b", "a"],
            "posts": {
                "a": {"id": "a", "create_at": 5, "message": "later"},
                "b": {"id": "b", "create_at": 5, "message": "later too"},
                "c": {"id": "c", "create_at": 2, "update_at": 9, "message": "edited"},
                "gone": {"id": "gone", "create_at": 3, "delete_at": 8, "message": ""},
            },
            "next_post_id": "",
            "prev_post_id": "",
            "has_next": false,
        }))?;
        let ids: Vec<String> = oldest_first(list)?.into_iter().map(|p| p.id).collect();
        assert_eq!(ids, ["c", "a", "b"]);
        let empty: PostList = serde_json::from_str(r#"{"order":[],"posts":null}"#)?;
        assert!(oldest_first(empty)?.is_empty());
        Ok(())
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(
                header::RETRY_AFTER,
                HeaderValue::from_str(v).unwrap_or(HeaderValue::from_static("")),
            );
            retry_after(&h, now)
        };
        assert_eq!(with("7"), Some(7));
        assert_eq!(
            with(&httpdate::fmt_http_date(now + Duration::from_secs(90))),
            Some(90)
        );
        assert_eq!(
            with(&httpdate::fmt_http_date(now - Duration::from_secs(90))),
            Some(0)
        );
        assert_eq!(with("soon"), None);
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn backoff_stays_under_the_cap() -> Result<(), MattermostError> {
        let mut opts = MattermostOptions::new("http://x", "t");
        opts.retry_base = Duration::from_millis(100);
        opts.retry_cap = Duration::from_millis(300);
        let mm = Mattermost::new(opts)?;
        for retries in 1..40 {
            let d = mm.backoff(retries);
            assert!(d <= Duration::from_millis(300), "{retries}: {d:?}");
            assert!(d >= Duration::from_millis(50), "{retries}: {d:?}");
        }
        Ok(())
    }
}
