//! Gathering a release: which repos of the org have commits in source that dest lacks.
//!
//! The cheap path asks GraphQL for both branch heads and `aheadBy` of a hundred repos per call,
//! so unchanged repos cost almost nothing; only changed repos get the REST compare (files,
//! authors) and the pull-request lookup. Without GraphQL it falls back to REST for every repo.

use crate::EngineError;
use futures::future::try_join_all;
use serde::Serialize;
use shipyard_core::change::{InfraMatcher, PullInfo, RepoChange, RepoFilter, analyse};
use shipyard_github::{CompareResult, GitHub, GithubError};
use std::collections::BTreeMap;

/// The GitHub side of the engine: a client and the org's settings.
#[derive(Debug, Clone)]
pub struct GithubSetup {
    /// The client.
    pub client: GitHub,
    /// The organisation.
    pub org: String,
    /// Include/exclude globs on repo names.
    pub filter: RepoFilter,
    /// Infrastructure path globs.
    pub infra: InfraMatcher,
    /// Skip archived repos.
    pub skip_archived: bool,
    /// Try GraphQL first.
    pub use_graphql: bool,
    /// GitHub's web address, for links people follow (`https://github.com`).
    pub web_url: String,
}

/// Why a repo of the org is not part of a release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// Archived on GitHub.
    Archived,
    /// Left out by `github.repos` include/exclude.
    Filtered,
    /// The source branch does not exist.
    SourceMissing,
    /// The destination branch does not exist.
    DestMissing,
    /// Nothing in source that dest lacks.
    NothingAhead,
}

impl SkipReason {
    /// The snake_case name, as the API and history show it.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::Archived => "archived",
            SkipReason::Filtered => "filtered",
            SkipReason::SourceMissing => "source_missing",
            SkipReason::DestMissing => "dest_missing",
            SkipReason::NothingAhead => "nothing_ahead",
        }
    }
}

/// The outcome of a gathering.
#[derive(Debug, Clone, Default)]
pub struct Gathered {
    /// Repos with changes, sorted by name.
    pub changed: Vec<RepoChange>,
    /// How many repos were skipped, by reason.
    pub skipped: BTreeMap<SkipReason, usize>,
    /// Repos of the org looked at.
    pub scanned: usize,
    /// Repos where the source branch exists.
    pub with_source: usize,
    /// Repos where the destination branch exists.
    pub with_dest: usize,
}

struct Candidate {
    name: String,
    head_sha: Option<String>,
}

impl GithubSetup {
    /// Compares `dest...source` in every repo of the org.
    pub async fn gather(&self, source: &str, dest: &str) -> Result<Gathered, EngineError> {
        let mut out = Gathered::default();
        let candidates = if self.use_graphql {
            match self.candidates_graphql(source, dest, &mut out).await {
                Ok(c) => Some(c),
                Err(GithubError::Rejected { status, message }) => {
                    tracing::warn!(status, %message, "GitHub GraphQL refused the overview query; comparing every repository over REST");
                    out = Gathered::default();
                    None
                }
                Err(e) => return Err(e.into()),
            }
        } else {
            None
        };
        let candidates = match candidates {
            Some(c) => c,
            None => self.candidates_rest(&mut out).await?,
        };

        let results = try_join_all(
            candidates
                .into_iter()
                .map(|c| self.inspect(c, source, dest)),
        )
        .await?;
        for result in results {
            match result {
                Inspected::Changed(change) => out.changed.push(*change),
                Inspected::Skipped(reason, counts_source, counts_dest) => {
                    *out.skipped.entry(reason).or_default() += 1;
                    out.with_source += usize::from(counts_source);
                    out.with_dest += usize::from(counts_dest);
                    continue;
                }
            }
            out.with_source += 1;
            out.with_dest += 1;
        }
        out.changed.sort_by(|a, b| a.repo_name.cmp(&b.repo_name));
        Ok(out)
    }

    fn skip_by_settings(&self, name: &str, archived: bool, out: &mut Gathered) -> bool {
        let reason = if archived && self.skip_archived {
            Some(SkipReason::Archived)
        } else if !self.filter.keeps(name) {
            Some(SkipReason::Filtered)
        } else {
            None
        };
        if let Some(r) = reason {
            *out.skipped.entry(r).or_default() += 1;
        }
        reason.is_some()
    }

    async fn candidates_graphql(
        &self,
        source: &str,
        dest: &str,
        out: &mut Gathered,
    ) -> Result<Vec<Candidate>, GithubError> {
        let overview = self.client.branch_overview(&self.org, source, dest).await?;
        out.scanned = overview.len();
        let mut candidates = Vec::new();
        for repo in overview {
            if self.skip_by_settings(&repo.name, repo.archived, out) {
                continue;
            }
            out.with_source += usize::from(repo.source_sha.is_some());
            out.with_dest += usize::from(repo.dest_sha.is_some());
            let reason = match (&repo.source_sha, &repo.dest_sha, repo.ahead_by) {
                (None, _, _) => Some(SkipReason::SourceMissing),
                (_, None, _) => Some(SkipReason::DestMissing),
                (Some(s), Some(d), _) if s == d => Some(SkipReason::NothingAhead),
                (_, _, Some(0)) => Some(SkipReason::NothingAhead),
                _ => None,
            };
            match reason {
                Some(r) => *out.skipped.entry(r).or_default() += 1,
                None => {
                    // Counted again by `gather` once inspected.
                    out.with_source -= 1;
                    out.with_dest -= 1;
                    candidates.push(Candidate {
                        name: repo.name,
                        head_sha: repo.source_sha,
                    });
                }
            }
        }
        Ok(candidates)
    }

    async fn candidates_rest(&self, out: &mut Gathered) -> Result<Vec<Candidate>, EngineError> {
        let repos = self.client.org_repos(&self.org).await?;
        out.scanned = repos.len();
        Ok(repos
            .into_iter()
            .filter(|r| !self.skip_by_settings(&r.name, r.archived, out))
            .map(|r| Candidate {
                name: r.name,
                head_sha: None,
            })
            .collect())
    }

    async fn inspect(
        &self,
        c: Candidate,
        source: &str,
        dest: &str,
    ) -> Result<Inspected, EngineError> {
        let (compare, pull) = tokio::try_join!(
            self.client.compare(&self.org, &c.name, dest, source),
            self.pull_if_known(&c, source, dest),
        )?;
        let Some(compare) = compare else {
            // One of the branches is missing: find out which, for the report.
            let has_source = self
                .client
                .branch_head(&self.org, &c.name, source)
                .await?
                .is_some();
            let reason = if has_source {
                SkipReason::DestMissing
            } else {
                SkipReason::SourceMissing
            };
            return Ok(Inspected::Skipped(reason, has_source, !has_source));
        };
        if compare.ahead_by == 0 {
            return Ok(Inspected::Skipped(SkipReason::NothingAhead, true, true));
        }
        let pull = match pull {
            Some(p) => p,
            None => {
                self.client
                    .pull_between(&self.org, &c.name, source, dest)
                    .await?
            }
        };
        let change = self
            .change_of(&c.name, c.head_sha, &compare, pull, source)
            .await?;
        Ok(Inspected::Changed(Box::new(change)))
    }

    /// When GraphQL already said the repo changed, the PR lookup runs beside the compare.
    async fn pull_if_known(
        &self,
        c: &Candidate,
        source: &str,
        dest: &str,
    ) -> Result<Option<Option<PullInfo>>, GithubError> {
        if c.head_sha.is_some() {
            Ok(Some(
                self.client
                    .pull_between(&self.org, &c.name, source, dest)
                    .await?,
            ))
        } else {
            Ok(None)
        }
    }

    /// Compares `dest...source` in one repo whose source head is `head_sha` (when known, as a
    /// push reports it): its change when it has commits ahead (`None` otherwise, or when a branch
    /// is missing), and its pull request from source into dest.
    pub async fn inspect_one(
        &self,
        repo: &str,
        head_sha: Option<&str>,
        source: &str,
        dest: &str,
    ) -> Result<(Option<RepoChange>, Option<PullInfo>), EngineError> {
        let (compare, pull) = tokio::try_join!(
            self.client.compare(&self.org, repo, dest, source),
            self.client.pull_between(&self.org, repo, source, dest),
        )?;
        let Some(compare) = compare.filter(|c| c.ahead_by > 0) else {
            return Ok((None, pull));
        };
        let change = self
            .change_of(
                repo,
                head_sha.map(str::to_owned),
                &compare,
                pull.clone(),
                source,
            )
            .await?;
        Ok((Some(change), pull))
    }

    /// What a comparison with commits ahead says about `repo`. Its source head is `head_sha`
    /// when known, else the comparison's, else asked of GitHub.
    async fn change_of(
        &self,
        repo: &str,
        head_sha: Option<String>,
        compare: &CompareResult,
        pull: Option<PullInfo>,
        source: &str,
    ) -> Result<RepoChange, EngineError> {
        let head_sha = match head_sha.or_else(|| compare.head_sha.clone()) {
            Some(sha) => sha,
            None => self
                .client
                .branch_head(&self.org, repo, source)
                .await?
                .unwrap_or_default(),
        };
        Ok(analyse(
            repo,
            &head_sha,
            &compare.comparison,
            pull,
            &self.infra,
        ))
    }

    /// The pull request from source into dest for one repo (used for repos whose changes merged).
    pub async fn pull(
        &self,
        repo: &str,
        source: &str,
        dest: &str,
    ) -> Result<Option<PullInfo>, EngineError> {
        Ok(self
            .client
            .pull_between(&self.org, repo, source, dest)
            .await?)
    }
}

enum Inspected {
    Changed(Box<RepoChange>),
    /// Reason, and whether source / dest exist.
    Skipped(SkipReason, bool, bool),
}
