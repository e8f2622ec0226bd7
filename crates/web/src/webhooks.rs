//! `POST /webhooks/github`: GitHub's deliveries, verified with `X-Hub-Signature-256` against
//! `github.webhook_secret`. `POST /webhooks/argocd`: push hints from argocd-notifications'
//! webhook service, authenticated by the shared secret `argocd.webhook_secret` in
//! `X-Shipyard-Secret` (Argo CD signs nothing); a hint only makes Shipyard read the app now.
//!
//! This edge only verifies the signature (before reading anything), reads the payload and
//! answers; what a delivery changes is [`Engine::apply_webhook`]'s to decide (other orgs and
//! events are ignored there, a redelivered id changes nothing twice).
//!
//! The answer comes once the change is stored, or after [`ANSWER_WITHIN`] at the latest (the
//! work then finishes in the background), well inside GitHub's ten seconds.

use crate::AppState;
use crate::error::ApiError;
use axum::Json;
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::json;
use shipyard_config::Secret;
use shipyard_engine::webhooks::Delivery;
use shipyard_github::webhook::{parse_event, verify_signature};
use std::time::Duration;

/// GitHub sends payloads of up to 25 MB.
const MAX_PAYLOAD_BYTES: usize = 25 * 1024 * 1024;

/// Longest wait before answering; GitHub gives up after ten seconds.
const ANSWER_WITHIN: Duration = Duration::from_secs(8);

/// Longest push hint body: a handful of short fields.
const MAX_HINT_BYTES: usize = 16 * 1024;

/// Longest Kubernetes object name.
const MAX_APP_NAME: usize = 253;

/// The webhook receiver's state: the shared secret.
#[derive(Clone)]
pub struct Webhooks {
    secret: Secret,
}

impl Webhooks {
    /// Deliveries signed with `secret`.
    pub fn new(secret: Secret) -> Self {
        Webhooks { secret }
    }
}

/// The route.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/webhooks/github",
            axum::routing::post(receive).layer(DefaultBodyLimit::max(MAX_PAYLOAD_BYTES)),
        )
        .route(
            "/webhooks/argocd",
            axum::routing::post(argocd_hint).layer(DefaultBodyLimit::max(MAX_HINT_BYTES)),
        )
}

/// The body Shipyard documents for argocd-notifications (see the README's template). Only
/// `app` is used; the rest is accepted for people reading logs, never trusted as state.
#[derive(Debug, serde::Deserialize)]
struct ArgoHint {
    app: String,
    #[serde(default)]
    #[allow(dead_code)]
    revision: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    health: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    sync: Option<String>,
}

/// Whether `given` is the secret, compared in constant time over digests (so neither the
/// content nor the length leaks through timing).
fn secret_matches(secret: &Secret, given: Option<&str>) -> bool {
    use sha2::{Digest, Sha256};
    use subtle::ConstantTimeEq;
    let Some(given) = given else {
        return false;
    };
    let want = Sha256::digest(secret.expose().as_bytes());
    let got = Sha256::digest(given.as_bytes());
    bool::from(want.ct_eq(&got))
}

async fn argocd_hint(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(hooks) = state.argocd_hints.clone() else {
        return ApiError::not_found(
            "Argo CD push hints are off: set argocd.webhook_secret to turn them on",
        )
        .into_response();
    };
    if !secret_matches(&hooks.secret, header(&headers, "x-shipyard-secret")) {
        return ApiError::bad_shared_secret().into_response();
    }
    let hint: ArgoHint = match serde_json::from_slice(&body) {
        Ok(h) => h,
        Err(e) => {
            return ApiError::invalid_json(format!(
                "the body must be {{\"app\": \"…\", \"revision\", \"health\", \"sync\"}}: {e}"
            ))
            .into_response();
        }
    };
    let app = hint.app.trim();
    if app.is_empty() || app.len() > MAX_APP_NAME || app.chars().any(char::is_control) {
        return ApiError::invalid_input(format!(
            "app: must be an Argo CD application name of 1 to {MAX_APP_NAME} characters"
        ))
        .into_response();
    }
    match state.engine.deploy_hint(app).await {
        Ok(n) => (
            StatusCode::ACCEPTED,
            Json(json!({"app": app, "tracked": n})),
        )
            .into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

async fn receive(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(hooks) = state.webhooks.clone() else {
        return ApiError::not_found("webhooks are off: set github.webhook_secret to turn them on")
            .into_response();
    };
    if !verify_signature(
        hooks.secret.expose().as_bytes(),
        &body,
        header(&headers, "x-hub-signature-256"),
    ) {
        return ApiError::bad_signature().into_response();
    }
    let event_name = header(&headers, "x-github-event").unwrap_or("").to_owned();
    let id = header(&headers, "x-github-delivery").map(str::to_owned);
    let event = match parse_event(&event_name, &body) {
        Ok(event) => event,
        Err(e) => return ApiError::invalid_json(e.to_string()).into_response(),
    };
    tracing::debug!(event = %event_name, delivery = ?id, "webhook delivery");
    let delivery = Delivery {
        id: id.clone(),
        event_name: event_name.clone(),
        event,
    };
    let engine = state.engine.clone();
    let work = tokio::spawn(async move { engine.apply_webhook(delivery).await });
    match tokio::time::timeout(ANSWER_WITHIN, work).await {
        Ok(Ok(Ok(outcome))) => (
            StatusCode::ACCEPTED,
            Json(json!({
                "event": event_name,
                "outcome": outcome.as_str(),
                "changed": outcome.changed(),
            })),
        )
            .into_response(),
        Ok(Ok(Err(e))) => {
            tracing::warn!(event = %event_name, delivery = ?id, error = %e, "webhook not applied");
            ApiError::from(e).into_response()
        }
        Ok(Err(join)) => ApiError::internal(&join).into_response(),
        // Still working: it finishes in the background.
        Err(_) => (
            StatusCode::ACCEPTED,
            Json(json!({"event": event_name, "outcome": "accepted", "changed": null})),
        )
            .into_response(),
    }
}
