//! Deploy order: levels by topological sort of the declared dependencies. A cycle is a value,
//! never a crash.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// One repo as the ordering sees it.
#[derive(Debug, Clone, Copy)]
pub struct OrderNode<'a> {
    /// Repository name.
    pub name: &'a str,
    /// Taken out of the release: neither ordered nor a valid dependency.
    pub excluded: bool,
    /// Repos that must deploy before this one.
    pub depends_on: &'a [String],
}

/// The deploy order of a release.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DeployOrder {
    /// Level 1 first; names sorted within a level. With a cycle, holds what can be ordered.
    pub levels: Vec<Vec<String>>,
    /// One cycle, in dependency order: each repo depends on the next, the last on the first.
    pub cycle: Option<Vec<String>>,
    /// Dependencies that were ignored, in words.
    pub warnings: Vec<String>,
}

/// Orders the included repos: level 1 has no dependencies, level n depends only on lower levels.
pub fn deploy_order(nodes: &[OrderNode<'_>]) -> DeployOrder {
    let status: BTreeMap<&str, bool> = nodes.iter().map(|n| (n.name, n.excluded)).collect();
    let mut warnings = Vec::new();
    let mut deps: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for node in nodes.iter().filter(|n| !n.excluded) {
        let mut mine = BTreeSet::new();
        for dep in node.depends_on {
            match status.get(dep.as_str()) {
                None => warnings.push(format!(
                    "{} depends on {dep}, which is not in this release",
                    node.name
                )),
                Some(true) => {
                    warnings.push(format!("{} depends on {dep}, which is excluded", node.name))
                }
                Some(false) => {
                    mine.insert(dep.as_str());
                }
            }
        }
        deps.insert(node.name, mine);
    }

    let mut placed: BTreeSet<&str> = BTreeSet::new();
    let mut levels = Vec::new();
    loop {
        let level: Vec<&str> = deps
            .iter()
            .filter(|(name, ds)| !placed.contains(*name) && ds.iter().all(|d| placed.contains(d)))
            .map(|(name, _)| *name)
            .collect();
        if level.is_empty() {
            break;
        }
        placed.extend(level.iter().copied());
        levels.push(level.into_iter().map(str::to_owned).collect());
    }

    let remaining: BTreeMap<&str, Vec<&str>> = deps
        .iter()
        .filter(|(name, _)| !placed.contains(*name))
        .map(|(name, ds)| {
            (
                *name,
                ds.iter().copied().filter(|d| !placed.contains(d)).collect(),
            )
        })
        .collect();
    let cycle = find_cycle(&remaining);
    DeployOrder {
        levels,
        cycle,
        warnings,
    }
}

/// In a graph where every node has an unplaced dependency, walking first dependencies from any
/// node must revisit one: the revisited stretch is a cycle.
fn find_cycle(remaining: &BTreeMap<&str, Vec<&str>>) -> Option<Vec<String>> {
    let start = *remaining.keys().next()?;
    let mut path: Vec<&str> = Vec::new();
    let mut current = start;
    loop {
        if let Some(pos) = path.iter().position(|n| *n == current) {
            let mut cycle: Vec<String> = path[pos..].iter().map(|s| s.to_string()).collect();
            // Start the cycle at its alphabetically first repo so the answer is stable.
            let min = cycle
                .iter()
                .enumerate()
                .min_by(|a, b| a.1.cmp(b.1))
                .map(|(i, _)| i)
                .unwrap_or(0);
            cycle.rotate_left(min);
            return Some(cycle);
        }
        path.push(current);
        current = *remaining.get(current)?.first()?;
    }
}

/// Most dependencies one repo may declare.
pub const MAX_DEPENDENCIES: usize = 100;

/// Why a repo's declared dependencies are refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DependencyError {
    /// More than [`MAX_DEPENDENCIES`].
    #[error("at most {MAX_DEPENDENCIES} repositories")]
    TooMany,
    /// A repo named itself.
    #[error("{0} cannot depend on itself")]
    OnItself(String),
    /// A name that is not a repo of the release.
    #[error("`{0}` is not a repository of this release")]
    NotInRelease(String),
}

/// Checks what `repo` wants to depend on against the release's repos (`in_release`, excluded
/// ones too: a dependency on a repo excluded later stays, ignored with a warning): names are
/// trimmed, duplicates dropped, and the result sorted.
pub fn check_dependencies(
    repo: &str,
    in_release: &BTreeSet<&str>,
    wanted: &[String],
) -> Result<Vec<String>, DependencyError> {
    if wanted.len() > MAX_DEPENDENCIES {
        return Err(DependencyError::TooMany);
    }
    let mut clean = BTreeSet::new();
    for d in wanted {
        let d = d.trim();
        if d == repo {
            return Err(DependencyError::OnItself(repo.to_owned()));
        }
        if !in_release.contains(d) {
            return Err(DependencyError::NotInRelease(
                d.chars().take(100).collect::<String>(),
            ));
        }
        clean.insert(d.to_owned());
    }
    Ok(clean.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dependencies_are_checked_against_the_release() {
        let repos: BTreeSet<&str> = ["api", "auth", "billing"].into();
        let names = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        type Case<'a> = (&'a [&'a str], Result<Vec<String>, DependencyError>);
        let cases: Vec<Case<'_>> = vec![
            (&[], Ok(vec![])),
            (
                &["billing", " auth ", "auth"],
                Ok(names(&["auth", "billing"])),
            ),
            (&["api"], Err(DependencyError::OnItself("api".into()))),
            (&["nope"], Err(DependencyError::NotInRelease("nope".into()))),
            (&[""], Err(DependencyError::NotInRelease(String::new()))),
        ];
        for (wanted, want) in cases {
            assert_eq!(
                check_dependencies("api", &repos, &names(wanted)),
                want,
                "{wanted:?}"
            );
        }
        let many = vec!["auth".to_owned(); MAX_DEPENDENCIES + 1];
        assert_eq!(
            check_dependencies("api", &repos, &many),
            Err(DependencyError::TooMany)
        );
        let long = "x".repeat(500);
        let Err(DependencyError::NotInRelease(shown)) = check_dependencies("api", &repos, &[long])
        else {
            panic!("a long unknown name is refused");
        };
        assert_eq!(shown.len(), 100);
    }

    fn order(spec: &[(&str, bool, &[&str])]) -> DeployOrder {
        let owned: Vec<(String, bool, Vec<String>)> = spec
            .iter()
            .map(|(n, e, d)| (n.to_string(), *e, d.iter().map(|s| s.to_string()).collect()))
            .collect();
        let nodes: Vec<OrderNode<'_>> = owned
            .iter()
            .map(|(n, e, d)| OrderNode {
                name: n,
                excluded: *e,
                depends_on: d,
            })
            .collect();
        deploy_order(&nodes)
    }

    fn levels(o: &DeployOrder) -> Vec<Vec<&str>> {
        o.levels
            .iter()
            .map(|l| l.iter().map(String::as_str).collect())
            .collect()
    }

    #[test]
    fn no_dependencies_is_one_sorted_level() {
        let o = order(&[("b", false, &[]), ("a", false, &[]), ("c", true, &[])]);
        assert_eq!(levels(&o), vec![vec!["a", "b"]]);
        assert_eq!(o.cycle, None);
        assert!(o.warnings.is_empty());
    }

    #[test]
    fn levels_follow_dependencies() {
        let o = order(&[
            ("api-gateway", false, &["auth-service"]),
            ("user-service", false, &["auth-service"]),
            ("auth-service", false, &[]),
            ("frontend", false, &["api-gateway", "user-service"]),
        ]);
        assert_eq!(
            levels(&o),
            vec![
                vec!["auth-service"],
                vec!["api-gateway", "user-service"],
                vec!["frontend"]
            ]
        );
        assert_eq!(o.cycle, None);
    }

    #[test]
    fn excluded_and_unknown_dependencies_are_ignored_with_warnings() {
        let o = order(&[("a", false, &["b", "zzz"]), ("b", true, &[])]);
        assert_eq!(levels(&o), vec![vec!["a"]]);
        assert_eq!(
            o.warnings,
            vec![
                "a depends on b, which is excluded",
                "a depends on zzz, which is not in this release"
            ]
        );
    }

    #[test]
    fn a_cycle_is_reported_in_order() {
        let o = order(&[
            ("c", false, &["a"]),
            ("a", false, &["b"]),
            ("b", false, &["c"]),
            ("d", false, &[]),
            ("e", false, &["a"]),
        ]);
        assert_eq!(
            o.cycle,
            Some(vec!["a".to_string(), "b".to_string(), "c".to_string()])
        );
        assert_eq!(levels(&o), vec![vec!["d"]]);
    }

    #[test]
    fn a_cycle_behind_a_dependent_is_still_found() {
        // e depends on the cycle but is not on it: the reported cycle must not contain e.
        let o = order(&[
            ("e", false, &["x"]),
            ("x", false, &["y"]),
            ("y", false, &["x"]),
        ]);
        assert_eq!(o.cycle, Some(vec!["x".to_string(), "y".to_string()]));
    }

    #[test]
    fn self_dependency_is_a_cycle_of_one() {
        let o = order(&[("a", false, &["a"])]);
        assert_eq!(o.cycle, Some(vec!["a".to_string()]));
    }
}
