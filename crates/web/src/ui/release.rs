//! `/releases/{id}`: one release, read-only for now.

use super::{Layout, ago, html, layout, require_session, utc};
use crate::AppState;
use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use shipyard_engine::EngineError;

/// The release page routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/releases/{id}", get(show))
}

/// A moment, relative and exact.
struct When {
    ago: String,
    utc: String,
}

impl When {
    fn new(at: i64, now: i64) -> When {
        When {
            ago: ago(at, now),
            utc: utc(at),
        }
    }
}

struct SignOff {
    label: &'static str,
    by: Option<String>,
    at: Option<When>,
}

struct RepoRow {
    name: String,
    commits: u64,
    additions: u64,
    deletions: u64,
    contributors: String,
    breaking: bool,
    infra: String,
    pr_number: Option<u64>,
    pr_url: Option<String>,
    pr_state: Option<&'static str>,
    excluded: bool,
    depends_on: String,
}

struct Event {
    action: &'static str,
    actor: String,
    at: When,
}

#[derive(Template)]
#[template(path = "releases/show.html")]
struct ShowPage {
    layout: Layout,
    title: String,
    id: String,
    source: String,
    dest: String,
    status: &'static str,
    created_by: String,
    created: When,
    refreshed: When,
    org: String,
    notes: String,
    breaking_changes: String,
    sign_offs: Vec<SignOff>,
    repos: Vec<RepoRow>,
    levels: Vec<Vec<String>>,
    cycle: Option<String>,
    warnings: Vec<String>,
    history: Vec<Event>,
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    layout: Layout,
    title: &'static str,
    message: String,
}

async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
) -> Response {
    let session = match require_session(&state, &headers, &uri).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let view = match state.engine.release(&id).await {
        Ok(v) => v,
        Err(EngineError::NotFound(_) | EngineError::Invalid { .. }) => {
            let page = ErrorPage {
                layout: layout(&session, "releases"),
                title: "Release not found",
                message: format!("There is no release “{id}”."),
            };
            return html(StatusCode::NOT_FOUND, page.render());
        }
        Err(e) => return crate::error::ApiError::from(e).into_response(),
    };
    let history = match state.engine.history(&id).await {
        Ok(h) => h,
        Err(e) => return crate::error::ApiError::from(e).into_response(),
    };
    let now = state.engine.now();
    let r = &view.release;
    let sign_off = |label, s: &Option<shipyard_core::release::SignOff>| SignOff {
        label,
        by: s.as_ref().map(|x| x.by.name.clone()),
        at: s.as_ref().map(|x| When::new(x.at, now)),
    };
    let page = ShowPage {
        layout: layout(&session, "releases"),
        title: format!("Release {}", r.id),
        id: r.id.to_string(),
        source: r.source_branch.to_string(),
        dest: r.dest_branch.to_string(),
        status: r.status.as_str(),
        created_by: r.created_by.name.clone(),
        created: When::new(r.created_at, now),
        refreshed: When::new(r.last_refreshed_at, now),
        org: view.org.clone(),
        notes: r.notes.clone(),
        breaking_changes: r.breaking_changes.clone(),
        sign_offs: vec![
            sign_off("Dev", &r.sign_offs.dev),
            sign_off("QA", &r.sign_offs.qa),
        ],
        repos: view
            .repos
            .iter()
            .map(|x| {
                let c = &x.change;
                RepoRow {
                    name: c.repo_name.clone(),
                    commits: c.commit_count,
                    additions: c.additions,
                    deletions: c.deletions,
                    contributors: c.contributors.join(", "),
                    breaking: c.is_breaking,
                    infra: c.infra_changes.join(", "),
                    pr_number: c.pull.as_ref().map(|p| p.number),
                    pr_url: c
                        .pull
                        .as_ref()
                        .map(|p| p.url.clone())
                        .filter(|u| u.starts_with("https://") || u.starts_with("http://")),
                    pr_state: c.pull.as_ref().map(|p| p.state.as_str()),
                    excluded: x.excluded,
                    depends_on: x.depends_on.join(", "),
                }
            })
            .collect(),
        levels: view.deploy_order.levels.clone(),
        cycle: view.deploy_order.cycle.as_ref().map(|c| {
            let mut path = c.join(" → ");
            if let Some(first) = c.first() {
                path.push_str(" → ");
                path.push_str(first);
            }
            path
        }),
        warnings: view.deploy_order.warnings.clone(),
        history: history
            .iter()
            .map(|h| Event {
                action: h.action.as_str(),
                actor: h.actor.name.clone(),
                at: When::new(h.created_at, now),
            })
            .collect(),
    };
    html(StatusCode::OK, page.render())
}
