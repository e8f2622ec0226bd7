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

/// The `github_auth` object of `/readyz`. An App's key was parsed when the client was built,
/// or the server would not have started.
fn github_auth(status: &shipyard_github::AuthStatus) -> serde_json::Value {
    match &status.app {
        Some(app) => json!({
            "mode": status.mode.as_str(),
            "app_id": app.app_id,
            "installation_id": app.installation_id,
            "private_key": "parsed",
            "token_expires_at": app.token_expires_at,
            "token_exchanges": app.exchanges,
            "error": app.last_error,
        }),
        None => json!({"mode": status.mode.as_str()}),
    }
}

async fn healthz() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

/// Ready when the database answers with every migration applied; says what is missing otherwise
/// (GitHub or single sign-on not configured leave the service ready: the rest of it works).
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let readiness = state.engine.readiness().await;
    let mut problems = Vec::new();
    if let Some(e) = &readiness.database_error {
        problems.push(e.clone());
    }
    if readiness.github_org.is_none() {
        problems.push(
            "GitHub is not configured (no `github` section): releases cannot be created".to_owned(),
        );
    }
    if let Some(app) = readiness.github_auth.as_ref().and_then(|a| a.app.as_ref())
        && let Some(e) = &app.last_error
    {
        problems.push(format!("GitHub App {}: {e}", app.app_id));
    }
    let sign_in = state.auth.sign_in();
    if sign_in == "none" {
        problems.push(
            "single sign-on is not configured (auth.oidc): nobody can sign in to the web pages; API tokens work"
                .to_owned(),
        );
    }
    // An Argo CD that cannot be read leaves the service ready: deployments show `unknown`.
    for env in readiness.argocd.iter().flatten() {
        if let Some(e) = &env.error {
            problems.push(format!("Argo CD {}: {e}", env.environment));
        }
    }
    // Not hearing the other replicas leaves the service ready: reads go to the database, and
    // live pages catch up when the relay listens again.
    if readiness.relay.enabled && !readiness.relay.connected {
        problems.push(
            "not listening for the other replicas' changes (reconnecting): live pages may lag"
                .to_owned(),
        );
    }
    let ready = readiness.database_error.is_none();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({
            "status": if ready { "ready" } else { "not_ready" },
            "database": ready,
            "github_org": readiness.github_org,
            // Which credentials GitHub calls carry: `token`, or `app` with what is known of it.
            "github_auth": readiness.github_auth.as_ref().map(github_auth),
            "sign_in": sign_in,
            "chat": readiness.chat.map(|c| json!({
                "role": c.role,
                "connected": c.connected,
                "posts_seen": c.posts_seen,
                "catch_ups": c.catch_ups,
                "sender_rounds": c.sender_rounds,
                "summary_rounds": c.summary_rounds,
            })),
            "argocd": readiness.argocd.map(|envs| envs.iter().map(|e| json!({
                "environment": e.environment,
                "reachable": e.reachable,
                "error": e.error,
            })).collect::<Vec<_>>()),
            "replica": readiness.replica,
            // Who runs each singleton task: this replica, another (by name), or nobody yet.
            "leaders": readiness.leads.iter().map(|l| json!({
                "task": l.task,
                "here": l.here,
                "replica": l.replica,
            })).collect::<Vec<_>>(),
            "events": {
                "relay": if readiness.relay.enabled { "postgres" } else { "in_process" },
                "listening": readiness.relay.connected,
                "reconnects": readiness.relay.reconnects,
            },
            "problems": problems,
        })),
    )
}
