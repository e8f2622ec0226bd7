//! The server's REST endpoints and WebSocket.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, RawQuery, Request, State as Extract};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

use super::{Conn, Inner, Post, RestFault, SERVER_VERSION, User, WEBSOCKET_PATH, new_id};

type Shared = Arc<Inner>;

/// The limit reported in `X-Ratelimit-Limit` of an injected 429.
const RATE_LIMIT: u64 = 10;

pub(crate) fn router(inner: Shared) -> Router {
    Router::new()
        .route("/api/v4/users/me", get(users_me))
        .route("/api/v4/users/{id}", get(user_by_id))
        .route("/api/v4/posts", post(create_post))
        .route("/api/v4/posts/{id}", get(get_post))
        .route("/api/v4/posts/{id}/patch", put(patch_post))
        .route("/api/v4/channels/{channel_id}/posts", get(channel_posts))
        .route(WEBSOCKET_PATH, get(websocket))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(inner.clone(), rest_gate))
        // People's pages, outside the gate: not counted, never faulted.
        .merge(super::page::router())
        .with_state(inner)
}

/// Mattermost's error body.
fn app_error(status: StatusCode, id: &str, message: &str) -> Response {
    let body = json!({
        "id": id,
        "message": message,
        "detailed_error": "",
        "request_id": new_id(),
        "status_code": status.as_u16(),
    });
    (status, axum::Json(body)).into_response()
}

fn unauthorized() -> Response {
    app_error(
        StatusCode::UNAUTHORIZED,
        "api.context.session_expired.app_error",
        "Invalid or expired session, please login again.",
    )
}

fn forbidden() -> Response {
    app_error(
        StatusCode::FORBIDDEN,
        "api.context.permissions.app_error",
        "You do not have the appropriate permissions.",
    )
}

fn bad_body(message: &str) -> Response {
    app_error(
        StatusCode::BAD_REQUEST,
        "api.context.invalid_body_param.app_error",
        message,
    )
}

async fn not_found() -> Response {
    app_error(
        StatusCode::NOT_FOUND,
        "api.context.404.app_error",
        "Sorry, we could not find the page.",
    )
}

/// Counts REST requests and answers the next queued fault instead of the request, if any;
/// every answer carries `X-Request-Id` and `X-Version-Id`.
async fn rest_gate(Extract(inner): Extract<Shared>, req: Request, next: Next) -> Response {
    let mut resp = if req.uri().path() == WEBSOCKET_PATH {
        next.run(req).await
    } else {
        let fault = {
            let mut state = inner.state();
            state.rest_requests += 1;
            state.faults.pop_front()
        };
        match fault {
            Some(fault) => fault_response(fault),
            None => next.run(req).await,
        }
    };
    let h = resp.headers_mut();
    if let Ok(id) = HeaderValue::from_str(&new_id()) {
        h.insert("x-request-id", id);
    }
    h.insert("x-version-id", HeaderValue::from_static(SERVER_VERSION));
    resp
}

fn fault_response(fault: RestFault) -> Response {
    match fault {
        RestFault::Status(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            app_error(
                status,
                "api.sim.injected_fault.app_error",
                "Injected fault.",
            )
        }
        RestFault::TooManyRequests { retry_after_secs } => {
            let mut resp = (StatusCode::TOO_MANY_REQUESTS, "limit exceeded\n").into_response();
            let h = resp.headers_mut();
            let secs = HeaderValue::from(retry_after_secs);
            h.insert(header::RETRY_AFTER, secs.clone());
            h.insert("x-ratelimit-limit", HeaderValue::from(RATE_LIMIT));
            h.insert("x-ratelimit-remaining", HeaderValue::from(0u64));
            h.insert("x-ratelimit-reset", secs);
            resp
        }
    }
}

/// The token of `Authorization: Bearer …` or `Authorization: Token …`.
fn token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token"))
        .then(|| token.trim())
}

fn authenticate(inner: &Inner, headers: &HeaderMap) -> Option<User> {
    inner.state().user_by_token(token(headers)?).cloned()
}

fn user_json(user: &User) -> Value {
    let mut v = json!({
        "id": user.id,
        "create_at": user.create_at,
        "update_at": user.create_at,
        "delete_at": 0,
        "username": user.username,
        "auth_data": "",
        "auth_service": "",
        "email": if user.is_bot {
            format!("{}@localhost", user.username)
        } else {
            format!("{}@example.com", user.username)
        },
        "nickname": "",
        "first_name": "",
        "last_name": "",
        "position": "",
        "roles": "system_user",
        "locale": "en",
        "timezone": {
            "automaticTimezone": "",
            "manualTimezone": "",
            "useAutomaticTimezone": "true",
        },
        "disable_welcome_email": false,
    });
    if user.is_bot
        && let Some(obj) = v.as_object_mut()
    {
        obj.insert("is_bot".to_owned(), Value::Bool(true));
        obj.insert("bot_description".to_owned(), Value::String(String::new()));
    }
    v
}

async fn users_me(Extract(inner): Extract<Shared>, headers: HeaderMap) -> Response {
    match authenticate(&inner, &headers) {
        Some(user) => axum::Json(user_json(&user)).into_response(),
        None => unauthorized(),
    }
}

async fn user_by_id(
    Extract(inner): Extract<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if authenticate(&inner, &headers).is_none() {
        return unauthorized();
    }
    let user = inner.state().user(&id).cloned();
    match user {
        Some(user) => axum::Json(user_json(&user)).into_response(),
        None => app_error(
            StatusCode::NOT_FOUND,
            "app.user.missing_account.const",
            "Unable to find the user.",
        ),
    }
}

/// A string member of a request body: empty when absent or null, `None` when not a string.
fn string_field<'a>(body: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    match body.get(name) {
        None | Some(Value::Null) => Some(""),
        Some(Value::String(s)) => Some(s),
        Some(_) => None,
    }
}

async fn create_post(Extract(inner): Extract<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(user) = authenticate(&inner, &headers) else {
        return unauthorized();
    };
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&body) else {
        return bad_body("Invalid or missing post in request body.");
    };
    let (Some(channel_id), Some(message), Some(root_id), Some(pending_post_id)) = (
        string_field(&body, "channel_id"),
        string_field(&body, "message"),
        string_field(&body, "root_id"),
        string_field(&body, "pending_post_id"),
    ) else {
        return bad_body("Invalid or missing post in request body.");
    };
    let props = match body.get("props") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(p)) => p.clone(),
        Some(_) => return bad_body("Invalid props parameter."),
    };
    if channel_id.is_empty() {
        return bad_body("Invalid or missing channel_id in request body.");
    }
    if message.trim().is_empty() {
        return app_error(
            StatusCode::BAD_REQUEST,
            "model.post.is_valid.msg.app_error",
            "Invalid Message.",
        );
    }
    let (post, latency) = {
        let mut state = inner.state();
        if state.channel(channel_id).is_none() || !state.is_member(channel_id, &user.id) {
            return forbidden();
        }
        if !root_id.is_empty() {
            let valid_root = state
                .post(root_id)
                .is_some_and(|root| root.channel_id == channel_id && root.root_id.is_empty());
            if !valid_root {
                return app_error(
                    StatusCode::BAD_REQUEST,
                    "api.post.create_post.root_id.app_error",
                    "Invalid RootId parameter.",
                );
            }
        }
        let post = state.create_post(
            &user.id,
            channel_id,
            message,
            root_id,
            props,
            pending_post_id,
        );
        (post, state.post_latency)
    };
    // The post is stored before the answer is on its way: a client that dies meanwhile has
    // posted without knowing it.
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    (StatusCode::CREATED, axum::Json(post)).into_response()
}

async fn get_post(
    Extract(inner): Extract<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(user) = authenticate(&inner, &headers) else {
        return unauthorized();
    };
    let state = inner.state();
    match state.post(&id) {
        None => app_error(
            StatusCode::NOT_FOUND,
            "app.post.get.app_error",
            "Unable to get the post.",
        ),
        Some(post) if !state.is_member(&post.channel_id, &user.id) => forbidden(),
        Some(post) => axum::Json(post).into_response(),
    }
}

async fn patch_post(
    Extract(inner): Extract<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(user) = authenticate(&inner, &headers) else {
        return unauthorized();
    };
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&body) else {
        return bad_body("Invalid or missing post in request body.");
    };
    let message = match body.get("message") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => return bad_body("Invalid message parameter."),
    };
    let mut state = inner.state();
    let allowed = state
        .post(&id)
        .is_some_and(|p| p.user_id == user.id && state.is_member(&p.channel_id, &user.id));
    if !allowed {
        return forbidden();
    }
    match state.edit_post(&id, message) {
        Some(post) => axum::Json(post).into_response(),
        None => forbidden(),
    }
}

/// `per_page` when the request names none.
const DEFAULT_PER_PAGE: usize = 60;

/// The largest `per_page` honoured; larger values are cut to it.
const MAX_PER_PAGE: usize = 200;

/// The query of a channel's posts: `since` (Unix milliseconds), or `page` and `per_page`.
#[derive(Debug, Default)]
struct PostsQuery {
    since: Option<i64>,
    page: usize,
    per_page: usize,
}

/// Reads the query, or names the first parameter that is not a valid number.
fn posts_query(raw: Option<&str>) -> Result<PostsQuery, &'static str> {
    let mut query = PostsQuery {
        per_page: DEFAULT_PER_PAGE,
        ..PostsQuery::default()
    };
    for (key, value) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "since" => query.since = Some(value.parse().map_err(|_| "since")?),
            "page" => query.page = value.parse().map_err(|_| "page")?,
            "per_page" => {
                let n: usize = value.parse().map_err(|_| "per_page")?;
                query.per_page = n.min(MAX_PER_PAGE);
            }
            _ => {}
        }
    }
    Ok(query)
}

/// A channel's posts as a `PostList`: with `since`, every post created or changed at or after
/// that time; otherwise one page of posts, newest first.
async fn channel_posts(
    Extract(inner): Extract<Shared>,
    Path(channel_id): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let Some(user) = authenticate(&inner, &headers) else {
        return unauthorized();
    };
    let query = match posts_query(raw.as_deref()) {
        Ok(query) => query,
        Err(name) => {
            return app_error(
                StatusCode::BAD_REQUEST,
                "api.context.invalid_url_param.app_error",
                &format!("Invalid or missing {name} parameter in request URL."),
            );
        }
    };
    let state = inner.state();
    if state.channel(&channel_id).is_none() {
        return app_error(
            StatusCode::NOT_FOUND,
            "app.channel.get.existing.app_error",
            "Unable to find the existing channel.",
        );
    }
    if !state.is_member(&channel_id, &user.id) {
        return forbidden();
    }
    // Newest first; posts of the same millisecond keep their creation order reversed.
    let mut newest_first: Vec<&Post> = state
        .posts
        .iter()
        .rev()
        .filter(|p| p.channel_id == channel_id)
        .collect();
    newest_first.sort_by_key(|p| std::cmp::Reverse(p.create_at));
    let (chosen, has_next) = match query.since {
        Some(since) => (
            newest_first
                .into_iter()
                .filter(|p| p.update_at >= since)
                .collect::<Vec<_>>(),
            false,
        ),
        None => {
            let start = query.page.saturating_mul(query.per_page);
            let end = start.saturating_add(query.per_page);
            let has_next = newest_first.len() > end;
            let page = newest_first
                .into_iter()
                .skip(start)
                .take(query.per_page)
                .collect();
            (page, has_next)
        }
    };
    let order: Vec<&str> = chosen.iter().map(|p| p.id.as_str()).collect();
    let posts: Map<String, Value> = chosen
        .iter()
        .map(|p| (p.id.clone(), serde_json::to_value(p).unwrap_or(Value::Null)))
        .collect();
    axum::Json(json!({
        "order": order,
        "posts": posts,
        "next_post_id": "",
        "prev_post_id": "",
        "has_next": has_next,
    }))
    .into_response()
}

async fn websocket(
    Extract(inner): Extract<Shared>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    if inner.state().refuse_websocket {
        return (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable\n").into_response();
    }
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
    };
    let user_id = if headers.contains_key(header::AUTHORIZATION) {
        match authenticate(&inner, &headers) {
            Some(user) => Some(user.id),
            None => return unauthorized(),
        }
    } else {
        None
    };
    inner.state().websocket_connections += 1;
    ws.on_upgrade(move |socket| connection(inner, socket, user_id))
}

/// One WebSocket's life: registers it, says hello once authenticated, answers client actions
/// and forwards events with this connection's `seq` until either side closes it.
async fn connection(inner: Shared, mut socket: WebSocket, user_id: Option<String>) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let conn = {
        let mut state = inner.state();
        let conn = state.next_conn;
        state.next_conn += 1;
        state.conns.insert(
            conn,
            Conn {
                user_id: user_id.clone(),
                tx,
            },
        );
        conn
    };
    let connection_id = new_id();
    let mut seq: u64 = 0;
    let mut authenticated = user_id;
    if let Some(user_id) = &authenticated
        && send_event(&mut socket, &mut seq, hello(user_id, &connection_id))
            .await
            .is_err()
    {
        inner.state().conns.remove(&conn);
        return;
    }
    loop {
        tokio::select! {
            event = rx.recv() => match event {
                Some(event) => {
                    if send_event(&mut socket, &mut seq, event).await.is_err() {
                        break;
                    }
                }
                None => break,
            },
            message = socket.recv() => match message {
                Some(Ok(Message::Text(text))) => {
                    let Ok(request) = serde_json::from_str::<Value>(text.as_str()) else {
                        continue;
                    };
                    let reply_to = request.get("seq").cloned().unwrap_or(Value::from(0));
                    let action = request.get("action").and_then(Value::as_str).unwrap_or_default();
                    if authenticated.is_some() {
                        if send_json(&mut socket, &ok_reply(&reply_to)).await.is_err() {
                            break;
                        }
                        continue;
                    }
                    if action != "authentication_challenge" {
                        if send_json(&mut socket, &not_authenticated(&reply_to)).await.is_err() {
                            break;
                        }
                        continue;
                    }
                    let token = request.pointer("/data/token").and_then(Value::as_str);
                    let user = {
                        let mut state = inner.state();
                        let user = token.and_then(|t| state.user_by_token(t)).map(|u| u.id.clone());
                        match (user, state.conns.get_mut(&conn)) {
                            (Some(id), Some(entry)) => {
                                entry.user_id = Some(id.clone());
                                Some(id)
                            }
                            _ => None,
                        }
                    };
                    let Some(user) = user else {
                        break;
                    };
                    if send_json(&mut socket, &ok_reply(&reply_to)).await.is_err()
                        || send_event(&mut socket, &mut seq, hello(&user, &connection_id))
                            .await
                            .is_err()
                    {
                        break;
                    }
                    authenticated = Some(user);
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
        }
    }
    inner.state().conns.remove(&conn);
}

fn hello(user_id: &str, connection_id: &str) -> Value {
    json!({
        "event": "hello",
        "data": {
            "connection_id": connection_id,
            "server_version": SERVER_VERSION,
        },
        "broadcast": {
            "omit_users": null,
            "user_id": user_id,
            "channel_id": "",
            "team_id": "",
        },
    })
}

fn ok_reply(seq: &Value) -> Value {
    json!({ "status": "OK", "seq_reply": seq })
}

fn not_authenticated(seq: &Value) -> Value {
    json!({
        "status": "FAIL",
        "seq_reply": seq,
        "error": {
            "id": "api.web_socket_router.not_authenticated.app_error",
            "message": "Not authenticated.",
            "detailed_error": "",
            "request_id": "",
            "status_code": 401,
        },
    })
}

async fn send_json(socket: &mut WebSocket, value: &Value) -> Result<(), axum::Error> {
    socket.send(Message::Text(value.to_string().into())).await
}

/// Sends an event stamped with the connection's next `seq`.
async fn send_event(
    socket: &mut WebSocket,
    seq: &mut u64,
    mut event: Value,
) -> Result<(), axum::Error> {
    if let Some(obj) = event.as_object_mut() {
        obj.insert("seq".to_owned(), Value::from(*seq));
    }
    *seq += 1;
    send_json(socket, &event).await
}
