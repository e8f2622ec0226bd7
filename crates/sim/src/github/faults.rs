//! Everything around a request's answer: latency, injected faults, the token check, primary
//! rate limits, conditional requests and the headers GitHub puts on every answer.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::{OriginalUri, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::header::{AUTHORIZATION, CONTENT_TYPE, ETAG, IF_NONE_MATCH, RETRY_AFTER};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use rand::Rng;
use serde_json::{Value, json};

use super::app::{bearer, is_app_route};
use super::encoding::{etag, etag_matches};
use super::payload;
use super::{Fault, Inner, RateLimitState, RateResource, RecordedRequest, RequestAuth, lock};

/// Recorded requests kept at most.
const RECORD_CAP: usize = 100_000;
/// Largest body the gate buffers to compute an ETag.
const BODY_LIMIT: usize = 256 * 1024 * 1024;
/// Length of a rate-limit window.
const WINDOW_SECS: u64 = 3600;

const REST_DOCS: &str = "https://docs.github.com/rest";
const RATE_DOCS: &str = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api";

/// Who a token acts as unless a test says otherwise: what a workflow's `GITHUB_TOKEN` is.
pub(crate) const DEFAULT_TOKEN_LOGIN: &str = "github-actions[bot]";

/// Wall-clock epoch seconds.
pub(crate) fn now_epoch() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// One primary rate-limit bucket.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bucket {
    pub limit: u64,
    pub remaining: u64,
    pub reset: u64,
}

impl Bucket {
    fn fresh(now: u64) -> Self {
        Bucket {
            limit: 5000,
            remaining: 5000,
            reset: now + WINDOW_SECS,
        }
    }

    /// Starts a new window once the reset time has passed.
    pub fn refresh(&mut self, now: u64) {
        if now >= self.reset {
            self.remaining = self.limit;
            self.reset = now + WINDOW_SECS;
        }
    }

    pub fn used(&self) -> u64 {
        self.limit.saturating_sub(self.remaining)
    }
}

/// Scripted behaviour and accounting of the server.
#[derive(Debug)]
pub(crate) struct Control {
    pub token: Option<String>,
    /// Login the token belongs to: the author of what is written through the API.
    pub token_login: String,
    /// Every write is refused, as with a fork pull request's `GITHUB_TOKEN`.
    pub read_only: bool,
    pub latency: Duration,
    pub faults: VecDeque<Fault>,
    pub fault_rate: Option<(f64, Fault)>,
    pub core: Bucket,
    pub graphql: Bucket,
    pub request_count: u64,
    pub recorded: VecDeque<RecordedRequest>,
    request_ids: u64,
}

impl Control {
    pub fn new() -> Self {
        let now = now_epoch();
        Control {
            token: None,
            token_login: DEFAULT_TOKEN_LOGIN.to_owned(),
            read_only: false,
            latency: Duration::ZERO,
            faults: VecDeque::new(),
            fault_rate: None,
            core: Bucket::fresh(now),
            graphql: Bucket::fresh(now),
            request_count: 0,
            recorded: VecDeque::new(),
            request_ids: 0,
        }
    }

    pub fn bucket(&mut self, r: RateResource) -> &mut Bucket {
        match r {
            RateResource::Core => &mut self.core,
            RateResource::Graphql => &mut self.graphql,
        }
    }

    pub fn set_bucket(&mut self, r: RateResource, limit: u64, remaining: u64, reset: u64) {
        *self.bucket(r) = Bucket {
            limit,
            remaining: remaining.min(limit),
            reset,
        };
    }

    pub fn snapshot(&mut self, r: RateResource) -> RateLimitState {
        let b = self.bucket(r);
        b.refresh(now_epoch());
        RateLimitState {
            limit: b.limit,
            remaining: b.remaining,
            reset: b.reset,
        }
    }

    fn next_request_id(&mut self) -> String {
        self.request_ids += 1;
        let n = self.request_ids;
        format!(
            "{:04X}:{:04X}:{:06X}:{:07X}:{:08X}",
            0xC0DE,
            (n * 7919) & 0xFFFF,
            n,
            (n * 104_729) & 0xFFF_FFFF,
            0x6950_0000 + n
        )
    }

    fn record(&mut self, r: RecordedRequest) {
        if self.recorded.len() >= RECORD_CAP {
            self.recorded.pop_front();
        }
        self.recorded.push_back(r);
    }

    /// Counts the request, then picks its latency and its fault, if any.
    fn admit(&mut self) -> (Duration, Option<Fault>, String) {
        self.request_count += 1;
        let id = self.next_request_id();
        let mut latency = self.latency;
        let mut fault = self.faults.pop_front();
        if fault.is_none()
            && let Some((rate, f)) = &self.fault_rate
            && rand::rng().random::<f64>() < *rate
        {
            fault = Some(f.clone());
        }
        if let Some(Fault::Delay(d)) = fault {
            latency += d;
            fault = None;
        }
        (latency, fault, id)
    }
}

fn hv(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn set_rate_headers(h: &mut HeaderMap, resource: RateResource, b: Bucket, request_id: &str) {
    h.insert("x-ratelimit-limit", hv(&b.limit.to_string()));
    h.insert("x-ratelimit-remaining", hv(&b.remaining.to_string()));
    h.insert("x-ratelimit-used", hv(&b.used().to_string()));
    h.insert("x-ratelimit-reset", hv(&b.reset.to_string()));
    let name = match resource {
        RateResource::Core => "core",
        RateResource::Graphql => "graphql",
    };
    h.insert("x-ratelimit-resource", HeaderValue::from_static(name));
    h.insert("x-github-request-id", hv(request_id));
    h.insert(
        "x-github-api-version-selected",
        HeaderValue::from_static("2022-11-28"),
    );
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
}

/// A JSON answer.
pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut r = Response::new(Body::from(body.to_string()));
    *r.status_mut() = status;
    r
}

fn primary_limit_body(resource: RateResource) -> (StatusCode, Value) {
    match resource {
        RateResource::Core => (
            StatusCode::FORBIDDEN,
            json!({
                "message": "API rate limit exceeded for installation ID 1.",
                "documentation_url": RATE_DOCS
            }),
        ),
        RateResource::Graphql => (
            StatusCode::OK,
            json!({
                "errors": [{
                    "type": "RATE_LIMITED",
                    "code": "graphql_rate_limit",
                    "message": "API rate limit exceeded for installation ID 1."
                }]
            }),
        ),
    }
}

/// An answer that breaks off after the headers: the body stream fails, so the connection drops.
pub(crate) fn aborted_response() -> Response {
    let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
        Ok(Bytes::from_static(b"{\"message\":\"")),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "simulated connection reset",
        )),
    ];
    Response::new(Body::from_stream(futures::stream::iter(chunks)))
}

fn authorized(headers: &HeaderMap, token: &str) -> bool {
    bearer(headers).is_some_and(|given| given == token)
}

/// Whether a request may go on: no credentials are required while neither a token nor an App
/// is set; otherwise the token, or a live installation token of the App.
fn credentials_accepted(inner: &Inner, headers: &HeaderMap) -> bool {
    let token = inner.ctl().token.clone();
    let apps = lock(&inner.apps);
    if token.is_none() && apps.app.is_none() {
        return true;
    }
    if let Some(token) = token
        && authorized(headers, &token)
    {
        return true;
    }
    bearer(headers).is_some_and(|given| apps.accepts(given))
}

/// What the `Authorization` header of a request held.
fn request_auth(inner: &Inner, headers: &HeaderMap) -> RequestAuth {
    if !headers.contains_key(AUTHORIZATION) {
        return RequestAuth::None;
    }
    let Some(given) = bearer(headers) else {
        return RequestAuth::Other;
    };
    if inner.ctl().token.as_deref() == Some(given) {
        RequestAuth::Token
    } else if lock(&inner.apps).issued(given) {
        RequestAuth::InstallationToken
    } else if given.split('.').count() == 3 {
        RequestAuth::Jwt
    } else {
        RequestAuth::Other
    }
}

/// Middleware wrapped around every route.
pub(crate) async fn gate(State(inner): State<Arc<Inner>>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    // Routing sees the path without the sim's prefix and with `/repositories/{id}` spelt out;
    // the record keeps what the client sent.
    let path = req.uri().path().to_owned();
    let sent = req
        .extensions()
        .get::<OriginalUri>()
        .map_or_else(|| req.uri().clone(), |o| o.0.clone());
    let path_q = sent
        .path_and_query()
        .map_or_else(|| sent.path().to_owned(), |p| p.as_str().to_owned());
    let if_none_match = req
        .headers()
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let had_authorization = req.headers().contains_key(AUTHORIZATION);
    let auth = request_auth(&inner, req.headers());
    let resource = if path == "/graphql" {
        RateResource::Graphql
    } else {
        RateResource::Core
    };
    let free = path == "/rate_limit";

    let (latency, fault, request_id) = inner.ctl().admit();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }

    let mut aborted = false;
    let response = match fault {
        Some(f) => {
            aborted = f == Fault::Reset;
            fault_response(&inner, resource, f, &request_id)
        }
        None => {
            handle(
                &inner,
                req,
                next,
                resource,
                free,
                if_none_match.as_deref(),
                &request_id,
            )
            .await
        }
    };

    let status = response.status().as_u16();
    tracing::debug!(%method, path = %path_q, status, "simulated GitHub answered");
    inner.ctl().record(RecordedRequest {
        method: method.to_string(),
        path: path_q,
        status,
        had_if_none_match: if_none_match.is_some(),
        had_authorization,
        auth,
        aborted,
    });
    response
}

/// GitHub's secondary-rate-limit answer, naming the request.
fn secondary_limit_body(request_id: &str) -> Value {
    json!({
        "message": format!(
            "You have exceeded a secondary rate limit. Please wait a few minutes before \
             you try again. If you reach out to GitHub Support for help, please include \
             the request ID {request_id}."
        ),
        "documentation_url": format!("{RATE_DOCS}#about-secondary-rate-limits")
    })
}

fn fault_response(inner: &Inner, resource: RateResource, f: Fault, request_id: &str) -> Response {
    let now = now_epoch();
    let mut bucket = {
        let mut ctl = inner.ctl();
        let b = ctl.bucket(resource);
        b.refresh(now);
        *b
    };
    let mut resp = match f {
        Fault::Status(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let message = match status.as_u16() {
                500 => "Server Error",
                s if s >= 500 => status.canonical_reason().unwrap_or("Server Error"),
                _ => status.canonical_reason().unwrap_or("Error"),
            };
            json_response(status, &payload::error(message, REST_DOCS, status.as_u16()))
        }
        Fault::Reset => aborted_response(),
        Fault::RateLimited { reset_in_secs } => {
            bucket.remaining = 0;
            bucket.reset = now + reset_in_secs;
            let (status, body) = primary_limit_body(resource);
            json_response(status, &body)
        }
        Fault::SecondaryRateLimit { retry_after_secs } => {
            let mut r = json_response(StatusCode::FORBIDDEN, &secondary_limit_body(request_id));
            r.headers_mut()
                .insert(RETRY_AFTER, hv(&retry_after_secs.to_string()));
            r
        }
        Fault::SecondaryRateLimitWithoutRetryAfter => {
            json_response(StatusCode::FORBIDDEN, &secondary_limit_body(request_id))
        }
        Fault::Forbidden(message) => json_response(
            StatusCode::FORBIDDEN,
            &payload::error(&message, REST_DOCS, 403),
        ),
        Fault::Delay(_) => json_response(StatusCode::OK, &json!({})),
    };
    set_rate_headers(resp.headers_mut(), resource, bucket, request_id);
    resp
}

async fn handle(
    inner: &Inner,
    req: Request,
    next: Next,
    resource: RateResource,
    free: bool,
    if_none_match: Option<&str>,
    request_id: &str,
) -> Response {
    let now = now_epoch();
    // The App routes check their JWT themselves.
    let app_route = is_app_route(req.uri().path());
    if !app_route && !credentials_accepted(inner, req.headers()) {
        let bucket = *inner.ctl().bucket(resource);
        let mut r = json_response(
            StatusCode::UNAUTHORIZED,
            &payload::error("Bad credentials", REST_DOCS, 401),
        );
        set_rate_headers(r.headers_mut(), resource, bucket, request_id);
        return r;
    }

    let conditional = req.method() == Method::GET || req.method() == Method::HEAD;
    if !conditional {
        // Non-GET requests (GraphQL) are charged before they run, so `rateLimit` sees the cost.
        let charged = charge(inner, resource, free, now);
        let Some(bucket) = charged else {
            return limited(inner, resource, request_id);
        };
        let read_only = inner.ctl().read_only;
        let mut r = if read_only && resource == RateResource::Core && !app_route {
            let doc = super::rest::write_doc(req.method(), req.uri().path());
            json_response(
                StatusCode::FORBIDDEN,
                &payload::error("Resource not accessible by integration", doc, 403),
            )
        } else {
            next.run(req).await
        };
        set_rate_headers(r.headers_mut(), resource, bucket, request_id);
        return r;
    }

    let r = next.run(req).await;
    let (mut parts, body) = r.into_parts();
    let bytes = match axum::body::to_bytes(body, BODY_LIMIT).await {
        Ok(b) => b,
        Err(_) => Bytes::new(),
    };
    if parts.status == StatusCode::OK {
        let tag = etag(&bytes);
        if if_none_match.is_some_and(|inm| etag_matches(inm, &tag)) {
            let bucket = {
                let mut ctl = inner.ctl();
                let b = ctl.bucket(resource);
                b.refresh(now);
                *b
            };
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::NOT_MODIFIED;
            set_rate_headers(r.headers_mut(), resource, bucket, request_id);
            r.headers_mut().insert(ETAG, hv(&tag));
            return r;
        }
        parts.headers.insert(ETAG, hv(&tag));
    }
    let Some(bucket) = charge(inner, resource, free, now) else {
        return limited(inner, resource, request_id);
    };
    let mut r = Response::from_parts(parts, Body::from(bytes));
    set_rate_headers(r.headers_mut(), resource, bucket, request_id);
    r
}

/// Takes one request from the bucket; `None` when it is exhausted.
fn charge(inner: &Inner, resource: RateResource, free: bool, now: u64) -> Option<Bucket> {
    let mut ctl = inner.ctl();
    let b = ctl.bucket(resource);
    b.refresh(now);
    if free {
        return Some(*b);
    }
    if b.remaining == 0 {
        return None;
    }
    b.remaining -= 1;
    Some(*b)
}

fn limited(inner: &Inner, resource: RateResource, request_id: &str) -> Response {
    let bucket = *inner.ctl().bucket(resource);
    let (status, body) = primary_limit_body(resource);
    let mut r = json_response(status, &body);
    set_rate_headers(r.headers_mut(), resource, bucket, request_id);
    r
}
