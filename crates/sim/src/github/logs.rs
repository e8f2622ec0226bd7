//! The host job-log downloads are redirected to, standing in for the blob storage GitHub hands
//! logs out from: a second server on another loopback address, so that for an HTTP client it is
//! a different host than the API. Each log is served under a random URL that expires, and every
//! request is recorded with the names of the headers it carried.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::get;
use futures::StreamExt;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderValue, StatusCode};
use rand::Rng;
use tokio::net::TcpListener;

use super::faults::aborted_response;
use super::{Fault, Inner, LogAvailability, LogRequest, lock};

/// How long a log URL works, unless a test says otherwise (GitHub's last about a minute).
pub(crate) const DEFAULT_TTL: Duration = Duration::from_secs(60);
/// Recorded requests kept at most.
const RECORD_CAP: usize = 10_000;

/// State of the log host.
#[derive(Debug)]
pub(crate) struct LogHost {
    /// URL token -> (job id, expiry).
    tokens: HashMap<String, (u64, Instant)>,
    pub ttl: Duration,
    pub recorded: VecDeque<LogRequest>,
    pub faults: VecDeque<Fault>,
}

impl LogHost {
    pub fn new() -> Self {
        LogHost {
            tokens: HashMap::new(),
            ttl: DEFAULT_TTL,
            recorded: VecDeque::new(),
            faults: VecDeque::new(),
        }
    }
}

/// Binds the log host on a loopback address other than `api`'s and returns the listener with
/// the base URL to reach it: `127.0.0.2` (or `.3`), which Linux routes to loopback, else
/// `localhost` on `127.0.0.1` where no other loopback address can be bound.
pub(crate) async fn bind(api: IpAddr) -> std::io::Result<(TcpListener, String)> {
    for last in [2u8, 3] {
        let ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, last));
        if ip == api {
            continue;
        }
        if let Ok(listener) = TcpListener::bind(SocketAddr::new(ip, 0)).await {
            let addr = listener.local_addr()?;
            return Ok((listener, format!("http://{addr}")));
        }
    }
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let port = listener.local_addr()?.port();
    Ok((listener, format!("http://localhost:{port}")))
}

/// A fresh URL on the log host for one job's log, valid for the configured time.
pub(crate) fn signed_url(inner: &Inner, job_id: u64) -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill(&mut bytes[..]);
    let token = hex::encode(bytes);
    let mut host = lock(&inner.logs);
    let now = Instant::now();
    host.tokens.retain(|_, (_, expiry)| *expiry > now);
    let expiry = now + host.ttl;
    host.tokens.insert(token.clone(), (job_id, expiry));
    format!(
        "{}/actions-results/{token}/logs/job/job-logs.txt?rsct=text%2Fplain&sp=r",
        inner.log_url
    )
}

/// The log host's application.
pub(crate) fn router(inner: Arc<Inner>) -> Router {
    Router::new()
        .route(
            "/actions-results/{token}/logs/job/job-logs.txt",
            get(serve_log),
        )
        .fallback(|| async { blob_error(StatusCode::NOT_FOUND, "ResourceNotFound") })
        .layer(axum::middleware::from_fn_with_state(inner.clone(), record))
        .with_state(inner)
}

/// An error in the XML shape blob storage answers with.
fn blob_error(status: StatusCode, code: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>{code}</Code><Message>{}</Message></Error>",
        status.canonical_reason().unwrap_or("Error")
    );
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/xml"));
    r
}

/// Records each request and applies injected faults before the route runs.
async fn record(State(inner): State<Arc<Inner>>, req: Request, next: Next) -> Response {
    let method = req.method().to_string();
    let path = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.uri().path().to_owned(), |p| p.as_str().to_owned());
    let had_authorization = req.headers().contains_key(AUTHORIZATION);
    let header_names: Vec<String> = req.headers().keys().map(|k| k.to_string()).collect();
    let fault = lock(&inner.logs).faults.pop_front();
    let (response, aborted) = match fault {
        Some(Fault::Status(code)) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (blob_error(status, "InternalError"), false)
        }
        Some(
            Fault::RateLimited { .. }
            | Fault::SecondaryRateLimit { .. }
            | Fault::SecondaryRateLimitWithoutRetryAfter,
        ) => (
            blob_error(StatusCode::SERVICE_UNAVAILABLE, "ServerBusy"),
            false,
        ),
        // Blob storage has no notion of an integration's permissions: it refuses the request.
        Some(Fault::Forbidden(_)) => (
            blob_error(StatusCode::FORBIDDEN, "AuthorizationFailure"),
            false,
        ),
        Some(Fault::Reset) => (broken_off(next.run(req).await).await, true),
        Some(Fault::Delay(d)) => {
            tokio::time::sleep(d).await;
            (next.run(req).await, false)
        }
        None => (next.run(req).await, false),
    };
    let status = response.status().as_u16();
    tracing::debug!(%method, status, "simulated log host answered");
    let mut host = lock(&inner.logs);
    if host.recorded.len() >= RECORD_CAP {
        host.recorded.pop_front();
    }
    host.recorded.push_back(LogRequest {
        method,
        path,
        status,
        had_authorization,
        header_names,
        aborted,
    });
    response
}

/// The answer with its body cut in the middle: the first half of a log is sent (headers
/// flushed), then the connection drops.
async fn broken_off(answer: Response) -> Response {
    if answer.status() != StatusCode::OK {
        return aborted_response();
    }
    let (parts, body) = answer.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return aborted_response();
    };
    let half = bytes.slice(..bytes.len() / 2);
    let chunks = futures::stream::iter([Some(half), None]).then(|chunk| async move {
        match chunk {
            Some(c) => Ok(c),
            None => {
                // Give the server time to send what came before.
                tokio::time::sleep(Duration::from_millis(50)).await;
                Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "simulated connection reset",
                ))
            }
        }
    });
    Response::from_parts(parts, Body::from_stream(chunks))
}

async fn serve_log(State(inner): State<Arc<Inner>>, Path(token): Path<String>) -> Response {
    let job_id = {
        let host = lock(&inner.logs);
        match host.tokens.get(&token) {
            Some((job, expiry)) if *expiry > Instant::now() => *job,
            // Expired and unknown signatures look alike to blob storage.
            _ => return blob_error(StatusCode::FORBIDDEN, "AuthenticationFailed"),
        }
    };
    let found = inner
        .git()
        .actions
        .job(job_id)
        .map(|j| (j.log.clone(), j.log_availability));
    match found {
        Some((log, LogAvailability::Available)) => {
            let mut r = Response::new(Body::from(log));
            r.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            r
        }
        _ => blob_error(StatusCode::NOT_FOUND, "BlobNotFound"),
    }
}
