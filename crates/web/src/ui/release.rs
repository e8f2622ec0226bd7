//! `/releases/{id}`: one release, and the plain form posts that change it.
//!
//! Every change is a small form posting to a page route (`POST /releases/{id}/…`) that calls the
//! engine, then redirects back (303) or, on an error, renders the page again with the message next
//! to the form that caused it. The script turns the same forms into API calls
//! (`data-api="METHOD /api/…"`) and keeps the page live; without it, everything still works.

use super::ci::{CiBadge, CiRow};
use super::deploy::{DeployBadge, EnvCount};
use super::form::SignedForm;
use super::{
    Layout, ago, error_page, html, layout, markdown, require_session, see_other, sentence, utc,
};
use crate::AppState;
use crate::auth::session::ActiveSession;
use crate::error::ApiError;
use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;

use shipyard_core::release::{Approval, RuleError, check_status_change};
use shipyard_core::{ReleaseStatus, SignOffKind};
use shipyard_engine::HistoryRecord;
use shipyard_engine::{EngineError, ReleasePatch, ReleaseView, RepoPatch};

/// The release page routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/releases/{id}", get(show))
        .route("/releases/{id}/refresh", post(refresh))
        .route("/releases/{id}/notes", post(notes))
        .route("/releases/{id}/status", post(status))
        .route("/releases/{id}/approve/{kind}", post(approve))
        .route("/releases/{id}/revoke/{kind}", post(revoke))
        .route("/releases/{id}/repos/{repo_id}", get(repo_page))
        .route("/releases/{id}/repos/{repo_id}/exclude", post(exclude))
        .route(
            "/releases/{id}/repos/{repo_id}/depends-on",
            post(depends_on),
        )
}

/// A moment, relative and exact.
pub(crate) struct When {
    ago: String,
    utc: String,
}

impl When {
    pub(crate) fn new(at: i64, now: i64) -> When {
        When {
            ago: ago(at, now),
            utc: utc(at),
        }
    }
}

struct SignOffBox {
    kind: &'static str,
    label: &'static str,
    by: Option<String>,
    at: Option<When>,
    can_approve: bool,
    can_revoke: bool,
    /// Why this viewer cannot approve although they hold the role.
    blocked: Option<String>,
    error: Option<String>,
}

struct RepoRow {
    id: i64,
    name: String,
    compare_url: String,
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
    depends_on: Vec<String>,
    ci: Option<CiBadge>,
    /// One cell per environment (empty without deployment tracking).
    deploy: Vec<DeployBadge>,
    error: Option<String>,
}

struct StatusAction {
    value: &'static str,
    label: &'static str,
    primary: bool,
    confirm: Option<&'static str>,
}

struct Event {
    action: &'static str,
    text: String,
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
    read_only: bool,
    created_by: String,
    created: When,
    refreshed: When,
    org: String,
    snapshot: String,
    head_error: Option<String>,
    status_actions: Vec<StatusAction>,
    notes_html: String,
    breaking_html: String,
    notes_text: String,
    breaking_text: String,
    editing_notes: bool,
    notes_error: Option<String>,
    sign_offs: Vec<SignOffBox>,
    repos: Vec<RepoRow>,
    included: usize,
    ci_rows: Vec<CiRow>,
    ci_active: bool,
    /// The environments, in order (empty without deployment tracking).
    environments: Vec<String>,
    /// `prod 7/12 deployed`, per environment.
    deploy_counts: Vec<EnvCount>,
    levels: Vec<Vec<String>>,
    cycle: Option<String>,
    warnings: Vec<String>,
    history: Vec<Event>,
}

/// Where an error from a form post is shown.
enum Place {
    Head,
    Notes { notes: String, breaking: String },
    SignOff(SignOffKind),
    Repo(i64),
}

/// An error to show next to the form that caused it.
struct Flash {
    place: Place,
    error: ApiError,
}

#[derive(Deserialize, Default)]
struct ShowQuery {
    edit: Option<String>,
}

async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
    query: Result<Query<ShowQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let session = match require_session(&state, &headers, &uri).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let editing = query.is_ok_and(|Query(q)| q.edit.as_deref() == Some("notes"));
    render(&state, &session, &id, editing, None).await
}

fn not_found(session: &ActiveSession, id: &str) -> Response {
    let page = super::ErrorPage {
        layout: layout(session, "releases"),
        title: "Release not found",
        message: format!("There is no release “{id}”."),
    };
    html(StatusCode::NOT_FOUND, page.render())
}

/// The release page, with an error from a form post shown where it belongs.
async fn render(
    state: &AppState,
    session: &ActiveSession,
    id: &str,
    editing: bool,
    flash: Option<Flash>,
) -> Response {
    let view = match state.engine.release(id).await {
        Ok(v) => v,
        Err(EngineError::NotFound(_) | EngineError::Invalid { .. }) => {
            return not_found(session, id);
        }
        Err(e) => return error_page(session, "Something went wrong", &e.into()),
    };
    let history = match state.engine.history(id).await {
        Ok(h) => h,
        Err(e) => return error_page(session, "Something went wrong", &e.into()),
    };
    let status = flash
        .as_ref()
        .map(|f| f.error.status())
        .unwrap_or(StatusCode::OK);
    let page = show_page(state, session, &view, &history, editing, flash);
    html(status, page.render())
}

fn show_page(
    state: &AppState,
    session: &ActiveSession,
    view: &ReleaseView,
    history: &[HistoryRecord],
    editing: bool,
    flash: Option<Flash>,
) -> ShowPage {
    let now = state.engine.now();
    let r = &view.release;
    let roles = &session.record.roles;
    let read_only = r.status.is_read_only();
    let message = |f: &Flash| sentence(f.error.message());

    let mut head_error = None;
    let mut notes_error = None;
    let mut draft = None;
    let mut signoff_error = None;
    let mut repo_error = None;
    if let Some(f) = &flash {
        match &f.place {
            Place::Head => head_error = Some(message(f)),
            Place::Notes { notes, breaking } => {
                notes_error = Some(message(f));
                draft = Some((notes.clone(), breaking.clone()));
            }
            Place::SignOff(kind) => signoff_error = Some((*kind, message(f))),
            Place::Repo(repo) => repo_error = Some((*repo, message(f))),
        }
    }

    let allow_same_user = state.engine.settings().allow_same_user;
    let approval = Approval {
        status: r.status,
        sign_offs: r.sign_offs.clone(),
    };
    let me = session.caller().actor;
    let sign_offs = [SignOffKind::Dev, SignOffKind::Qa]
        .into_iter()
        .map(|kind| {
            let given = r.sign_offs.get(kind);
            // The same rule the sign-off itself applies, asked without changing anything.
            let give = approval.check_give(kind, &me, roles, allow_same_user);
            let blocked = match (&give, given) {
                (Err(RuleError::SameUser { .. }), None) => Some(format!(
                    "You gave the {} sign-off; someone else must give this one.",
                    label(kind.other())
                )),
                _ => None,
            };
            SignOffBox {
                kind: kind.as_str(),
                label: label(kind),
                by: given.map(|s| s.by.name.clone()),
                at: given.map(|s| When::new(s.at, now)),
                can_approve: given.is_none() && give.is_ok(),
                can_revoke: given.is_some() && approval.check_withdraw(kind, roles).is_ok(),
                blocked,
                error: signoff_error
                    .as_ref()
                    .filter(|(k, _)| *k == kind)
                    .map(|(_, m)| m.clone()),
            }
        })
        .collect();

    let status_actions = [
        (
            ReleaseStatus::Deployed,
            "Mark deployed",
            true,
            Some("Mark this release as deployed? It becomes read-only."),
        ),
        (
            ReleaseStatus::Cancelled,
            "Cancel release",
            false,
            Some("Cancel this release? It becomes read-only."),
        ),
    ]
    .into_iter()
    .filter(|(to, ..)| check_status_change(r.status, *to, roles) == Ok(true))
    .map(|(to, label, primary, confirm)| StatusAction {
        value: to.as_str(),
        label,
        primary,
        confirm,
    })
    .collect();

    let web = state
        .engine
        .github()
        .map(|g| g.web_url.clone())
        .unwrap_or_else(|| "https://github.com".to_owned());
    let repos: Vec<RepoRow> = view
        .repos
        .iter()
        .map(|x| {
            let c = &x.change;
            RepoRow {
                id: x.id,
                compare_url: format!(
                    "{web}/{}/{}/compare/{}...{}",
                    view.org, c.repo_name, r.dest_branch, r.source_branch
                ),
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
                depends_on: x.depends_on.clone(),
                ci: view.ci_of(x.id).map(CiBadge::new),
                deploy: view
                    .deployment
                    .iter()
                    .flat_map(|d| {
                        d.environments
                            .iter()
                            .map(|env| DeployBadge::new(env, d.of(x.id, env), now))
                    })
                    .collect(),
                error: repo_error
                    .as_ref()
                    .filter(|(id, _)| *id == x.id)
                    .map(|(_, m)| m.clone()),
            }
        })
        .collect();
    let (notes_text, breaking_text) =
        draft.unwrap_or_else(|| (r.notes.clone(), r.breaking_changes.clone()));

    ShowPage {
        layout: layout(session, "releases"),
        title: format!("{} → {} ({})", r.source_branch, r.dest_branch, r.id),
        id: r.id.to_string(),
        source: r.source_branch.to_string(),
        dest: r.dest_branch.to_string(),
        status: r.status.as_str(),
        read_only,
        created_by: r.created_by.name.clone(),
        created: When::new(r.created_at, now),
        refreshed: When::new(r.last_refreshed_at, now),
        org: view.org.clone(),
        snapshot: r.content_fingerprint.chars().take(12).collect(),
        head_error,
        status_actions,
        notes_html: markdown::render(&r.notes),
        breaking_html: markdown::render(&r.breaking_changes),
        editing_notes: !read_only && (editing || notes_error.is_some()),
        notes_text,
        breaking_text,
        notes_error,
        sign_offs,
        included: repos.iter().filter(|r| !r.excluded).count(),
        ci_rows: view
            .repos
            .iter()
            .filter(|x| !x.excluded)
            .filter_map(|x| {
                let mut row = CiRow::new(&x.change.repo_name, view.ci_of(x.id)?, now);
                row.deploy = view
                    .deployment
                    .iter()
                    .flat_map(|d| {
                        d.environments
                            .iter()
                            .map(|env| DeployBadge::new(env, d.of(x.id, env), now))
                    })
                    .collect();
                Some(row)
            })
            .collect(),
        environments: view
            .deployment
            .as_ref()
            .map(|d| d.environments.clone())
            .unwrap_or_default(),
        deploy_counts: view
            .deployment_summary()
            .unwrap_or_default()
            .iter()
            .map(EnvCount::new)
            .collect(),
        ci_active: view
            .repos
            .iter()
            .filter(|x| !x.excluded)
            .filter_map(|x| view.ci_of(x.id))
            .any(|c| !c.status.is_final()),
        repos,
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
            .rev()
            .map(|h| Event {
                action: h.action.as_str(),
                text: h.details.describe(),
                actor: h.actor.name.clone(),
                at: When::new(h.created_at, now),
            })
            .collect(),
    }
}

fn label(kind: SignOffKind) -> &'static str {
    match kind {
        SignOffKind::Dev => "Dev",
        SignOffKind::Qa => "QA",
    }
}

/// A history entry in words: what was done, without the actor (shown beside it).
/// After a change: back to the page, at the part that changed.
fn back(id: &str, anchor: &str) -> Response {
    see_other(&format!("/releases/{id}#{anchor}"))
}

async fn outcome(
    state: &AppState,
    session: &ActiveSession,
    id: &str,
    result: Result<ReleaseView, EngineError>,
    anchor: &str,
    place: Place,
) -> Response {
    match result {
        Ok(_) => back(id, anchor),
        Err(e) => {
            let flash = Flash {
                place,
                error: e.into(),
            };
            render(state, session, id, false, Some(flash)).await
        }
    }
}

async fn refresh(
    State(state): State<AppState>,
    Path(id): Path<String>,
    SignedForm { session, .. }: SignedForm,
) -> Response {
    let result = state.engine.refresh(&session.caller(), &id).await;
    outcome(&state, &session, &id, result, "head", Place::Head).await
}

async fn notes(
    State(state): State<AppState>,
    Path(id): Path<String>,
    SignedForm {
        session,
        fields: form,
    }: SignedForm,
) -> Response {
    let notes = form.get("notes").unwrap_or("").replace("\r\n", "\n");
    let breaking = form
        .get("breaking_changes")
        .unwrap_or("")
        .replace("\r\n", "\n");
    let patch = ReleasePatch {
        notes: Some(notes.clone()),
        breaking_changes: Some(breaking.clone()),
        status: None,
    };
    let result = state
        .engine
        .update_release(&session.caller(), &id, patch)
        .await;
    let place = Place::Notes { notes, breaking };
    outcome(&state, &session, &id, result, "notes-section", place).await
}

async fn status(
    State(state): State<AppState>,
    Path(id): Path<String>,
    SignedForm {
        session,
        fields: form,
    }: SignedForm,
) -> Response {
    let patch = ReleasePatch {
        status: Some(form.get("status").unwrap_or("").to_owned()),
        ..ReleasePatch::default()
    };
    let result = state
        .engine
        .update_release(&session.caller(), &id, patch)
        .await;
    outcome(&state, &session, &id, result, "head", Place::Head).await
}

async fn approve(
    State(state): State<AppState>,
    Path((id, kind)): Path<(String, String)>,
    form: SignedForm,
) -> Response {
    sign(state, id, kind, form, true).await
}

async fn revoke(
    State(state): State<AppState>,
    Path((id, kind)): Path<(String, String)>,
    form: SignedForm,
) -> Response {
    sign(state, id, kind, form, false).await
}

async fn sign(
    state: AppState,
    id: String,
    kind: String,
    SignedForm { session, .. }: SignedForm,
    give: bool,
) -> Response {
    let Ok(kind) = kind.parse::<SignOffKind>() else {
        return error_page(
            &session,
            "Not found",
            &ApiError::not_found("there are only `dev` and `qa` sign-offs"),
        );
    };
    let caller = session.caller();
    let result = if give {
        state.engine.approve(&caller, &id, kind).await
    } else {
        state.engine.revoke(&caller, &id, kind).await
    };
    outcome(
        &state,
        &session,
        &id,
        result,
        "signoffs",
        Place::SignOff(kind),
    )
    .await
}

fn repo_id(raw: &str) -> Option<i64> {
    raw.parse::<i64>().ok().filter(|id| *id > 0)
}

async fn exclude(
    State(state): State<AppState>,
    Path((id, repo)): Path<(String, String)>,
    SignedForm {
        session,
        fields: form,
    }: SignedForm,
) -> Response {
    let Some(repo) = repo_id(&repo) else {
        return not_found(&session, &id);
    };
    let patch = RepoPatch {
        excluded: Some(form.has("excluded")),
        depends_on: None,
    };
    let result = state
        .engine
        .update_repo(&session.caller(), &id, repo, patch)
        .await;
    let anchor = format!("repo-{repo}");
    outcome(&state, &session, &id, result, &anchor, Place::Repo(repo)).await
}

async fn depends_on(
    State(state): State<AppState>,
    Path((id, repo)): Path<(String, String)>,
    SignedForm {
        session,
        fields: form,
    }: SignedForm,
) -> Response {
    let Some(repo) = repo_id(&repo) else {
        return not_found(&session, &id);
    };
    let chosen = form.all("depends_on");
    let patch = RepoPatch {
        excluded: None,
        depends_on: Some(chosen.clone()),
    };
    match state
        .engine
        .update_repo(&session.caller(), &id, repo, patch)
        .await
    {
        Ok(_) => back(&id, &format!("repo-{repo}")),
        Err(e) => render_repo_page(&state, &session, &id, repo, Some((chosen, e.into()))).await,
    }
}

struct Choice {
    name: String,
    checked: bool,
    excluded: bool,
}

#[derive(Template)]
#[template(path = "releases/repo.html")]
struct RepoPage {
    layout: Layout,
    title: String,
    id: String,
    repo_id: i64,
    name: String,
    source: String,
    dest: String,
    read_only: bool,
    choices: Vec<Choice>,
    error: Option<String>,
}

async fn repo_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Path((id, repo)): Path<(String, String)>,
) -> Response {
    let session = match require_session(&state, &headers, &uri).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    match repo_id(&repo) {
        Some(repo) => render_repo_page(&state, &session, &id, repo, None).await,
        None => not_found(&session, &id),
    }
}

/// The dependency picker of one repo: every other repo of the release as a checkbox.
async fn render_repo_page(
    state: &AppState,
    session: &ActiveSession,
    id: &str,
    repo: i64,
    failed: Option<(Vec<String>, ApiError)>,
) -> Response {
    let view = match state.engine.release(id).await {
        Ok(v) => v,
        Err(EngineError::NotFound(_) | EngineError::Invalid { .. }) => {
            return not_found(session, id);
        }
        Err(e) => return error_page(session, "Something went wrong", &e.into()),
    };
    let Some(this) = view.repos.iter().find(|r| r.id == repo) else {
        return error_page(
            session,
            "Repository not found",
            &ApiError::not_found(format!("release {id} has no repository {repo}")),
        );
    };
    let (selected, status, error) = match failed {
        Some((chosen, e)) => (chosen, e.status(), Some(sentence(e.message()))),
        None => (this.depends_on.clone(), StatusCode::OK, None),
    };
    let page = RepoPage {
        layout: layout(session, "releases"),
        title: format!("{} · dependencies", this.change.repo_name),
        id: view.release.id.to_string(),
        repo_id: repo,
        name: this.change.repo_name.clone(),
        source: view.release.source_branch.to_string(),
        dest: view.release.dest_branch.to_string(),
        read_only: view.release.status.is_read_only(),
        choices: view
            .repos
            .iter()
            .filter(|r| r.id != repo)
            .map(|r| Choice {
                checked: selected.contains(&r.change.repo_name),
                name: r.change.repo_name.clone(),
                excluded: r.excluded,
            })
            .collect(),
        error,
    };
    html(status, page.render())
}
