//! Pull-request reviews and what a login may do in a repository.

use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, RawQuery, State};
use axum::response::Response;
use http::Uri;
use serde_json::{Value, json};

use super::collab::{Review, association, legacy_permission};
use super::encoding::node_id;
use super::rest::{
    Params, find_repo, not_found_with, numbered_path, ok, page_range, paging, repo_link_header,
    with_link,
};
use super::state::{GitState, iso};
use super::{Inner, payload};

const LIST_DOC: &str = "https://docs.github.com/rest/pulls/reviews#list-reviews-for-a-pull-request";
const PERMISSION_DOC: &str = "https://docs.github.com/rest/collaborators/collaborators#get-repository-permissions-for-a-user";

/// A review in GitHub's shape; a pending one has no `submitted_at`.
fn review_json(inner: &Inner, git: &GitState, repo: &str, r: &Review) -> Value {
    let api = inner.api_repo(repo);
    let html = format!(
        "{}/pull/{}#pullrequestreview-{}",
        inner.html_repo(repo),
        r.number,
        r.id
    );
    let pull = format!("{api}/pulls/{}", r.number);
    let mut v = json!({
        "id": r.id,
        "node_id": node_id("PullRequestReview", &r.id.to_string()),
        "user": payload::user(inner, &r.login, "User"),
        "body": r.body,
        "state": r.state,
        "html_url": html,
        "pull_request_url": pull,
        "_links": {"html": {"href": html}, "pull_request": {"href": pull}},
        "commit_id": r.commit_id,
        "author_association": association(git, repo, &r.login),
    });
    if let (Some(o), Some(at)) = (v.as_object_mut(), r.submitted_at) {
        o.insert("submitted_at".to_owned(), json!(iso(at)));
    }
    v
}

/// `GET /repos/{owner}/{repo}/pulls/{number}/reviews`: ascending id, paginated. Pending reviews
/// are only shown to their author, as on GitHub.
pub(super) async fn list_reviews(
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
    let viewer = inner.ctl().token_login.clone();
    let git = inner.git();
    let Some(r) = find_repo(&inner, &git, &owner, &name)
        .filter(|r| r.pulls.iter().any(|p| p.number == number))
    else {
        return not_found_with(LIST_DOC);
    };
    let all: Vec<&Review> = git.collab.repo(&r.name).map_or_else(Vec::new, |c| {
        c.reviews
            .iter()
            .filter(|v| v.number == number)
            .filter(|v| v.state != "PENDING" || v.login.eq_ignore_ascii_case(&viewer))
            .collect()
    });
    let total = all.len();
    let body: Vec<Value> = all[page_range(total, page, per_page)]
        .iter()
        .map(|v| review_json(&inner, &git, &r.name, v))
        .collect();
    let link = repo_link_header(&inner, r, &uri, raw.as_deref(), page, per_page, total);
    drop(git);
    with_link(ok(&Value::Array(body)), link)
}

/// Whether `login` can be a GitHub account name: letters, digits and single inner hyphens, at
/// most 39 characters; an app's bot account adds `[bot]`.
pub(crate) fn valid_login(login: &str) -> bool {
    let name = login.strip_suffix("[bot]").unwrap_or(login);
    !name.is_empty()
        && name.len() <= 39
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--")
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// The collaborator object of a permission answer: the user, the base permissions its role
/// grants and the role's name.
fn collaborator_json(inner: &Inner, login: &str, role: &str) -> Value {
    let rank = |r: &str| match r {
        "admin" => 5,
        "maintain" => 4,
        "write" => 3,
        "triage" => 2,
        "read" => 1,
        _ => 0,
    };
    let at_least = |r: &str| rank(role) >= rank(r);
    let mut v = payload::user(inner, login, "User");
    if let Some(o) = v.as_object_mut() {
        o.insert(
            "permissions".to_owned(),
            json!({
                "admin": at_least("admin"),
                "maintain": at_least("maintain"),
                "push": at_least("write"),
                "triage": at_least("triage"),
                "pull": at_least("read")
            }),
        );
        o.insert("role_name".to_owned(), json!(role));
    }
    v
}

/// `GET /repos/{owner}/{repo}/collaborators/{username}/permission`: the legacy `permission`
/// (`maintain` shows as `write`, `triage` as `read`) and the fine-grained `role_name`. Every
/// simulated repository is private, so a login without a role gets 200 with `none`, the answer
/// GitHub gives for an account that cannot see the repository; a name no account can have is
/// 404.
pub(super) async fn permission(
    State(inner): State<Arc<Inner>>,
    path: Result<Path<(String, String, String)>, PathRejection>,
) -> Response {
    let Ok(Path((owner, name, login))) = path else {
        return not_found_with(PERMISSION_DOC);
    };
    let git = inner.git();
    let Some(r) = find_repo(&inner, &git, &owner, &name) else {
        return not_found_with(PERMISSION_DOC);
    };
    if !valid_login(&login) {
        return not_found_with(PERMISSION_DOC);
    }
    let role = git
        .collab
        .repo(&r.name)
        .map_or("none", |c| c.role(&login))
        .to_owned();
    drop(git);
    ok(&json!({
        "permission": legacy_permission(&role),
        "role_name": role,
        "user": collaborator_json(&inner, &login, &role)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logins_follow_githubs_rules() {
        for good in [
            "octocat",
            "a",
            "dev-1",
            "github-actions[bot]",
            &"x".repeat(39),
        ] {
            assert!(valid_login(good), "{good}");
        }
        for bad in [
            "",
            "-dev",
            "dev-",
            "a--b",
            "has space",
            "ünï",
            &"x".repeat(40),
            "[bot]",
        ] {
            assert!(!valid_login(bad), "{bad}");
        }
    }
}
