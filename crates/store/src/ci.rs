//! CI tracking: one `repo_ci_status` row per release repo whose merge is known, the scheduler's
//! leases on due rows, version-checked updates, and per-release summaries.
//!
//! Several instances may track at once (replicas on one PostgreSQL, or a webhook next to the
//! poller). Two mechanisms keep them apart:
//! - [`Store::claim_due_ci_checks`] hands each due row to one claimer for a lease, so no two
//!   replicas poll the same run within one interval;
//! - every update names the `version` it read and applies only if that is still current, so a
//!   webhook and a poll racing on one row never overwrite each other silently: the loser learns
//!   it lost (`false`) and re-reads.

use crate::error::StoreError;
use crate::records::CiStatusRecord;
use crate::rows::{RawCiStatus, ci_columns, ci_status, release_id, to_db, to_json};
use crate::{Db, Store, Tx};
use shipyard_core::ci::{CiStatus, CiSummary};
use shipyard_core::{ReleaseId, UnixTime};
use std::collections::HashMap;

/// Binds the first tracking of a repo as `$1` repo id, `$2` release, `$3` repo name, `$4` merge
/// commit, `$5` status, `$6` now.
macro_rules! bind_ci_start {
    ($query:expr, $repo_id:expr, $release:expr, $repo_name:expr, $sha:expr, $now:expr) => {
        $query
            .bind($repo_id)
            .bind($release.as_str())
            .bind($repo_name)
            .bind($sha)
            .bind(CiStatus::Pending.as_str())
            .bind($now)
    };
}

/// Binds a record for [`UPDATE_CI_STATUS`]: `$1` the key, `$2..$16` the mutable fields, `$17`
/// the version the record was read at.
macro_rules! bind_ci_update {
    ($query:expr, $r:expr) => {
        $query
            .bind($r.repo_id)
            .bind(&$r.merge_commit_sha)
            .bind($r.status.as_str())
            .bind($r.conclusion.as_deref())
            .bind($r.run_id.map(to_db))
            .bind($r.run_number.map(to_db))
            .bind($r.run_attempt.map(to_db))
            .bind($r.run_url.as_deref())
            .bind($r.chart_version.as_deref())
            .bind($r.tracking_started_at)
            .bind($r.started_at)
            .bind($r.completed_at)
            .bind($r.last_checked_at)
            .bind(i64::from($r.checks))
            .bind($r.etag.as_deref())
            .bind($r.next_check_at)
            .bind($r.version)
    };
}

// A repo is tracked once: a second start (the refresh and the merge webhook both see the merge)
// keeps the row and whatever progress it holds.
const START_CI_TRACKING: &str = "INSERT INTO repo_ci_status \
    (repo_id, release_id, repo_name, merge_commit_sha, status, tracking_started_at, next_check_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $6) \
    ON CONFLICT (repo_id) DO NOTHING";

const SELECT_CI_BY_REPO: &str = concat!(
    "SELECT ",
    ci_columns!(),
    " FROM repo_ci_status WHERE repo_id = $1"
);

const SELECT_CI_BY_RELEASE: &str = concat!(
    "SELECT ",
    ci_columns!(),
    " FROM repo_ci_status WHERE release_id = $1 ORDER BY repo_name"
);

const SELECT_CI_BY_COMMIT: &str = concat!(
    "SELECT ",
    ci_columns!(),
    " FROM repo_ci_status WHERE repo_name = $1 AND merge_commit_sha = $2 ORDER BY repo_id"
);

const SELECT_CI_BY_RUN: &str = concat!(
    "SELECT ",
    ci_columns!(),
    " FROM repo_ci_status WHERE run_id = $1 ORDER BY repo_id"
);

// Everything but the key (repo, release, name) is written, so a caller can also restart
// tracking for a new merge commit. The lease ends with the update: the row is due again at the
// `next_check_at` written here.
const UPDATE_CI_STATUS: &str = "UPDATE repo_ci_status SET \
    merge_commit_sha = $2, status = $3, conclusion = $4, run_id = $5, run_number = $6, \
    run_attempt = $7, run_url = $8, chart_version = $9, tracking_started_at = $10, \
    started_at = $11, completed_at = $12, last_checked_at = $13, checks = $14, etag = $15, \
    next_check_at = $16, lease_until = NULL, version = version + 1 \
    WHERE repo_id = $1 AND version = $17";

// The due rows: still tracked, due, and not leased (or the lease ran out). The IN list is the
// non-final statuses, written exactly as in the partial index `repo_ci_status_due_idx` so that
// both planners use it; a unit test checks it against `CiStatus::is_final`.
//
// SQLite: one UPDATE is one write transaction, and SQLite has a single writer, so no other
// claim runs between picking the rows and leasing them. It takes the write lock before reading
// (autocommit), so a concurrent claimer waits out the busy timeout rather than failing.
const CLAIM_DUE_SQLITE: &str = concat!(
    "UPDATE repo_ci_status SET lease_until = $2 \
     WHERE repo_id IN (\
         SELECT repo_id FROM repo_ci_status \
         WHERE status IN ('pending', 'queued', 'in_progress') \
           AND next_check_at <= $1 \
           AND (lease_until IS NULL OR lease_until <= $1) \
         ORDER BY next_check_at, repo_id \
         LIMIT $3) \
     RETURNING ",
    ci_columns!()
);

// PostgreSQL: rows are locked as they are picked, and rows another claimer holds are skipped
// rather than waited for. A row leased and committed by another claimer after this statement's
// snapshot is re-checked when locked (READ COMMITTED) and then fails the lease condition. The
// pick is a MATERIALIZED CTE so it runs exactly once: an `IN (subquery … LIMIT)` may be
// re-evaluated by some plans, and each evaluation could lock a different set.
const CLAIM_DUE_POSTGRES: &str = concat!(
    "WITH due AS MATERIALIZED (\
         SELECT repo_id FROM repo_ci_status \
         WHERE status IN ('pending', 'queued', 'in_progress') \
           AND next_check_at <= $1 \
           AND (lease_until IS NULL OR lease_until <= $1) \
         ORDER BY next_check_at, repo_id \
         LIMIT $3 \
         FOR UPDATE SKIP LOCKED) \
     UPDATE repo_ci_status SET lease_until = $2 \
     WHERE repo_id IN (SELECT repo_id FROM due) \
     RETURNING ",
    ci_columns!()
);

// Summaries for a page of releases in one round trip: the ids travel as one JSON array bound to
// `$1` and unpacked by the database, so the statement stays static whatever the page size (one
// query per id would be up to 200 round trips per list page). Counts come back per release and
// status; which status counts as what is left to `CiSummary::of`, so it is decided in one place.
// Only included repos count: the join with release_repos is there for `excluded`.
const CI_SUMMARIES_SQLITE: &str = "SELECT c.release_id, c.status, COUNT(*) AS n \
    FROM repo_ci_status c JOIN release_repos rr ON rr.id = c.repo_id \
    WHERE c.release_id IN (SELECT value FROM json_each($1)) AND NOT rr.excluded \
    GROUP BY c.release_id, c.status";

const CI_SUMMARIES_POSTGRES: &str = "SELECT c.release_id, c.status, COUNT(*) AS n \
    FROM repo_ci_status c JOIN release_repos rr ON rr.id = c.repo_id \
    WHERE c.release_id IN (SELECT jsonb_array_elements_text($1::jsonb)) AND NOT rr.excluded \
    GROUP BY c.release_id, c.status";

/// Orders claimed rows oldest due first (`RETURNING` promises no order).
fn oldest_due_first(mut rows: Vec<CiStatusRecord>) -> Vec<CiStatusRecord> {
    rows.sort_by_key(|r| (r.next_check_at, r.repo_id));
    rows
}

fn into_records(raw: Vec<RawCiStatus>) -> Result<Vec<CiStatusRecord>, StoreError> {
    raw.into_iter().map(RawCiStatus::into_record).collect()
}

impl Store {
    /// Starts tracking the CI of release repo `repo_id` (of `release`, named `repo_name`) at its
    /// merge commit: a row in `pending`, due at once. Returns whether a row was inserted; a repo
    /// already tracked keeps its row unchanged (`false`).
    ///
    /// For callers outside a transaction (a webhook); see [`Tx::start_ci_tracking`].
    /// [`StoreError::NotFound`] if the repo or the release does not exist.
    pub async fn start_ci_tracking(
        &self,
        repo_id: i64,
        release: &ReleaseId,
        repo_name: &str,
        merge_commit_sha: &str,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let rows = on_pool!(self, pool => bind_ci_start!(
                sqlx::query(START_CI_TRACKING), repo_id, release, repo_name, merge_commit_sha, now)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(rows == 1)
    }

    /// The CI status of release repo `repo_id`, if it is tracked.
    pub async fn ci_status(&self, repo_id: i64) -> Result<Option<CiStatusRecord>, StoreError> {
        let raw: Option<RawCiStatus> = on_pool!(self, pool => sqlx::query_as(SELECT_CI_BY_REPO)
            .bind(repo_id)
            .fetch_optional(pool)
            .await)?;
        raw.map(RawCiStatus::into_record).transpose()
    }

    /// The CI statuses of the tracked repos of `release` (excluded repos too), by repo name.
    pub async fn ci_statuses(
        &self,
        release: &ReleaseId,
    ) -> Result<Vec<CiStatusRecord>, StoreError> {
        let raw: Vec<RawCiStatus> = on_pool!(self, pool => sqlx::query_as(SELECT_CI_BY_RELEASE)
            .bind(release.as_str())
            .fetch_all(pool)
            .await)?;
        into_records(raw)
    }

    /// Every tracked repo named `repo_name` at merge commit `sha`, in any release (one merge may
    /// concern several releases), by repo id.
    pub async fn ci_statuses_for_commit(
        &self,
        repo_name: &str,
        sha: &str,
    ) -> Result<Vec<CiStatusRecord>, StoreError> {
        let raw: Vec<RawCiStatus> = on_pool!(self, pool => sqlx::query_as(SELECT_CI_BY_COMMIT)
            .bind(repo_name)
            .bind(sha)
            .fetch_all(pool)
            .await)?;
        into_records(raw)
    }

    /// Every tracked repo following workflow run `run_id`, in any release, by repo id.
    pub async fn ci_statuses_for_run(
        &self,
        run_id: u64,
    ) -> Result<Vec<CiStatusRecord>, StoreError> {
        let raw: Vec<RawCiStatus> = on_pool!(self, pool => sqlx::query_as(SELECT_CI_BY_RUN)
            .bind(to_db(run_id))
            .fetch_all(pool)
            .await)?;
        into_records(raw)
    }

    /// Claims up to `limit` rows due for a check at `now`, oldest due first: rows still tracked
    /// (status not final), with `next_check_at <= now`, and not leased to anyone (no lease, or
    /// one that ended by `now`). Each is leased until `now + lease_secs` and returned with that
    /// lease; no other claim gets it before the lease ends or an update releases it.
    ///
    /// Claiming does not bump `version`: the claimer updates with the version it got here and
    /// loses (`false`) if a webhook changed the row meanwhile.
    pub async fn claim_due_ci_checks(
        &self,
        now: UnixTime,
        lease_secs: i64,
        limit: u32,
    ) -> Result<Vec<CiStatusRecord>, StoreError> {
        let raw: Vec<RawCiStatus> = self
            .claim_leased(CLAIM_DUE_SQLITE, CLAIM_DUE_POSTGRES, now, lease_secs, limit)
            .await?;
        into_records(raw).map(oldest_due_first)
    }

    /// Writes every field of `r` but its key (see [`Tx::update_ci_status`]), outside a
    /// transaction. `false` if the row is gone or was changed since `r` was read.
    pub async fn update_ci_status(&self, r: &CiStatusRecord) -> Result<bool, StoreError> {
        let rows = on_pool!(self, pool => bind_ci_update!(sqlx::query(UPDATE_CI_STATUS), r)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(rows == 1)
    }

    /// CI summaries of `releases`, over their included repos that are tracked. Every id asked
    /// for has an entry (all zeros for a release without tracking, or an unknown one).
    pub async fn ci_summaries(
        &self,
        releases: &[ReleaseId],
    ) -> Result<HashMap<ReleaseId, CiSummary>, StoreError> {
        let mut out: HashMap<ReleaseId, CiSummary> = releases
            .iter()
            .map(|id| (id.clone(), CiSummary::default()))
            .collect();
        if releases.is_empty() {
            return Ok(out);
        }
        let ids: Vec<&str> = releases.iter().map(ReleaseId::as_str).collect();
        let ids = to_json("release ids", &ids)?;
        let counts: Vec<(String, String, i64)> = match &self.db {
            Db::Sqlite(pool) => {
                sqlx::query_as(CI_SUMMARIES_SQLITE)
                    .bind(&ids)
                    .fetch_all(pool)
                    .await?
            }
            Db::Postgres(pool) => {
                sqlx::query_as(CI_SUMMARIES_POSTGRES)
                    .bind(&ids)
                    .fetch_all(pool)
                    .await?
            }
        };
        for (release, status, n) in counts {
            let status = ci_status("repo_ci_status.status", &status)?;
            let n = usize::try_from(n).unwrap_or(0);
            let release = release_id("repo_ci_status.release_id", release)?;
            if let Some(summary) = out.get_mut(&release) {
                add(summary, CiSummary::of(std::iter::repeat_n(status, n)));
            }
        }
        Ok(out)
    }

    /// The CI summary of one release (see [`Store::ci_summaries`]).
    pub async fn ci_summary(&self, release: &ReleaseId) -> Result<CiSummary, StoreError> {
        let mut all = self.ci_summaries(std::slice::from_ref(release)).await?;
        Ok(all.remove(release).unwrap_or_default())
    }
}

/// Adds the counts of `more` to `into`.
fn add(into: &mut CiSummary, more: CiSummary) {
    into.total += more.total;
    into.success += more.success;
    into.failed += more.failed;
    into.in_progress += more.in_progress;
    into.pending += more.pending;
}

impl Tx {
    /// Starts tracking the CI of release repo `repo_id` in this transaction (see
    /// [`Store::start_ci_tracking`]), so the row commits with the change that revealed the merge.
    /// Returns whether a row was inserted.
    pub async fn start_ci_tracking(
        &mut self,
        repo_id: i64,
        release: &ReleaseId,
        repo_name: &str,
        merge_commit_sha: &str,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let rows = on_tx!(self, c => bind_ci_start!(
                sqlx::query(START_CI_TRACKING), repo_id, release, repo_name, merge_commit_sha, now)
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(rows == 1)
    }

    /// The CI status of release repo `repo_id` as this transaction sees it.
    pub async fn ci_status(&mut self, repo_id: i64) -> Result<Option<CiStatusRecord>, StoreError> {
        let raw: Option<RawCiStatus> = on_tx!(self, c => sqlx::query_as(SELECT_CI_BY_REPO)
            .bind(repo_id)
            .fetch_optional(c)
            .await)?;
        raw.map(RawCiStatus::into_record).transpose()
    }

    /// Writes every field of `r` but its key (`repo_id`, `release_id`, `repo_name`), ends any
    /// lease and bumps the version, all only if the stored version still equals `r.version`.
    /// Returns whether it applied: `false` if the row is gone or another writer changed it since
    /// `r` was read; nothing is written then, and the caller re-reads.
    ///
    /// In a transaction so that it commits with what it causes (a history entry).
    pub async fn update_ci_status(&mut self, r: &CiStatusRecord) -> Result<bool, StoreError> {
        let rows = on_tx!(self, c => bind_ci_update!(sqlx::query(UPDATE_CI_STATUS), r)
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(rows == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The literal list in the claim statements (and the partial index) must be the statuses
    /// that are still tracked.
    #[test]
    fn claim_lists_exactly_the_tracked_statuses() {
        let tracked: Vec<String> = CiStatus::ALL
            .into_iter()
            .filter(|s| !s.is_final())
            .map(|s| format!("'{}'", s.as_str()))
            .collect();
        let list = format!("status IN ({})", tracked.join(", "));
        for sql in [CLAIM_DUE_SQLITE, CLAIM_DUE_POSTGRES] {
            assert!(sql.contains(&list), "{sql}");
        }
        for migration in [
            include_str!("../migrations/sqlite/0003_ci_status.sql"),
            include_str!("../migrations/postgres/0003_ci_status.sql"),
        ] {
            assert!(migration.contains(&format!("WHERE {list}")));
            for s in CiStatus::ALL {
                assert!(migration.contains(&format!("'{}'", s.as_str())), "{s:?}");
            }
        }
    }

    #[test]
    fn summaries_add_up() {
        let mut s = CiSummary::of([CiStatus::Success, CiStatus::Failure]);
        add(
            &mut s,
            CiSummary::of([CiStatus::Pending, CiStatus::Skipped]),
        );
        assert_eq!(
            s,
            CiSummary::of([
                CiStatus::Success,
                CiStatus::Failure,
                CiStatus::Pending,
                CiStatus::Skipped
            ])
        );
    }
}
