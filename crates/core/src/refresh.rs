//! A refresh compares the stored snapshot of a release with what GitHub says now.
//!
//! Rows are never dropped: a repo whose changes were merged has nothing ahead any more, yet it
//! is exactly what the release is about, so it keeps the snapshot that was signed off.

use crate::change::RepoChange;
use std::collections::{BTreeMap, BTreeSet};

/// A stored release repo, as far as a refresh needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRepo {
    /// Repository name.
    pub name: String,
    /// Source head at the last refresh.
    pub head_sha: String,
    /// Taken out of the release.
    pub excluded: bool,
}

/// What a refresh will do.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RefreshPlan {
    /// Stored repos that are still ahead: overwrite their figures with these.
    pub updates: Vec<RepoChange>,
    /// Repos that are ahead now but were not in the release: new rows, included.
    pub additions: Vec<RepoChange>,
    /// Stored repos with nothing ahead any more (merged, or reset): kept as they were.
    pub settled: Vec<String>,
    /// Included repos whose content moved (new head or new row), sorted: why sign-offs reset.
    pub changed: Vec<String>,
}

/// Sorts a fresh comparison of the org into updates, additions and settled repos.
pub fn plan_refresh(stored: &[StoredRepo], fresh: Vec<RepoChange>) -> RefreshPlan {
    let stored_by_name: BTreeMap<&str, &StoredRepo> =
        stored.iter().map(|s| (s.name.as_str(), s)).collect();
    let mut plan = RefreshPlan::default();
    let mut seen = BTreeSet::new();
    let mut changed = BTreeSet::new();
    for change in fresh {
        seen.insert(change.repo_name.clone());
        match stored_by_name.get(change.repo_name.as_str()) {
            Some(old) => {
                if !old.excluded && old.head_sha != change.head_sha {
                    changed.insert(change.repo_name.clone());
                }
                plan.updates.push(change);
            }
            None => {
                changed.insert(change.repo_name.clone());
                plan.additions.push(change);
            }
        }
    }
    plan.settled = stored
        .iter()
        .filter(|s| !seen.contains(&s.name))
        .map(|s| s.name.clone())
        .collect();
    plan.changed = changed.into_iter().collect();
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(name: &str, head: &str) -> RepoChange {
        RepoChange {
            repo_name: name.into(),
            commit_count: 1,
            additions: 0,
            deletions: 0,
            contributors: vec![],
            summary: vec![],
            is_breaking: false,
            infra_changes: vec![],
            head_sha: head.into(),
            pull: None,
        }
    }

    fn stored(name: &str, head: &str, excluded: bool) -> StoredRepo {
        StoredRepo {
            name: name.into(),
            head_sha: head.into(),
            excluded,
        }
    }

    #[test]
    fn nothing_moved() {
        let p = plan_refresh(&[stored("a", "1", false)], vec![change("a", "1")]);
        assert!(p.changed.is_empty());
        assert_eq!(p.updates.len(), 1);
    }

    #[test]
    fn new_head_new_repo_and_merged_repo() {
        let p = plan_refresh(
            &[
                stored("a", "1", false),
                stored("b", "1", false),
                stored("m", "9", false),
            ],
            vec![change("a", "2"), change("b", "1"), change("n", "5")],
        );
        assert_eq!(p.changed, vec!["a", "n"]);
        assert_eq!(p.settled, vec!["m"]);
        assert_eq!(
            p.additions
                .iter()
                .map(|c| c.repo_name.as_str())
                .collect::<Vec<_>>(),
            vec!["n"]
        );
    }

    #[test]
    fn excluded_repos_moving_change_nothing() {
        let p = plan_refresh(&[stored("a", "1", true)], vec![change("a", "2")]);
        assert!(p.changed.is_empty());
    }
}
