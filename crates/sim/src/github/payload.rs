//! JSON bodies in GitHub's REST shapes.

use serde_json::{Value, json};

use super::Inner;
use super::encoding::node_id;
use super::state::{Commit, Comparison, FileSummary, Person, Pull, PullState, Repo, iso, make_sha};

/// Stable numeric id for a login.
fn user_id(login: &str) -> u64 {
    let h = make_sha(&["user", login]);
    let n = u64::from_str_radix(&h[..8], 16).unwrap_or(0);
    1_000_000 + n % 90_000_000
}

/// Whether `login` is the account of a GitHub App, such as `github-actions[bot]`.
pub(crate) fn is_bot(login: &str) -> bool {
    login.ends_with("[bot]")
}

/// A user (or organization) object. A `[bot]` login given as a `User` is a `Bot`, with the
/// app's page as `html_url` and the brackets escaped in its API URLs, as GitHub writes them.
pub(crate) fn user(inner: &Inner, login: &str, kind: &str) -> Value {
    let bot = kind == "User" && is_bot(login);
    let kind = if bot { "Bot" } else { kind };
    let id = user_id(login);
    let escaped = login.replace('[', "%5B").replace(']', "%5D");
    let api = format!("{}/users/{escaped}", inner.base_url);
    let (html_url, avatar_url) = if bot {
        let slug = login.trim_end_matches("[bot]");
        let app_id = user_id(slug) % 1_000_000;
        (
            format!("https://github.com/apps/{slug}"),
            format!("https://avatars.githubusercontent.com/in/{app_id}?v=4"),
        )
    } else {
        (
            format!("https://github.com/{login}"),
            format!("https://avatars.githubusercontent.com/u/{id}?v=4"),
        )
    };
    json!({
        "login": login,
        "id": id,
        "node_id": node_id(kind, &id.to_string()),
        "avatar_url": avatar_url,
        "gravatar_id": "",
        "url": api,
        "html_url": html_url,
        "followers_url": format!("{api}/followers"),
        "following_url": format!("{api}/following{{/other_user}}"),
        "gists_url": format!("{api}/gists{{/gist_id}}"),
        "starred_url": format!("{api}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{api}/subscriptions"),
        "organizations_url": format!("{api}/orgs"),
        "repos_url": format!("{api}/repos"),
        "events_url": format!("{api}/events{{/privacy}}"),
        "received_events_url": format!("{api}/received_events"),
        "type": kind,
        "user_view_type": "public",
        "site_admin": false
    })
}

/// Numeric id of the simulated organization.
pub(crate) fn org_id(inner: &Inner) -> u64 {
    user_id(&inner.org)
}

/// The `organization` object of webhook deliveries.
pub(crate) fn organization(inner: &Inner) -> Value {
    let org = &inner.org;
    let id = user_id(org);
    let api = format!("{}/orgs/{org}", inner.base_url);
    json!({
        "login": org,
        "id": id,
        "node_id": node_id("Organization", &id.to_string()),
        "url": api,
        "repos_url": format!("{api}/repos"),
        "events_url": format!("{api}/events"),
        "hooks_url": format!("{api}/hooks"),
        "issues_url": format!("{api}/issues"),
        "members_url": format!("{api}/members{{/member}}"),
        "public_members_url": format!("{api}/public_members{{/member}}"),
        "avatar_url": format!("https://avatars.githubusercontent.com/u/{id}?v=4"),
        "description": ""
    })
}

/// The `repository` object of webhook deliveries: a repository with its custom properties.
pub(crate) fn event_repo(inner: &Inner, r: &Repo) -> Value {
    let mut v = repo(inner, r);
    if let Some(o) = v.as_object_mut() {
        o.insert("custom_properties".to_owned(), json!({}));
    }
    v
}

/// A `pull_request` delivery with `action` for pull request `p`.
pub(crate) fn pull_request_event(inner: &Inner, r: &Repo, p: &Pull, action: &str) -> Value {
    let sender = p.merged_by.as_deref().unwrap_or(&p.user);
    let mut pull_request = pull(inner, r, p, true);
    for side in ["head", "base"] {
        if let Some(o) = pull_request[side]["repo"].as_object_mut() {
            o.insert("custom_properties".to_owned(), json!({}));
        }
    }
    json!({
        "action": action,
        "number": p.number,
        "pull_request": pull_request,
        "repository": event_repo(inner, r),
        "organization": organization(inner),
        "sender": user(inner, sender, "User")
    })
}

/// The organization as a repository owner.
pub(crate) fn org_owner(inner: &Inner) -> Value {
    user(inner, &inner.org, "Organization")
}

/// A repository object: every field of the org listing plus those of a full repository.
pub(crate) fn repo(inner: &Inner, r: &Repo) -> Value {
    let api = inner.api_repo(&r.name);
    let html = inner.html_repo(&r.name);
    let full_name = format!("{}/{}", inner.org, r.name);
    let open = r.open_pulls();
    let mut v = json!({
        "id": r.id,
        "node_id": node_id("Repository", &r.id.to_string()),
        "name": r.name,
        "full_name": full_name,
        "owner": org_owner(inner),
        "private": true,
        "html_url": html,
        "description": format!("The {} service", r.name),
        "fork": false,
        "url": api,
        "archive_url": format!("{api}/{{archive_format}}{{/ref}}"),
        "assignees_url": format!("{api}/assignees{{/user}}"),
        "blobs_url": format!("{api}/git/blobs{{/sha}}"),
        "branches_url": format!("{api}/branches{{/branch}}"),
        "collaborators_url": format!("{api}/collaborators{{/collaborator}}"),
        "comments_url": format!("{api}/comments{{/number}}"),
        "commits_url": format!("{api}/commits{{/sha}}"),
        "compare_url": format!("{api}/compare/{{base}}...{{head}}"),
        "contents_url": format!("{api}/contents/{{+path}}"),
        "contributors_url": format!("{api}/contributors"),
        "deployments_url": format!("{api}/deployments"),
        "downloads_url": format!("{api}/downloads"),
    });
    let urls = json!({
        "events_url": format!("{api}/events"),
        "forks_url": format!("{api}/forks"),
        "git_commits_url": format!("{api}/git/commits{{/sha}}"),
        "git_refs_url": format!("{api}/git/refs{{/sha}}"),
        "git_tags_url": format!("{api}/git/tags{{/sha}}"),
        "git_url": format!("git://github.com/{full_name}.git"),
        "issue_comment_url": format!("{api}/issues/comments{{/number}}"),
        "issue_events_url": format!("{api}/issues/events{{/number}}"),
        "issues_url": format!("{api}/issues{{/number}}"),
        "keys_url": format!("{api}/keys{{/key_id}}"),
        "labels_url": format!("{api}/labels{{/name}}"),
        "languages_url": format!("{api}/languages"),
        "merges_url": format!("{api}/merges"),
        "milestones_url": format!("{api}/milestones{{/number}}"),
        "notifications_url": format!("{api}/notifications{{?since,all,participating}}"),
        "pulls_url": format!("{api}/pulls{{/number}}"),
        "releases_url": format!("{api}/releases{{/id}}"),
        "ssh_url": format!("git@github.com:{full_name}.git"),
        "stargazers_url": format!("{api}/stargazers"),
        "statuses_url": format!("{api}/statuses/{{sha}}"),
        "subscribers_url": format!("{api}/subscribers"),
        "subscription_url": format!("{api}/subscription"),
        "tags_url": format!("{api}/tags"),
        "teams_url": format!("{api}/teams"),
        "trees_url": format!("{api}/git/trees{{/sha}}"),
        "clone_url": format!("https://github.com/{full_name}.git"),
        "mirror_url": null,
        "hooks_url": format!("{api}/hooks"),
        "svn_url": html,
    });
    let rest = json!({
        "homepage": null,
        "language": null,
        "forks_count": 0,
        "stargazers_count": 0,
        "watchers_count": 0,
        "size": 100 + r.commits.len() * 3,
        "default_branch": r.default_branch,
        "open_issues_count": open,
        "is_template": false,
        "topics": [],
        "has_issues": true,
        "has_projects": true,
        "has_wiki": false,
        "has_pages": false,
        "has_downloads": true,
        "has_discussions": false,
        "archived": r.archived,
        "disabled": false,
        "visibility": "private",
        "pushed_at": iso(r.pushed_at),
        "created_at": iso(r.created_at),
        "updated_at": iso(r.updated_at),
        "permissions": {"admin": false, "maintain": false, "push": true, "triage": true, "pull": true},
    });
    let settings = json!({
        "allow_rebase_merge": true,
        "template_repository": null,
        "temp_clone_token": "",
        "allow_squash_merge": true,
        "allow_auto_merge": false,
        "delete_branch_on_merge": false,
        "allow_merge_commit": true,
        "allow_update_branch": false,
        "use_squash_pr_title_as_default": false,
        "squash_merge_commit_title": "COMMIT_OR_PR_TITLE",
        "squash_merge_commit_message": "COMMIT_MESSAGES",
        "merge_commit_title": "MERGE_MESSAGE",
        "merge_commit_message": "PR_TITLE",
        "allow_forking": false,
        "web_commit_signoff_required": false,
        "subscribers_count": 3,
        "network_count": 0,
        "license": {
            "key": "apache-2.0",
            "name": "Apache License 2.0",
            "url": format!("{}/licenses/apache-2.0", inner.base_url),
            "spdx_id": "Apache-2.0",
            "node_id": "MDc6TGljZW5zZTI=",
            "html_url": "https://github.com/licenses/apache-2.0"
        },
        "forks": 0,
        "open_issues": open,
        "watchers": 0,
        "security_and_analysis": {
            "advanced_security": {"status": "disabled"},
            "secret_scanning": {"status": "enabled"},
            "secret_scanning_push_protection": {"status": "enabled"},
            "secret_scanning_non_provider_patterns": {"status": "disabled"},
            "secret_scanning_delegated_alert_dismissal": {"status": "disabled"}
        }
    });
    if let (Some(o), Value::Object(urls), Value::Object(rest)) = (v.as_object_mut(), urls, rest) {
        o.extend(urls);
        o.extend(rest);
        if let Value::Object(settings) = settings {
            o.extend(settings);
        }
        o.insert("organization".to_owned(), org_owner(inner));
    }
    v
}

fn git_person(p: &Person, time: u64) -> Value {
    json!({"name": p.name, "email": p.email, "date": iso(time)})
}

fn account(inner: &Inner, p: &Person) -> Value {
    match &p.login {
        Some(login) => user(inner, login, "User"),
        None => Value::Null,
    }
}

/// A commit as listed by compare and branch answers.
pub(crate) fn commit(inner: &Inner, repo: &str, c: &Commit) -> Value {
    let api = inner.api_repo(repo);
    let html = inner.html_repo(repo);
    let sha = &c.sha;
    json!({
        "url": format!("{api}/commits/{sha}"),
        "sha": sha,
        "node_id": node_id("Commit", sha),
        "html_url": format!("{html}/commit/{sha}"),
        "comments_url": format!("{api}/commits/{sha}/comments"),
        "commit": {
            "url": format!("{api}/git/commits/{sha}"),
            "author": git_person(&c.author, c.time),
            "committer": git_person(&c.committer, c.time),
            "message": c.message,
            "tree": {"url": format!("{api}/git/trees/{}", c.tree), "sha": c.tree},
            "comment_count": 0,
            "verification": {
                "verified": false,
                "reason": "unsigned",
                "signature": null,
                "payload": null,
                "verified_at": null
            }
        },
        "author": account(inner, &c.author),
        "committer": account(inner, &c.committer),
        "parents": c.parents.iter().map(|p| json!({
            "url": format!("{api}/commits/{p}"),
            "sha": p,
            "html_url": format!("{html}/commit/{p}")
        })).collect::<Vec<_>>()
    })
}

/// A branch with its head commit.
pub(crate) fn branch(inner: &Inner, repo: &str, name: &str, head: &Commit) -> Value {
    let api = inner.api_repo(repo);
    json!({
        "name": name,
        "commit": commit(inner, repo, head),
        "_links": {
            "self": format!("{api}/branches/{name}"),
            "html": format!("{}/tree/{name}", inner.html_repo(repo))
        },
        "protected": false,
        "protection": {
            "enabled": false,
            "required_status_checks": {
                "enforcement_level": "off",
                "contexts": [],
                "checks": []
            }
        },
        "protection_url": format!("{api}/branches/{name}/protection")
    })
}

/// A short branch entry as listed by `GET /repos/{o}/{r}/branches`.
pub(crate) fn branch_entry(inner: &Inner, repo: &str, name: &str, sha: &str) -> Value {
    json!({
        "name": name,
        "commit": {"sha": sha, "url": format!("{}/commits/{sha}", inner.api_repo(repo))},
        "protected": false
    })
}

/// One entry of a compare answer's `files`.
pub(crate) fn file(inner: &Inner, repo: &str, head_sha: &str, f: &FileSummary) -> Value {
    let html = inner.html_repo(repo);
    let api = inner.api_repo(repo);
    let name = &f.filename;
    json!({
        "sha": make_sha(&["blob", head_sha, name]),
        "filename": name,
        "status": f.status,
        "additions": f.additions,
        "deletions": f.deletions,
        "changes": f.additions + f.deletions,
        "blob_url": format!("{html}/blob/{head_sha}/{name}"),
        "raw_url": format!("{html}/raw/{head_sha}/{name}"),
        "contents_url": format!("{api}/contents/{name}?ref={head_sha}"),
        "patch": format!(
            "@@ -1,{} +1,{} @@",
            f.deletions.max(1),
            f.additions.max(1)
        )
    })
}

/// Compare answer for `basehead`, with the given slice of commits and files.
pub(crate) fn comparison(
    inner: &Inner,
    repo: &str,
    basehead: &str,
    cmp: &Comparison<'_>,
    commits: &[&Commit],
    files: &[FileSummary],
) -> Value {
    let html = inner.html_repo(repo);
    let org = &inner.org;
    let merge_base = cmp
        .merge_base
        .map_or(Value::Null, |m| commit(inner, repo, m));
    json!({
        "url": format!("{}/compare/{basehead}", inner.api_repo(repo)),
        "html_url": format!("{html}/compare/{basehead}"),
        "permalink_url": format!("{html}/compare/{org}:{}...{org}:{}", cmp.base.sha, cmp.head.sha),
        "diff_url": format!("{html}/compare/{basehead}.diff"),
        "patch_url": format!("{html}/compare/{basehead}.patch"),
        "base_commit": commit(inner, repo, cmp.base),
        "merge_base_commit": merge_base,
        "status": cmp.status(),
        "ahead_by": cmp.ahead.len(),
        "behind_by": cmp.behind_by,
        "total_commits": cmp.ahead.len(),
        "commits": commits.iter().map(|c| commit(inner, repo, c)).collect::<Vec<_>>(),
        "files": files.iter().map(|f| file(inner, repo, &cmp.head.sha, f)).collect::<Vec<_>>()
    })
}

fn pr_ref(inner: &Inner, r: &Repo, name: &str, sha: &str) -> Value {
    json!({
        "label": format!("{}:{name}", inner.org),
        "ref": name,
        "sha": sha,
        "user": org_owner(inner),
        "repo": repo(inner, r)
    })
}

/// A pull request; `single` adds the fields only `GET /pulls/{n}` has (such as `merged`).
pub(crate) fn pull(inner: &Inner, r: &Repo, p: &Pull, single: bool) -> Value {
    let api = inner.api_repo(&r.name);
    let html = inner.html_repo(&r.name);
    let n = p.number;
    let (head_sha, base_sha) = r.pull_shas(p);
    let merge_sha = p
        .merge_commit_sha
        .clone()
        .unwrap_or_else(|| make_sha(&["test-merge", &r.name, &n.to_string(), &head_sha]));
    let state = match p.state {
        PullState::Open => "open",
        PullState::Closed => "closed",
    };
    let links = json!({
        "self": {"href": format!("{api}/pulls/{n}")},
        "html": {"href": format!("{html}/pull/{n}")},
        "issue": {"href": format!("{api}/issues/{n}")},
        "comments": {"href": format!("{api}/issues/{n}/comments")},
        "review_comments": {"href": format!("{api}/pulls/{n}/comments")},
        "review_comment": {"href": format!("{api}/pulls/comments{{/number}}")},
        "commits": {"href": format!("{api}/pulls/{n}/commits")},
        "statuses": {"href": format!("{api}/statuses/{head_sha}")}
    });
    let mut v = json!({
        "url": format!("{api}/pulls/{n}"),
        "id": p.id,
        "node_id": node_id("PullRequest", &p.id.to_string()),
        "html_url": format!("{html}/pull/{n}"),
        "diff_url": format!("{html}/pull/{n}.diff"),
        "patch_url": format!("{html}/pull/{n}.patch"),
        "issue_url": format!("{api}/issues/{n}"),
        "commits_url": format!("{api}/pulls/{n}/commits"),
        "review_comments_url": format!("{api}/pulls/{n}/comments"),
        "review_comment_url": format!("{api}/pulls/comments{{/number}}"),
        "comments_url": format!("{api}/issues/{n}/comments"),
        "statuses_url": format!("{api}/statuses/{head_sha}"),
        "number": n,
        "state": state,
        "locked": false,
        "title": p.title,
        "user": user(inner, &p.user, "User"),
        "body": p.body,
        "labels": [],
        "milestone": null,
        "active_lock_reason": null,
        "created_at": iso(p.created_at),
        "updated_at": iso(p.updated_at),
        "closed_at": p.closed_at.map(iso),
        "merged_at": p.merged_at.map(iso),
        "merge_commit_sha": merge_sha,
        "assignee": null,
        "assignees": [],
        "requested_reviewers": [],
        "requested_teams": [],
        "head": pr_ref(inner, r, &p.head_ref, &head_sha),
        "base": pr_ref(inner, r, &p.base_ref, &base_sha),
        "_links": links,
        "author_association": "MEMBER",
        "auto_merge": null,
        "draft": false
    });
    if single {
        let (commits, additions, deletions, changed) = match r.compare(&base_sha, &head_sha) {
            Some(c) => {
                let files = c.files();
                (
                    c.ahead.len(),
                    files.iter().map(|f| f.additions).sum::<u64>(),
                    files.iter().map(|f| f.deletions).sum::<u64>(),
                    files.len(),
                )
            }
            None => (0, 0, 0, 0),
        };
        let merged = p.merged_at.is_some();
        let extra = json!({
            "merged": merged,
            "mergeable": if p.state == PullState::Open { json!(true) } else { Value::Null },
            "rebaseable": if p.state == PullState::Open { json!(true) } else { Value::Null },
            "mergeable_state": if p.state == PullState::Open { "clean" } else { "unknown" },
            "merged_by": p.merged_by.as_deref().map_or(Value::Null, |l| user(inner, l, "User")),
            "comments": 0,
            "review_comments": 0,
            "maintainer_can_modify": false,
            "commits": commits,
            "additions": additions,
            "deletions": deletions,
            "changed_files": changed
        });
        if let (Some(o), Value::Object(e)) = (v.as_object_mut(), extra) {
            o.extend(e);
        }
    }
    v
}

/// GitHub-style error body.
pub(crate) fn error(message: &str, documentation_url: &str, status: u16) -> Value {
    json!({
        "message": message,
        "documentation_url": documentation_url,
        "status": status.to_string()
    })
}
