//! Deployment tracking: one `repo_deploy_status` row per release repo and Argo CD environment,
//! the tracker's leases on due rows, version-checked updates, and per-release summaries.
//!
//! As for CI (`ci.rs`), several instances may track at once: [`Store::claim_due_deploy_checks`]
//! hands each due row to one claimer for a lease, and every update names the `version` it read.
//! The one-word `state` is derived by `shipyard_core::deploy::state` from the row at every write
//! and stored, so that summaries are counted by the database; nothing else writes it.

use crate::error::StoreError;
use crate::rows::release_id;
use crate::{Store, Tx};
use shipyard_core::deploy::{DeployState, Marks, Observed, Rollout, state};
use shipyard_core::{ReleaseId, UnixTime};
use std::collections::HashMap;

/// Where one release repo stands in one environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployStatusRecord {
    /// The release repo.
    pub repo_id: i64,
    /// The environment (a key of `argocd.environments`).
    pub environment: String,
    /// The release the repo belongs to.
    pub release_id: ReleaseId,
    /// The repo's name.
    pub repo_name: String,
    /// The Argo CD application read.
    pub app_name: String,
    /// CI's chart version.
    pub expected_version: Option<String>,
    /// The version that runs (last successful read).
    pub current_version: Option<String>,
    /// The version Argo CD is moving to.
    pub target_version: Option<String>,
    /// `Synced`, `OutOfSync`, `Unknown`.
    pub sync_status: Option<String>,
    /// Argo CD's health.
    pub health_status: Option<String>,
    /// The last operation's phase.
    pub operation_phase: Option<String>,
    /// The resolved target revision (chart version or commit SHA).
    pub revision: Option<String>,
    /// What Argo CD says is wrong or going on.
    pub message: Option<String>,
    /// How far the rollout is, when read.
    pub rollout: Option<Rollout>,
    /// Whether the application exists and may be read.
    pub found: bool,
    /// Why the last read failed or found nothing readable.
    pub error: Option<String>,
    /// A digest of the last list answer about the app.
    pub fingerprint: Option<String>,
    /// When the app was last read (successfully or not).
    pub last_checked_at: Option<UnixTime>,
    /// When the app was last read successfully.
    pub last_ok_at: Option<UnixTime>,
    /// When anything but the times last changed.
    pub last_changed_at: Option<UnixTime>,
    /// Which expected versions the history milestones were recorded for.
    pub marks: Marks,
    /// When the row is due; `None` while nothing can change (deployed everywhere).
    pub next_check_at: Option<UnixTime>,
    /// Until when an instance reads the row.
    pub lease_until: Option<UnixTime>,
    /// Bumped by every write.
    pub version: i64,
}

impl DeployStatusRecord {
    /// A row for `repo` in `environment` that nothing has read yet.
    pub fn new(
        repo_id: i64,
        environment: &str,
        release_id: &ReleaseId,
        repo_name: &str,
        app_name: &str,
        expected_version: Option<String>,
    ) -> Self {
        DeployStatusRecord {
            repo_id,
            environment: environment.to_owned(),
            release_id: release_id.clone(),
            repo_name: repo_name.to_owned(),
            app_name: app_name.to_owned(),
            expected_version,
            current_version: None,
            target_version: None,
            sync_status: None,
            health_status: None,
            operation_phase: None,
            revision: None,
            message: None,
            rollout: None,
            found: false,
            error: None,
            fingerprint: None,
            last_checked_at: None,
            last_ok_at: None,
            last_changed_at: None,
            marks: Marks::default(),
            next_check_at: None,
            lease_until: None,
            version: 0,
        }
    }

    /// Whether the last read succeeded (an answer "not found" is a successful read).
    pub fn read_ok(&self) -> bool {
        match (self.last_ok_at, self.last_checked_at) {
            (Some(ok), Some(checked)) => ok >= checked,
            _ => false,
        }
    }

    /// The one-word verdict.
    pub fn state(&self) -> DeployState {
        state(&Observed {
            read_ok: self.read_ok(),
            expected: self.expected_version.as_deref(),
            found: self.found,
            current: self.current_version.as_deref(),
            target: self.target_version.as_deref(),
            sync: self.sync_status.as_deref(),
            health: self.health_status.as_deref(),
            operation: self.operation_phase.as_deref(),
        })
    }

    /// Whether anything a person sees differs from `other` (times and scheduling aside).
    pub fn differs_from(&self, other: &DeployStatusRecord) -> bool {
        let strip = |r: &DeployStatusRecord| DeployStatusRecord {
            last_checked_at: None,
            last_ok_at: None,
            last_changed_at: None,
            next_check_at: None,
            lease_until: None,
            version: 0,
            ..r.clone()
        };
        strip(self) != strip(other)
    }
}

macro_rules! deploy_columns {
    () => {
        "repo_id, environment, release_id, repo_name, app_name, expected_version, \
         current_version, target_version, sync_status, health_status, operation_phase, revision, \
         message, rollout_replicas, rollout_ready, rollout_updated, found, error, state, \
         fingerprint, last_checked_at, last_ok_at, last_changed_at, started_for, observed_for, \
         failed_for, next_check_at, lease_until, version"
    };
}

#[derive(Debug, sqlx::FromRow)]
struct RawDeployStatus {
    repo_id: i64,
    environment: String,
    release_id: String,
    repo_name: String,
    app_name: String,
    expected_version: Option<String>,
    current_version: Option<String>,
    target_version: Option<String>,
    sync_status: Option<String>,
    health_status: Option<String>,
    operation_phase: Option<String>,
    revision: Option<String>,
    message: Option<String>,
    rollout_replicas: Option<i64>,
    rollout_ready: Option<i64>,
    rollout_updated: Option<i64>,
    found: bool,
    error: Option<String>,
    #[allow(dead_code)]
    state: String,
    fingerprint: Option<String>,
    last_checked_at: Option<i64>,
    last_ok_at: Option<i64>,
    last_changed_at: Option<i64>,
    started_for: Option<String>,
    observed_for: Option<String>,
    failed_for: Option<String>,
    next_check_at: Option<i64>,
    lease_until: Option<i64>,
    version: i64,
}

fn replicas(column: &str, n: i64) -> Result<u32, StoreError> {
    u32::try_from(n).map_err(|_| StoreError::corrupt(column, format!("{n} is not a count")))
}

impl RawDeployStatus {
    fn into_record(self) -> Result<DeployStatusRecord, StoreError> {
        let rollout = match (
            self.rollout_replicas,
            self.rollout_ready,
            self.rollout_updated,
        ) {
            (Some(r), Some(ready), Some(u)) => Some(Rollout {
                replicas: replicas("rollout_replicas", r)?,
                ready: replicas("rollout_ready", ready)?,
                updated: replicas("rollout_updated", u)?,
            }),
            _ => None,
        };
        Ok(DeployStatusRecord {
            repo_id: self.repo_id,
            environment: self.environment,
            release_id: release_id("release_id", self.release_id)?,
            repo_name: self.repo_name,
            app_name: self.app_name,
            expected_version: self.expected_version,
            current_version: self.current_version,
            target_version: self.target_version,
            sync_status: self.sync_status,
            health_status: self.health_status,
            operation_phase: self.operation_phase,
            revision: self.revision,
            message: self.message,
            rollout,
            found: self.found,
            error: self.error,
            fingerprint: self.fingerprint,
            last_checked_at: self.last_checked_at,
            last_ok_at: self.last_ok_at,
            last_changed_at: self.last_changed_at,
            marks: Marks {
                started: self.started_for,
                observed: self.observed_for,
                failed: self.failed_for,
            },
            next_check_at: self.next_check_at,
            lease_until: self.lease_until,
            version: self.version,
        })
    }
}

fn into_records(raw: Vec<RawDeployStatus>) -> Result<Vec<DeployStatusRecord>, StoreError> {
    raw.into_iter().map(RawDeployStatus::into_record).collect()
}

// A new expected version (a new chart from CI) starts the row over: due at once, milestones
// kept (they name the version they were recorded for). The same version again changes nothing.
// A cancelled release records the chart but is not followed.
const START_SQLITE: &str = "INSERT INTO repo_deploy_status \
    (repo_id, environment, release_id, repo_name, app_name, expected_version, state, \
     next_check_at) VALUES ($1, $2, $3, $4, $5, $6, $7, \
     CASE WHEN EXISTS (SELECT 1 FROM releases WHERE id = $3 AND status = 'cancelled') \
       THEN NULL ELSE $8 END) \
    ON CONFLICT (repo_id, environment) DO UPDATE SET \
      expected_version = excluded.expected_version, app_name = excluded.app_name, \
      state = excluded.state, next_check_at = excluded.next_check_at, lease_until = NULL, \
      fingerprint = NULL, last_ok_at = NULL, version = repo_deploy_status.version + 1 \
    WHERE repo_deploy_status.expected_version IS NOT excluded.expected_version \
       OR repo_deploy_status.app_name <> excluded.app_name";

const START_POSTGRES: &str = "INSERT INTO repo_deploy_status \
    (repo_id, environment, release_id, repo_name, app_name, expected_version, state, \
     next_check_at) VALUES ($1, $2, $3, $4, $5, $6, $7, \
     CASE WHEN EXISTS (SELECT 1 FROM releases WHERE id = $3 AND status = 'cancelled') \
       THEN NULL ELSE $8 END) \
    ON CONFLICT (repo_id, environment) DO UPDATE SET \
      expected_version = excluded.expected_version, app_name = excluded.app_name, \
      state = excluded.state, next_check_at = excluded.next_check_at, lease_until = NULL, \
      fingerprint = NULL, last_ok_at = NULL, version = repo_deploy_status.version + 1 \
    WHERE repo_deploy_status.expected_version IS DISTINCT FROM excluded.expected_version \
       OR repo_deploy_status.app_name <> excluded.app_name";

const UPDATE: &str = "UPDATE repo_deploy_status SET \
    app_name = $3, expected_version = $4, current_version = $5, target_version = $6, \
    sync_status = $7, health_status = $8, operation_phase = $9, revision = $10, message = $11, \
    rollout_replicas = $12, rollout_ready = $13, rollout_updated = $14, found = $15, \
    error = $16, state = $17, fingerprint = $18, last_checked_at = $19, last_ok_at = $20, \
    last_changed_at = $21, started_for = $22, observed_for = $23, failed_for = $24, \
    next_check_at = $25, lease_until = NULL, version = version + 1 \
    WHERE repo_id = $1 AND environment = $2 AND version = $26";

// Nothing changed: only when it was read and when it is due again.
const TOUCH: &str = "UPDATE repo_deploy_status SET \
    last_checked_at = $3, last_ok_at = $4, next_check_at = $5, lease_until = NULL, \
    version = version + 1 \
    WHERE repo_id = $1 AND environment = $2 AND version = $6";

const SELECT_BY_RELEASE: &str = concat!(
    "SELECT ",
    deploy_columns!(),
    " FROM repo_deploy_status WHERE release_id = $1 ORDER BY repo_name, environment"
);

const SELECT_BY_REPO: &str = concat!(
    "SELECT ",
    deploy_columns!(),
    " FROM repo_deploy_status WHERE repo_id = $1 ORDER BY environment"
);

// A cancelled release is not followed any more, whatever Argo CD announces.
const DUE_FOR_APP: &str = "UPDATE repo_deploy_status SET next_check_at = $2 \
    WHERE app_name = $1 AND expected_version IS NOT NULL \
      AND (next_check_at IS NULL OR next_check_at > $2) \
      AND NOT EXISTS (SELECT 1 FROM releases r \
        WHERE r.id = repo_deploy_status.release_id AND r.status = 'cancelled')";

const PARK_RELEASE: &str = "UPDATE repo_deploy_status SET next_check_at = NULL, \
    version = version + 1 \
    WHERE release_id = $1 AND next_check_at IS NOT NULL";

// A repo deployed in every environment is not due again until something changes; rows another
// instance holds a lease on are left to it.
const PARK_REPO: &str = "UPDATE repo_deploy_status SET next_check_at = NULL, \
    version = version + 1 \
    WHERE repo_id = $1 AND next_check_at IS NOT NULL \
      AND NOT EXISTS (SELECT 1 FROM repo_deploy_status o WHERE o.repo_id = $1 \
        AND (o.state <> 'deployed' OR (o.lease_until IS NOT NULL AND o.lease_until > $2)))";

const CLAIM_SQLITE: &str = concat!(
    "UPDATE repo_deploy_status SET lease_until = $2 \
     WHERE (repo_id, environment) IN (\
         SELECT repo_id, environment FROM repo_deploy_status \
         WHERE next_check_at IS NOT NULL AND next_check_at <= $1 \
           AND (lease_until IS NULL OR lease_until <= $1) \
         ORDER BY next_check_at, repo_id, environment \
         LIMIT $3) \
     RETURNING ",
    deploy_columns!()
);

const CLAIM_POSTGRES: &str = concat!(
    "WITH due AS MATERIALIZED (\
         SELECT repo_id, environment FROM repo_deploy_status \
         WHERE next_check_at IS NOT NULL AND next_check_at <= $1 \
           AND (lease_until IS NULL OR lease_until <= $1) \
         ORDER BY next_check_at, repo_id, environment \
         LIMIT $3 \
         FOR UPDATE SKIP LOCKED) \
     UPDATE repo_deploy_status d SET lease_until = $2 \
     FROM due WHERE d.repo_id = due.repo_id AND d.environment = due.environment \
     RETURNING ",
    "d.repo_id, d.environment, d.release_id, d.repo_name, d.app_name, d.expected_version, \
     d.current_version, d.target_version, d.sync_status, d.health_status, d.operation_phase, \
     d.revision, d.message, d.rollout_replicas, d.rollout_ready, d.rollout_updated, d.found, \
     d.error, d.state, d.fingerprint, d.last_checked_at, d.last_ok_at, d.last_changed_at, \
     d.started_for, d.observed_for, d.failed_for, d.next_check_at, d.lease_until, d.version"
);

// Only included repos count; ids travel as one JSON array (see `ci.rs`).
const SUMMARIES_SQLITE: &str = "SELECT d.release_id, d.environment, d.state, COUNT(*) AS n \
    FROM repo_deploy_status d JOIN release_repos rr ON rr.id = d.repo_id \
    WHERE d.release_id IN (SELECT value FROM json_each($1)) AND NOT rr.excluded \
    GROUP BY d.release_id, d.environment, d.state";

const SUMMARIES_POSTGRES: &str = "SELECT d.release_id, d.environment, d.state, COUNT(*) AS n \
    FROM repo_deploy_status d JOIN release_repos rr ON rr.id = d.repo_id \
    WHERE d.release_id IN (SELECT jsonb_array_elements_text($1::jsonb)) AND NOT rr.excluded \
    GROUP BY d.release_id, d.environment, d.state";

fn parse_state(s: &str) -> Result<DeployState, StoreError> {
    DeployState::ALL
        .into_iter()
        .find(|d| d.as_str() == s)
        .ok_or_else(|| StoreError::corrupt("state", format!("`{s}` is not a deployment state")))
}

/// Counts per release, environment and state, from [`Store::deploy_summaries`].
pub type DeployCounts = HashMap<ReleaseId, HashMap<String, HashMap<DeployState, u32>>>;

macro_rules! bind_update {
    ($query:expr, $r:expr) => {
        $query
            .bind($r.repo_id)
            .bind(&$r.environment)
            .bind(&$r.app_name)
            .bind($r.expected_version.as_deref())
            .bind($r.current_version.as_deref())
            .bind($r.target_version.as_deref())
            .bind($r.sync_status.as_deref())
            .bind($r.health_status.as_deref())
            .bind($r.operation_phase.as_deref())
            .bind($r.revision.as_deref())
            .bind($r.message.as_deref())
            .bind($r.rollout.map(|r| i64::from(r.replicas)))
            .bind($r.rollout.map(|r| i64::from(r.ready)))
            .bind($r.rollout.map(|r| i64::from(r.updated)))
            .bind($r.found)
            .bind($r.error.as_deref())
            .bind($r.state().as_str())
            .bind($r.fingerprint.as_deref())
            .bind($r.last_checked_at)
            .bind($r.last_ok_at)
            .bind($r.last_changed_at)
            .bind($r.marks.started.as_deref())
            .bind($r.marks.observed.as_deref())
            .bind($r.marks.failed.as_deref())
            .bind($r.next_check_at)
            .bind($r.version)
    };
}

impl Store {
    /// Due rows, leased to this caller until `now + lease_secs`, oldest due first.
    pub async fn claim_due_deploy_checks(
        &self,
        now: UnixTime,
        lease_secs: i64,
        limit: u32,
    ) -> Result<Vec<DeployStatusRecord>, StoreError> {
        let raw: Vec<RawDeployStatus> = self
            .claim_leased(CLAIM_SQLITE, CLAIM_POSTGRES, now, lease_secs, limit)
            .await?;
        let mut rows = into_records(raw)?;
        rows.sort_by(|a, b| {
            (a.next_check_at, a.repo_id, &a.environment).cmp(&(
                b.next_check_at,
                b.repo_id,
                &b.environment,
            ))
        });
        Ok(rows)
    }

    /// Writes a row read at `rec.version`; `false` when someone else wrote it first. Ends the
    /// lease.
    pub async fn update_deploy_status(&self, rec: &DeployStatusRecord) -> Result<bool, StoreError> {
        let n = on_pool!(self, pool => bind_update!(sqlx::query(UPDATE), rec)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }

    /// Records a read that changed nothing: only `last_checked_at`/`last_ok_at` and when the
    /// row is due again. `false` when someone else wrote the row first.
    pub async fn touch_deploy_status(&self, rec: &DeployStatusRecord) -> Result<bool, StoreError> {
        let n = on_pool!(self, pool => sqlx::query(TOUCH)
            .bind(rec.repo_id)
            .bind(&rec.environment)
            .bind(rec.last_checked_at)
            .bind(rec.last_ok_at)
            .bind(rec.next_check_at)
            .bind(rec.version)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }

    /// The rows of `release`, by repo name and environment.
    pub async fn deploy_statuses(
        &self,
        release: &ReleaseId,
    ) -> Result<Vec<DeployStatusRecord>, StoreError> {
        let raw: Vec<RawDeployStatus> = on_pool!(self, pool => sqlx::query_as(SELECT_BY_RELEASE)
            .bind(release.as_str())
            .fetch_all(pool)
            .await)?;
        into_records(raw)
    }

    /// The rows of release repo `repo_id`, one per environment.
    pub async fn deploy_statuses_of_repo(
        &self,
        repo_id: i64,
    ) -> Result<Vec<DeployStatusRecord>, StoreError> {
        let raw: Vec<RawDeployStatus> = on_pool!(self, pool => sqlx::query_as(SELECT_BY_REPO)
            .bind(repo_id)
            .fetch_all(pool)
            .await)?;
        into_records(raw)
    }

    /// Makes every tracked row of application `app` due at `now` (a push hint); returns how
    /// many.
    pub async fn make_app_due(&self, app: &str, now: UnixTime) -> Result<u64, StoreError> {
        on_pool!(self, pool => sqlx::query(DUE_FOR_APP)
            .bind(app)
            .bind(now)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .map_err(StoreError::from)
    }

    /// Parks every row of release repo `repo_id` (never due again until a push hint or a new
    /// chart) when each of them is `deployed` and none is leased at `now`; returns how many.
    pub async fn park_deployed_repo(&self, repo_id: i64, now: UnixTime) -> Result<u64, StoreError> {
        on_pool!(self, pool => sqlx::query(PARK_REPO)
            .bind(repo_id)
            .bind(now)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .map_err(StoreError::from)
    }

    /// Counts of included repos per release, environment and state, for `releases`.
    pub async fn deploy_summaries(
        &self,
        releases: &[ReleaseId],
    ) -> Result<DeployCounts, StoreError> {
        let mut out = DeployCounts::new();
        if releases.is_empty() {
            return Ok(out);
        }
        let ids: Vec<&str> = releases.iter().map(ReleaseId::as_str).collect();
        let ids = crate::rows::to_json("release_id", &ids)?;
        let rows: Vec<(String, String, String, i64)> = match &self.db {
            crate::Db::Sqlite(pool) => {
                sqlx::query_as(SUMMARIES_SQLITE)
                    .bind(&ids)
                    .fetch_all(pool)
                    .await?
            }
            crate::Db::Postgres(pool) => {
                sqlx::query_as(SUMMARIES_POSTGRES)
                    .bind(&ids)
                    .fetch_all(pool)
                    .await?
            }
        };
        for (release, environment, state, n) in rows {
            let release = release_id("release_id", release)?;
            let n = u32::try_from(n).unwrap_or(u32::MAX);
            *out.entry(release)
                .or_default()
                .entry(environment)
                .or_default()
                .entry(parse_state(&state)?)
                .or_default() += n;
        }
        Ok(out)
    }
}

impl Tx {
    /// Parks every row of `release` (a cancelled release is not read again; a read in flight
    /// ends with a version conflict); returns how many.
    pub async fn park_release_deploy_checks(
        &mut self,
        release: &ReleaseId,
    ) -> Result<u64, StoreError> {
        on_tx!(self, c => sqlx::query(PARK_RELEASE)
            .bind(release.as_str())
            .execute(c)
            .await
            .map(|r| r.rows_affected()))
        .map_err(StoreError::from)
    }

    /// Starts (or restarts, for a new chart) tracking `repo` in each of `apps` (environment,
    /// application): due at once. A row already expecting `expected_version` for the same app
    /// is left alone. Returns how many rows were written.
    pub async fn start_deploy_tracking(
        &mut self,
        repo_id: i64,
        release: &ReleaseId,
        repo_name: &str,
        apps: &[(String, String)],
        expected_version: &str,
        now: UnixTime,
    ) -> Result<u64, StoreError> {
        let mut written = 0;
        for (environment, app) in apps {
            let fresh = DeployStatusRecord::new(
                repo_id,
                environment,
                release,
                repo_name,
                app,
                Some(expected_version.to_owned()),
            );
            let state = fresh.state();
            let n = match &mut self.inner {
                crate::tx::TxInner::Sqlite(t) => sqlx::query(START_SQLITE)
                    .bind(repo_id)
                    .bind(environment)
                    .bind(release.as_str())
                    .bind(repo_name)
                    .bind(app)
                    .bind(expected_version)
                    .bind(state.as_str())
                    .bind(now)
                    .execute(&mut **t)
                    .await?
                    .rows_affected(),
                crate::tx::TxInner::Postgres(t) => sqlx::query(START_POSTGRES)
                    .bind(repo_id)
                    .bind(environment)
                    .bind(release.as_str())
                    .bind(repo_name)
                    .bind(app)
                    .bind(expected_version)
                    .bind(state.as_str())
                    .bind(now)
                    .execute(&mut **t)
                    .await?
                    .rows_affected(),
            };
            written += n;
        }
        Ok(written)
    }

    /// [`Store::update_deploy_status`] inside a transaction.
    pub async fn update_deploy_status(
        &mut self,
        rec: &DeployStatusRecord,
    ) -> Result<bool, StoreError> {
        let n = on_tx!(self, c => bind_update!(sqlx::query(UPDATE), rec)
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }
}
