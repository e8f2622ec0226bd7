//! Shipyard's web edge: the JSON API, operations endpoints, pages and webhooks.
//!
//! Handlers are thin: extract, call one engine function, convert to the wire shape. Only this
//! crate knows HTTP status codes; only [`error`] turns errors into answers.
//!
//! Layout:
//! - [`api`]: `/api/…` routes, one module per resource, each with its `router()`; DTOs in `api::dto`.
//! - [`auth`]: credentials (API tokens; sessions slot in beside them).
//! - [`extract`]: JSON, query and caller extractors speaking the error model.
//! - [`error`]: the error model.
//! - [`ops`]: `/healthz`, `/readyz`.
//! - [`ui`]: server-rendered pages (askama templates in `templates/`) and `/assets/…`.
//! - [`signin`]: signing in and out.
//! - [`webhooks`]: `POST /webhooks/github` and `POST /webhooks/argocd`.

pub mod api;
pub mod auth;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod ops;
pub mod signin;
pub mod ui;
pub mod webhooks;

pub use auth::{Authenticator, TokenEntry, token_sha256_hex};

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRef};
use axum::http::{HeaderValue, Request, header};
use axum::response::IntoResponse;
use shipyard_engine::Engine;
use std::future::Future;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

/// Everything a handler may need. Cheap to clone: every field is shared.
#[derive(Clone)]
pub struct AppState {
    /// The use cases.
    pub engine: Engine,
    /// Credential checks.
    pub auth: Authenticator,
    /// GitHub webhooks, when `github.webhook_secret` is set.
    pub webhooks: Option<webhooks::Webhooks>,
    /// Argo CD push hints, when `argocd.webhook_secret` is set.
    pub argocd_hints: Option<webhooks::Webhooks>,
}

impl FromRef<AppState> for Authenticator {
    fn from_ref(state: &AppState) -> Self {
        state.auth.clone()
    }
}

/// The OpenAPI document of every `/api` route, as served at `/api/openapi.json`.
pub fn openapi() -> serde_json::Value {
    api::doc::finish(&api::router().split_for_parts().1)
}

/// Cancelled when the server starts shutting down, so long-lived answers (event streams) end
/// and graceful shutdown does not wait for them forever.
#[derive(Clone, Default)]
pub struct Draining(pub tokio_util::sync::CancellationToken);

/// The whole application.
pub fn app(state: AppState) -> Router {
    router(state, Draining::default())
}

fn router(state: AppState, draining: Draining) -> Router {
    metrics::handle();
    let (api_routes, openapi) = api::router().split_for_parts();
    let openapi_json =
        serde_json::to_string(&api::doc::finish(&openapi)).unwrap_or_else(|_| "{}".into());
    Router::new()
        .merge(api_routes)
        .route(
            "/api/openapi.json",
            axum::routing::get(move || async move {
                ([(header::CONTENT_TYPE, "application/json")], openapi_json)
            }),
        )
        .merge(ops::router())
        .merge(signin::router())
        .merge(ui::router())
        .merge(webhooks::router())
        .fallback(|| async { error::ApiError::not_found("no such route") })
        .method_not_allowed_fallback(|| async { error::ApiError::method_not_allowed() })
        .route("/metrics", axum::routing::get(metrics::render))
        .route_layer(axum::middleware::from_fn(metrics::track))
        .with_state(state)
        .layer(axum::Extension(draining))
        .layer(axum::Extension(api::rendered::RenderedReleases::default()))
        .layer(DefaultBodyLimit::max(extract::MAX_BODY_BYTES))
        .layer(CatchPanicLayer::custom(|_| {
            error::ApiError::internal(&"a handler panicked").into_response()
        }))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        // `same-origin`, not `no-referrer`: with `no-referrer` browsers send `Origin: null` on
        // form posts, and the same-origin check refuses every form. Other sites learn nothing.
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; form-action 'self'; frame-ancestors 'none'",
            ),
        ))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                // The path only: query strings may carry cursors or search text, never worth
                // logging. Every line logged while serving carries the request id, and the
                // release id when the path names one.
                let path = req.uri().path();
                let request_id = req
                    .headers()
                    .get(REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                match release_in_path(path) {
                    Some(release) => tracing::info_span!("request", method = %req.method(), path, request_id, release),
                    None => tracing::info_span!("request", method = %req.method(), path, request_id),
                }
            }),
        )
        // Inside the id's setter: the answer carries the id the request got.
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        // Outermost: a request without an `x-request-id` gets a fresh one.
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

/// The header carrying a request's id (kept when the client or a proxy sends one).
const REQUEST_ID: header::HeaderName = header::HeaderName::from_static("x-request-id");

/// The release id in `/api/releases/{id}…` or `/releases/{id}…`, when it is one.
fn release_in_path(path: &str) -> Option<&str> {
    let rest = path
        .strip_prefix("/api/releases/")
        .or_else(|| path.strip_prefix("/releases/"))?;
    let id = rest.split('/').next()?;
    shipyard_core::ReleaseId::parse(id).map(|_| id)
}

/// Serves the app on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let draining = Draining::default();
    let token = draining.0.clone();
    axum::serve(listener, router(state, draining))
        .with_graceful_shutdown(async move {
            shutdown.await;
            token.cancel();
        })
        .await
}
