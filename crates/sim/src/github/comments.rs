//! Issue comments (every pull request is an issue) and reactions to them.
//!
//! Each handler does its whole read-modify-write under one lock of the state, so concurrent
//! clients always see the effects of each request entirely or not at all.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, RawQuery, State};
use axum::response::Response;
use http::{HeaderValue, StatusCode, Uri};
use serde_json::{Value, json};

use super::collab::{Comment, REACTIONS, Reaction, association};
use super::encoding::node_id;
use super::faults::json_response;
use super::rest::{
    Params, Refusal, find_repo, json_object, not_found_with, numbered_path, ok, page_range, paging,
    repo_link_header, required_string, validation_failed, with_link,
};
use super::state::{GitState, Repo, iso};
use super::{Inner, payload};

const LIST_DOC: &str = "https://docs.github.com/rest/issues/comments#list-issue-comments";
pub(super) const CREATE_DOC: &str =
    "https://docs.github.com/rest/issues/comments#create-an-issue-comment";
const GET_DOC: &str = "https://docs.github.com/rest/issues/comments#get-an-issue-comment";
pub(super) const UPDATE_DOC: &str =
    "https://docs.github.com/rest/issues/comments#update-an-issue-comment";
pub(super) const DELETE_DOC: &str =
    "https://docs.github.com/rest/issues/comments#delete-an-issue-comment";
pub(super) const REACT_DOC: &str =
    "https://docs.github.com/rest/reactions/reactions#create-reaction-for-an-issue-comment";

/// GitHub refuses comment bodies of this many characters or more.
pub(crate) const MAX_BODY_CHARS: usize = 65_536;

/// Whether issue `number` exists: the simulation's issues are its pull requests.
pub(crate) fn has_issue(r: &Repo, number: u64) -> bool {
    r.pulls.iter().any(|p| p.number == number)
}

/// The reactions summary a comment carries.
fn rollup(api: &str, c: &Comment) -> Value {
    let mut v = json!({
        "url": format!("{api}/issues/comments/{}/reactions", c.id),
        "total_count": c.reactions.len(),
    });
    if let Some(o) = v.as_object_mut() {
        for content in REACTIONS {
            let n = c.reactions.iter().filter(|r| r.content == *content).count();
            o.insert((*content).to_owned(), json!(n));
        }
    }
    v
}

/// An issue comment in GitHub's shape.
pub(crate) fn comment_json(inner: &Inner, git: &GitState, repo: &str, c: &Comment) -> Value {
    let api = inner.api_repo(repo);
    let html = inner.html_repo(repo);
    let (id, n) = (c.id, c.number);
    json!({
        "id": id,
        "node_id": node_id("IssueComment", &id.to_string()),
        "url": format!("{api}/issues/comments/{id}"),
        "html_url": format!("{html}/pull/{n}#issuecomment-{id}"),
        "body": c.body,
        "user": payload::user(inner, &c.login, "User"),
        "created_at": iso(c.created_at),
        "updated_at": iso(c.updated_at),
        "issue_url": format!("{api}/issues/{n}"),
        "author_association": association(git, repo, &c.login),
        "performed_via_github_app": null,
        "reactions": rollup(&api, c),
        "pin": null,
        "minimized": null
    })
}

/// A reaction in GitHub's shape.
fn reaction_json(inner: &Inner, r: &Reaction) -> Value {
    json!({
        "id": r.id,
        "node_id": node_id("Reaction", &r.id.to_string()),
        "user": payload::user(inner, &r.login, "User"),
        "content": r.content,
        "created_at": iso(r.created_at)
    })
}

/// The `body` of a comment write, checked as GitHub checks it: present, a string, not blank and
/// shorter than [`MAX_BODY_CHARS`] characters.
fn comment_body(raw: &Bytes, doc: &str) -> Result<String, Refusal> {
    let object = json_object(raw, doc)?;
    let body = required_string(&object, "body", doc)?;
    if body.trim().is_empty() {
        return Err(Box::new(validation_failed(
            "IssueComment",
            "body",
            "missing_field",
            None,
            doc,
        )));
    }
    if body.chars().count() >= MAX_BODY_CHARS {
        return Err(Box::new(validation_failed(
            "IssueComment",
            "body",
            "custom",
            Some("body is too long (maximum is 65536 characters)"),
            doc,
        )));
    }
    Ok(body)
}

/// A 201 with `Location`.
fn created(body: &Value, location: &str) -> Response {
    let mut r = json_response(StatusCode::CREATED, body);
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(http::header::LOCATION, v);
    }
    r
}

/// Epoch seconds of an ISO 8601 `since`; `None` when absent or unreadable (GitHub then lists
/// everything).
fn since(q: &Params) -> Option<u64> {
    let t = humantime::parse_rfc3339_weak(q.get("since")?).ok()?;
    t.duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs())
}

/// `GET /repos/{owner}/{repo}/issues/{number}/comments`: ascending id, paginated.
pub(super) async fn list_comments(
    State(inner): State<Arc<Inner>>,
    path: Result<Path<(String, String, String)>, PathRejection>,
    Query(q): Query<Params>,
    RawQuery(raw): RawQuery,
    uri: Uri,
) -> Response {
    let (owner, name, number) = match numbered_path(path, LIST_DOC) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let (page, per_page) = paging(&q, 30);
    let since = since(&q);
    let git = inner.git();
    let Some(r) = find_repo(&inner, &git, &owner, &name).filter(|r| has_issue(r, number)) else {
        return not_found_with(LIST_DOC);
    };
    let all: Vec<&Comment> = git
        .collab
        .repo(&r.name)
        .map(|c| {
            c.comments_on(number)
                .filter(|c| since.is_none_or(|s| c.updated_at >= s))
                .collect()
        })
        .unwrap_or_default();
    let total = all.len();
    let body: Vec<Value> = all[page_range(total, page, per_page)]
        .iter()
        .map(|c| comment_json(&inner, &git, &r.name, c))
        .collect();
    let link = repo_link_header(&inner, r, &uri, raw.as_deref(), page, per_page, total);
    drop(git);
    with_link(ok(&Value::Array(body)), link)
}

/// `POST /repos/{owner}/{repo}/issues/{number}/comments`: written by the token's login.
pub(super) async fn create_comment(
    State(inner): State<Arc<Inner>>,
    path: Result<Path<(String, String, String)>, PathRejection>,
    raw: Bytes,
) -> Response {
    let (owner, name, number) = match numbered_path(path, CREATE_DOC) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let login = inner.ctl().token_login.clone();
    let mut git = inner.git();
    let Some(repo) = find_repo(&inner, &git, &owner, &name)
        .filter(|r| has_issue(r, number))
        .map(|r| r.name.clone())
    else {
        return not_found_with(CREATE_DOC);
    };
    let body = match comment_body(&raw, CREATE_DOC) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let now = git.tick();
    let id = git.collab.add_comment(&repo, number, &login, &body, now);
    let Some(c) = git.collab.comment(&repo, id) else {
        return not_found_with(CREATE_DOC);
    };
    let json = comment_json(&inner, &git, &repo, c);
    let location = format!("{}/issues/comments/{id}", inner.api_repo(&repo));
    drop(git);
    created(&json, &location)
}

/// The repository's name as created, when comment `id` is in it.
fn comment_repo(inner: &Inner, git: &GitState, owner: &str, name: &str, id: u64) -> Option<String> {
    let r = find_repo(inner, git, owner, name)?;
    git.collab.comment(&r.name, id).map(|_| r.name.clone())
}

/// `GET /repos/{owner}/{repo}/issues/comments/{comment_id}`.
pub(super) async fn get_comment(
    State(inner): State<Arc<Inner>>,
    path: Result<Path<(String, String, String)>, PathRejection>,
) -> Response {
    let (owner, name, id) = match numbered_path(path, GET_DOC) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let git = inner.git();
    let found = comment_repo(&inner, &git, &owner, &name, id)
        .and_then(|repo| Some((git.collab.comment(&repo, id)?, repo)));
    match found {
        Some((c, repo)) => ok(&comment_json(&inner, &git, &repo, c)),
        None => not_found_with(GET_DOC),
    }
}

/// `PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}`: a new body, a new `updated_at`.
pub(super) async fn update_comment(
    State(inner): State<Arc<Inner>>,
    path: Result<Path<(String, String, String)>, PathRejection>,
    raw: Bytes,
) -> Response {
    let (owner, name, id) = match numbered_path(path, UPDATE_DOC) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let mut git = inner.git();
    let Some(repo) = comment_repo(&inner, &git, &owner, &name, id) else {
        return not_found_with(UPDATE_DOC);
    };
    let body = match comment_body(&raw, UPDATE_DOC) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let now = git.tick();
    let Some(c) = git.collab.comment_mut(&repo, id) else {
        return not_found_with(UPDATE_DOC);
    };
    c.body = body;
    c.updated_at = now;
    let Some(c) = git.collab.comment(&repo, id) else {
        return not_found_with(UPDATE_DOC);
    };
    let json = comment_json(&inner, &git, &repo, c);
    drop(git);
    ok(&json)
}

/// `DELETE /repos/{owner}/{repo}/issues/comments/{comment_id}`: 204, its reactions go with it.
pub(super) async fn delete_comment(
    State(inner): State<Arc<Inner>>,
    path: Result<Path<(String, String, String)>, PathRejection>,
) -> Response {
    let (owner, name, id) = match numbered_path(path, DELETE_DOC) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let mut git = inner.git();
    let deleted = comment_repo(&inner, &git, &owner, &name, id)
        .is_some_and(|repo| git.collab.delete_comment(&repo, id));
    drop(git);
    if !deleted {
        return not_found_with(DELETE_DOC);
    }
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::NO_CONTENT;
    r
}

/// `POST /repos/{owner}/{repo}/issues/comments/{comment_id}/reactions`: 201 for a new
/// reaction, 200 with the existing one when the token's login already reacted with it.
pub(super) async fn create_reaction(
    State(inner): State<Arc<Inner>>,
    path: Result<Path<(String, String, String)>, PathRejection>,
    raw: Bytes,
) -> Response {
    let (owner, name, id) = match numbered_path(path, REACT_DOC) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let login = inner.ctl().token_login.clone();
    let mut git = inner.git();
    let Some(repo) = comment_repo(&inner, &git, &owner, &name, id) else {
        return not_found_with(REACT_DOC);
    };
    let content = match json_object(&raw, REACT_DOC)
        .and_then(|o| required_string(&o, "content", REACT_DOC))
    {
        Ok(c) => c,
        Err(r) => return *r,
    };
    if !REACTIONS.contains(&content.as_str()) {
        return validation_failed(
            "Reaction",
            "content",
            "custom",
            Some("content is not included in the list"),
            REACT_DOC,
        );
    }
    let now = git.tick();
    let Some((reaction, new)) = git.collab.react(&repo, id, &login, &content, now) else {
        return not_found_with(REACT_DOC);
    };
    drop(git);
    let json = reaction_json(&inner, &reaction);
    if new {
        json_response(StatusCode::CREATED, &json)
    } else {
        ok(&json)
    }
}
