//! Operations endpoints, without authentication: liveness and readiness.

use crate::AppState;
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::json;

/// `/healthz` and `/readyz`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

async fn healthz() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

/// Ready when the database answers with every migration applied; says what is missing otherwise.
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let database = match state.engine.store().ready().await {
        Ok(()) => Ok(()),
        Err(e) => Err(e.to_string()),
    };
    let github = state.engine.org().map(str::to_owned);
    let mut problems = Vec::new();
    if let Err(e) = &database {
        problems.push(e.clone());
    }
    if github.is_none() {
        problems.push(
            "GitHub is not configured (no `github` section): releases cannot be created".to_owned(),
        );
    }
    let status = if database.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({
            "status": if database.is_ok() { "ready" } else { "not_ready" },
            "database": database.is_ok(),
            "github_org": github,
            "problems": problems,
        })),
    )
}
