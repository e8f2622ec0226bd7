//! The HTTP side: Cloudflare Access, injected faults, Argo CD's authentication and routes.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use axum::Router;
use axum::extract::connect_info::{ConnectInfo, Connected};
use axum::extract::{Path, RawQuery, Request, State as Extract};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::IncomingStream;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use super::fixtures::{CLOUDFLARE_302, CLOUDFLARE_403, raw_response};
use super::state::App;
use super::util::{http_date, now, random_hex};
use super::{CloudflareAccess, Fault, Inner, RecordedRequest, Rejection, render};

type Shared = Arc<Inner>;

/// The control-plane namespace: apps elsewhere need `?appNamespace=`.
const CONTROL_PLANE_NAMESPACE: &str = "argocd";

/// The body of a load balancer's 503 while Argo CD is down.
const UNAVAILABLE_BODY: &str = "no healthy upstream";

// ---------------------------------------------------------------------------------------------
// Connections that a fault can close without an answer.

/// A TCP listener whose connections [`Fault::Reset`] can kill.
pub(crate) struct Listener {
    inner: TcpListener,
}

impl Listener {
    pub fn new(inner: TcpListener) -> Listener {
        Listener { inner }
    }
}

/// The connection a request came on, with the switch that kills it.
#[derive(Debug, Clone)]
pub(crate) struct Connection {
    /// The client's address.
    pub peer: SocketAddr,
    killed: Arc<AtomicBool>,
}

impl Connection {
    /// From now on the connection fails every read and write, so the server drops it without
    /// sending anything more.
    fn kill(&self) {
        self.killed.store(true, Ordering::SeqCst);
    }
}

impl axum::serve::Listener for Listener {
    type Io = KillableStream;
    type Addr = Connection;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, peer)) => {
                    let killed = Arc::new(AtomicBool::new(false));
                    let conn = Connection {
                        peer,
                        killed: killed.clone(),
                    };
                    return (
                        KillableStream {
                            inner: stream,
                            killed,
                        },
                        conn,
                    );
                }
                Err(e) => {
                    tracing::debug!(error = %e, "simulated Argo CD: accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(Connection {
            peer: self.inner.local_addr()?,
            killed: Arc::new(AtomicBool::new(false)),
        })
    }
}

impl Connected<IncomingStream<'_, Listener>> for Connection {
    fn connect_info(stream: IncomingStream<'_, Listener>) -> Self {
        stream.remote_addr().clone()
    }
}

/// A TCP stream that fails once killed.
pub(crate) struct KillableStream {
    inner: TcpStream,
    killed: Arc<AtomicBool>,
}

impl KillableStream {
    fn dead(&self) -> Option<io::Error> {
        self.killed
            .load(Ordering::SeqCst)
            .then(|| io::Error::new(io::ErrorKind::ConnectionReset, "simulated connection reset"))
    }
}

impl AsyncRead for KillableStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(e) = self.dead() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillableStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Some(e) = self.dead() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if let Some(e) = self.dead() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(e) = self.dead() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

// ---------------------------------------------------------------------------------------------
// Routing and the gate in front of it.

pub(crate) fn router(inner: Shared) -> Router {
    let api = Router::new()
        .route("/api/v1/applications", get(list))
        .route("/api/v1/applications/{name}", get(get_app))
        .route("/api/v1/applications/{name}/resource-tree", get(tree))
        .route("/api/v1/applications/{name}/resource", get(resource));
    let prefix = inner.options.path_prefix.clone();
    let routes = if prefix.is_empty() {
        api
    } else {
        Router::new().nest(&prefix, api)
    };
    routes
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(inner.clone(), gate))
        .with_state(inner)
}

/// What Cloudflare Access decided about a request.
fn cloudflare_allows(cf: &CloudflareAccess, headers: &HeaderMap, rejects: bool) -> bool {
    let given = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    !rejects
        && given("cf-access-client-id") == Some(cf.client_id.as_str())
        && given("cf-access-client-secret") == Some(cf.client_secret.as_str())
}

fn hv(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The fixture ray id (`cf-ray` of `cloudflare-access-302.txt`) and its colo suffix.
fn fixture_ray() -> (String, String) {
    let raw = raw_response(CLOUDFLARE_302);
    let ray = raw
        .headers
        .iter()
        .find(|(k, _)| k == "cf-ray")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    match ray.split_once('-') {
        Some((id, colo)) => (id.to_owned(), colo.to_owned()),
        None => (ray, "FRA".to_owned()),
    }
}

/// Cloudflare's answer to a request without a valid service token.
fn cloudflare_rejection(cf: &CloudflareAccess, host: &str, path: &str, ray: &str) -> Response {
    match cf.rejection {
        Rejection::Redirect => {
            let raw = raw_response(CLOUDFLARE_302);
            let now = now();
            let status = StatusCode::from_u16(raw.status).unwrap_or(StatusCode::FOUND);
            let mut resp = status.into_response();
            let h = resp.headers_mut();
            for (name, value) in &raw.headers {
                let value = match name.as_str() {
                    "date" => http_date(now),
                    "location" => login_url(value, host, path),
                    "set-cookie" => session_cookie(value, now),
                    // Set by the server, or below for every answer through Cloudflare.
                    "content-length" | "server" | "cf-ray" => continue,
                    _ => value.clone(),
                };
                if let Ok(name) = HeaderName::from_bytes(name.as_bytes()) {
                    h.append(name, hv(&value));
                }
            }
            resp
        }
        Rejection::Html403 => {
            let (fixture_ray, _) = fixture_ray();
            let ray_id = ray.split_once('-').map_or(ray, |(id, _)| id);
            let body = CLOUDFLARE_403.replace(&fixture_ray, ray_id);
            let mut resp = (StatusCode::FORBIDDEN, body).into_response();
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=UTF-8"),
            );
            resp
        }
    }
}

/// The fixture's login URL with this host and the request's path as `redirect_url`.
fn login_url(fixture: &str, host: &str, path: &str) -> String {
    let Ok(mut url) = url::Url::parse(fixture) else {
        return fixture.to_owned();
    };
    let mut segments: Vec<String> = url
        .path_segments()
        .map(|s| s.map(str::to_owned).collect())
        .unwrap_or_default();
    if let Some(last) = segments.last_mut() {
        host.clone_into(last);
    }
    url.set_path(&segments.join("/"));
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "redirect_url" {
                path.to_owned()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    url.to_string()
}

/// The fixture's `CF_AppSession` cookie with a fresh value, valid for a day.
fn session_cookie(fixture: &str, now: u64) -> String {
    fixture
        .split("; ")
        .map(|part| match part.split_once('=') {
            Some((name, _)) if name == "CF_AppSession" => format!("{name}={}", random_hex(16)),
            Some((name, _)) if name.eq_ignore_ascii_case("expires") => {
                format!("{name}={}", http_date(now + 86_400))
            }
            _ => part.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Argo CD's JSON error, with the status grpc-gateway gives the code.
fn grpc_error(body: &Value) -> Response {
    let status = match body["code"].as_u64() {
        Some(3) => StatusCode::BAD_REQUEST,
        Some(4) => StatusCode::GATEWAY_TIMEOUT,
        Some(5) => StatusCode::NOT_FOUND,
        Some(7) => StatusCode::FORBIDDEN,
        Some(14) => StatusCode::SERVICE_UNAVAILABLE,
        Some(16) => StatusCode::UNAUTHORIZED,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    json_response(status, body)
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut resp = (status, body.to_string()).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(
        "grpc-metadata-content-type",
        HeaderValue::from_static("application/grpc"),
    );
    resp
}

/// grpc-gateway's answer for what it does not route (Go's `http.Error`).
fn plain(status: StatusCode, text: &str) -> Response {
    let mut resp = (status, format!("{text}\n")).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    resp
}

async fn not_found(Extract(inner): Extract<Shared>) -> Response {
    inner.state().counts.other += 1;
    plain(StatusCode::NOT_FOUND, "Not Found")
}

async fn method_not_allowed(Extract(inner): Extract<Shared>) -> Response {
    inner.state().counts.other += 1;
    plain(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
}

/// In front of every route: Cloudflare Access (when configured), then the load balancer's
/// faults, then Argo CD; every request is logged.
async fn gate(Extract(inner): Extract<Shared>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.uri().path().to_owned(), |p| p.as_str().to_owned());
    let conn = req
        .extensions()
        .get::<ConnectInfo<Connection>>()
        .map(|c| c.0.clone());
    if has_refresh(req.uri().query()) {
        inner.state().counts.refresh += 1;
    }
    let cloudflare = inner.options.cloudflare.clone();
    let ray = cloudflare.as_ref().map(|_| {
        let (_, colo) = fixture_ray();
        format!("{}-{colo}", random_hex(16))
    });

    let mut killed = false;
    let mut response = 'answer: {
        if let (Some(cf), Some(ray)) = (&cloudflare, &ray) {
            let rejects = inner.state().cloudflare_rejects;
            if !cloudflare_allows(cf, req.headers(), rejects) {
                {
                    let mut state = inner.state();
                    state.counts.rejected += 1;
                    state.counts.cloudflare_rejected += 1;
                }
                let host = req
                    .headers()
                    .get(header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .unwrap_or("localhost")
                    .to_owned();
                break 'answer cloudflare_rejection(cf, &host, &path, ray);
            }
        }
        let fault = {
            let mut state = inner.state();
            if state.down {
                Some(Fault::Unavailable)
            } else {
                state.faults.pop_front()
            }
        };
        match fault {
            None => next.run(req).await,
            Some(Fault::Delay(d)) => {
                tokio::time::sleep(d).await;
                next.run(req).await
            }
            Some(Fault::Internal) => {
                inner.state().counts.faulted += 1;
                grpc_error(&render::error(13, "simulated internal error"))
            }
            Some(Fault::Unavailable) => {
                inner.state().counts.faulted += 1;
                plain(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE_BODY)
            }
            Some(Fault::Reset) => {
                inner.state().counts.faulted += 1;
                if let Some(conn) = &conn {
                    tracing::debug!(peer = %conn.peer, "simulated Argo CD: closing the connection");
                    conn.kill();
                    killed = true;
                }
                StatusCode::SERVICE_UNAVAILABLE.into_response()
            }
        }
    };
    if let Some(ray) = &ray {
        let h = response.headers_mut();
        h.insert(header::SERVER, HeaderValue::from_static("cloudflare"));
        h.insert("cf-ray", hv(ray));
    }
    let status = (!killed).then(|| response.status().as_u16());
    tracing::debug!(%method, %path, ?status, "simulated Argo CD answered");
    inner.state().log.push(RecordedRequest {
        method: method.to_string(),
        path,
        status,
    });
    response
}

fn has_refresh(query: Option<&str>) -> bool {
    query.is_some_and(|q| url::form_urlencoded::parse(q.as_bytes()).any(|(k, _)| k == "refresh"))
}

// ---------------------------------------------------------------------------------------------
// Authentication.

/// The token of `Authorization: Bearer …`, or else of the `argocd.token` cookie.
fn token(headers: &HeaderMap) -> Option<String> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .filter(|t| !t.is_empty());
    if let Some(t) = bearer {
        return Some(t.to_owned());
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == "argocd.token")
        .map(|(_, value)| value.to_owned())
}

/// `None` for this instance's token; otherwise Argo CD's 401.
fn authenticate(inner: &Inner, headers: &HeaderMap) -> Option<Response> {
    let fixtures = &super::fixtures::FIXTURES;
    let body = match token(headers) {
        Some(t) if t == inner.options.token => return None,
        // Not a JWT at all counts as no token.
        Some(t) if t.split('.').count() == 3 => &fixtures.invalid_session,
        _ => &fixtures.unauthenticated,
    };
    inner.state().counts.rejected += 1;
    Some(grpc_error(body))
}

// ---------------------------------------------------------------------------------------------
// Handlers.

fn params(q: Option<&str>) -> Vec<(String, String)> {
    q.map(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .into_owned()
            .collect()
    })
    .unwrap_or_default()
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, v)| k == name && !v.is_empty())
        .map(|(_, v)| v.as_str())
}

/// Finds the app a single-app request names, with Argo CD's answers when it may not be seen:
/// `403` for a missing app without `project` (Argo CD does not reveal existence), `404` with
/// it, `403` for an app the token may not read, `404` for an app in another project than the
/// one named.
fn lookup<'a>(
    apps: &'a std::collections::BTreeMap<String, App>,
    name: &str,
    params: &[(String, String)],
) -> Result<&'a App, Value> {
    let fixtures = &super::fixtures::FIXTURES;
    let namespace = param(params, "appNamespace").unwrap_or(CONTROL_PLANE_NAMESPACE);
    let project = param(params, "project").or_else(|| param(params, "projects"));
    match apps.get(name).filter(|a| a.spec.namespace == namespace) {
        None if project.is_some() => Err(render::not_found(name)),
        None => Err(fixtures.permission_denied.clone()),
        Some(a) if a.forbidden => Err(fixtures.permission_denied.clone()),
        Some(a) if project.is_some_and(|p| p != a.spec.project) => Err(render::not_found(name)),
        Some(a) => Ok(a),
    }
}

/// One requirement of a Kubernetes label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

impl Requirement {
    fn matches(&self, labels: &std::collections::BTreeMap<String, String>) -> bool {
        match self {
            Requirement::Equals(k, v) => labels.get(k) == Some(v),
            Requirement::NotEquals(k, v) => labels.get(k) != Some(v),
            Requirement::In(k, vs) => labels.get(k).is_some_and(|l| vs.contains(l)),
            Requirement::NotIn(k, vs) => labels.get(k).is_none_or(|l| !vs.contains(l)),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::NotExists(k) => !labels.contains_key(k),
        }
    }
}

fn valid_label_part(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
}

/// Parses `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k` and `!k`, separated by
/// commas.
fn parse_selector(selector: &str) -> Result<Vec<Requirement>, String> {
    let mut terms = Vec::new();
    let mut depth = 0usize;
    let mut current = String::new();
    for c in selector.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                terms.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    terms.push(current);
    let bad = || format!("unable to parse requirement: invalid label selector {selector:?}");
    let mut out = Vec::new();
    for term in terms {
        let term = term.trim();
        if term.is_empty() {
            if selector.trim().is_empty() {
                continue;
            }
            return Err(bad());
        }
        let set = |rest: &str| -> Option<Vec<String>> {
            let inner = rest.trim().strip_prefix('(')?.strip_suffix(')')?;
            let values: Vec<String> = inner.split(',').map(|v| v.trim().to_owned()).collect();
            values
                .iter()
                .all(|v| v.is_empty() || valid_label_part(v))
                .then_some(values)
        };
        let req = if let Some((k, v)) = term.split_once("!=") {
            Requirement::NotEquals(k.trim().to_owned(), v.trim().to_owned())
        } else if let Some((k, v)) = term.split_once("==") {
            Requirement::Equals(k.trim().to_owned(), v.trim().to_owned())
        } else if let Some((k, v)) = term.split_once('=') {
            Requirement::Equals(k.trim().to_owned(), v.trim().to_owned())
        } else if let Some((k, rest)) = term.split_once(" notin ") {
            Requirement::NotIn(k.trim().to_owned(), set(rest).ok_or_else(bad)?)
        } else if let Some((k, rest)) = term.split_once(" in ") {
            Requirement::In(k.trim().to_owned(), set(rest).ok_or_else(bad)?)
        } else if let Some(k) = term.strip_prefix('!') {
            Requirement::NotExists(k.trim().to_owned())
        } else {
            Requirement::Exists(term.to_owned())
        };
        let (key, value) = match &req {
            Requirement::Equals(k, v) | Requirement::NotEquals(k, v) => (k, Some(v)),
            Requirement::In(k, _)
            | Requirement::NotIn(k, _)
            | Requirement::Exists(k)
            | Requirement::NotExists(k) => (k, None),
        };
        if !valid_label_part(key) || value.is_some_and(|v| !v.is_empty() && !valid_label_part(v)) {
            return Err(bad());
        }
        out.push(req);
    }
    Ok(out)
}

/// The repository URLs of an app's sources.
fn repo_urls(item: &Value) -> Vec<String> {
    let spec = &item["spec"];
    let mut urls: Vec<String> = spec["sources"]
        .as_array()
        .map(|s| {
            s.iter()
                .filter_map(|s| s["repoURL"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    if let Some(u) = spec["source"]["repoURL"].as_str() {
        urls.push(u.to_owned());
    }
    urls
}

async fn list(
    Extract(inner): Extract<Shared>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    if let Some(resp) = authenticate(&inner, &headers) {
        return resp;
    }
    let params = params(q.as_deref());
    let mut state = inner.state();
    state.counts.list += 1;
    let selector = match param(&params, "selector").map(parse_selector) {
        Some(Err(message)) => return grpc_error(&render::error(3, &message)),
        Some(Ok(s)) => s,
        None => Vec::new(),
    };
    let projects: Vec<&str> = params
        .iter()
        .filter(|(k, v)| (k == "projects" || k == "project") && !v.is_empty())
        .map(|(_, v)| v.as_str())
        .collect();
    let name = param(&params, "name");
    let namespace = param(&params, "appNamespace");
    let repo = param(&params, "repo");
    let items: Vec<Value> = state
        .apps
        .values()
        .filter(|a| !a.forbidden)
        .filter(|a| name.is_none_or(|n| a.spec.name == n))
        .filter(|a| namespace.is_none_or(|n| a.spec.namespace == n))
        .filter(|a| projects.is_empty() || projects.contains(&a.spec.project.as_str()))
        .filter(|a| {
            let labels = a.labels();
            selector.iter().all(|r| r.matches(&labels))
        })
        .map(|a| render::application(a, false))
        .filter(|item| repo.is_none_or(|r| repo_urls(item).iter().any(|u| u == r)))
        .collect();
    let body = render::list(items, state.resource_version);
    drop(state);
    json_response(StatusCode::OK, &body)
}

async fn get_app(
    Extract(inner): Extract<Shared>,
    Path(name): Path<String>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    if let Some(resp) = authenticate(&inner, &headers) {
        return resp;
    }
    let params = params(q.as_deref());
    let mut state = inner.state();
    state.counts.get += 1;
    let refresh = param(&params, "refresh").is_some();
    let found = lookup(&state.apps, &name, &params).map(|a| a.spec.name.clone());
    let body = match found {
        Err(e) => return grpc_error(&e),
        Ok(key) => {
            if refresh && let Some(app) = state.apps.get_mut(&key) {
                // The controller reconciled (instantly, here).
                app.reconciled = now();
            }
            state
                .apps
                .get(&key)
                .map(|a| render::application(a, true))
                .unwrap_or_default()
        }
    };
    drop(state);
    json_response(StatusCode::OK, &body)
}

async fn tree(
    Extract(inner): Extract<Shared>,
    Path(name): Path<String>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    if let Some(resp) = authenticate(&inner, &headers) {
        return resp;
    }
    let params = params(q.as_deref());
    let mut state = inner.state();
    state.counts.tree += 1;
    let body = match lookup(&state.apps, &name, &params) {
        Err(e) => return grpc_error(&e),
        Ok(app) => render::tree(app),
    };
    drop(state);
    json_response(StatusCode::OK, &body)
}

async fn resource(
    Extract(inner): Extract<Shared>,
    Path(name): Path<String>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    if let Some(resp) = authenticate(&inner, &headers) {
        return resp;
    }
    let params = params(q.as_deref());
    let mut state = inner.state();
    state.counts.resource += 1;
    let get = |k: &str| param(&params, k).unwrap_or_default();
    let body = match lookup(&state.apps, &name, &params) {
        Err(e) => return grpc_error(&e),
        Ok(app) => match render::resource(
            app,
            get("group"),
            get("kind"),
            get("namespace"),
            get("resourceName"),
        ) {
            Some(body) => body,
            None => {
                return grpc_error(&render::not_in_app(
                    get("kind"),
                    get("group"),
                    get("resourceName"),
                    &app.spec.name,
                ));
            }
        },
    };
    drop(state);
    json_response(StatusCode::OK, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_parse_and_match_like_kubernetes() {
        let labels: std::collections::BTreeMap<String, String> =
            [("env", "qa"), ("repo", "billing")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
        let ok = |s: &str| {
            parse_selector(s)
                .map(|r| r.iter().all(|r| r.matches(&labels)))
                .unwrap_or_else(|e| panic!("{s}: {e}"))
        };
        assert!(ok("env=qa"));
        assert!(ok("env==qa,repo=billing"));
        assert!(!ok("env=uat"));
        assert!(ok("env!=uat"));
        assert!(!ok("repo!=billing"));
        assert!(ok("env in (qa, uat)"));
        assert!(!ok("env notin (qa,uat)"));
        assert!(ok("repo"));
        assert!(ok("!team"));
        assert!(!ok("!repo"));
        assert!(ok(""));
        assert!(parse_selector("env=qa,,repo=x").is_err());
        assert!(parse_selector("env=q a").is_err());
        assert!(parse_selector("env in qa").is_err());
    }

    #[test]
    fn the_login_url_names_the_host_and_the_path() {
        let url = login_url(
            "https://acme.cloudflareaccess.com/cdn-cgi/access/login/argocd-qa.example.com?kid=k&redirect_url=%2Fx&meta=m",
            "127.0.0.1:8080",
            "/api/v1/applications?name=a",
        );
        assert_eq!(
            url,
            "https://acme.cloudflareaccess.com/cdn-cgi/access/login/127.0.0.1:8080?kid=k&\
             redirect_url=%2Fapi%2Fv1%2Fapplications%3Fname%3Da&meta=m"
        );
    }

    #[test]
    fn the_session_cookie_is_fresh() {
        let c = session_cookie(
            "CF_AppSession=n3f1c7a2b9e4d6f0; Expires=Sun, 14 Jan 2024 05:24:16 GMT; Path=/; Secure; HttpOnly",
            0,
        );
        assert!(c.starts_with("CF_AppSession="));
        assert!(!c.contains("n3f1c7a2b9e4d6f0"));
        assert!(c.contains("Expires=Fri, 02 Jan 1970 00:00:00 GMT; Path=/; Secure; HttpOnly"));
    }
}
