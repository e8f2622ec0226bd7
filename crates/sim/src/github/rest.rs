//! REST routes: org repositories, repositories, branches, compare, pull requests, rate limit,
//! (in [`super::actions`]) GitHub Actions runs, jobs and job logs, and (in [`super::comments`],
//! [`super::statuses`] and [`super::reviews`]) issue comments with their reactions, commit
//! statuses, reviews and collaborator permissions.
//!
//! Repository routes answer under `/repos/{owner}/{repo}` and, as on GitHub, under
//! `/repositories/{id}`, the form GitHub writes into the `Link` headers of repository lists.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, RawQuery, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{get, post};
use http::{HeaderValue, Method, StatusCode, Uri};
use serde_json::{Map, Value, json};

use super::faults::{gate, json_response, now_epoch};
use super::state::{GitState, PullState, Repo, short_ref};
use super::{Inner, actions, app, comments, graphql, payload, reviews, statuses};

pub(super) type Params = HashMap<String, String>;

pub(super) const DOCS_ROOT: &str = "https://docs.github.com/rest";
/// Most commits a compare answer lists without paging.
const COMPARE_MAX_COMMITS: usize = 250;
/// Most files a compare answer lists.
const COMPARE_MAX_FILES: usize = 300;

/// The whole application below `prefix` (`""` for none): routes wrapped in the request gate,
/// behind the rewrite of `/repositories/{id}` paths.
pub(crate) fn router(inner: Arc<Inner>, prefix: &str) -> Router {
    let api = routes(inner.clone());
    let app = Router::new()
        .fallback_service(api)
        .layer(axum::middleware::from_fn_with_state(
            inner,
            by_repository_id,
        ));
    if prefix.is_empty() {
        app
    } else {
        Router::new().nest(prefix, app).fallback(not_found)
    }
}

/// Rewrites `/repositories/{id}/…` to `/repos/{org}/{name}/…` for a repository the sim has, so
/// that both spellings reach the same handlers.
async fn by_repository_id(
    State(inner): State<Arc<Inner>>,
    mut req: Request,
    next: Next,
) -> Response {
    if let Some(uri) = repository_id_uri(&inner, req.uri()) {
        *req.uri_mut() = uri;
    }
    next.run(req).await
}

fn repository_id_uri(inner: &Inner, uri: &Uri) -> Option<Uri> {
    let rest = uri.path().strip_prefix("/repositories/")?;
    let (id, tail) = rest.split_once('/').map_or((rest, ""), |(i, t)| (i, t));
    let id: u64 = id.parse().ok()?;
    let name = inner.git().repos().find(|r| r.id == id)?.name.clone();
    let mut path = format!("/repos/{}/{name}", inner.org);
    if !tail.is_empty() {
        path.push('/');
        path.push_str(tail);
    }
    if let Some(q) = uri.query() {
        path.push('?');
        path.push_str(q);
    }
    path.parse().ok()
}

fn routes(inner: Arc<Inner>) -> Router {
    Router::new()
        .route("/orgs/{org}/repos", get(org_repos))
        .route("/orgs/{org}/installation", get(app::org_installation))
        .route(
            "/app/installations/{installation_id}/access_tokens",
            post(app::create_access_token),
        )
        .route("/repos/{owner}/{repo}", get(get_repo))
        .route("/repos/{owner}/{repo}/branches", get(list_branches))
        .route("/repos/{owner}/{repo}/branches/{*branch}", get(get_branch))
        .route("/repos/{owner}/{repo}/compare/{*basehead}", get(compare))
        .route("/repos/{owner}/{repo}/pulls", get(list_pulls))
        .route("/repos/{owner}/{repo}/pulls/{number}", get(get_pull))
        .route(
            "/repos/{owner}/{repo}/pulls/{number}/reviews",
            get(reviews::list_reviews),
        )
        .route(
            "/repos/{owner}/{repo}/issues/{number}/comments",
            get(comments::list_comments).post(comments::create_comment),
        )
        .route(
            "/repos/{owner}/{repo}/issues/comments/{comment_id}",
            get(comments::get_comment)
                .patch(comments::update_comment)
                .delete(comments::delete_comment),
        )
        .route(
            "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions",
            post(comments::create_reaction),
        )
        .route(
            "/repos/{owner}/{repo}/statuses/{sha}",
            post(statuses::create_status),
        )
        .route(
            "/repos/{owner}/{repo}/commits/{ref}/status",
            get(statuses::combined_status),
        )
        .route(
            "/repos/{owner}/{repo}/commits/{ref}/statuses",
            get(statuses::list_statuses),
        )
        .route(
            "/repos/{owner}/{repo}/collaborators/{username}/permission",
            get(reviews::permission),
        )
        .route(
            "/repos/{owner}/{repo}/actions/workflows/{workflow_id}/runs",
            get(actions::list_workflow_runs),
        )
        .route(
            "/repos/{owner}/{repo}/actions/runs/{run_id}",
            get(actions::get_run),
        )
        .route(
            "/repos/{owner}/{repo}/actions/runs/{run_id}/jobs",
            get(actions::list_jobs),
        )
        .route(
            "/repos/{owner}/{repo}/actions/jobs/{job_id}/logs",
            get(actions::job_logs),
        )
        .route("/rate_limit", get(rate_limit))
        .route("/user", get(authenticated_user))
        .route("/graphql", post(graphql::endpoint))
        .fallback(not_found)
        .method_not_allowed_fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(inner.clone(), gate))
        .with_state(inner)
}

pub(super) fn not_found_with(doc: &str) -> Response {
    json_response(
        StatusCode::NOT_FOUND,
        &payload::error("Not Found", doc, 404),
    )
}

async fn not_found() -> Response {
    not_found_with(DOCS_ROOT)
}

pub(super) fn ok(body: &Value) -> Response {
    json_response(StatusCode::OK, body)
}

pub(super) fn with_link(mut r: Response, link: Option<String>) -> Response {
    if let Some(l) = link.and_then(|l| HeaderValue::from_str(&l).ok()) {
        r.headers_mut().insert(http::header::LINK, l);
    }
    r
}

/// `page` and `per_page` from the query, GitHub's way: per_page capped at 100, page from 1.
pub(super) fn paging(q: &Params, default_per_page: usize) -> (usize, usize) {
    let per_page = q
        .get("per_page")
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .map_or(default_per_page, |n| n.min(100));
    let page = q
        .get("page")
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&p| p > 0)
        .unwrap_or(1);
    (page, per_page)
}

/// Index range of `page` over `total` items.
pub(super) fn page_range(total: usize, page: usize, per_page: usize) -> std::ops::Range<usize> {
    let start = (page - 1).saturating_mul(per_page).min(total);
    let end = start.saturating_add(per_page).min(total);
    start..end
}

/// `Link` header for `page` of `total` items, keeping the other query parameters.
pub(super) fn link_header(
    inner: &Inner,
    uri: &Uri,
    raw: Option<&str>,
    page: usize,
    per_page: usize,
    total: usize,
) -> Option<String> {
    link_header_at(inner, uri.path(), raw, page, per_page, total)
}

/// `Link` header of a list below a repository: GitHub writes its URLs with the repository's id,
/// `{base}/repositories/{id}/…`, rather than with the owner and name the client asked with.
pub(super) fn repo_link_header(
    inner: &Inner,
    repo: &Repo,
    uri: &Uri,
    raw: Option<&str>,
    page: usize,
    per_page: usize,
    total: usize,
) -> Option<String> {
    // The path is always `/repos/{owner}/{repo}/…` here, `/repositories/{id}` having been
    // rewritten before routing.
    let below = uri.path().splitn(5, '/').nth(4).unwrap_or("");
    let path = format!("/repositories/{}/{below}", repo.id);
    link_header_at(inner, &path, raw, page, per_page, total)
}

fn link_header_at(
    inner: &Inner,
    path: &str,
    raw: Option<&str>,
    page: usize,
    per_page: usize,
    total: usize,
) -> Option<String> {
    let last = total.div_ceil(per_page).max(1);
    let url_for = |p: usize| {
        let mut pairs: Vec<String> = raw
            .unwrap_or("")
            .split('&')
            .filter(|s| !s.is_empty())
            .filter(|s| s.split('=').next() != Some("page"))
            .map(str::to_owned)
            .collect();
        pairs.push(format!("page={p}"));
        format!("{}{path}?{}", inner.base_url, pairs.join("&"))
    };
    let mut links = Vec::new();
    if page > 1 {
        links.push(format!("<{}>; rel=\"prev\"", url_for((page - 1).min(last))));
    }
    if page < last {
        links.push(format!("<{}>; rel=\"next\"", url_for(page + 1)));
        links.push(format!("<{}>; rel=\"last\"", url_for(last)));
    }
    if page > 1 {
        links.push(format!("<{}>; rel=\"first\"", url_for(1)));
    }
    (!links.is_empty()).then(|| links.join(", "))
}

/// The repository `owner/name` when `owner` is the simulated organization.
pub(super) fn find_repo<'a>(
    inner: &Inner,
    git: &'a GitState,
    owner: &str,
    name: &str,
) -> Option<&'a Repo> {
    if !owner.eq_ignore_ascii_case(&inner.org) {
        return None;
    }
    git.repo(name)
}

async fn org_repos(
    State(inner): State<Arc<Inner>>,
    path: Result<Path<String>, PathRejection>,
    Query(q): Query<Params>,
    RawQuery(raw): RawQuery,
    uri: Uri,
) -> Response {
    let doc = "https://docs.github.com/rest/repos/repos#list-organization-repositories";
    let Ok(Path(org)) = path else {
        return not_found_with(doc);
    };
    if !org.eq_ignore_ascii_case(&inner.org) {
        return not_found_with(doc);
    }
    let (page, per_page) = paging(&q, 30);
    let git = inner.git();
    let mut repos: Vec<&Repo> = match q.get("type").map(String::as_str) {
        // Every simulated repository is private and none is a fork.
        Some("public" | "forks") => Vec::new(),
        _ => git.repos().collect(),
    };
    let sort = q.get("sort").map_or("full_name", String::as_str);
    let default_dir = if sort == "full_name" { "asc" } else { "desc" };
    let desc = q.get("direction").map_or(default_dir, String::as_str) == "desc";
    match sort {
        "created" => repos.sort_by_key(|r| (r.created_at, r.id)),
        "updated" => repos.sort_by_key(|r| (r.updated_at, r.id)),
        "pushed" => repos.sort_by_key(|r| (r.pushed_at, r.id)),
        _ => repos.sort_by_key(|r| r.name.to_ascii_lowercase()),
    }
    if desc {
        repos.reverse();
    }
    let total = repos.len();
    let body: Vec<Value> = repos[page_range(total, page, per_page)]
        .iter()
        .map(|r| payload::repo(&inner, r))
        .collect();
    drop(git);
    let link = link_header(&inner, &uri, raw.as_deref(), page, per_page, total);
    with_link(ok(&Value::Array(body)), link)
}

async fn get_repo(
    State(inner): State<Arc<Inner>>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Response {
    let doc = "https://docs.github.com/rest/repos/repos#get-a-repository";
    let Ok(Path((owner, name))) = path else {
        return not_found_with(doc);
    };
    let git = inner.git();
    match find_repo(&inner, &git, &owner, &name) {
        Some(r) => ok(&payload::repo(&inner, r)),
        None => not_found_with(doc),
    }
}

async fn list_branches(
    State(inner): State<Arc<Inner>>,
    path: Result<Path<(String, String)>, PathRejection>,
    Query(q): Query<Params>,
    RawQuery(raw): RawQuery,
    uri: Uri,
) -> Response {
    let doc = "https://docs.github.com/rest/branches/branches#list-branches";
    let Ok(Path((owner, name))) = path else {
        return not_found_with(doc);
    };
    let (page, per_page) = paging(&q, 30);
    let git = inner.git();
    let Some(r) = find_repo(&inner, &git, &owner, &name) else {
        return not_found_with(doc);
    };
    let all: Vec<(&String, &String)> = r.branches.iter().collect();
    let total = all.len();
    let body: Vec<Value> = all[page_range(total, page, per_page)]
        .iter()
        .map(|(b, sha)| payload::branch_entry(&inner, &r.name, b, sha))
        .collect();
    drop(git);
    let link = link_header(&inner, &uri, raw.as_deref(), page, per_page, total);
    with_link(ok(&Value::Array(body)), link)
}

async fn get_branch(
    State(inner): State<Arc<Inner>>,
    path: Result<Path<(String, String, String)>, PathRejection>,
) -> Response {
    let doc = "https://docs.github.com/rest/branches/branches#get-a-branch";
    let Ok(Path((owner, name, branch))) = path else {
        return not_found_with(doc);
    };
    let git = inner.git();
    let Some(r) = find_repo(&inner, &git, &owner, &name) else {
        return not_found_with(doc);
    };
    let head = r.branches.get(&branch).and_then(|s| r.commits.get(s));
    match head {
        Some(c) => ok(&payload::branch(&inner, &r.name, &branch, c)),
        None => json_response(
            StatusCode::NOT_FOUND,
            &payload::error("Branch not found", doc, 404),
        ),
    }
}

async fn compare(
    State(inner): State<Arc<Inner>>,
    path: Result<Path<(String, String, String)>, PathRejection>,
    Query(q): Query<Params>,
    RawQuery(raw): RawQuery,
    uri: Uri,
) -> Response {
    let doc = "https://docs.github.com/rest/commits/commits#compare-two-commits";
    let Ok(Path((owner, name, basehead))) = path else {
        return not_found_with(doc);
    };
    let Some((base, head)) = basehead
        .split_once("...")
        .or_else(|| basehead.split_once(".."))
    else {
        return not_found_with(doc);
    };
    let git = inner.git();
    let Some(r) = find_repo(&inner, &git, &owner, &name) else {
        return not_found_with(doc);
    };
    let (Some(base_sha), Some(head_sha)) = (r.resolve(base), r.resolve(head)) else {
        return not_found_with(doc);
    };
    let Some(cmp) = r.compare(&base_sha, &head_sha) else {
        return not_found_with(doc);
    };
    if cmp.merge_base.is_none() {
        let msg = format!(
            "No common ancestor between {} and {}.",
            short_ref(base),
            short_ref(head)
        );
        return json_response(StatusCode::NOT_FOUND, &payload::error(&msg, doc, 404));
    }
    let total = cmp.ahead.len();
    let paged = q.contains_key("page") || q.contains_key("per_page");
    let mut files = cmp.files();
    files.truncate(COMPARE_MAX_FILES);
    let (commits, files, link) = if paged {
        let (page, per_page) = paging(&q, 30);
        let commits = &cmp.ahead[page_range(total, page, per_page)];
        let files = if page == 1 { files } else { Vec::new() };
        let link = link_header(&inner, &uri, raw.as_deref(), page, per_page, total);
        (commits, files, link)
    } else {
        let skip = total.saturating_sub(COMPARE_MAX_COMMITS);
        (&cmp.ahead[skip..], files, None)
    };
    let body = payload::comparison(&inner, &r.name, &basehead, &cmp, commits, &files);
    drop(git);
    with_link(ok(&body), link)
}

async fn list_pulls(
    State(inner): State<Arc<Inner>>,
    path: Result<Path<(String, String)>, PathRejection>,
    Query(q): Query<Params>,
    RawQuery(raw): RawQuery,
    uri: Uri,
) -> Response {
    let doc = "https://docs.github.com/rest/pulls/pulls#list-pull-requests";
    let Ok(Path((owner, name))) = path else {
        return not_found_with(doc);
    };
    let (page, per_page) = paging(&q, 30);
    let git = inner.git();
    let Some(r) = find_repo(&inner, &git, &owner, &name) else {
        return not_found_with(doc);
    };
    let state = q.get("state").map_or("open", String::as_str);
    // GitHub only honours `head` in the `owner:ref` form and ignores it otherwise.
    let head = q.get("head").and_then(|h| h.split_once(':'));
    let base = q.get("base");
    let mut pulls: Vec<_> = r
        .pulls
        .iter()
        .filter(|p| match state {
            "closed" => p.state == PullState::Closed,
            "all" => true,
            _ => p.state == PullState::Open,
        })
        .filter(|p| head.is_none_or(|(o, h)| o.eq_ignore_ascii_case(&inner.org) && p.head_ref == h))
        .filter(|p| base.is_none_or(|b| &p.base_ref == b))
        .collect();
    let sort = q.get("sort").map_or("created", String::as_str);
    match sort {
        "updated" => pulls.sort_by_key(|p| (p.updated_at, p.number)),
        _ => pulls.sort_by_key(|p| (p.created_at, p.number)),
    }
    if q.get("direction").map_or("desc", String::as_str) != "asc" {
        pulls.reverse();
    }
    let total = pulls.len();
    let body: Vec<Value> = pulls[page_range(total, page, per_page)]
        .iter()
        .map(|p| payload::pull(&inner, r, p, false))
        .collect();
    drop(git);
    let link = link_header(&inner, &uri, raw.as_deref(), page, per_page, total);
    with_link(ok(&Value::Array(body)), link)
}

async fn get_pull(
    State(inner): State<Arc<Inner>>,
    path: Result<Path<(String, String, String)>, PathRejection>,
) -> Response {
    let doc = "https://docs.github.com/rest/pulls/pulls#get-a-pull-request";
    let Ok(Path((owner, name, number))) = path else {
        return not_found_with(doc);
    };
    let Ok(number) = number.parse::<u64>() else {
        return not_found_with(doc);
    };
    let git = inner.git();
    let Some(r) = find_repo(&inner, &git, &owner, &name) else {
        return not_found_with(doc);
    };
    match r.pulls.iter().find(|p| p.number == number) {
        Some(p) => ok(&payload::pull(&inner, r, p, true)),
        None => not_found_with(doc),
    }
}

/// Where GitHub's documentation describes a write, for the errors it answers with.
pub(crate) fn write_doc(method: &Method, path: &str) -> &'static str {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method.as_str(), segments.as_slice()) {
        ("POST", ["repos", _, _, "issues", "comments", _, "reactions"]) => comments::REACT_DOC,
        ("POST", ["repos", _, _, "issues", _, "comments"]) => comments::CREATE_DOC,
        ("PATCH", ["repos", _, _, "issues", "comments", _]) => comments::UPDATE_DOC,
        ("DELETE", ["repos", _, _, "issues", "comments", _]) => comments::DELETE_DOC,
        ("POST", ["repos", _, _, "statuses", _]) => statuses::CREATE_DOC,
        _ => DOCS_ROOT,
    }
}

/// An error answer with GitHub's body: `message`, `documentation_url` and `status`.
pub(super) fn error_response(status: StatusCode, message: &str, doc: &str) -> Response {
    json_response(status, &payload::error(message, doc, status.as_u16()))
}

/// GitHub's 422 `Validation Failed` answer for one field of a `resource`.
pub(super) fn validation_failed(
    resource: &str,
    field: &str,
    code: &str,
    message: Option<&str>,
    doc: &str,
) -> Response {
    let mut error = json!({"resource": resource, "code": code, "field": field});
    if let (Some(m), Some(o)) = (message, error.as_object_mut()) {
        o.insert("message".to_owned(), json!(m));
    }
    json_response(
        StatusCode::UNPROCESSABLE_ENTITY,
        &json!({
            "message": "Validation Failed",
            "errors": [error],
            "documentation_url": doc,
            "status": "422"
        }),
    )
}

/// An error answer ready to send, boxed so that results carrying one stay small.
pub(super) type Refusal = Box<Response>;

/// A request body as GitHub reads it: a JSON object, or the 400/422 GitHub answers otherwise.
pub(super) fn json_object(body: &Bytes, doc: &str) -> Result<Map<String, Value>, Refusal> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(o)) => Ok(o),
        Ok(other) => Err(Box::new(error_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("Invalid request.\n\nFor 'links/0/schema', {other} is not an object."),
            doc,
        ))),
        Err(_) => Err(Box::new(error_response(
            StatusCode::BAD_REQUEST,
            "Problems parsing JSON",
            doc,
        ))),
    }
}

/// A string member of a request body: `Ok(None)` when it is absent (or, with `nullable`,
/// `null`); the 422 GitHub's request schema check answers when it has another type.
pub(super) fn string_field(
    body: &Map<String, Value>,
    name: &str,
    nullable: bool,
    doc: &str,
) -> Result<Option<String>, Refusal> {
    match body.get(name) {
        None => Ok(None),
        Some(Value::Null) if nullable => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(Box::new(error_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("Invalid request.\n\nFor 'properties/{name}', {other} is not a string."),
            doc,
        ))),
    }
}

/// A required string member of a request body, or the 422 for one that was not supplied.
pub(super) fn required_string(
    body: &Map<String, Value>,
    name: &str,
    doc: &str,
) -> Result<String, Refusal> {
    string_field(body, name, false, doc)?.ok_or_else(|| {
        Box::new(error_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("Invalid request.\n\n\"{name}\" wasn't supplied."),
            doc,
        ))
    })
}

/// A number from a path segment, or the 404 GitHub answers for anything else there.
fn path_number(segment: &str, doc: &str) -> Result<u64, Refusal> {
    segment
        .parse::<u64>()
        .map_err(|_| Box::new(not_found_with(doc)))
}

/// Owner, repository and the number (an issue, a pull request, a comment) of a
/// `/repos/{owner}/{repo}/…/{number}` path, or GitHub's 404 for a bad one.
pub(super) fn numbered_path(
    path: Result<Path<(String, String, String)>, PathRejection>,
    doc: &str,
) -> Result<(String, String, u64), Refusal> {
    let Ok(Path((owner, name, number))) = path else {
        return Err(Box::new(not_found_with(doc)));
    };
    Ok((owner, name, path_number(&number, doc)?))
}

/// `GET /user`: the account the token belongs to. An app's installation token (a `[bot]`
/// login, such as Actions' `GITHUB_TOKEN`) is refused, as GitHub refuses it.
async fn authenticated_user(State(inner): State<Arc<Inner>>) -> Response {
    let login = inner.ctl().token_login.clone();
    if payload::is_bot(&login) {
        return json_response(
            StatusCode::FORBIDDEN,
            &payload::error(
                "Resource not accessible by integration",
                &format!("{DOCS_ROOT}/users/users#get-the-authenticated-user"),
                403,
            ),
        );
    }
    let mut body = payload::user(&inner, &login, "User");
    if let Some(map) = body.as_object_mut() {
        for (key, value) in [
            ("name", json!(login)),
            ("company", Value::Null),
            ("blog", json!("")),
            ("location", Value::Null),
            ("email", Value::Null),
            ("hireable", Value::Null),
            ("bio", Value::Null),
            ("public_repos", json!(0)),
            ("public_gists", json!(0)),
            ("followers", json!(0)),
            ("following", json!(0)),
            ("created_at", json!("2020-01-01T00:00:00Z")),
            ("updated_at", json!("2020-01-01T00:00:00Z")),
        ] {
            map.insert(key.to_owned(), value);
        }
    }
    ok(&body)
}

async fn rate_limit(State(inner): State<Arc<Inner>>) -> Response {
    let now = now_epoch();
    let (core, gql) = {
        let mut ctl = inner.ctl();
        let c = *ctl.bucket(super::RateResource::Core);
        let g = *ctl.bucket(super::RateResource::Graphql);
        (c, g)
    };
    let b = |limit: u64, used: u64, reset: u64| json!({"limit": limit, "used": used, "remaining": limit - used, "reset": reset});
    let window = now + 3600;
    let minute = now + 60;
    let core_v = b(core.limit, core.used(), core.reset);
    let body = json!({
        "resources": {
            "core": core_v,
            "search": b(30, 0, minute),
            "graphql": b(gql.limit, gql.used(), gql.reset),
            "integration_manifest": b(5000, 0, window),
            "source_import": b(100, 0, minute),
            "actions_runner_registration": b(10000, 0, window),
            "scim": b(15000, 0, window),
            "dependency_snapshots": b(100, 0, minute),
            "code_search": b(10, 0, minute),
            "code_scanning_autofix": b(10, 0, minute)
        },
        "rate": core_v
    });
    ok(&body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_clamped() {
        let q: Params = [("per_page", "500"), ("page", "0")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        assert_eq!(paging(&q, 30), (1, 100));
        assert_eq!(page_range(5, 3, 2), 4..5);
        assert_eq!(page_range(5, 9, 2), 5..5);
    }
}
