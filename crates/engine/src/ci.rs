//! The CI tracker: polls GitHub for the runs of tracked merges, applies webhooks, reads chart
//! versions, and writes each change with its history in one transaction.
//!
//! All state is in `repo_ci_status`; in memory the tracker keeps only when the last webhook
//! arrived: while webhooks keep arriving, polls are spaced `webhook_poll_interval` apart (the
//! safety net), otherwise `poll_interval`. A rate limit pauses the GitHub client itself until
//! GitHub's reset (every caller, one warning, on the same clock as the engine); the tracker
//! skips its rounds for that long, and at least `ci.rate_limit_backoff`. [`CiTracker::tick`] does one round (claim due
//! rows, check each); `shipyard serve` repeats it. Tests call `tick` after advancing a
//! `ManualClock`.

use crate::ReleaseView;
use crate::ci_rules::{CiSettings, Observation, RunSeen, Step, observe, succeeded};
use crate::events::EventKind;
use crate::{Engine, EngineError};
use regex::Regex;
use shipyard_core::change::PrState;
use shipyard_core::chart::ChartVersionScanner;
use shipyard_core::ci::CiStatus;
use shipyard_core::history::HistoryDetails;
use shipyard_core::{Actor, ReleaseStatus};
use shipyard_github::webhook::JobEvent;
use shipyard_github::{Conditional, GithubError, WorkflowRun};
use shipyard_store::{CiStatusRecord, NewHistory, NewNotification};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

/// Longest job log read for a chart version.
pub const MAX_LOG_BYTES: usize = 64 * 1024 * 1024;

/// Rows checked per round at most.
const BATCH: u32 = 50;

/// How CI tracking runs, from the `ci` section of the configuration.
#[derive(Debug, Clone)]
pub struct CiOptions {
    /// Intervals, timeout and the workflow file.
    pub settings: CiSettings,
    /// A job whose name contains this (case-insensitive) has the chart version in its log.
    pub helm_job_pattern: String,
    /// `ci.chart_version_pattern`: its last match in the Helm job's log is the chart version.
    pub chart_version_pattern: Regex,
    /// Shortest pause after a rate limit, in seconds (`ci.rate_limit_backoff`).
    pub rate_limit_backoff: i64,
    /// How long a claim on a row lasts, in seconds (`ci.claim_lease`; at least four polls).
    pub claim_lease: i64,
}

/// What the tracker keeps in memory, owned by the engine: its settings, when the last webhook
/// arrived (while webhooks keep arriving, polls are spaced `webhook_poll_interval` apart, the
/// safety net), Helm job hints and the rate-limit pause.
pub(crate) struct CiState {
    settings: CiSettings,
    helm_job: String,
    pattern: Regex,
    /// Unix seconds of the last webhook delivery that was applied; 0 before the first.
    last_webhook: AtomicI64,
    /// Helm jobs announced by `workflow_job` webhooks, by run and attempt: the chart version
    /// is then read without listing the run's jobs. A hint only (lost on restart).
    helm_jobs: Mutex<HashMap<(u64, u64), u64>>,
    /// Shortest pause after a rate limit, in seconds (`ci.rate_limit_backoff`).
    rate_limit_backoff: i64,
    /// `CiOptions::claim_lease`.
    claim_lease: i64,
    /// Unix seconds before which no round runs, after a rate limit.
    resume_at: AtomicI64,
    /// The client's count of rate-limit pauses when the tracker last looked.
    pauses_seen: AtomicU64,
}

impl CiState {
    pub(crate) fn new(options: CiOptions) -> Self {
        CiState {
            settings: options.settings,
            helm_job: options.helm_job_pattern.to_lowercase(),
            pattern: options.chart_version_pattern,
            last_webhook: AtomicI64::new(0),
            helm_jobs: Mutex::new(HashMap::new()),
            rate_limit_backoff: options.rate_limit_backoff,
            claim_lease: options.claim_lease,
            resume_at: AtomicI64::new(0),
            pauses_seen: AtomicU64::new(0),
        }
    }
}

/// The CI tracker of an engine ([`Engine::ci`]): cheap to clone, its state lives in the engine.
#[derive(Clone)]
pub struct CiTracker {
    engine: Engine,
    state: Arc<CiState>,
}

/// Helm job hints kept at most; the oldest are dropped past this.
const MAX_HELM_HINTS: usize = 10_000;

/// What one round did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Round {
    /// Rows checked.
    pub checked: usize,
    /// Rows whose state changed.
    pub changed: usize,
    /// Whether the round was skipped or stopped for a rate limit.
    pub backed_off: bool,
    /// Rows handed back unchecked because the tracker is stopping.
    pub handed_back: usize,
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
    pub(crate) fn new(engine: Engine, state: Arc<CiState>) -> Self {
        CiTracker { engine, state }
    }

    /// Whether GitHub rate-limited anyone since the last look, even a limit short enough for
    /// the client to wait out: background work then yields for the back-off.
    fn rate_limited_since(&self, client: &shipyard_github::GitHub) -> bool {
        let pauses = client.stats().rate_limit_pauses;
        self.state.pauses_seen.swap(pauses, Ordering::SeqCst) < pauses
    }

    /// Skips rounds until `reset_in` seconds from `now`; for a limit that just began, at least
    /// the configured back-off (counted from its start, not from each later look).
    fn pause(&self, now: i64, reset_in: i64, began: bool) {
        let floor = if began {
            self.state.rate_limit_backoff
        } else {
            0
        };
        self.state
            .resume_at
            .fetch_max(now + reset_in.max(floor), Ordering::SeqCst);
    }

    /// Notes a `workflow_job` webhook: a Helm job's id saves listing the run's jobs later.
    pub fn on_workflow_job(&self, job: &JobEvent) {
        if !job.name.to_lowercase().contains(&self.state.helm_job) {
            return;
        }
        let mut hints = self
            .state
            .helm_jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if hints.len() >= MAX_HELM_HINTS {
            hints.clear();
        }
        let key = (job.run_id, u64::from(job.run_attempt));
        // The first Helm job of the run counts, as when listing.
        let id = hints.get(&key).map_or(job.id, |&known| known.min(job.id));
        hints.insert(key, id);
    }

    fn helm_job_hint(&self, run_id: u64, attempt: u64) -> Option<u64> {
        let hints = self
            .state
            .helm_jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        hints.get(&(run_id, attempt)).copied()
    }

    /// Notes that a webhook delivery was applied: GitHub is reaching us.
    pub(crate) fn webhook_arrived(&self) {
        self.state
            .last_webhook
            .fetch_max(self.engine.now(), Ordering::Relaxed);
    }

    /// Whether webhooks are arriving: one came within two safety-net intervals.
    pub fn webhooks_live(&self, now: i64) -> bool {
        let last = self.state.last_webhook.load(Ordering::Relaxed);
        last > 0 && now - last < 2 * self.state.settings.webhook_poll_interval
    }

    /// The settings for a check at `now`: while webhooks are live, polls are the safety net.
    fn settings_at(&self, now: i64) -> Cow<'_, CiSettings> {
        if self.webhooks_live(now) {
            let mut s = self.state.settings.clone();
            s.poll_interval = s.poll_interval.max(s.webhook_poll_interval);
            Cow::Owned(s)
        } else {
            Cow::Borrowed(&self.state.settings)
        }
    }

    /// The settings the tracker runs with.
    pub fn settings(&self) -> &CiSettings {
        &self.state.settings
    }

    fn actor() -> Actor {
        Actor {
            subject: "shipyard:ci".into(),
            name: "CI tracker".into(),
        }
    }

    /// One round: claims the due rows and checks each.
    pub async fn tick(&self) -> Result<Round, EngineError> {
        self.tick_until(&CancellationToken::new()).await
    }

    /// One round, cut short when `stop` is cancelled: the check in flight is abandoned (what it
    /// had not committed is rolled back) and it and the rows not checked yet are handed back,
    /// due at once for whichever replica claims next.
    pub async fn tick_until(&self, stop: &CancellationToken) -> Result<Round, EngineError> {
        let now = self.engine.now();
        let mut round = Round::default();
        let Some(github) = self.engine.github() else {
            return Ok(round);
        };
        // Someone met a rate limit (the client warned once): asking now would only fail.
        let began = self.rate_limited_since(&github.client);
        let client_pause = github.client.rate_limit_pause();
        if began || client_pause.is_some() {
            self.pause(now, client_pause.map_or(0, |p| p.as_secs() as i64), began);
        }
        if now < self.state.resume_at.load(Ordering::SeqCst) {
            metrics::counter!("shipyard_ci_rounds_skipped_total", "reason" => "rate_limit")
                .increment(1);
            round.backed_off = true;
            return Ok(round);
        }
        let lease = (self.state.settings.poll_interval * 4).max(self.state.claim_lease);
        let due = self
            .engine
            .store()
            .claim_due_ci_checks(now, lease, BATCH)
            .await?;
        let live = self.webhooks_live(now);
        // How far behind the tracker runs: the longest a claimed row waited past its due time.
        let lag = due.iter().map(|r| now - r.next_check_at).max().unwrap_or(0);
        metrics::gauge!("shipyard_ci_due_checks").set(due.len() as f64);
        metrics::gauge!("shipyard_ci_check_lag_seconds").set(lag.max(0) as f64);
        metrics::counter!("shipyard_ci_rounds_total").increment(1);
        metrics::counter!("shipyard_leases_claimed_total", "queue" => "ci")
            .increment(due.len() as u64);
        let mut due = due.into_iter();
        while let Some(rec) = due.next() {
            if stop.is_cancelled() {
                for rest in std::iter::once(rec).chain(due.by_ref()) {
                    self.engine.store().update_ci_status(&rest).await?;
                    round.handed_back += 1;
                }
                break;
            }
            // While webhooks arrive, a new merge's run is announced by them: the first poll
            // waits for the safety net instead of costing a request at once.
            let first_poll = rec.tracking_started_at + self.state.settings.webhook_poll_interval;
            if live && rec.run_id.is_none() && rec.checks == 0 && now < first_poll {
                let mut later = rec;
                later.next_check_at = first_poll;
                self.engine.store().update_ci_status(&later).await?;
                continue;
            }
            let claimed = rec.clone();
            let outcome = tokio::select! {
                outcome = self.check(rec, now) => outcome,
                () = stop.cancelled() => {
                    self.engine.store().update_ci_status(&claimed).await?;
                    round.handed_back += 1;
                    continue;
                }
            };
            round.checked += 1;
            let began = self.rate_limited_since(&github.client);
            let limited = match outcome {
                Err(GithubOrEngine::Github(GithubError::RateLimited { reset_in_secs })) => {
                    Some(reset_in_secs as i64)
                }
                // A limit the client waited out: the check went through, the round stops.
                _ if began => Some(0),
                _ => None,
            };
            match outcome {
                Ok(changed) => round.changed += usize::from(changed),
                Err(GithubOrEngine::Github(GithubError::RateLimited { .. })) => {}
                Err(GithubOrEngine::Github(e)) => {
                    // Transient (already retried by the client): the lease runs out and the
                    // row is checked again.
                    tracing::debug!(error = %e, "CI check failed; will retry");
                }
                Err(GithubOrEngine::Engine(e)) => return Err(e),
            }
            if let Some(reset_in) = limited {
                // The client pauses every caller until GitHub's reset; the tracker waits at
                // least its back-off. The other rows go back (unchanged), due again as soon as
                // the pause ends.
                self.pause(now, reset_in, began);
                round.backed_off = true;
                for rest in due.by_ref() {
                    self.engine.store().update_ci_status(&rest).await?;
                }
                break;
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
                &self.state.settings.workflow_file,
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
                    .filter(|r| self.state.settings.is_tracked_workflow(&r.path))
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
        if !self.state.settings.is_tracked_workflow(&run.path) {
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
        let (record, history) = match observe(&rec, observation, &self.settings_at(now), now) {
            Step::Store { record, history } => (record, history),
            Step::NeedsChart { record, run } => {
                let version = self
                    .chart_version(&rec.repo_name, run.id, run.run_attempt)
                    .await?;
                succeeded(record, &run, version, now)
            }
        };
        let changed = record.status != rec.status || !history.is_empty();
        let store = self.engine.store();
        let notifications = self.failure_notifications(&record, &history, now).await?;
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
        for details in &history {
            tx.append_history(
                &rec.release_id,
                &NewHistory::new(Self::actor(), details.clone(), now),
            )
            .await
            .map_err(EngineError::from)?;
        }
        for n in &notifications {
            tx.enqueue_notification(n)
                .await
                .map_err(EngineError::from)?;
        }
        // A published chart starts (or restarts) deployment tracking, in the same transaction.
        let mut tracking = 0;
        if let (CiStatus::Success, Some(chart)) = (record.status, record.chart_version.as_deref()) {
            tracking = self
                .engine
                .start_deploy_tracking(
                    &mut tx,
                    record.repo_id,
                    &record.release_id,
                    &record.repo_name,
                    chart,
                    now,
                )
                .await?;
        }
        let mut kinds = Vec::new();
        if changed {
            kinds.push(EventKind::Ci);
            if !history.is_empty() {
                kinds.push(EventKind::History);
            }
        }
        if tracking > 0 {
            kinds.push(EventKind::Deployment);
        }
        self.engine
            .commit_announcing(tx, &rec.release_id, &kinds, now)
            .await
            .map_err(EngineError::from)?;
        if changed {
            metrics::counter!("shipyard_ci_status_changes_total", "status" => record.status.as_str())
                .increment(1);
        }
        Ok(changed)
    }

    /// The chat notifications a failed build owes, for a release started from chat.
    async fn failure_notifications(
        &self,
        record: &CiStatusRecord,
        history: &[HistoryDetails],
        now: i64,
    ) -> Result<Vec<NewNotification>, EngineError> {
        let failures: Vec<&str> = history
            .iter()
            .filter_map(|d| match d {
                HistoryDetails::CiFailed { reason, .. } => Some(reason.as_str()),
                _ => None,
            })
            .collect();
        if failures.is_empty() {
            return Ok(Vec::new());
        }
        let Some(release) = self.engine.store().release(&record.release_id).await? else {
            return Ok(Vec::new());
        };
        let base_url = &self.engine.settings().base_url;
        Ok(failures
            .into_iter()
            .filter_map(|reason| {
                crate::chat::ci_failed_notification(&release, record, reason, base_url, now)
            })
            .collect())
    }

    /// The chart version of a successful run: its Helm job's log, last match of the pattern.
    async fn chart_version(
        &self,
        repo: &str,
        run_id: u64,
        attempt: u64,
    ) -> Result<Option<String>, GithubOrEngine> {
        let github = self.engine.github_or_unavailable()?;
        let job_id = match self.helm_job_hint(run_id, attempt) {
            Some(id) => id,
            None => {
                let jobs = github.client.run_jobs(&github.org, repo, run_id).await?;
                let Some(job) = jobs
                    .iter()
                    .find(|j| j.name.to_lowercase().contains(&self.state.helm_job))
                else {
                    return Ok(None);
                };
                job.id
            }
        };
        let mut scanner = ChartVersionScanner::new(&self.state.pattern);
        let read = github
            .client
            .stream_job_log(&github.org, repo, job_id, MAX_LOG_BYTES, |chunk| {
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
    /// idempotent, so a crash in between is repaired by the next refresh or webhook. When some
    /// started, `view.ci` is read again.
    pub async fn track_merged(&self, view: &mut ReleaseView) -> Result<usize, EngineError> {
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
            view.ci = self.store().ci_statuses(&view.release.id).await?;
            self.announce(&view.release.id, &[EventKind::Ci], now).await;
        }
        Ok(started)
    }

    /// CI counts of `releases` (all zeros for one without tracking), for lists.
    pub async fn ci_summaries(
        &self,
        releases: &[shipyard_core::ReleaseId],
    ) -> Result<
        std::collections::HashMap<shipyard_core::ReleaseId, shipyard_core::ci::CiSummary>,
        EngineError,
    > {
        Ok(self.store().ci_summaries(releases).await?)
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
