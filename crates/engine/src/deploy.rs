//! The deployment tracker: reads, for every repo whose build published a chart, the Argo CD
//! application of each environment, and writes what changed (with its history) in one
//! transaction per row.
//!
//! All state is in `repo_deploy_status` (one row per release repo and environment); the rules
//! (running version, rollout counts, the one-word state, milestones) are
//! `shipyard_core::deploy`'s. A round ([`DeployTracker::tick`]):
//!
//! 1. claims the due rows with a lease (several replicas never read the same row in one
//!    interval);
//! 2. per environment, concurrently and independently: one list call answers for every app
//!    (`GET /api/v1/applications` filtered by project or selector, or by `name` for a single
//!    app), cached for `cache_ttl`; an app whose list entry is unchanged since the last read
//!    costs nothing more; an app rolling out (or deployed from a git path, or just done rolling
//!    out) also has its live workload read for the rollout counts and the image; an app absent
//!    from the list is asked for once, to tell "not found" from "forbidden";
//! 3. an environment that fails keeps every row's last values and records the error, and is
//!    retried with jittered exponential back-off while the others carry on;
//! 4. a repo `deployed` in every environment is parked (not read again until a new chart or a
//!    push hint); a release whose included repos all run their expected version in the deploy
//!    environment turns from `approved` to `deployed`.
//!
//! Rows read in one round are due again together, one poll interval after the list answer
//! they were judged from, so the environment's rows stay on one schedule and one list call
//! serves them all.

use crate::events::EventKind;
use crate::{Caller, Engine, EngineError, ReleaseView};
use futures::future::join_all;
use rand::Rng;
use shipyard_argocd::{ArgoCd, ArgoCdOptions, ArgoError, ListFilter};
use shipyard_config::ArgocdConfig;
use shipyard_core::deploy::{
    self, DeployState, EnvironmentSummary, Milestone, Rollout, VersionSource, argo::Application,
};
use shipyard_core::history::HistoryDetails;
use shipyard_core::{Actor, ReleaseId, ReleaseStatus};
use shipyard_store::{DeployStatusRecord, NewHistory};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::Notify;

/// Rows read per round at most.
const BATCH: u32 = 5_000;

/// Longest pause after an environment failed, in seconds.
const MAX_BACKOFF: i64 = 300;

/// How long one Argo CD request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// Retries of a request that failed with a 5xx or a broken connection.
const RETRIES: u32 = 2;

/// One Argo CD instance.
#[derive(Clone)]
pub struct DeployEnvironment {
    /// Its name (a key of `argocd.environments`).
    pub name: String,
    /// The client, with this instance's token.
    pub client: ArgoCd,
    /// Appended to application names.
    pub app_suffix: String,
}

impl std::fmt::Debug for DeployEnvironment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeployEnvironment")
            .field("name", &self.name)
            .field("app_suffix", &self.app_suffix)
            .finish_non_exhaustive()
    }
}

/// How deployment tracking runs, from the `argocd` section of the configuration.
#[derive(Debug, Clone)]
pub struct DeployOptions {
    /// The environments, in the configuration's order (the order the UI shows).
    pub environments: Vec<DeployEnvironment>,
    /// Repository name → application name, where they differ.
    pub overrides: BTreeMap<String, String>,
    /// Where "deployed" is judged.
    pub deploy_environment: String,
    /// Where versions are read from.
    pub version_source: VersionSource,
    /// Narrows the list call (`argocd.selector`).
    pub selector: Option<String>,
    /// Seconds between reads of an app that can still change.
    pub poll_interval: i64,
    /// Seconds a list answer is reused.
    pub cache_ttl: i64,
}

impl DeployOptions {
    /// The options and one client per environment, from `argocd`.
    pub fn from_config(config: &ArgocdConfig, user_agent: &str) -> Result<Self, ArgoError> {
        let mut environments = Vec::new();
        for (name, env) in &config.environments {
            let client = ArgoCd::new(ArgoCdOptions {
                environment: name.clone(),
                url: env.url.clone(),
                token: env
                    .token
                    .as_ref()
                    .map(|t| t.expose().to_owned())
                    .unwrap_or_default(),
                cf_client_id: env.cf_client_id.clone(),
                cf_client_secret: env.cf_client_secret.as_ref().map(|s| s.expose().to_owned()),
                project: env.project.clone(),
                app_namespace: env.app_namespace.clone(),
                timeout: REQUEST_TIMEOUT,
                retries: RETRIES,
                user_agent: user_agent.to_owned(),
            })?;
            environments.push(DeployEnvironment {
                name: name.clone(),
                client,
                app_suffix: env.app_suffix.clone(),
            });
        }
        Ok(DeployOptions {
            environments,
            overrides: config.overrides.clone(),
            deploy_environment: config.deploy_environment.clone(),
            version_source: config.version_source,
            selector: config.selector.clone(),
            poll_interval: config.poll_interval.as_secs().max(1) as i64,
            cache_ttl: config.cache_ttl.as_secs() as i64,
        })
    }

    /// The application of `repo` in `env`: the override or the repo's name, plus the suffix.
    pub fn app_name(&self, repo: &str, env: &DeployEnvironment) -> String {
        let base = self.overrides.get(repo).map_or(repo, String::as_str);
        format!("{base}{}", env.app_suffix)
    }

    /// `(environment, application)` of `repo`, in order.
    pub fn apps_of(&self, repo: &str) -> Vec<(String, String)> {
        self.environments
            .iter()
            .map(|env| (env.name.clone(), self.app_name(repo, env)))
            .collect()
    }

    /// Environment names, in order.
    pub fn environment_names(&self) -> Vec<String> {
        self.environments.iter().map(|e| e.name.clone()).collect()
    }
}

/// A list answer, by application name.
struct CachedList {
    fetched_at: i64,
    apps: Arc<HashMap<String, Application>>,
}

/// What the tracker remembers of one environment (lost on restart, which only costs a read).
#[derive(Default)]
struct EnvMemory {
    /// Failed rounds in a row.
    failures: AtomicU32,
    /// Unix seconds before which the environment is not asked again.
    resume_at: AtomicI64,
    /// The last full list answer.
    cache: Mutex<Option<CachedList>>,
    /// Whether the last list call succeeded (`None` before the first), and its error.
    last: Mutex<Option<Result<(), String>>>,
}

/// How the tracker last fared with one environment, for readiness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvironmentHealth {
    /// The environment.
    pub environment: String,
    /// Whether its last read succeeded; `None` before the first.
    pub reachable: Option<bool>,
    /// Why the last read failed.
    pub error: Option<String>,
}

/// What the tracker keeps in memory, owned by the engine.
pub(crate) struct DeployMemory {
    pub(crate) options: DeployOptions,
    memory: HashMap<String, EnvMemory>,
    wake: Notify,
}

impl DeployMemory {
    pub(crate) fn new(options: DeployOptions) -> Self {
        let memory = options
            .environments
            .iter()
            .map(|e| (e.name.clone(), EnvMemory::default()))
            .collect();
        DeployMemory {
            options,
            memory,
            wake: Notify::new(),
        }
    }

    fn forget_lists(&self) {
        for m in self.memory.values() {
            *m.cache.lock().unwrap_or_else(PoisonError::into_inner) = None;
        }
    }
}

/// The deployment tracker of an engine ([`Engine::deploy`]): cheap to clone.
#[derive(Clone)]
pub struct DeployTracker {
    engine: Engine,
    state: Arc<DeployMemory>,
}

/// What one round did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DeployRound {
    /// Rows read.
    pub checked: usize,
    /// Rows whose stored state changed.
    pub changed: usize,
    /// Environments that could not be read (or were backing off).
    pub failed_environments: Vec<String>,
    /// Releases that turned `deployed`.
    pub deployed_releases: Vec<ReleaseId>,
}

/// What one environment's part of a round did.
#[derive(Default)]
struct EnvOutcome {
    checked: usize,
    changed: usize,
    failed: bool,
    /// Releases with a changed row, and whether history was written for them.
    releases: BTreeMap<ReleaseId, bool>,
    /// Repos with a row that reads `deployed`.
    deployed_repos: BTreeSet<i64>,
    /// Releases with a row in the deploy environment that turned `deployed`.
    arrived: BTreeSet<ReleaseId>,
}

/// How one row fared.
enum RowOutcome {
    Unchanged,
    Changed { history: bool, arrived: bool },
    Lost,
}

/// The actor of everything the tracker records.
pub fn argo_actor() -> Actor {
    Actor {
        subject: "shipyard:argocd".into(),
        name: "Argo CD".into(),
    }
}

/// Seconds to wait after `failures` failed rounds in a row: the poll interval doubled each
/// time, capped, with up to a quarter of jitter either way.
fn backoff(poll: i64, failures: u32) -> i64 {
    let base = poll
        .saturating_mul(1_i64 << failures.saturating_sub(1).min(16))
        .clamp(1, MAX_BACKOFF);
    let spread = base / 4;
    let jitter = if spread > 0 {
        rand::rng().random_range(-spread..=spread)
    } else {
        0
    };
    (base + jitter).max(1)
}

impl DeployTracker {
    pub(crate) fn new(engine: Engine, state: Arc<DeployMemory>) -> Self {
        DeployTracker { engine, state }
    }

    /// The options it runs with.
    pub fn options(&self) -> &DeployOptions {
        &self.state.options
    }

    /// Waits until a push hint asks for a read, or `timeout` passes.
    pub async fn woken(&self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, self.state.wake.notified()).await;
    }

    /// One round: claims the due rows and reads them, environment by environment.
    pub async fn tick(&self) -> Result<DeployRound, EngineError> {
        let now = self.engine.now();
        let poll = self.state.options.poll_interval;
        let lease = (poll * 4).max(120);
        let due = self
            .engine
            .store()
            .claim_due_deploy_checks(now, lease, BATCH)
            .await?;
        metrics::counter!("shipyard_deploy_rounds_total").increment(1);
        metrics::gauge!("shipyard_deploy_due_checks").set(due.len() as f64);
        let mut round = DeployRound::default();
        if due.is_empty() {
            return Ok(round);
        }
        let mut by_env: BTreeMap<String, Vec<DeployStatusRecord>> = BTreeMap::new();
        for rec in due {
            by_env.entry(rec.environment.clone()).or_default().push(rec);
        }
        let results = join_all(
            by_env
                .into_iter()
                .map(|(env, rows)| self.check_environment(env, rows, now)),
        )
        .await;
        let mut releases: BTreeMap<ReleaseId, bool> = BTreeMap::new();
        let mut deployed_repos = BTreeSet::new();
        let mut arrived = BTreeSet::new();
        for (env, result) in results {
            let outcome = result?;
            round.checked += outcome.checked;
            round.changed += outcome.changed;
            if outcome.failed {
                round.failed_environments.push(env);
            }
            for (release, history) in outcome.releases {
                *releases.entry(release).or_default() |= history;
            }
            deployed_repos.extend(outcome.deployed_repos);
            arrived.extend(outcome.arrived);
        }
        for repo in deployed_repos {
            self.engine.store().park_deployed_repo(repo, now).await?;
        }
        for (release, history) in &releases {
            let mut kinds = vec![EventKind::Deployment];
            if *history {
                kinds.push(EventKind::History);
            }
            self.engine.announce(release, &kinds, now).await;
        }
        for release in arrived {
            if self.engine.deploy_if_complete(&release).await? {
                round.deployed_releases.push(release);
            }
        }
        Ok(round)
    }

    /// Reads one environment's due rows; never fails for Argo CD's sake.
    async fn check_environment(
        &self,
        env_name: String,
        rows: Vec<DeployStatusRecord>,
        now: i64,
    ) -> (String, Result<EnvOutcome, EngineError>) {
        let result = self.check_environment_rows(&env_name, rows, now).await;
        (env_name, result)
    }

    async fn check_environment_rows(
        &self,
        env_name: &str,
        rows: Vec<DeployStatusRecord>,
        now: i64,
    ) -> Result<EnvOutcome, EngineError> {
        let mut outcome = EnvOutcome::default();
        let options = &self.state.options;
        let (Some(env), Some(memory)) = (
            options.environments.iter().find(|e| e.name == env_name),
            self.state.memory.get(env_name),
        ) else {
            // An environment no longer configured: its rows rest.
            for mut rec in rows {
                rec.next_check_at = None;
                self.engine.store().touch_deploy_status(&rec).await?;
            }
            return Ok(outcome);
        };
        let resume_at = memory.resume_at.load(Ordering::SeqCst);
        if now < resume_at {
            outcome.failed = true;
            for mut rec in rows {
                rec.next_check_at = Some(resume_at);
                self.engine.store().touch_deploy_status(&rec).await?;
            }
            return Ok(outcome);
        }
        let listed = match self.list(env, memory, &rows, now).await {
            Ok(listed) => {
                memory.failures.store(0, Ordering::SeqCst);
                *memory.last.lock().unwrap_or_else(PoisonError::into_inner) = Some(Ok(()));
                listed
            }
            Err(e) => {
                let failures = memory.failures.fetch_add(1, Ordering::SeqCst) + 1;
                let wait = backoff(options.poll_interval, failures);
                memory.resume_at.store(now + wait, Ordering::SeqCst);
                metrics::counter!("shipyard_deploy_environment_failures_total", "environment" => env_name.to_owned())
                    .increment(1);
                tracing::warn!(environment = %env_name, error = %e, retry_in_secs = wait, "Argo CD could not be read");
                outcome.failed = true;
                let message = e.to_string();
                *memory.last.lock().unwrap_or_else(PoisonError::into_inner) =
                    Some(Err(message.clone()));
                for rec in rows {
                    outcome.checked += 1;
                    let old = rec.clone();
                    let mut rec = rec;
                    rec.last_checked_at = Some(now);
                    rec.error = Some(message.clone());
                    rec.next_check_at = Some(now + wait);
                    self.record(&mut outcome, &old, rec, now).await?;
                }
                return Ok(outcome);
            }
        };
        let next = listed.fetched_at + options.poll_interval;
        for rec in rows {
            outcome.checked += 1;
            let old = rec.clone();
            let app = listed.apps.get(&rec.app_name);
            let mut rec = self.read_row(env, rec, app, now).await;
            rec.next_check_at = Some(next.max(now + 1));
            self.record(&mut outcome, &old, rec, now).await?;
        }
        Ok(outcome)
    }

    /// The list answer for `rows`: the cached one while fresh, else one call (by name for a
    /// single app).
    async fn list(
        &self,
        env: &DeployEnvironment,
        memory: &EnvMemory,
        rows: &[DeployStatusRecord],
        now: i64,
    ) -> Result<CachedList, ArgoError> {
        let ttl = self.state.options.cache_ttl;
        {
            let cache = memory.cache.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(c) = cache
                .as_ref()
                .filter(|c| ttl > 0 && now - c.fetched_at < ttl)
            {
                return Ok(CachedList {
                    fetched_at: c.fetched_at,
                    apps: c.apps.clone(),
                });
            }
        }
        let single = match rows {
            [only] => Some(only.app_name.clone()),
            _ => None,
        };
        let filter = ListFilter {
            name: single.clone(),
            selector: self.state.options.selector.clone(),
        };
        let answer = env.client.applications(&filter).await?;
        let apps: HashMap<String, Application> = answer
            .items
            .into_iter()
            .map(|a| (a.metadata.name.clone(), a))
            .collect();
        let listed = CachedList {
            fetched_at: now,
            apps: Arc::new(apps),
        };
        if single.is_none() {
            *memory.cache.lock().unwrap_or_else(PoisonError::into_inner) = Some(CachedList {
                fetched_at: now,
                apps: listed.apps.clone(),
            });
        }
        Ok(listed)
    }

    /// The row as this read leaves it (times, values, error), before scheduling.
    async fn read_row(
        &self,
        env: &DeployEnvironment,
        rec: DeployStatusRecord,
        listed: Option<&Application>,
        now: i64,
    ) -> DeployStatusRecord {
        let mut rec = rec;
        let was_ok = rec.read_ok();
        rec.last_checked_at = Some(now);
        let fetched;
        let app = match listed {
            Some(app) => app,
            None => {
                // Absent from the list: missing, forbidden, or outside the selector. The reason
                // is asked for once; while it stands, nothing more is asked.
                if was_ok && !rec.found && rec.error.is_some() {
                    rec.last_ok_at = Some(now);
                    return rec;
                }
                match env.client.application(&rec.app_name).await {
                    Ok(app) => {
                        fetched = app;
                        &fetched
                    }
                    Err(e) if e.is_not_found_or_forbidden() => {
                        rec.last_ok_at = Some(now);
                        rec.found = false;
                        rec.error = Some(e.to_string());
                        rec.current_version = None;
                        rec.target_version = None;
                        rec.sync_status = None;
                        rec.health_status = None;
                        rec.operation_phase = None;
                        rec.revision = None;
                        rec.message = None;
                        rec.rollout = None;
                        rec.fingerprint = None;
                        return rec;
                    }
                    Err(e) => {
                        rec.error = Some(e.to_string());
                        return rec;
                    }
                }
            }
        };
        let source = self.state.options.version_source;
        let repo = rec.repo_name.clone();
        let mut reading = deploy::read(app, source, None, &repo);
        let rolling = deploy::is_rolling_out(app);
        let unchanged = was_ok
            && rec.found
            && rec.error.is_none()
            && rec.fingerprint.as_deref() == Some(reading.fingerprint.as_str());
        if unchanged && !rolling {
            rec.last_ok_at = Some(now);
            return rec;
        }
        // The list has no per-resource health: a newly degraded app is read on its own once,
        // for the degraded resource's own words (and then that is the one extra request).
        let single;
        let mut read_alone = listed.is_none();
        let app = if listed.is_some() && app.status.health.status == "Degraded" {
            match env.client.application(&rec.app_name).await {
                Ok(one) => {
                    read_alone = true;
                    single = one;
                    reading = deploy::read(&single, source, None, &repo);
                    &single
                }
                Err(e) => {
                    tracing::debug!(app = %rec.app_name, error = %e, "degraded app not read on its own");
                    app
                }
            }
        } else {
            app
        };
        // The live workload: rollout counts while rolling out (and once more when it ends),
        // and the image for apps whose version is the image's tag.
        // At most one request beyond the list per changing app: an app read on its own for
        // its health is not read again for its workload, unless its version is the image's.
        let wants_live = if read_alone {
            deploy::needs_live_workload(app, source)
        } else {
            rolling || deploy::needs_live_workload(app, source) || rec.rollout.is_some()
        };
        let mut rollout: Option<Rollout> = None;
        if let Some(resource) = deploy::workload_of(app, &repo).filter(|_| wants_live) {
            match env.client.live_resource(&rec.app_name, resource).await {
                Ok(live) => {
                    if let Some(workload) = live.workload() {
                        rollout = Some(deploy::rollout_of(&workload));
                        reading = deploy::read(app, source, Some(&workload), &repo);
                    }
                }
                Err(e) if rolling => {
                    tracing::debug!(app = %rec.app_name, error = %e, "live workload not read; counting pods in the tree");
                    if let Ok(tree) = env.client.resource_tree(&rec.app_name).await {
                        rollout = deploy::rollout_from_tree(&tree, resource);
                    }
                }
                Err(e) => {
                    tracing::debug!(app = %rec.app_name, error = %e, "live workload not read");
                }
            }
        }
        rec.last_ok_at = Some(now);
        rec.found = true;
        rec.error = None;
        rec.current_version = reading.current_version;
        rec.target_version = reading.target_version;
        rec.sync_status = reading.sync_status;
        rec.health_status = reading.health_status;
        rec.operation_phase = reading.operation_phase;
        rec.revision = reading.revision;
        rec.message = reading.message;
        rec.rollout = rollout;
        rec.fingerprint = Some(reading.fingerprint);
        rec
    }

    /// Stores `rec` (read from `old`): only the times when nothing a person sees changed,
    /// else the row and the milestones it owes, in one transaction.
    async fn record(
        &self,
        outcome: &mut EnvOutcome,
        old: &DeployStatusRecord,
        mut rec: DeployStatusRecord,
        now: i64,
    ) -> Result<(), EngineError> {
        let state = rec.state();
        let expected = rec.expected_version.clone();
        let owed = deploy::milestones(
            &mut rec.marks,
            state,
            expected.as_deref(),
            rec.target_version.as_deref(),
        );
        let result = if rec.differs_from(old) || !owed.is_empty() {
            rec.last_changed_at = Some(now);
            self.write(&rec, &owed, now).await?
        } else if self.engine.store().touch_deploy_status(&rec).await? {
            RowOutcome::Unchanged
        } else {
            RowOutcome::Lost
        };
        if state == DeployState::Deployed {
            outcome.deployed_repos.insert(rec.repo_id);
        }
        match result {
            RowOutcome::Changed { history, arrived } => {
                outcome.changed += 1;
                *outcome.releases.entry(rec.release_id.clone()).or_default() |= history;
                if arrived {
                    outcome.arrived.insert(rec.release_id.clone());
                }
                metrics::counter!("shipyard_deploy_status_changes_total", "state" => state.as_str())
                    .increment(1);
            }
            RowOutcome::Unchanged | RowOutcome::Lost => {}
        }
        Ok(())
    }

    async fn write(
        &self,
        rec: &DeployStatusRecord,
        owed: &[Milestone],
        now: i64,
    ) -> Result<RowOutcome, EngineError> {
        let expected = rec.expected_version.clone().unwrap_or_default();
        let mut tx = self.engine.store().begin().await?;
        if !tx.update_deploy_status(rec).await? {
            // Someone else (another replica, a push hint's read) wrote first: theirs stands.
            tx.rollback().await?;
            return Ok(RowOutcome::Lost);
        }
        for milestone in owed {
            let details = match milestone {
                Milestone::Started => HistoryDetails::DeployStarted {
                    repo: rec.repo_name.clone(),
                    environment: rec.environment.clone(),
                    version: expected.clone(),
                },
                Milestone::Observed => HistoryDetails::DeployObserved {
                    environment: Some(rec.environment.clone()),
                    repo: Some(rec.repo_name.clone()),
                    version: Some(expected.clone()),
                },
                Milestone::Failed => HistoryDetails::DeployFailed {
                    repo: rec.repo_name.clone(),
                    environment: rec.environment.clone(),
                    version: expected.clone(),
                    message: rec.message.clone(),
                },
            };
            tx.append_history(
                &rec.release_id,
                &NewHistory::new(argo_actor(), details, now),
            )
            .await?;
        }
        tx.commit().await?;
        let arrived = owed.contains(&Milestone::Observed)
            && rec.environment == self.state.options.deploy_environment;
        Ok(RowOutcome::Changed {
            history: !owed.is_empty(),
            arrived,
        })
    }
}

/// Where one release's repos stand in every environment, from the stored rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeploymentView {
    /// The environments, in order.
    pub environments: Vec<String>,
    /// Where "deployed" is judged.
    pub deploy_environment: String,
    /// The stored rows, by repo name and environment.
    pub rows: Vec<DeployStatusRecord>,
}

impl DeploymentView {
    /// The row of release repo `repo_id` in `environment`.
    pub fn of(&self, repo_id: i64, environment: &str) -> Option<&DeployStatusRecord> {
        self.rows
            .iter()
            .find(|r| r.repo_id == repo_id && r.environment == environment)
    }
}

impl ReleaseView {
    /// Counts per environment over the included repos (an untracked repo waits); `None` when
    /// deployment tracking is not configured.
    pub fn deployment_summary(&self) -> Option<Vec<EnvironmentSummary>> {
        let d = self.deployment.as_ref()?;
        Some(
            d.environments
                .iter()
                .map(|env| {
                    EnvironmentSummary::of(
                        env,
                        self.repos
                            .iter()
                            .filter(|r| !r.excluded)
                            .map(|r| d.of(r.id, env).map(DeployStatusRecord::state)),
                    )
                })
                .collect(),
        )
    }

    /// Whether any environment of an included repo is not `deployed` yet.
    pub fn deployment_pending(&self) -> bool {
        self.deployment_summary()
            .is_some_and(|s| s.iter().any(|e| e.deployed < e.total))
    }
}

impl Engine {
    /// The deployment tracker, when `argocd` is configured.
    pub fn deploy(&self) -> Option<DeployTracker> {
        let state = self.inner.deploy.clone()?;
        Some(DeployTracker::new(self.clone(), state))
    }

    /// How each environment fared at its last read (configuration order); `None` without
    /// `argocd`.
    pub fn deploy_health(&self) -> Option<Vec<EnvironmentHealth>> {
        let state = self.inner.deploy.as_ref()?;
        Some(
            state
                .options
                .environments
                .iter()
                .map(|env| {
                    let last = state.memory.get(&env.name).and_then(|m| {
                        m.last
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .clone()
                    });
                    EnvironmentHealth {
                        environment: env.name.clone(),
                        reachable: last.as_ref().map(Result::is_ok),
                        error: last.and_then(Result::err),
                    }
                })
                .collect(),
        )
    }

    /// The deployment options, when `argocd` is configured.
    pub fn deploy_options(&self) -> Option<&DeployOptions> {
        self.inner.deploy.as_ref().map(|d| &d.options)
    }

    /// Reads of the stored rows of `release` for a view; `None` without `argocd`.
    pub(crate) async fn deployment_view(
        &self,
        release: &ReleaseId,
    ) -> Result<Option<DeploymentView>, EngineError> {
        let Some(options) = self.deploy_options() else {
            return Ok(None);
        };
        Ok(Some(DeploymentView {
            environments: options.environment_names(),
            deploy_environment: options.deploy_environment.clone(),
            rows: self.store().deploy_statuses(release).await?,
        }))
    }

    /// Counts per environment and state for `releases` (lists), each with `included` repos;
    /// `None` without `argocd`.
    pub async fn deployment_summaries(
        &self,
        releases: &[(ReleaseId, u32)],
    ) -> Result<Option<HashMap<ReleaseId, Vec<EnvironmentSummary>>>, EngineError> {
        let Some(options) = self.deploy_options() else {
            return Ok(None);
        };
        let ids: Vec<ReleaseId> = releases.iter().map(|(id, _)| id.clone()).collect();
        let counts = self.store().deploy_summaries(&ids).await?;
        let mut out = HashMap::new();
        for (id, included) in releases {
            let per_env = counts.get(id);
            let summaries = options
                .environments
                .iter()
                .map(|env| {
                    let states = per_env.and_then(|m| m.get(&env.name));
                    let tracked: u32 = states.map_or(0, |s| s.values().sum());
                    let untracked = included.saturating_sub(tracked);
                    let iter = states
                        .into_iter()
                        .flat_map(|s| s.iter())
                        .flat_map(|(state, n)| std::iter::repeat_n(Some(*state), *n as usize))
                        .chain(std::iter::repeat_n(None, untracked as usize));
                    EnvironmentSummary::of(&env.name, iter)
                })
                .collect();
            out.insert(id.clone(), summaries);
        }
        Ok(Some(out))
    }

    /// A push hint for application `app`: its rows are read in the next round, which starts
    /// now, without a cached list. Returns how many rows were made due (0 for an app no
    /// release tracks). The hint carries no state: only the read that follows does.
    pub async fn deploy_hint(&self, app: &str) -> Result<u64, EngineError> {
        let Some(state) = self.inner.deploy.as_ref() else {
            return Err(EngineError::NotFound(
                "deployment tracking (no `argocd` section in the configuration)".into(),
            ));
        };
        let n = self.store().make_app_due(app, self.now()).await?;
        if n > 0 {
            state.forget_lists();
            state.wake.notify_one();
        }
        metrics::counter!("shipyard_deploy_hints_total").increment(1);
        Ok(n)
    }

    /// Starts tracking the repo of a CI row that published `chart_version`, inside `tx`.
    pub(crate) async fn start_deploy_tracking(
        &self,
        tx: &mut shipyard_store::Tx,
        repo_id: i64,
        release: &ReleaseId,
        repo_name: &str,
        chart_version: &str,
        now: i64,
    ) -> Result<u64, EngineError> {
        let Some(options) = self.deploy_options() else {
            return Ok(0);
        };
        let apps = options.apps_of(repo_name);
        Ok(tx
            .start_deploy_tracking(repo_id, release, repo_name, &apps, chart_version, now)
            .await?)
    }

    /// Turns an `approved` release `deployed` when every included repo runs its expected
    /// version in the deploy environment; `true` when it did (once: a deployed release is
    /// read-only).
    pub(crate) async fn deploy_if_complete(&self, id: &ReleaseId) -> Result<bool, EngineError> {
        let Some(options) = self.deploy_options() else {
            return Ok(false);
        };
        let env = options.deploy_environment.clone();
        let deployed: HashSet<i64> = self
            .store()
            .deploy_statuses(id)
            .await?
            .into_iter()
            .filter(|r| r.environment == env && r.state() == DeployState::Deployed)
            .map(|r| r.repo_id)
            .collect();
        let caller = Caller {
            actor: argo_actor(),
            roles: Vec::new(),
        };
        let mut done = false;
        self.mutate(&caller, id.as_str(), |c| {
            if c.release.status != ReleaseStatus::Approved {
                return Ok(());
            }
            let mut included = c.repos.iter().filter(|r| !r.excluded).peekable();
            if included.peek().is_none() || !included.all(|r| deployed.contains(&r.id)) {
                return Ok(());
            }
            c.release.status = ReleaseStatus::Deployed;
            c.notify_deployed();
            c.record(HistoryDetails::StatusChanged {
                from: ReleaseStatus::Approved,
                to: ReleaseStatus::Deployed,
            });
            c.record(HistoryDetails::DeployObserved {
                environment: Some(env.clone()),
                repo: None,
                version: None,
            });
            c.touch(EventKind::Updated);
            done = true;
            Ok(())
        })
        .await?;
        if done {
            metrics::counter!("shipyard_releases_auto_deployed_total").increment(1);
            tracing::info!(release = %id, environment = %env, "release deployed");
        }
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::backoff;

    #[test]
    fn back_off_doubles_with_jitter_and_a_cap() {
        for _ in 0..200 {
            let first = backoff(30, 1);
            assert!((23..=37).contains(&first), "{first}");
            let third = backoff(30, 3);
            assert!((90..=150).contains(&third), "{third}");
            let many = backoff(30, 40);
            assert!((225..=375).contains(&many), "{many}");
            assert!(backoff(1, 1) >= 1);
        }
    }
}
