//! `POST /webhooks/github`: GitHub's deliveries, verified with `X-Hub-Signature-256` against
//! `github.webhook_secret`.
//!
//! - `workflow_run` (requested, in progress, completed) updates CI tracking at once;
//! - `workflow_job` names the Helm job of a run, so its chart version is read without listing
//!   the run's jobs;
//! - `pull_request` closed and merged records the merge and starts CI tracking;
//! - `push` to a release's source branch refreshes that release in the background, so new
//!   commits reset its sign-offs (several pushes while a refresh runs lead to one more refresh);
//! - anything else (a ping, other events, other orgs) is accepted and ignored.
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
use shipyard_core::ReleaseId;
use shipyard_engine::ci::CiTracker;
use shipyard_engine::webhooks::{MergedPull, webhook_caller};
use shipyard_engine::{Engine, EngineError};
use shipyard_github::webhook::{Event, parse_event, verify_signature};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// GitHub sends payloads of up to 25 MB.
const MAX_PAYLOAD_BYTES: usize = 25 * 1024 * 1024;

/// Longest wait before answering; GitHub gives up after ten seconds.
const ANSWER_WITHIN: Duration = Duration::from_secs(8);

/// The webhook receiver's state: the shared secret, the CI tracker, and the refreshes that
/// pushes started.
#[derive(Clone)]
pub struct Webhooks {
    secret: Secret,
    ci: Option<Arc<CiTracker>>,
    /// Releases being refreshed for a push; `true` when another push came meanwhile.
    refreshing: Arc<Mutex<HashMap<ReleaseId, bool>>>,
}

impl Webhooks {
    /// Deliveries signed with `secret`; run updates go to `ci`.
    pub fn new(secret: Secret, ci: Option<Arc<CiTracker>>) -> Self {
        Webhooks {
            secret,
            ci,
            refreshing: Arc::default(),
        }
    }
}

/// The route.
pub fn router() -> Router<AppState> {
    Router::new().route(
        "/webhooks/github",
        axum::routing::post(receive).layer(DefaultBodyLimit::max(MAX_PAYLOAD_BYTES)),
    )
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
    let delivery = header(&headers, "x-github-delivery")
        .unwrap_or("")
        .to_owned();
    let event = match parse_event(&event_name, &body) {
        Ok(event) => event,
        Err(e) => return ApiError::invalid_json(e.to_string()).into_response(),
    };
    if let Some(ci) = &hooks.ci {
        ci.webhook_arrived();
    }
    let engine = state.engine.clone();
    let org_matches = |owner: &str| {
        engine
            .github()
            .is_some_and(|g| g.org.eq_ignore_ascii_case(owner))
    };
    let event = match event {
        Event::WorkflowRun { ref owner, .. }
        | Event::WorkflowJob { ref owner, .. }
        | Event::PullRequestMerged { ref owner, .. }
        | Event::Push { ref owner, .. }
            if !org_matches(owner) =>
        {
            Event::Ignored
        }
        other => other,
    };
    tracing::debug!(event = %event_name, delivery = %delivery, "webhook delivery");
    let work = tokio::spawn(handle(engine, hooks, event));
    match tokio::time::timeout(ANSWER_WITHIN, work).await {
        Ok(Ok(Ok(changed))) => (
            StatusCode::ACCEPTED,
            Json(json!({"event": event_name, "changed": changed})),
        )
            .into_response(),
        Ok(Ok(Err(e))) => {
            tracing::warn!(event = %event_name, delivery = %delivery, error = %e, "webhook not applied");
            ApiError::from(e).into_response()
        }
        Ok(Err(join)) => ApiError::internal(&join).into_response(),
        // Still working: it finishes in the background.
        Err(_) => (
            StatusCode::ACCEPTED,
            Json(json!({"event": event_name, "changed": null})),
        )
            .into_response(),
    }
}

/// Applies one event; returns how many tracking rows or releases changed.
async fn handle(engine: Engine, hooks: Webhooks, event: Event) -> Result<usize, EngineError> {
    match event {
        Event::WorkflowRun { repo, run, .. } => match &hooks.ci {
            Some(ci) => ci.on_workflow_run(&repo, &run).await,
            None => Ok(0),
        },
        Event::WorkflowJob { job, .. } => {
            if let Some(ci) = &hooks.ci {
                ci.on_workflow_job(&job);
            }
            Ok(0)
        }
        Event::PullRequestMerged {
            repo,
            number,
            url,
            head_branch,
            base_branch,
            merge_commit_sha,
            ..
        } => {
            engine
                .pull_request_merged(&MergedPull {
                    repo_name: repo,
                    head_branch,
                    base_branch,
                    number,
                    url,
                    merge_commit_sha,
                })
                .await
        }
        Event::Push { branch, .. } => {
            let ids = engine.releases_from(&branch).await?;
            let started = ids.len();
            for id in ids {
                refresh_for_push(engine.clone(), hooks.refreshing.clone(), id);
            }
            Ok(started)
        }
        Event::Ignored => Ok(0),
    }
}

/// Refreshes `id` in the background; a push during a refresh queues exactly one more.
fn refresh_for_push(
    engine: Engine,
    refreshing: Arc<Mutex<HashMap<ReleaseId, bool>>>,
    id: ReleaseId,
) {
    {
        let mut map = refreshing.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(again) = map.get_mut(&id) {
            *again = true;
            return;
        }
        map.insert(id.clone(), false);
    }
    tokio::spawn(async move {
        loop {
            match engine.refresh(&webhook_caller(), id.as_str()).await {
                Ok(_) => {}
                // Deployed or cancelled meanwhile: nothing to refresh.
                Err(EngineError::Conflict(_) | EngineError::Forbidden(_)) => {}
                Err(e) => tracing::warn!(release = %id, error = %e, "refresh after a push failed"),
            }
            let mut map = refreshing.lock().unwrap_or_else(|e| e.into_inner());
            match map.get_mut(&id) {
                Some(again) if *again => *again = false,
                _ => {
                    map.remove(&id);
                    return;
                }
            }
        }
    });
}
