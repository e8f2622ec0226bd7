//! The CI tracker: polls GitHub for the runs of tracked merges, applies webhooks, reads chart
//! versions, and writes each change with its history in one transaction.
//!
//! All state is in `repo_ci_status`; the tracker keeps only the rate-limit back-off in memory.
//! [`CiTracker::tick`] does one round (claim due rows, check each); [`CiTracker::run`] repeats it
//! on the engine's clock. Tests call `tick` after advancing a `ManualClock`.

use crate::ReleaseView;
use crate::ci_rules::{CiSettings, Observation, RunSeen, Step, observe, succeeded};
use crate::events::EventKind;
use crate::{Engine, EngineError};
use regex::Regex;
use shipyard_core::change::PrState;
use shipyard_core::chart::ChartVersionScanner;
use shipyard_core::{Actor, ReleaseStatus};
use shipyard_github::{Conditional, GithubError, WorkflowRun};
use shipyard_store::{CiStatusRecord, NewHistory};
use std::sync::Mutex;

/// Longest job log read for a chart version.
pub const MAX_LOG_BYTES: usize = 64 * 1024 * 1024;

/// Rows checked per round at most.
const BATCH: u32 = 50;

/// The tracker and its settings.
pub struct CiTracker {
    engine: Engine,
    settings: CiSettings,
    helm_job: String,
    pattern: Regex,
    rate_limit_backoff: i64,
    backoff_until: Mutex<Option<i64>>,
}

/// What one round did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Round {
    /// Rows checked.
    pub checked: usize,
    /// Rows whose state changed.
    pub changed: usize,
    /// Whether the round stopped for a rate limit.
    pub backed_off: bool,
}

fn seen(run: &WorkflowRun) -> RunSeen {
    RunSeen {
        id: run.id,
        run_number: run.run_number,
        run_attempt: u64::from(run.run_attempt),
        status: run.status.clone(),
        conclusion: run.conclusion.clone(),
        html_url: run.html_url.clone(),
        run_started_at: run.run_started_at,
        updated_at: Some(run.updated_at),
        created_at: Some(run.created_at),
    }
}

impl CiTracker {
    /// A tracker for `engine` with the `ci` settings; `pattern` is `ci.chart_version_pattern`.
    pub fn new(
        engine: Engine,
        settings: CiSettings,
        helm_job_pattern: &str,
        pattern: Regex,
        rate_limit_backoff: i64,
    ) -> Self {
        CiTracker {
            engine,
            settings,
            helm_job: helm_job_pattern.to_lowercase(),
            pattern,
            rate_limit_backoff,
            backoff_until: Mutex::new(None),
        }
    }

    fn actor() -> Actor {
        Actor {
            subject: "shipyard:ci".into(),
            name: "CI tracker".into(),
        }
    }

    fn backing_off(&self, now: i64) -> bool {
        let guard = self.backoff_until.lock().unwrap_or_else(|e| e.into_inner());
        guard.is_some_and(|until| now < until)
    }

    /// Starts (or extends) the shared back-off; warns once per back-off, not once per call.
    fn back_off(&self, now: i64, reset_in_secs: u64) {
        let until = now + (reset_in_secs as i64).max(self.rate_limit_backoff);
        let mut guard = self.backoff_until.lock().unwrap_or_else(|e| e.into_inner());
        let fresh = guard.is_none_or(|u| u <= now);
        *guard = Some(guard.map_or(until, |u| u.max(until)));
        if fresh {
            tracing::warn!(
                seconds = until - now,
                "GitHub rate limit reached: CI tracking pauses until it resets"
            );
        }
    }

    /// One round: claims the due rows and checks each.
    pub async fn tick(&self) -> Result<Round, EngineError> {
        let now = self.engine.now();
        let mut round = Round::default();
        if self.backing_off(now) {
            round.backed_off = true;
            return Ok(round);
        }
        let lease = (self.settings.poll_interval * 4).max(120);
        let due = self
            .engine
            .store()
            .claim_due_ci_checks(now, lease, BATCH)
            .await?;
        for rec in due {
            round.checked += 1;
            match self.check(rec, now).await {
                Ok(changed) => round.changed += usize::from(changed),
                Err(GithubOrEngine::Github(GithubError::RateLimited { reset_in_secs })) => {
                    self.back_off(now, reset_in_secs);
                    round.backed_off = true;
                    break;
                }
                Err(GithubOrEngine::Github(e)) => {
                    // Transient (already retried by the client): the lease runs out and the
                    // row is checked again.
                    tracing::debug!(error = %e, "CI check failed; will retry");
                }
                Err(GithubOrEngine::Engine(e)) => return Err(e),
            }
        }
        Ok(round)
    }

    async fn check(&self, rec: CiStatusRecord, now: i64) -> Result<bool, GithubOrEngine> {
        let github = self.engine.github_or_unavailable()?;
        let release = self.engine.release(rec.release_id.as_str()).await?;
        let answer = github
            .client
            .workflow_runs(
                &github.org,
                &rec.repo_name,
                &self.settings.workflow_file,
                release.release.dest_branch.as_str(),
                &rec.merge_commit_sha,
                rec.etag.as_deref(),
            )
            .await?;
        let observation = match answer {
            Conditional::NotModified => Observation::NotModified,
            Conditional::Fresh { value, etag } => Observation::Runs {
                runs: value
                    .iter()
                    .filter(|r| r.path == self.settings.workflow_path())
                    .map(seen)
                    .collect(),
                etag,
            },
        };
        self.apply(rec, observation, now).await
    }

    /// Applies a `workflow_run` webhook to every row tracking that commit; returns how many
    /// rows changed.
    pub async fn on_workflow_run(
        &self,
        repo_name: &str,
        run: &WorkflowRun,
    ) -> Result<usize, EngineError> {
        if run.path != self.settings.workflow_path() {
            return Ok(0);
        }
        let now = self.engine.now();
        let rows = self
            .engine
            .store()
            .ci_statuses_for_commit(repo_name, &run.head_sha)
            .await?;
        let mut changed = 0;
        for rec in rows {
            match self.apply(rec, Observation::Webhook(seen(run)), now).await {
                Ok(c) => changed += usize::from(c),
                Err(GithubOrEngine::Engine(e)) => return Err(e),
                Err(GithubOrEngine::Github(e)) => {
                    tracing::debug!(error = %e, "chart version not read yet; polling will retry");
                }
            }
        }
        Ok(changed)
    }

    async fn apply(
        &self,
        rec: CiStatusRecord,
        observation: Observation,
        now: i64,
    ) -> Result<bool, GithubOrEngine> {
        let (record, history) = match observe(&rec, observation, &self.settings, now) {
            Step::Store { record, history } => (record, history),
            Step::NeedsChart { record, run } => {
                let version = self.chart_version(&rec.repo_name, run.id).await?;
                succeeded(record, &run, version, now)
            }
        };
        let changed = record.status != rec.status || !history.is_empty();
        let store = self.engine.store();
        let mut tx = store.begin().await.map_err(EngineError::from)?;
        if !tx
            .update_ci_status(&record)
            .await
            .map_err(EngineError::from)?
        {
            // Someone else (a webhook, another replica) wrote first: their state stands.
            tx.rollback().await.map_err(EngineError::from)?;
            return Ok(false);
        }
        for (action, details) in &history {
            tx.append_history(
                &rec.release_id,
                &NewHistory {
                    action: *action,
                    actor: Self::actor(),
                    details: details.clone(),
                    created_at: now,
                },
            )
            .await
            .map_err(EngineError::from)?;
        }
        tx.commit().await.map_err(EngineError::from)?;
        if changed {
            let mut kinds = vec![EventKind::Ci];
            if !history.is_empty() {
                kinds.push(EventKind::History);
            }
            self.engine.events().publish(&rec.release_id, &kinds, now);
        }
        Ok(changed)
    }

    /// The chart version of a successful run: its Helm job's log, last match of the pattern.
    async fn chart_version(
        &self,
        repo: &str,
        run_id: u64,
    ) -> Result<Option<String>, GithubOrEngine> {
        let github = self.engine.github_or_unavailable()?;
        let jobs = github.client.run_jobs(&github.org, repo, run_id).await?;
        let Some(job) = jobs
            .iter()
            .find(|j| j.name.to_lowercase().contains(&self.helm_job))
        else {
            return Ok(None);
        };
        let mut scanner = ChartVersionScanner::new(&self.pattern);
        let read = github
            .client
            .stream_job_log(&github.org, repo, job.id, MAX_LOG_BYTES, |chunk| {
                scanner.feed(chunk)
            })
            .await?;
        Ok(read.and_then(|_| scanner.finish()))
    }
}

impl Engine {
    /// Starts CI tracking for every included repo of `view` whose pull request has merged, once
    /// (a repo already tracked is left alone). Returns how many started.
    ///
    /// Called after a release is created or refreshed, outside that transaction: starting is
    /// idempotent, so a crash in between is repaired by the next refresh or webhook.
    pub async fn track_merged(&self, view: &ReleaseView) -> Result<usize, EngineError> {
        if view.release.status == ReleaseStatus::Cancelled {
            return Ok(0);
        }
        let now = self.now();
        let mut started = 0;
        for repo in view.repos.iter().filter(|r| !r.excluded) {
            let Some(pull) = &repo.change.pull else {
                continue;
            };
            let (PrState::Merged, Some(sha)) = (pull.state, &pull.merge_commit_sha) else {
                continue;
            };
            if self
                .store()
                .start_ci_tracking(repo.id, &view.release.id, &repo.change.repo_name, sha, now)
                .await?
            {
                started += 1;
            }
        }
        if started > 0 {
            self.events()
                .publish(&view.release.id, &[EventKind::Ci], now);
        }
        Ok(started)
    }
}

/// A check fails on GitHub (retry later, or back off) or in the engine (a real error).
enum GithubOrEngine {
    Github(GithubError),
    Engine(EngineError),
}

impl From<GithubError> for GithubOrEngine {
    fn from(e: GithubError) -> Self {
        GithubOrEngine::Github(e)
    }
}

impl From<EngineError> for GithubOrEngine {
    fn from(e: EngineError) -> Self {
        GithubOrEngine::Engine(e)
    }
}
