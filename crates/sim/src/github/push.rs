//! `push` deliveries: a branch was created, moved or deleted.

use std::collections::HashSet;

use serde_json::{Map, Value, json};

use super::Inner;
use super::payload::{event_repo, org_owner, organization, user};
use super::state::{Commit, Person, Repo, iso};

/// `before` of a branch that did not exist, `after` of one that was deleted.
pub(crate) const ZERO_SHA: &str = "0000000000000000000000000000000000000000";

/// GitHub lists at most this many commits in one push delivery.
const MAX_COMMITS: usize = 2048;

/// Keys of a full repository answer that the `repository` of a push delivery does not have.
const NOT_IN_PUSH: &[&str] = &[
    "permissions",
    "security_and_analysis",
    "template_repository",
    "temp_clone_token",
    "allow_rebase_merge",
    "allow_squash_merge",
    "allow_auto_merge",
    "allow_merge_commit",
    "allow_update_branch",
    "delete_branch_on_merge",
    "use_squash_pr_title_as_default",
    "squash_merge_commit_title",
    "squash_merge_commit_message",
    "merge_commit_title",
    "merge_commit_message",
    "subscribers_count",
    "network_count",
];

/// One change of a branch head, as a push delivery reports it.
#[derive(Debug)]
pub(crate) struct BranchUpdate<'a> {
    pub branch: &'a str,
    /// Head before the change; `None` when the branch was created.
    pub before: Option<&'a str>,
    /// Head after the change; `None` when the branch was deleted.
    pub after: Option<&'a str>,
    /// Login of whoever pushed.
    pub pusher: &'a str,
}

/// A `push` delivery for one branch update of repository `r` (`r` already shows the new head).
///
/// `commits` lists the commits reachable from `after` but not from `before` (for a new branch:
/// not from any other branch), oldest first; `distinct` is false for commits another branch
/// already holds. `forced` is set when the new head does not descend from the old one.
pub(crate) fn push_event(inner: &Inner, r: &Repo, u: &BranchUpdate<'_>) -> Value {
    let html = inner.html_repo(&r.name);
    let before = u.before.unwrap_or(ZERO_SHA);
    let after = u.after.unwrap_or(ZERO_SHA);
    let mut compare = format!("{html}/compare/{}...{}", short(before), short(after));
    let (commits, head_commit, forced) = match u.after {
        None => (Vec::new(), Value::Null, false),
        Some(after) => {
            let elsewhere: HashSet<&str> = r
                .branches
                .iter()
                .filter(|(name, _)| name.as_str() != u.branch)
                .flat_map(|(_, sha)| r.ancestors(sha))
                .collect();
            let known = match u.before {
                Some(before) => r.ancestors(before),
                None => elsewhere.clone(),
            };
            let mut pushed: Vec<&Commit> = r
                .ancestors(after)
                .into_iter()
                .filter(|sha| !known.contains(sha))
                .filter_map(|sha| r.commits.get(sha))
                .collect();
            pushed.sort_by_key(|c| c.seq);
            pushed.truncate(MAX_COMMITS);
            if u.before.is_none() {
                compare = match pushed.as_slice() {
                    [] => format!("{html}/compare/{}", u.branch),
                    [_] => format!("{html}/commit/{after}"),
                    [first, ..] => {
                        format!("{html}/compare/{}^...{}", short(&first.sha), short(after))
                    }
                };
            }
            let entry = |c: &Commit| push_commit(inner, r, c, !elsewhere.contains(c.sha.as_str()));
            let commits: Vec<Value> = pushed.into_iter().map(entry).collect();
            let head = r.commits.get(after).map_or(Value::Null, entry);
            let forced = u.before.is_some_and(|b| !r.ancestors(after).contains(b));
            (commits, head, forced)
        }
    };
    json!({
        "ref": format!("refs/heads/{}", u.branch),
        "before": before,
        "after": after,
        "created": u.before.is_none(),
        "deleted": u.after.is_none(),
        "forced": forced,
        "base_ref": null,
        "compare": compare,
        "commits": commits,
        "head_commit": head_commit,
        "repository": push_repo(inner, r),
        "pusher": {
            "name": u.pusher,
            "email": format!("{}@users.noreply.github.com", u.pusher)
        },
        "organization": organization(inner),
        "sender": user(inner, u.pusher, "User")
    })
}

/// The first twelve characters of a sha, as GitHub abbreviates them in compare links.
fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

/// A git identity in a push delivery; `username` only when it belongs to a GitHub account.
fn identity(p: &Person) -> Value {
    let mut v = json!({"name": p.name, "email": p.email});
    if let (Some(login), Some(o)) = (&p.login, v.as_object_mut()) {
        o.insert("username".to_owned(), json!(login));
    }
    v
}

/// One entry of `commits` (or the `head_commit`). A path counts as added when no earlier commit
/// touched it and this one deletes no lines of it; the simulation never removes paths.
fn push_commit(inner: &Inner, r: &Repo, c: &Commit, distinct: bool) -> Value {
    let earlier: HashSet<&str> = r
        .ancestors(&c.sha)
        .into_iter()
        .filter(|sha| *sha != c.sha)
        .filter_map(|sha| r.commits.get(sha))
        .flat_map(|p| p.files.iter().map(|f| f.path.as_str()))
        .collect();
    let mut added: Vec<&str> = Vec::new();
    let mut modified: Vec<&str> = Vec::new();
    for f in &c.files {
        let path = f.path.as_str();
        if added.contains(&path) || modified.contains(&path) {
            continue;
        }
        if !earlier.contains(path) && f.deletions == 0 {
            added.push(path);
        } else {
            modified.push(path);
        }
    }
    json!({
        "id": c.sha,
        "tree_id": c.tree,
        "distinct": distinct,
        "message": c.message,
        "timestamp": iso(c.time),
        "url": format!("{}/commit/{}", inner.html_repo(&r.name), c.sha),
        "author": identity(&c.author),
        "committer": identity(&c.committer),
        "added": added,
        "removed": [],
        "modified": modified
    })
}

/// The `repository` of a push delivery, which differs from other events': the owner has a
/// `name` and `email`, `url` is the repository's page, `created_at` and `pushed_at` are epoch
/// seconds, `organization` is the org's login, and `stargazers` and `master_branch` are added.
fn push_repo(inner: &Inner, r: &Repo) -> Value {
    let mut v = event_repo(inner, r);
    if let Some(o) = v.as_object_mut() {
        for key in NOT_IN_PUSH {
            o.remove(*key);
        }
        let mut owner = Map::new();
        owner.insert("name".to_owned(), json!(inner.org));
        owner.insert("email".to_owned(), Value::Null);
        if let Value::Object(rest) = org_owner(inner) {
            owner.extend(rest);
        }
        o.insert("owner".to_owned(), Value::Object(owner));
        o.insert("url".to_owned(), json!(inner.html_repo(&r.name)));
        o.insert("created_at".to_owned(), json!(r.created_at));
        o.insert("pushed_at".to_owned(), json!(r.pushed_at));
        o.insert("stargazers".to_owned(), json!(0));
        o.insert("master_branch".to_owned(), json!(r.default_branch));
        o.insert("organization".to_owned(), json!(inner.org));
    }
    v
}
