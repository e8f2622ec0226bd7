//! The simulated organization: repositories, a commit DAG per repository, branches and pull
//! requests, GitHub Actions (in [`super::runs`]), plus a simulated clock so that every timestamp
//! is deterministic.

use std::collections::{BTreeMap, HashMap, HashSet};

use sha2::{Digest, Sha256};

use super::collab::Collab;
use super::runs::Actions;
use super::{CommitSpec, FileChange};

/// First instant of the simulated clock: 2026-01-05T09:00:00Z.
pub(crate) const CLOCK_START: u64 = 1_767_603_600;
/// How far the simulated clock moves for each commit or pull-request event.
const CLOCK_STEP: u64 = 60;

/// Login that acts when a test names nobody: opens pull requests, pushes branches.
pub(crate) const DEFAULT_LOGIN: &str = "release-manager";

/// A person as recorded in a commit (git identity, not a GitHub account).
#[derive(Debug, Clone)]
pub(crate) struct Person {
    pub name: String,
    pub email: String,
    /// GitHub account linked to this identity, if any.
    pub login: Option<String>,
}

/// One commit of the DAG.
#[derive(Debug, Clone)]
pub(crate) struct Commit {
    pub sha: String,
    pub tree: String,
    pub parents: Vec<String>,
    pub message: String,
    pub author: Person,
    pub committer: Person,
    /// Simulated epoch seconds.
    pub time: u64,
    /// Global creation order; a descendant always has a larger value than its ancestors.
    pub seq: u64,
    pub files: Vec<FileChange>,
}

/// Open or closed, as GitHub says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PullState {
    Open,
    Closed,
}

/// A pull request between two branches of the same repository.
#[derive(Debug, Clone)]
pub(crate) struct Pull {
    pub id: u64,
    pub number: u64,
    pub title: String,
    pub body: String,
    pub user: String,
    pub head_ref: String,
    pub base_ref: String,
    /// Head and base commits frozen when the pull request was closed or merged.
    pub frozen: Option<(String, String)>,
    pub state: PullState,
    pub created_at: u64,
    pub updated_at: u64,
    pub closed_at: Option<u64>,
    pub merged_at: Option<u64>,
    pub merge_commit_sha: Option<String>,
    pub merged_by: Option<String>,
}

/// One repository of the organization.
#[derive(Debug, Clone)]
pub(crate) struct Repo {
    pub id: u64,
    pub name: String,
    pub archived: bool,
    pub default_branch: String,
    pub created_at: u64,
    pub pushed_at: u64,
    pub updated_at: u64,
    pub branches: BTreeMap<String, String>,
    pub commits: HashMap<String, Commit>,
    pub pulls: Vec<Pull>,
    /// Issue and pull-request numbers share one sequence, as on GitHub.
    pub next_number: u64,
}

/// Outcome of comparing two commits of one repository.
#[derive(Debug)]
pub(crate) struct Comparison<'a> {
    pub base: &'a Commit,
    pub head: &'a Commit,
    pub merge_base: Option<&'a Commit>,
    /// Commits reachable from head but not from base, oldest first.
    pub ahead: Vec<&'a Commit>,
    pub behind_by: usize,
    /// Paths touched by history that both sides share (used to tell added from modified).
    pub common_paths: HashSet<&'a str>,
}

/// Aggregate of one path over a range of commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileSummary {
    pub filename: String,
    pub status: &'static str,
    pub additions: u64,
    pub deletions: u64,
}

impl Comparison<'_> {
    /// `ahead`, `behind`, `diverged` or `identical`.
    pub fn status(&self) -> &'static str {
        match (self.ahead.len(), self.behind_by) {
            (0, 0) => "identical",
            (_, 0) => "ahead",
            (0, _) => "behind",
            _ => "diverged",
        }
    }

    /// Per-path totals of the commits in the range, sorted by path. A path is `added` when no
    /// shared history touched it and its first change in the range deletes nothing.
    pub fn files(&self) -> Vec<FileSummary> {
        // (additions, deletions, deletions of the first change)
        let mut acc: BTreeMap<&str, (u64, u64, u64)> = BTreeMap::new();
        for c in &self.ahead {
            for f in &c.files {
                let e = acc.entry(f.path.as_str()).or_insert((0, 0, f.deletions));
                e.0 += f.additions;
                e.1 += f.deletions;
            }
        }
        acc.into_iter()
            .map(|(path, (additions, deletions, first_deletions))| {
                let status = if !self.common_paths.contains(path) && first_deletions == 0 {
                    "added"
                } else {
                    "modified"
                };
                FileSummary {
                    filename: path.to_owned(),
                    status,
                    additions,
                    deletions,
                }
            })
            .collect()
    }
}

/// Everything the simulated GitHub knows about its organization.
#[derive(Debug)]
pub(crate) struct GitState {
    pub org: String,
    /// Keyed by lower-cased name: GitHub looks names up case-insensitively.
    repos: BTreeMap<String, Repo>,
    clock: u64,
    /// Ticks follow the real time (never going back) instead of fixed steps.
    real_time: bool,
    seq: u64,
    next_repo_id: u64,
    next_pull_id: u64,
    /// GitHub Actions: workflows, runs and jobs.
    pub actions: Actions,
    /// Comments, reactions, commit statuses, reviews and roles.
    pub collab: Collab,
}

/// Forty lowercase hex characters derived from the given parts.
pub(crate) fn make_sha(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    let mut s = hex::encode(h.finalize());
    s.truncate(40);
    s
}

/// `2026-01-05T09:00:00Z` style timestamp of simulated epoch seconds.
pub(crate) fn iso(epoch: u64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(epoch);
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Strips `refs/heads/` and an `owner:` prefix from a ref name.
pub(crate) fn short_ref(spec: &str) -> &str {
    let spec = spec.rsplit_once(':').map_or(spec, |(_, r)| r);
    spec.strip_prefix("refs/heads/").unwrap_or(spec)
}

impl GitState {
    pub fn new(org: &str) -> Self {
        GitState {
            org: org.to_owned(),
            repos: BTreeMap::new(),
            clock: CLOCK_START,
            real_time: false,
            seq: 0,
            next_repo_id: 700_000_001,
            next_pull_id: 2_100_000_001,
            actions: Actions::default(),
            collab: Collab::default(),
        }
    }

    /// The simulated clock, without moving it.
    pub fn now(&self) -> u64 {
        self.clock
    }

    /// Advances the simulated clock one step and returns the new time.
    pub fn tick(&mut self) -> u64 {
        self.clock = if self.real_time {
            (self.clock + 1).max(super::faults::now_epoch())
        } else {
            self.clock + CLOCK_STEP
        };
        self.clock
    }

    /// From now on, changes are stamped with the real time.
    pub fn use_real_time(&mut self) {
        self.real_time = true;
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Repositories in name order.
    pub fn repos(&self) -> impl Iterator<Item = &Repo> {
        self.repos.values()
    }

    pub fn repo(&self, name: &str) -> Option<&Repo> {
        self.repos.get(&name.to_ascii_lowercase())
    }

    pub fn repo_mut(&mut self, name: &str) -> Option<&mut Repo> {
        self.repos.get_mut(&name.to_ascii_lowercase())
    }

    fn repo_or_panic(&mut self, name: &str) -> &mut Repo {
        let org = self.org.clone();
        self.repo_mut(name)
            .unwrap_or_else(|| panic!("simulated GitHub: no repository {org}/{name}"))
    }

    /// Creates a repository whose default branch `main` holds one root commit.
    pub fn add_repo(&mut self, name: &str) {
        if self.repo(name).is_some() {
            return;
        }
        let now = self.tick();
        let seq = self.next_seq();
        let id = self.next_repo_id;
        self.next_repo_id += 1;
        let sha = make_sha(&["commit", &self.org, name, "root", &seq.to_string()]);
        let root = Commit {
            tree: make_sha(&["tree", &sha]),
            sha: sha.clone(),
            parents: Vec::new(),
            message: "Initial commit".to_owned(),
            author: Person {
                name: "Platform Team".to_owned(),
                email: "platform@example.com".to_owned(),
                login: None,
            },
            committer: Person {
                name: "Platform Team".to_owned(),
                email: "platform@example.com".to_owned(),
                login: None,
            },
            time: now,
            seq,
            files: vec![FileChange {
                path: "README.md".to_owned(),
                additions: 3,
                deletions: 0,
            }],
        };
        let mut repo = Repo {
            id,
            name: name.to_owned(),
            archived: false,
            default_branch: "main".to_owned(),
            created_at: now,
            pushed_at: now,
            updated_at: now,
            branches: BTreeMap::new(),
            commits: HashMap::new(),
            pulls: Vec::new(),
            next_number: 1,
        };
        repo.branches.insert("main".to_owned(), sha.clone());
        repo.commits.insert(sha, root);
        self.repos.insert(name.to_ascii_lowercase(), repo);
    }

    pub fn set_archived(&mut self, repo: &str, archived: bool) {
        let now = self.tick();
        let r = self.repo_or_panic(repo);
        r.archived = archived;
        r.updated_at = now;
    }

    /// Creates or moves `branch` to the head of branch (or commit) `from`.
    pub fn create_branch(&mut self, repo: &str, branch: &str, from: &str) {
        let r = self.repo_or_panic(repo);
        let sha = r
            .resolve(from)
            .unwrap_or_else(|| panic!("simulated GitHub: no ref {from} in {repo}"));
        r.branches.insert(branch.to_owned(), sha);
    }

    /// Points `branch` at `sha` (creating the branch when missing).
    pub fn set_branch_head(&mut self, repo: &str, branch: &str, sha: &str) {
        let r = self.repo_or_panic(repo);
        assert!(
            r.commits.contains_key(sha),
            "simulated GitHub: no commit {sha} in {repo}"
        );
        r.branches.insert(branch.to_owned(), sha.to_owned());
    }

    pub fn delete_branch(&mut self, repo: &str, branch: &str) {
        if let Some(r) = self.repo_mut(repo) {
            r.branches.remove(branch);
        }
    }

    pub fn branch_head(&self, repo: &str, branch: &str) -> Option<String> {
        self.repo(repo)?.branches.get(branch).cloned()
    }

    /// Adds a commit on top of `branch` and returns its sha.
    pub fn commit(&mut self, repo: &str, branch: &str, spec: CommitSpec) -> String {
        let now = self.tick();
        let seq = self.next_seq();
        let org = self.org.clone();
        let r = self.repo_or_panic(repo);
        let parent = r
            .branches
            .get(branch)
            .cloned()
            .unwrap_or_else(|| panic!("simulated GitHub: no branch {branch} in {org}/{repo}"));
        let sha = make_sha(&[
            "commit",
            &org,
            &r.name,
            &parent,
            &spec.message,
            &spec.author_email,
            &seq.to_string(),
        ]);
        let person = Person {
            name: spec.author_name,
            email: spec.author_email,
            login: spec.author_login,
        };
        let c = Commit {
            tree: make_sha(&["tree", &sha]),
            sha: sha.clone(),
            parents: vec![parent],
            message: spec.message,
            committer: person.clone(),
            author: person,
            time: now,
            seq,
            files: spec.files,
        };
        r.commits.insert(sha.clone(), c);
        r.branches.insert(branch.to_owned(), sha.clone());
        r.pushed_at = now;
        r.updated_at = now;
        sha
    }

    /// Opens a pull request `head` → `base` and returns its number.
    pub fn open_pr(
        &mut self,
        repo: &str,
        head: &str,
        base: &str,
        title: &str,
        user: Option<&str>,
    ) -> u64 {
        let now = self.tick();
        let id = self.next_pull_id;
        self.next_pull_id += 1;
        let org = self.org.clone();
        let r = self.repo_or_panic(repo);
        for b in [head, base] {
            assert!(
                r.branches.contains_key(b),
                "simulated GitHub: no branch {b} in {org}/{repo}"
            );
        }
        let user = user.map(str::to_owned).unwrap_or_else(|| {
            r.branches
                .get(head)
                .and_then(|s| r.commits.get(s))
                .and_then(|c| c.author.login.clone())
                .unwrap_or_else(|| DEFAULT_LOGIN.to_owned())
        });
        let number = r.next_number;
        r.next_number += 1;
        r.pulls.push(Pull {
            id,
            number,
            title: title.to_owned(),
            body: format!("Promote `{head}` to `{base}`."),
            user,
            head_ref: head.to_owned(),
            base_ref: base.to_owned(),
            frozen: None,
            state: PullState::Open,
            created_at: now,
            updated_at: now,
            closed_at: None,
            merged_at: None,
            merge_commit_sha: None,
            merged_by: None,
        });
        number
    }

    /// Merges an open pull request with a merge commit and returns the merge sha.
    pub fn merge_pr(&mut self, repo: &str, number: u64) -> String {
        let now = self.tick();
        let seq = self.next_seq();
        let org = self.org.clone();
        let r = self.repo_or_panic(repo);
        let idx = r
            .pulls
            .iter()
            .position(|p| p.number == number)
            .unwrap_or_else(|| panic!("simulated GitHub: no pull request #{number} in {repo}"));
        let pull = r.pulls[idx].clone();
        assert!(
            pull.state == PullState::Open,
            "simulated GitHub: pull request #{number} in {repo} is not open"
        );
        let base_sha =
            r.branches.get(&pull.base_ref).cloned().unwrap_or_else(|| {
                panic!("simulated GitHub: base branch {} is gone", pull.base_ref)
            });
        let head_sha =
            r.branches.get(&pull.head_ref).cloned().unwrap_or_else(|| {
                panic!("simulated GitHub: head branch {} is gone", pull.head_ref)
            });
        let message = format!(
            "Merge pull request #{number} from {org}/{}\n\n{}",
            pull.head_ref, pull.title
        );
        let sha = make_sha(&[
            "merge",
            &org,
            &r.name,
            &base_sha,
            &head_sha,
            &seq.to_string(),
        ]);
        let author = Person {
            name: pull.user.clone(),
            email: format!("{}@users.noreply.github.com", pull.user),
            login: Some(pull.user.clone()),
        };
        let committer = Person {
            name: "GitHub".to_owned(),
            email: "noreply@github.com".to_owned(),
            login: Some("web-flow".to_owned()),
        };
        let c = Commit {
            tree: make_sha(&["tree", &sha]),
            sha: sha.clone(),
            parents: vec![base_sha.clone(), head_sha.clone()],
            message,
            author,
            committer,
            time: now,
            seq,
            files: Vec::new(),
        };
        r.commits.insert(sha.clone(), c);
        r.branches.insert(pull.base_ref.clone(), sha.clone());
        r.pushed_at = now;
        r.updated_at = now;
        let p = &mut r.pulls[idx];
        p.state = PullState::Closed;
        p.frozen = Some((head_sha, base_sha));
        p.merged_at = Some(now);
        p.closed_at = Some(now);
        p.updated_at = now;
        p.merge_commit_sha = Some(sha.clone());
        p.merged_by = Some(pull.user);
        sha
    }

    /// Closes a pull request without merging it.
    pub fn close_pr(&mut self, repo: &str, number: u64) {
        let now = self.tick();
        let r = self.repo_or_panic(repo);
        let heads = |b: &str| r.branches.get(b).cloned().unwrap_or_default();
        let Some(idx) = r.pulls.iter().position(|p| p.number == number) else {
            panic!("simulated GitHub: no pull request #{number} in {repo}");
        };
        if r.pulls[idx].state == PullState::Closed {
            return;
        }
        let frozen = (heads(&r.pulls[idx].head_ref), heads(&r.pulls[idx].base_ref));
        let p = &mut r.pulls[idx];
        p.state = PullState::Closed;
        p.frozen = Some(frozen);
        p.closed_at = Some(now);
        p.updated_at = now;
    }
}

impl Repo {
    /// Resolves a branch name (optionally `refs/heads/…` or `owner:…`) or a commit sha
    /// (full or an unambiguous prefix of at least 7 characters) to a commit sha.
    pub fn resolve(&self, spec: &str) -> Option<String> {
        let name = short_ref(spec);
        if let Some(sha) = self.branches.get(name) {
            return Some(sha.clone());
        }
        if name.len() >= 7 && name.len() <= 40 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
            let lower = name.to_ascii_lowercase();
            if self.commits.contains_key(&lower) {
                return Some(lower);
            }
            let mut found = self.commits.keys().filter(|k| k.starts_with(&lower));
            let first = found.next()?;
            if found.next().is_none() {
                return Some(first.clone());
            }
        }
        None
    }

    /// All commits reachable from `sha` (inclusive).
    pub fn ancestors(&self, sha: &str) -> HashSet<&str> {
        let mut seen: HashSet<&str> = HashSet::new();
        let mut stack: Vec<&str> = Vec::new();
        if let Some((k, _)) = self.commits.get_key_value(sha) {
            stack.push(k.as_str());
        }
        while let Some(s) = stack.pop() {
            if !seen.insert(s) {
                continue;
            }
            if let Some(c) = self.commits.get(s) {
                for p in &c.parents {
                    if let Some((k, _)) = self.commits.get_key_value(p)
                        && !seen.contains(k.as_str())
                    {
                        stack.push(k.as_str());
                    }
                }
            }
        }
        seen
    }

    /// Git semantics of `base...head`.
    pub fn compare(&self, base_sha: &str, head_sha: &str) -> Option<Comparison<'_>> {
        let base = self.commits.get(base_sha)?;
        let head = self.commits.get(head_sha)?;
        let from_base = self.ancestors(base_sha);
        let from_head = self.ancestors(head_sha);
        let mut ahead: Vec<&Commit> = from_head
            .iter()
            .filter(|s| !from_base.contains(*s))
            .filter_map(|s| self.commits.get(*s))
            .collect();
        ahead.sort_by_key(|c| c.seq);
        let behind_by = from_base.iter().filter(|s| !from_head.contains(*s)).count();
        let common: Vec<&Commit> = from_base
            .iter()
            .filter(|s| from_head.contains(*s))
            .filter_map(|s| self.commits.get(*s))
            .collect();
        let merge_base = common.iter().max_by_key(|c| c.seq).copied();
        let common_paths = common
            .iter()
            .flat_map(|c| c.files.iter().map(|f| f.path.as_str()))
            .collect();
        Some(Comparison {
            base,
            head,
            merge_base,
            ahead,
            behind_by,
            common_paths,
        })
    }

    /// Head and base commits a pull request shows: live while open, frozen once closed.
    pub fn pull_shas(&self, p: &Pull) -> (String, String) {
        if let Some((h, b)) = &p.frozen {
            return (h.clone(), b.clone());
        }
        let get = |b: &str| self.branches.get(b).cloned().unwrap_or_default();
        (get(&p.head_ref), get(&p.base_ref))
    }

    /// Number of open pull requests (GitHub counts them as open issues).
    pub fn open_pulls(&self) -> usize {
        self.pulls
            .iter()
            .filter(|p| p.state == PullState::Open)
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(msg: &str) -> CommitSpec {
        CommitSpec {
            message: msg.to_owned(),
            author_name: "A".to_owned(),
            author_email: "a@example.com".to_owned(),
            author_login: None,
            files: vec![FileChange {
                path: "src/lib.rs".to_owned(),
                additions: 1,
                deletions: 0,
            }],
        }
    }

    #[test]
    fn the_clock_steps_until_told_to_follow_real_time() {
        let mut g = GitState::new("acme");
        assert_eq!(g.tick(), CLOCK_START + CLOCK_STEP);
        g.use_real_time();
        let real = super::super::faults::now_epoch();
        let t = g.tick();
        assert!((real..real + 5).contains(&t), "{t} vs {real}");
        assert!(g.tick() > t, "never still, never back");
    }

    #[test]
    fn compare_follows_git() {
        let mut g = GitState::new("acme");
        g.add_repo("svc");
        g.create_branch("svc", "dev", "main");
        g.commit("svc", "dev", spec("one"));
        g.commit("svc", "dev", spec("two"));
        let r = g.repo("svc").expect("repo");
        let main = r.resolve("main").expect("main");
        let dev = r.resolve("refs/heads/dev").expect("dev");
        let c = r.compare(&main, &dev).expect("compare");
        assert_eq!(c.ahead.len(), 2);
        assert_eq!(c.behind_by, 0);
        assert_eq!(c.status(), "ahead");
        assert_eq!(c.ahead[0].message, "one");
        assert_eq!(c.merge_base.map(|m| m.sha.as_str()), Some(main.as_str()));
        assert_eq!(c.files()[0].status, "added");
        let back = r.compare(&dev, &main).expect("compare");
        assert_eq!(back.status(), "behind");
        assert_eq!(r.resolve(&dev[..7]), Some(dev.clone()));
        g.commit("svc", "main", spec("hotfix"));
        let r = g.repo("svc").expect("repo");
        let main = r.resolve("main").expect("main");
        assert_eq!(
            r.compare(&main, &dev).expect("compare").status(),
            "diverged"
        );
        assert!(make_sha(&["x"]).len() == 40);
        assert_eq!(iso(CLOCK_START), "2026-01-05T09:00:00Z");
    }
}
