//! `/api/releases…`: releases, their repos, sign-offs and history.

use super::dto::*;
use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiQuery, CurrentUser};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use serde::Deserialize;
use shipyard_core::SignOffKind;
use shipyard_engine::ReleaseFilter;
use shipyard_engine::{NewRelease, Notice, ReleasePatch, RepoPatch};
use std::convert::Infallible;
use std::time::Duration;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_releases, create_release))
        .routes(routes!(get_release, patch_release))
        .routes(routes!(refresh_release))
        .routes(routes!(patch_repo))
        .routes(routes!(approve, revoke))
        .routes(routes!(history))
        .routes(routes!(ci_status))
        .routes(routes!(deployment_status))
        .routes(routes!(events))
        .routes(routes!(all_events))
}

/// Query of the release list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only releases in this status.
    #[param(inline)]
    pub status: Option<StatusName>,
    /// Only releases from this source branch.
    pub source: Option<String>,
    /// Only releases into this destination branch.
    pub dest: Option<String>,
    /// Text to find in the id, branches, creator or notes.
    pub q: Option<String>,
    /// Page size (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(pattern = "^-?[0-9]{1,18}:-?[0-9]{1,18}$")]
    pub cursor: Option<String>,
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// Lists releases, newest first.
#[utoipa::path(get, path = "/api/releases", tag = "releases", params(ListQuery),
    responses((status = 200, body = ReleaseList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn list_releases(
    _user: CurrentUser,
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<axum::Json<ReleaseList>, ApiError> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::invalid_input(
            "limit: must be a whole number from 1 to 200",
        ));
    }
    let filter = ReleaseFilter {
        status: q.status.map(Into::into),
        source: non_empty(q.source),
        dest: non_empty(q.dest),
        q: non_empty(q.q),
        limit,
        cursor: q.cursor,
    };
    let page = state.engine.list_releases(&filter).await?;
    let ids: Vec<_> = page.releases.iter().map(|r| r.release.id.clone()).collect();
    let ci = state.engine.ci_summaries(&ids).await?;
    let included: Vec<_> = page
        .releases
        .iter()
        .map(|r| {
            (
                r.release.id.clone(),
                u32::try_from(r.repo_count).unwrap_or(0),
            )
        })
        .collect();
    let mut deployment = state.engine.deployment_summaries(&included).await?;
    Ok(axum::Json(ReleaseList {
        releases: page
            .releases
            .iter()
            .map(|r| {
                ReleaseSummary::new(
                    r,
                    ci.get(&r.release.id).copied().unwrap_or_default(),
                    deployment
                        .as_mut()
                        .map(|d| d.remove(&r.release.id).unwrap_or_default()),
                )
            })
            .collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Creates a release: compares the branches in every repo of the org before answering.
#[utoipa::path(post, path = "/api/releases", tag = "releases", request_body = CreateRelease,
    responses((status = 201, body = ReleaseDetail), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 422, body = ErrorBody), (status = 429, body = ErrorBody), (status = 502, body = ErrorBody)))]
async fn create_release(
    user: CurrentUser,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateRelease>,
) -> Result<impl IntoResponse, ApiError> {
    let created = state
        .engine
        .create_release(
            &user.caller,
            NewRelease {
                source_branch: body.source_branch,
                dest_branch: body.dest_branch,
                channel_id: body.channel_id,
                chat_root_id: None,
            },
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(ReleaseDetail::from(&created)),
    ))
}

/// One release with its repos, deploy order and CI summary.
#[utoipa::path(get, path = "/api/releases/{id}", tag = "releases",
    params(("id" = String, Path, description = "Release id"),
           ("If-None-Match" = Option<String>, Header, description = "An `ETag` of an earlier answer: `304` while the release is unchanged"),
           ("Accept-Encoding" = Option<String>, Header, description = "`gzip` (with a weight above zero, or `*`) gets the JSON gzip-compressed")),
    responses((status = 200, body = ReleaseDetail, headers(("ETag" = String, description = "Entity tag of this answer (each content coding has its own)"),
                                                         ("Content-Encoding" = Option<String>, description = "`gzip` when `Accept-Encoding` accepts it"),
                                                         ("Vary" = String, description = "`accept-encoding`"))),
              (status = 304, description = "Unchanged since the answer with the `ETag` sent in `If-None-Match`", headers(("ETag" = String, description = "Entity tag"))),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_release(
    _user: CurrentUser,
    State(state): State<AppState>,
    axum::Extension(rendered): axum::Extension<super::rendered::RenderedReleases>,
    headers: axum::http::HeaderMap,
    Path(id): Path<String>,
) -> Result<axum::response::Response, ApiError> {
    let view = state.engine.release_shared(&id).await?;
    Ok(rendered.of(&view).await?.answer(&headers))
}

/// Edits notes and breaking changes, or marks the release deployed or cancelled.
#[utoipa::path(patch, path = "/api/releases/{id}", tag = "releases", request_body = PatchRelease,
    params(("id" = String, Path, description = "Release id")),
    responses((status = 200, body = ReleaseDetail), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn patch_release(
    user: CurrentUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<PatchRelease>,
) -> Result<axum::Json<ReleaseDetail>, ApiError> {
    let patch = ReleasePatch {
        notes: body.notes,
        breaking_changes: body.breaking_changes,
        status: body.status.map(|s| s.as_str().to_owned()),
    };
    let view = state
        .engine
        .update_release(&user.caller, &id, patch)
        .await?;
    Ok(axum::Json(ReleaseDetail::from(&view)))
}

/// Re-reads the repos from GitHub; new commits reset both sign-offs.
#[utoipa::path(post, path = "/api/releases/{id}/refresh", tag = "releases", params(("id" = String, Path, description = "Release id")),
    responses((status = 200, body = ReleaseDetail), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 502, body = ErrorBody)))]
async fn refresh_release(
    user: CurrentUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::Json<ReleaseDetail>, ApiError> {
    let view = state.engine.refresh(&user.caller, &id).await?;
    Ok(axum::Json(ReleaseDetail::from(&view)))
}

/// Excludes or includes a repo, or sets the repos it depends on.
#[utoipa::path(patch, path = "/api/releases/{id}/repos/{repo_id}", tag = "releases", request_body = PatchRepo,
    params(("id" = String, Path, description = "Release id"), ("repo_id" = i64, Path, description = "Repo row id")),
    responses((status = 200, body = ReleaseDetail), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn patch_repo(
    user: CurrentUser,
    State(state): State<AppState>,
    Path((id, repo_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<PatchRepo>,
) -> Result<axum::Json<ReleaseDetail>, ApiError> {
    let repo_id: i64 = repo_id.parse().map_err(|_| {
        ApiError::not_found(format!(
            "repo `{}` not found",
            repo_id.chars().take(40).collect::<String>()
        ))
    })?;
    let view = state
        .engine
        .update_repo(
            &user.caller,
            &id,
            repo_id,
            RepoPatch {
                excluded: body.excluded,
                depends_on: body.depends_on,
            },
        )
        .await?;
    Ok(axum::Json(ReleaseDetail::from(&view)))
}

fn sign_off_kind(kind: &str) -> Result<SignOffKind, ApiError> {
    kind.parse()
        .map_err(|_| ApiError::not_found("no such sign-off; use dev or qa"))
}

/// Gives the dev or QA sign-off to the current snapshot (needs the matching role; idempotent).
#[utoipa::path(post, path = "/api/releases/{id}/approve/{kind}", tag = "approvals",
    params(("id" = String, Path, description = "Release id"), ("kind" = String, Path, description = "`dev` or `qa`")),
    responses((status = 200, body = ReleaseDetail), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn approve(
    user: CurrentUser,
    State(state): State<AppState>,
    Path((id, kind)): Path<(String, String)>,
) -> Result<axum::Json<ReleaseDetail>, ApiError> {
    let view = state
        .engine
        .approve(&user.caller, &id, sign_off_kind(&kind)?)
        .await?;
    Ok(axum::Json(ReleaseDetail::from(&view)))
}

/// Withdraws the dev or QA sign-off (idempotent).
#[utoipa::path(delete, path = "/api/releases/{id}/approve/{kind}", tag = "approvals",
    params(("id" = String, Path, description = "Release id"), ("kind" = String, Path, description = "`dev` or `qa`")),
    responses((status = 200, body = ReleaseDetail), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn revoke(
    user: CurrentUser,
    State(state): State<AppState>,
    Path((id, kind)): Path<(String, String)>,
) -> Result<axum::Json<ReleaseDetail>, ApiError> {
    let view = state
        .engine
        .revoke(&user.caller, &id, sign_off_kind(&kind)?)
        .await?;
    Ok(axum::Json(ReleaseDetail::from(&view)))
}

/// The history of a release, oldest first.
#[utoipa::path(get, path = "/api/releases/{id}/history", tag = "releases", params(("id" = String, Path, description = "Release id")),
    responses((status = 200, body = HistoryList), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn history(
    _user: CurrentUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::Json<HistoryList>, ApiError> {
    let entries = state.engine.history(&id).await?;
    Ok(axum::Json(HistoryList {
        history: entries.iter().map(HistoryEntry::from).collect(),
    }))
}

/// The CI state of every included repo: run, status and chart version (null status: not
/// merged yet, so not tracked).
#[utoipa::path(get, path = "/api/releases/{id}/ci-status", tag = "releases", params(("id" = String, Path, description = "Release id")),
    responses((status = 200, body = CiStatusList), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn ci_status(
    _user: CurrentUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::Json<CiStatusList>, ApiError> {
    let view = state.engine.release(&id).await?;
    Ok(axum::Json(CiStatusList::from(&view)))
}

/// Where every included repo runs in each Argo CD environment, from the stored reads (no call
/// to Argo CD is made for the request). Environments are empty when tracking is off.
#[utoipa::path(get, path = "/api/releases/{id}/deployment-status", tag = "releases", params(("id" = String, Path, description = "Release id")),
    responses((status = 200, body = DeploymentStatusList), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn deployment_status(
    _user: CurrentUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::Json<DeploymentStatusList>, ApiError> {
    let view = state.engine.release(&id).await?;
    Ok(axum::Json(DeploymentStatusList::from(&view)))
}

/// Server-sent events: `event: release` whenever anything about the release changes.
#[utoipa::path(get, path = "/api/releases/{id}/events", tag = "releases", params(("id" = String, Path, description = "Release id")),
    responses((status = 200, description = "text/event-stream of `release` events, and `resync` when events may have been missed (re-read everything)", content_type = "text/event-stream"),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn events(
    _user: CurrentUser,
    State(state): State<AppState>,
    axum::Extension(draining): axum::Extension<crate::Draining>,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let view = state.engine.release(&id).await?;
    Ok(event_stream(&state, draining, Some(view.release.id)))
}

/// Server-sent events of every release: what the release list follows.
#[utoipa::path(get, path = "/api/events", tag = "releases",
    responses((status = 200, description = "text/event-stream of `release` events, any release, and `resync` when events may have been missed", content_type = "text/event-stream"),
              (status = 401, body = ErrorBody)))]
async fn all_events(
    _user: CurrentUser,
    State(state): State<AppState>,
    axum::Extension(draining): axum::Extension<crate::Draining>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    event_stream(&state, draining, None)
}

/// `event: resync`: re-read everything shown; `reason` is `relay` or `lagged`.
fn resync_event(reason: &str) -> Event {
    Event::default()
        .event("resync")
        .data(format!("{{\"reason\":\"{reason}\"}}"))
}

/// `event: release` for `only` (or every release), and `event: resync` when changes may have
/// been missed, until the server drains.
fn event_stream(
    state: &AppState,
    draining: crate::Draining,
    only: Option<shipyard_core::ReleaseId>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>> + use<>> {
    let stream =
        BroadcastStream::new(state.engine.events().subscribe()).filter_map(move |e| match e {
            Ok(Notice::Release(event))
                if only.as_ref().is_none_or(|id| *id == event.release_id) =>
            {
                Event::default()
                    .event("release")
                    .json_data(&event)
                    .ok()
                    .map(Ok)
            }
            Ok(Notice::Release(_)) => None,
            // Changes may have been missed (this replica lost its link to the others', or the
            // client fell behind): the client re-reads everything it shows.
            Ok(Notice::Resync) => Some(Ok(resync_event("relay"))),
            Err(_) => Some(Ok(resync_event("lagged"))),
        });
    let stream = futures::StreamExt::take_until(stream, draining.0.cancelled_owned());
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
