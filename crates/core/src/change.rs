//! What one repository's comparison (`dest...source`) says: counts, contributors, breaking
//! changes and infrastructure paths.

use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::{Deserialize, Serialize};

/// Most commit subjects kept in a repo's summary.
pub const SUMMARY_LINES: usize = 20;
/// Most infrastructure paths kept per repo.
pub const INFRA_PATHS_CAP: usize = 50;

/// One commit of a comparison, as the upstream reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitInfo {
    /// The commit id.
    pub sha: String,
    /// Full message: subject line, blank line, body.
    pub message: String,
    /// GitHub login of the author, when the author has an account.
    pub author_login: Option<String>,
    /// The git author name.
    pub author_name: String,
}

/// One changed file of a comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// Path in the repository.
    pub path: String,
    /// Lines added.
    pub additions: u64,
    /// Lines deleted.
    pub deletions: u64,
}

/// A comparison of dest (base) with source (head).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Comparison {
    /// Commits in source that dest lacks (`total_commits`, never the length of `commits`).
    pub total_commits: u64,
    /// Commits as listed, oldest first (may be fewer than `total_commits`).
    pub commits: Vec<CommitInfo>,
    /// Changed files (may be capped by the upstream).
    pub files: Vec<FileInfo>,
}

/// State of the pull request from source into dest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrState {
    /// Open, not merged yet.
    Open,
    /// Merged: `merge_commit_sha` is the merge commit.
    Merged,
    /// Closed without merging.
    Closed,
}

impl PrState {
    /// The API name.
    pub fn as_str(self) -> &'static str {
        match self {
            PrState::Open => "open",
            PrState::Merged => "merged",
            PrState::Closed => "closed",
        }
    }

    /// Parses the API name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "open" => Some(PrState::Open),
            "merged" => Some(PrState::Merged),
            "closed" => Some(PrState::Closed),
            _ => None,
        }
    }
}

/// The pull request from source into dest, if there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullInfo {
    /// PR number.
    pub number: u64,
    /// Link for people.
    pub url: String,
    /// Open, merged or closed.
    pub state: PrState,
    /// The merge commit, once merged.
    pub merge_commit_sha: Option<String>,
}

/// Everything a release stores about one changed repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoChange {
    /// Repository name in the org.
    pub repo_name: String,
    /// Commits in source not in dest.
    pub commit_count: u64,
    /// Lines added over all changed files.
    pub additions: u64,
    /// Lines deleted over all changed files.
    pub deletions: u64,
    /// Distinct authors (login, else git name), sorted.
    pub contributors: Vec<String>,
    /// Commit subjects, newest first, capped at [`SUMMARY_LINES`].
    pub summary: Vec<String>,
    /// A conventional-commit `!:` subject or a `BREAKING CHANGE` body.
    pub is_breaking: bool,
    /// Changed paths matching the infrastructure globs, capped at [`INFRA_PATHS_CAP`].
    pub infra_changes: Vec<String>,
    /// Source branch head when compared.
    pub head_sha: String,
    /// The source→dest pull request, if any.
    pub pull: Option<PullInfo>,
}

/// Glob patterns that mark a path as an infrastructure change.
#[derive(Debug, Clone)]
pub struct InfraMatcher {
    set: GlobSet,
}

/// A glob pattern that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid glob pattern `{pattern}`: {reason}")]
pub struct InvalidGlob {
    /// The pattern.
    pub pattern: String,
    /// The parser's complaint.
    pub reason: String,
}

/// Builds a set of path globs where `*` stays within one path component and `**` spans several.
pub fn glob_set(patterns: &[String]) -> Result<GlobSet, InvalidGlob> {
    let mut builder = GlobSetBuilder::new();
    for p in patterns {
        let glob = globset::GlobBuilder::new(p)
            .literal_separator(true)
            .build()
            .map_err(|e| InvalidGlob {
                pattern: p.clone(),
                reason: e.kind().to_string(),
            })?;
        builder.add(glob);
    }
    builder.build().map_err(|e| InvalidGlob {
        pattern: patterns.join(", "),
        reason: e.to_string(),
    })
}

impl InfraMatcher {
    /// Compiles the patterns of `github.infra_paths`.
    pub fn new(patterns: &[String]) -> Result<Self, InvalidGlob> {
        Ok(InfraMatcher {
            set: glob_set(patterns)?,
        })
    }

    /// Whether `path` is an infrastructure path.
    pub fn matches(&self, path: &str) -> bool {
        self.set.is_match(path)
    }
}

/// Matches repository names against include and exclude globs.
#[derive(Debug, Clone)]
pub struct RepoFilter {
    include: GlobSet,
    exclude: GlobSet,
}

impl RepoFilter {
    /// A filter that keeps names matching any `include` and no `exclude` pattern.
    pub fn new(include: &[String], exclude: &[String]) -> Result<Self, InvalidGlob> {
        let build = |ps: &[String]| -> Result<GlobSet, InvalidGlob> {
            let mut b = GlobSetBuilder::new();
            for p in ps {
                b.add(Glob::new(p).map_err(|e| InvalidGlob {
                    pattern: p.clone(),
                    reason: e.kind().to_string(),
                })?);
            }
            b.build().map_err(|e| InvalidGlob {
                pattern: ps.join(", "),
                reason: e.to_string(),
            })
        };
        Ok(RepoFilter {
            include: build(include)?,
            exclude: build(exclude)?,
        })
    }

    /// Whether the repo named `name` takes part in releases.
    pub fn keeps(&self, name: &str) -> bool {
        self.include.is_match(name) && !self.exclude.is_match(name)
    }
}

/// Whether a commit message marks a breaking change (conventional commits).
pub fn is_breaking_message(message: &str) -> bool {
    let subject = message.lines().next().unwrap_or("");
    let conventional_bang = subject.split_once(':').is_some_and(|(prefix, _)| {
        let Some(kind) = prefix.strip_suffix('!') else {
            return false;
        };
        let word = match kind.split_once('(') {
            Some((word, scope)) => {
                if !scope.ends_with(')') {
                    return false;
                }
                word
            }
            None => kind,
        };
        !word.is_empty()
            && word
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    });
    let body = message.lines().skip(1);
    conventional_bang
        || body.into_iter().any(|l| {
            let l = l.trim_start();
            l.starts_with("BREAKING CHANGE") || l.starts_with("BREAKING-CHANGE")
        })
}

/// Summarises one repository's comparison.
pub fn analyse(
    repo_name: &str,
    head_sha: &str,
    comparison: &Comparison,
    pull: Option<PullInfo>,
    infra: &InfraMatcher,
) -> RepoChange {
    let mut contributors: Vec<String> = comparison
        .commits
        .iter()
        .map(|c| {
            c.author_login
                .clone()
                .unwrap_or_else(|| c.author_name.clone())
        })
        .filter(|name| !name.is_empty())
        .collect();
    contributors.sort_by_key(|c| c.to_lowercase());
    contributors.dedup();

    let summary = comparison
        .commits
        .iter()
        .rev()
        .take(SUMMARY_LINES)
        .map(|c| c.message.lines().next().unwrap_or("").trim().to_owned())
        .collect();

    let infra_changes = comparison
        .files
        .iter()
        .filter(|f| infra.matches(&f.path))
        .take(INFRA_PATHS_CAP)
        .map(|f| f.path.clone())
        .collect();

    RepoChange {
        repo_name: repo_name.to_owned(),
        commit_count: comparison.total_commits,
        additions: comparison.files.iter().map(|f| f.additions).sum(),
        deletions: comparison.files.iter().map(|f| f.deletions).sum(),
        contributors,
        summary,
        is_breaking: comparison
            .commits
            .iter()
            .any(|c| is_breaking_message(&c.message)),
        infra_changes,
        head_sha: head_sha.to_owned(),
        pull,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default_infra() -> InfraMatcher {
        let ps: Vec<String> = [
            "helm/**",
            "charts/**",
            "terraform/**",
            "**/Dockerfile",
            ".github/workflows/**",
            "k8s/**",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        InfraMatcher::new(&ps).unwrap()
    }

    #[test]
    fn breaking_detection() {
        let cases = [
            ("feat!: drop v1 API", true),
            ("feat(api)!: drop v1", true),
            ("fix: typo", false),
            ("feat(api): add thing", false),
            ("chore: bump\n\nBREAKING CHANGE: config key renamed", true),
            ("chore: bump\n\nBREAKING-CHANGE: x", true),
            ("Merge branch 'x'", false),
            ("wow!: not conventional? still a type", true),
            ("no colon here!", false),
            ("feat(api!: broken scope", false),
            ("mentions BREAKING CHANGE in subject only", false),
        ];
        for (msg, expected) in cases {
            assert_eq!(is_breaking_message(msg), expected, "{msg:?}");
        }
    }

    #[test]
    fn infra_globs() {
        let m = default_infra();
        for p in [
            "helm/values.yaml",
            "helm/a/b.yaml",
            "Dockerfile",
            "svc/Dockerfile",
            ".github/workflows/ci.yml",
            "k8s/x.yaml",
        ] {
            assert!(m.matches(p), "{p}");
        }
        for p in ["src/main.rs", "Dockerfile.dev", "docs/helm.md", "myhelm/x"] {
            assert!(!m.matches(p), "{p}");
        }
    }

    #[test]
    fn repo_filter() {
        let f = RepoFilter::new(&["*".into()], &["*-archive".into(), "sandbox-*".into()]).unwrap();
        assert!(f.keeps("billing"));
        assert!(!f.keeps("old-archive"));
        assert!(!f.keeps("sandbox-x"));
        assert!(RepoFilter::new(&["[".into()], &[]).is_err());
    }

    #[test]
    fn analyse_counts_authors_and_subjects() {
        let commit = |sha: &str, msg: &str, login: Option<&str>, name: &str| CommitInfo {
            sha: sha.into(),
            message: msg.into(),
            author_login: login.map(Into::into),
            author_name: name.into(),
        };
        let cmp = Comparison {
            total_commits: 3,
            commits: vec![
                commit("a", "feat: one\n\nbody", Some("bob"), "Bob B"),
                commit("b", "fix: two", None, "Carol"),
                commit("c", "feat!: three", Some("alice"), "Alice"),
            ],
            files: vec![
                FileInfo {
                    path: "src/lib.rs".into(),
                    additions: 10,
                    deletions: 2,
                },
                FileInfo {
                    path: "helm/values.yaml".into(),
                    additions: 1,
                    deletions: 1,
                },
            ],
        };
        let r = analyse("svc", "c", &cmp, None, &default_infra());
        assert_eq!(r.commit_count, 3);
        assert_eq!((r.additions, r.deletions), (11, 3));
        assert_eq!(r.contributors, vec!["alice", "bob", "Carol"]);
        assert_eq!(r.summary, vec!["feat!: three", "fix: two", "feat: one"]);
        assert!(r.is_breaking);
        assert_eq!(r.infra_changes, vec!["helm/values.yaml"]);
    }
}
