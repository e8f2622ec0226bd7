//! What people and bots add to pull requests besides code: issue comments and their reactions,
//! commit statuses, reviews, and who may do what in a repository (permissions and the
//! `author_association` GitHub shows next to a login).
//!
//! Everything is kept per repository (keyed by lower-cased name, as GitHub looks repositories
//! up) with ids drawn from counters shared by the whole simulation, so that ascending ids are
//! creation order across repositories too.

use std::collections::{BTreeMap, HashMap};

use super::payload::is_bot;
use super::state::GitState;

/// Reaction contents GitHub accepts.
pub(crate) const REACTIONS: &[&str] = &[
    "+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes",
];

/// Commit status states GitHub accepts.
pub(crate) const STATUS_STATES: &[&str] = &["error", "failure", "pending", "success"];

/// Review states a review can be in.
pub(crate) const REVIEW_STATES: &[&str] = &[
    "APPROVED",
    "CHANGES_REQUESTED",
    "COMMENTED",
    "DISMISSED",
    "PENDING",
];

/// Fine-grained repository roles a login can hold, from most to least.
pub(crate) const ROLES: &[&str] = &["admin", "maintain", "write", "triage", "read", "none"];

/// `author_association` values GitHub reports.
pub(crate) const ASSOCIATIONS: &[&str] = &[
    "COLLABORATOR",
    "CONTRIBUTOR",
    "FIRST_TIMER",
    "FIRST_TIME_CONTRIBUTOR",
    "MANNEQUIN",
    "MEMBER",
    "NONE",
    "OWNER",
];

/// GitHub's limit on statuses per commit and context.
pub(crate) const MAX_STATUSES_PER_CONTEXT: usize = 1000;

/// One reaction to a comment.
#[derive(Debug, Clone)]
pub(crate) struct Reaction {
    pub id: u64,
    pub login: String,
    pub content: String,
    pub created_at: u64,
}

/// One comment on an issue or pull request.
#[derive(Debug, Clone)]
pub(crate) struct Comment {
    pub id: u64,
    /// Issue (or pull request) number.
    pub number: u64,
    pub login: String,
    pub body: String,
    pub created_at: u64,
    pub updated_at: u64,
    /// Oldest first.
    pub reactions: Vec<Reaction>,
}

/// One commit status.
#[derive(Debug, Clone)]
pub(crate) struct Status {
    pub id: u64,
    pub sha: String,
    pub state: String,
    pub description: Option<String>,
    pub target_url: Option<String>,
    pub context: String,
    pub creator: String,
    pub created_at: u64,
}

/// One pull-request review.
#[derive(Debug, Clone)]
pub(crate) struct Review {
    pub id: u64,
    pub number: u64,
    pub login: String,
    pub state: String,
    pub body: String,
    /// The head of the pull request when the review was made.
    pub commit_id: String,
    /// `None` while the review is pending.
    pub submitted_at: Option<u64>,
}

/// Comments, statuses, reviews and roles of one repository.
#[derive(Debug, Default)]
pub(crate) struct RepoCollab {
    /// By id, so iteration is creation order.
    pub comments: BTreeMap<u64, Comment>,
    /// Creation order.
    pub statuses: Vec<Status>,
    /// Creation order.
    pub reviews: Vec<Review>,
    /// Lower-cased login to fine-grained role.
    pub roles: HashMap<String, String>,
    /// Lower-cased login to the `author_association` a test chose for it.
    pub associations: HashMap<String, String>,
}

impl RepoCollab {
    /// The role of `login`; `none` when it was given none.
    pub fn role(&self, login: &str) -> &str {
        self.roles
            .get(&login.to_ascii_lowercase())
            .map_or("none", String::as_str)
    }

    /// Comments on issue `number`, oldest first.
    pub fn comments_on(&self, number: u64) -> impl Iterator<Item = &Comment> {
        self.comments.values().filter(move |c| c.number == number)
    }

    /// Statuses of `sha`, oldest first.
    pub fn statuses_of<'a>(&'a self, sha: &'a str) -> impl Iterator<Item = &'a Status> {
        self.statuses.iter().filter(move |s| s.sha == sha)
    }

    /// The newest status of each context of `sha` (contexts compared case-insensitively),
    /// ordered by the id of that newest status.
    pub fn latest_statuses<'a>(&'a self, sha: &'a str) -> Vec<&'a Status> {
        let mut newest: HashMap<String, &Status> = HashMap::new();
        for s in self.statuses_of(sha) {
            newest.insert(s.context.to_lowercase(), s);
        }
        let mut out: Vec<&Status> = newest.into_values().collect();
        out.sort_by_key(|s| s.id);
        out
    }
}

/// The legacy `permission` GitHub derives from a fine-grained role.
pub(crate) fn legacy_permission(role: &str) -> &'static str {
    match role {
        "admin" => "admin",
        "maintain" | "write" => "write",
        "triage" | "read" => "read",
        _ => "none",
    }
}

/// GitHub's combined state of the newest status of each context: `failure` if any is `error`
/// or `failure`, else `pending` if any is `pending` or there is none, else `success`.
pub(crate) fn combined_state<'a>(states: impl IntoIterator<Item = &'a str>) -> &'static str {
    let mut any = false;
    let mut pending = false;
    for s in states {
        any = true;
        match s {
            "error" | "failure" => return "failure",
            "pending" => pending = true,
            _ => {}
        }
    }
    if pending || !any {
        "pending"
    } else {
        "success"
    }
}

/// The `author_association` GitHub shows for `login` in repository `repo`: the one a test set,
/// else `NONE` for an app's bot, `MEMBER` for anyone given a role (every simulated repository
/// belongs to the organization), `CONTRIBUTOR` for an author of one of its commits, else `NONE`.
pub(crate) fn association(git: &GitState, repo: &str, login: &str) -> String {
    let collab = git.collab.repo(repo);
    if let Some(set) = collab.and_then(|r| r.associations.get(&login.to_ascii_lowercase())) {
        return set.clone();
    }
    if is_bot(login) {
        return "NONE".to_owned();
    }
    if collab.is_some_and(|r| r.role(login) != "none") {
        return "MEMBER".to_owned();
    }
    let authored = git.repo(repo).is_some_and(|r| {
        r.commits.values().any(|c| {
            c.author
                .login
                .as_deref()
                .is_some_and(|l| l.eq_ignore_ascii_case(login))
        })
    });
    if authored { "CONTRIBUTOR" } else { "NONE" }.to_owned()
}

/// Everything in this module for the whole organization, with the id counters.
#[derive(Debug)]
pub(crate) struct Collab {
    repos: HashMap<String, RepoCollab>,
    next_comment_id: u64,
    next_reaction_id: u64,
    next_status_id: u64,
    next_review_id: u64,
}

impl Default for Collab {
    fn default() -> Self {
        // Ids in the ranges GitHub hands out today, each kind counting on its own.
        Collab {
            repos: HashMap::new(),
            next_comment_id: 2_600_000_001,
            next_reaction_id: 310_000_001,
            next_status_id: 34_000_000_001,
            next_review_id: 2_900_000_001,
        }
    }
}

impl Collab {
    /// The data of a repository, if anything was ever added to it.
    pub fn repo(&self, name: &str) -> Option<&RepoCollab> {
        self.repos.get(&name.to_ascii_lowercase())
    }

    /// The data of a repository, created empty on first use.
    pub fn repo_mut(&mut self, name: &str) -> &mut RepoCollab {
        self.repos.entry(name.to_ascii_lowercase()).or_default()
    }

    /// Finds comment `id` of a repository.
    pub fn comment(&self, repo: &str, id: u64) -> Option<&Comment> {
        self.repo(repo)?.comments.get(&id)
    }

    /// Finds comment `id` of a repository for changing it.
    pub fn comment_mut(&mut self, repo: &str, id: u64) -> Option<&mut Comment> {
        self.repos
            .get_mut(&repo.to_ascii_lowercase())?
            .comments
            .get_mut(&id)
    }

    /// Adds a comment and returns its id.
    pub fn add_comment(
        &mut self,
        repo: &str,
        number: u64,
        login: &str,
        body: &str,
        now: u64,
    ) -> u64 {
        let id = self.next_comment_id;
        self.next_comment_id += 1;
        self.repo_mut(repo).comments.insert(
            id,
            Comment {
                id,
                number,
                login: login.to_owned(),
                body: body.to_owned(),
                created_at: now,
                updated_at: now,
                reactions: Vec::new(),
            },
        );
        id
    }

    /// Removes a comment; whether it existed.
    pub fn delete_comment(&mut self, repo: &str, id: u64) -> bool {
        self.repos
            .get_mut(&repo.to_ascii_lowercase())
            .and_then(|r| r.comments.remove(&id))
            .is_some()
    }

    /// Adds `login`'s reaction `content` to a comment, unless that login already reacted with
    /// it. Returns the reaction and whether it is new; `None` when there is no such comment.
    pub fn react(
        &mut self,
        repo: &str,
        id: u64,
        login: &str,
        content: &str,
        now: u64,
    ) -> Option<(Reaction, bool)> {
        let next = self.next_reaction_id;
        let comment = self.comment_mut(repo, id)?;
        if let Some(r) = comment
            .reactions
            .iter()
            .find(|r| r.content == content && r.login.eq_ignore_ascii_case(login))
        {
            return Some((r.clone(), false));
        }
        let reaction = Reaction {
            id: next,
            login: login.to_owned(),
            content: content.to_owned(),
            created_at: now,
        };
        comment.reactions.push(reaction.clone());
        self.next_reaction_id += 1;
        Some((reaction, true))
    }

    /// Records a status and returns it.
    pub fn add_status(&mut self, repo: &str, mut status: Status) -> Status {
        status.id = self.next_status_id;
        self.next_status_id += 1;
        self.repo_mut(repo).statuses.push(status.clone());
        status
    }

    /// Records a review and returns its id.
    pub fn add_review(&mut self, repo: &str, mut review: Review) -> u64 {
        let id = self.next_review_id;
        self.next_review_id += 1;
        review.id = id;
        self.repo_mut(repo).reviews.push(review);
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combined_state_follows_github() {
        assert_eq!(combined_state([]), "pending");
        assert_eq!(combined_state(["success", "success"]), "success");
        assert_eq!(combined_state(["success", "pending"]), "pending");
        assert_eq!(combined_state(["pending", "error"]), "failure");
        assert_eq!(combined_state(["failure", "success"]), "failure");
    }

    #[test]
    fn legacy_permissions_fold_the_fine_grained_roles() {
        let folded: Vec<&str> = ROLES.iter().map(|r| legacy_permission(r)).collect();
        assert_eq!(folded, ["admin", "write", "write", "read", "read", "none"]);
    }

    #[test]
    fn newest_status_per_context_ignores_case() {
        let mut c = Collab::default();
        let status = |context: &str, state: &str| Status {
            id: 0,
            sha: "abc".into(),
            state: state.into(),
            description: None,
            target_url: None,
            context: context.into(),
            creator: "bot".into(),
            created_at: 0,
        };
        c.add_status("svc", status("ci/Build", "pending"));
        c.add_status("svc", status("lint", "success"));
        c.add_status("SVC", status("CI/build", "failure"));
        let r = c.repo("svc").expect("repo");
        let latest: Vec<(&str, &str)> = r
            .latest_statuses("abc")
            .iter()
            .map(|s| (s.context.as_str(), s.state.as_str()))
            .collect();
        assert_eq!(latest, [("lint", "success"), ("CI/build", "failure")]);
    }

    #[test]
    fn a_second_identical_reaction_is_the_first() {
        let mut c = Collab::default();
        let id = c.add_comment("svc", 1, "dev", "hi", 10);
        let (first, new) = c.react("svc", id, "bot", "eyes", 11).expect("comment");
        assert!(new);
        let (again, new) = c.react("svc", id, "BOT", "eyes", 12).expect("comment");
        assert!(!new);
        assert_eq!(again.id, first.id);
        assert!(c.react("svc", id + 1, "bot", "eyes", 13).is_none());
    }
}
