//! Commit statuses: creating one, the combined view of a ref and the list of a ref's statuses.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, RawQuery, State};
use axum::response::Response;
use http::{HeaderValue, StatusCode, Uri};
use serde_json::{Value, json};

use super::collab::{MAX_STATUSES_PER_CONTEXT, STATUS_STATES, Status, combined_state};
use super::encoding::node_id;
use super::faults::json_response;
use super::rest::{
    Params, error_response, find_repo, json_object, not_found_with, ok, page_range, paging,
    repo_link_header, required_string, string_field, validation_failed, with_link,
};
use super::state::{Repo, iso};
use super::{Inner, payload};

pub(super) const CREATE_DOC: &str =
    "https://docs.github.com/rest/commits/statuses#create-a-commit-status";
const COMBINED_DOC: &str = "https://docs.github.com/rest/commits/statuses#get-the-combined-status-for-a-specific-reference";
const LIST_DOC: &str =
    "https://docs.github.com/rest/commits/statuses#list-commit-statuses-for-a-reference";

/// Longest `description` GitHub takes.
pub(crate) const MAX_DESCRIPTION_CHARS: usize = 140;

/// A commit sha (full, or an unambiguous prefix of at least 7) the repository has: statuses
/// are set on commits, so a branch name is not taken here.
fn known_sha(r: &Repo, sha: &str) -> Option<String> {
    if sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        r.resolve(sha)
    } else {
        None
    }
}

/// The avatar GitHub shows next to a status: its creator's.
fn avatar(user: &Value) -> Value {
    user.get("avatar_url").cloned().unwrap_or(Value::Null)
}

/// A status as `POST /statuses/{sha}` and the list answer it, with its creator.
pub(crate) fn status_json(inner: &Inner, repo: &str, s: &Status) -> Value {
    let creator = payload::user(inner, &s.creator, "User");
    json!({
        "url": format!("{}/statuses/{}", inner.api_repo(repo), s.sha),
        "avatar_url": avatar(&creator),
        "id": s.id,
        "node_id": node_id("StatusContext", &s.id.to_string()),
        "state": s.state,
        "description": s.description,
        "target_url": s.target_url,
        "context": s.context,
        "created_at": iso(s.created_at),
        "updated_at": iso(s.created_at),
        "creator": creator
    })
}

/// A status as the combined view lists it: without its creator.
fn simple_status_json(inner: &Inner, repo: &str, s: &Status) -> Value {
    let mut v = status_json(inner, repo, s);
    if let Some(o) = v.as_object_mut() {
        o.remove("creator");
    }
    v
}

/// `POST /repos/{owner}/{repo}/statuses/{sha}`: created by the token's login.
pub(super) async fn create_status(
    State(inner): State<Arc<Inner>>,
    path: Result<Path<(String, String, String)>, PathRejection>,
    raw: Bytes,
) -> Response {
    let Ok(Path((owner, name, sha))) = path else {
        return not_found_with(CREATE_DOC);
    };
    let login = inner.ctl().token_login.clone();
    let mut git = inner.git();
    let Some(r) = find_repo(&inner, &git, &owner, &name) else {
        return not_found_with(CREATE_DOC);
    };
    let repo = r.name.clone();
    let known = known_sha(r, &sha);
    let fields = json_object(&raw, CREATE_DOC).and_then(|o| {
        let state = required_string(&o, "state", CREATE_DOC)?;
        let target_url = string_field(&o, "target_url", true, CREATE_DOC)?;
        let description = string_field(&o, "description", true, CREATE_DOC)?;
        let context = string_field(&o, "context", false, CREATE_DOC)?;
        Ok((state, target_url, description, context))
    });
    let (state, target_url, description, context) = match fields {
        Ok(f) => f,
        Err(r) => return *r,
    };
    if !STATUS_STATES.contains(&state.as_str()) {
        return validation_failed(
            "Status",
            "state",
            "custom",
            Some("state is not included in the list"),
            CREATE_DOC,
        );
    }
    if description
        .as_deref()
        .is_some_and(|d| d.chars().count() > MAX_DESCRIPTION_CHARS)
    {
        return validation_failed(
            "Status",
            "description",
            "custom",
            Some("description is too long (maximum is 140 characters)"),
            CREATE_DOC,
        );
    }
    // An empty context is GitHub's default one.
    let context = context
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "default".to_owned());
    let Some(full) = known else {
        return error_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("No commit found for SHA: {sha}"),
            CREATE_DOC,
        );
    };
    let same_context = git.collab.repo(&repo).map_or(0, |c| {
        c.statuses_of(&full)
            .filter(|s| s.context.to_lowercase() == context.to_lowercase())
            .count()
    });
    if same_context >= MAX_STATUSES_PER_CONTEXT {
        return validation_failed(
            "Status",
            "context",
            "custom",
            Some("This SHA and context has reached the maximum number of statuses."),
            CREATE_DOC,
        );
    }
    let now = git.tick();
    let status = git.collab.add_status(
        &repo,
        Status {
            id: 0,
            sha: full.clone(),
            state,
            description,
            target_url,
            context,
            creator: login,
            created_at: now,
        },
    );
    drop(git);
    let mut resp = json_response(StatusCode::CREATED, &status_json(&inner, &repo, &status));
    let location = format!("{}/statuses/{full}", inner.api_repo(&repo));
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(http::header::LOCATION, v);
    }
    resp
}

/// `GET /repos/{owner}/{repo}/commits/{ref}/status`: the newest status of each context, the
/// contexts paginated, and their combined state.
pub(super) async fn combined_status(
    State(inner): State<Arc<Inner>>,
    path: Result<Path<(String, String, String)>, PathRejection>,
    Query(q): Query<Params>,
    RawQuery(raw): RawQuery,
    uri: Uri,
) -> Response {
    let Ok(Path((owner, name, reference))) = path else {
        return not_found_with(COMBINED_DOC);
    };
    let (page, per_page) = paging(&q, 30);
    let git = inner.git();
    let Some(r) = find_repo(&inner, &git, &owner, &name) else {
        return not_found_with(COMBINED_DOC);
    };
    let Some(sha) = r.resolve(&reference) else {
        return error_response(
            StatusCode::NOT_FOUND,
            &format!("No commit found for SHA: {reference}"),
            COMBINED_DOC,
        );
    };
    let latest = git
        .collab
        .repo(&r.name)
        .map(|c| c.latest_statuses(&sha))
        .unwrap_or_default();
    let total = latest.len();
    let state = combined_state(latest.iter().map(|s| s.state.as_str()));
    let api = inner.api_repo(&r.name);
    let body = json!({
        "state": state,
        "statuses": latest[page_range(total, page, per_page)]
            .iter()
            .map(|s| simple_status_json(&inner, &r.name, s))
            .collect::<Vec<_>>(),
        "sha": sha,
        "total_count": total,
        "repository": payload::repo(&inner, r),
        "commit_url": format!("{api}/commits/{sha}"),
        "url": format!("{api}/commits/{sha}/status")
    });
    let link = repo_link_header(&inner, r, &uri, raw.as_deref(), page, per_page, total);
    drop(git);
    with_link(ok(&body), link)
}

/// `GET /repos/{owner}/{repo}/commits/{ref}/statuses`: every status of the ref, newest first,
/// paginated; an empty list for a ref the repository does not have.
pub(super) async fn list_statuses(
    State(inner): State<Arc<Inner>>,
    path: Result<Path<(String, String, String)>, PathRejection>,
    Query(q): Query<Params>,
    RawQuery(raw): RawQuery,
    uri: Uri,
) -> Response {
    let Ok(Path((owner, name, reference))) = path else {
        return not_found_with(LIST_DOC);
    };
    let (page, per_page) = paging(&q, 30);
    let git = inner.git();
    let Some(r) = find_repo(&inner, &git, &owner, &name) else {
        return not_found_with(LIST_DOC);
    };
    let all: Vec<&Status> = match (r.resolve(&reference), git.collab.repo(&r.name)) {
        (Some(sha), Some(c)) => c.statuses.iter().rev().filter(|s| s.sha == sha).collect(),
        _ => Vec::new(),
    };
    let total = all.len();
    let body: Vec<Value> = all[page_range(total, page, per_page)]
        .iter()
        .map(|s| status_json(&inner, &r.name, s))
        .collect();
    let link = repo_link_header(&inner, r, &uri, raw.as_deref(), page, per_page, total);
    drop(git);
    with_link(ok(&Value::Array(body)), link)
}
