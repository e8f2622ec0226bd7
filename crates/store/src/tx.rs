//! Write transactions: every write to releases, repos and history goes through a [`Tx`].

use crate::error::StoreError;
use crate::records::{NewHistory, ReleaseRecord, RepoRecord};
use crate::rows::{
    ChangeJson, PullColumns, RawRelease, RawRepo, release_columns, repo_columns, to_db, to_json,
};
use shipyard_core::ReleaseId;
use shipyard_core::change::{PullInfo, RepoChange};
use shipyard_core::release::SignOff;
use sqlx::{Postgres, Sqlite, Transaction};

/// Binds a repo change as `$1` release id, `$2` repo name, `$3..$14` its figures and pull request,
/// the order that both the insert and the update of a repo row use.
macro_rules! bind_repo_change {
    ($query:expr, $release:expr, $change:expr, $json:expr, $pull:expr) => {
        $query
            .bind($release.as_str())
            .bind(&$change.repo_name)
            .bind(to_db($change.commit_count))
            .bind(to_db($change.additions))
            .bind(to_db($change.deletions))
            .bind(&$json.contributors)
            .bind(&$json.summary)
            .bind($change.is_breaking)
            .bind(&$json.infra_changes)
            .bind(&$change.head_sha)
            .bind($pull.number)
            .bind($pull.url)
            .bind($pull.state)
            .bind($pull.merge_commit_sha)
    };
}

/// The transaction of whichever backend the store uses.
pub(crate) enum TxInner {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

/// A write transaction. Nothing it writes is visible to others until [`Tx::commit`]; dropping
/// it without committing rolls everything back.
///
/// Concurrent writers to one release serialise on [`Tx::lock_release`]: PostgreSQL locks the
/// row (`SELECT … FOR UPDATE`); SQLite starts every write transaction with `BEGIN IMMEDIATE`,
/// which takes the database's single write lock up front, so a second writer waits (up to the
/// busy timeout) at [`Store::begin`](crate::Store::begin) instead of failing later when a read
/// lock would have to be upgraded.
pub struct Tx {
    pub(crate) inner: TxInner,
}

impl std::fmt::Debug for Tx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let backend = match self.inner {
            TxInner::Sqlite(_) => "sqlite",
            TxInner::Postgres(_) => "postgres",
        };
        f.debug_struct("Tx").field("backend", &backend).finish()
    }
}

/// The columns one sign-off occupies, ready to bind.
struct SignOffColumns<'a> {
    subject: Option<&'a str>,
    name: Option<&'a str>,
    at: Option<i64>,
    fingerprint: Option<&'a str>,
}

impl<'a> SignOffColumns<'a> {
    fn new(s: Option<&'a SignOff>) -> Self {
        SignOffColumns {
            subject: s.map(|s| s.by.subject.as_str()),
            name: s.map(|s| s.by.name.as_str()),
            at: s.map(|s| s.at),
            fingerprint: s.map(|s| s.fingerprint.as_str()),
        }
    }
}

const SELECT_RELEASE: &str = concat!(
    "SELECT ",
    release_columns!(),
    " FROM releases WHERE id = $1"
);
// PostgreSQL only: SQLite has no row locks and needs none (see `Tx`).
const SELECT_RELEASE_FOR_UPDATE: &str = concat!(
    "SELECT ",
    release_columns!(),
    " FROM releases WHERE id = $1 FOR UPDATE"
);
pub(crate) const SELECT_REPOS: &str = concat!(
    "SELECT ",
    repo_columns!(),
    " FROM release_repos WHERE release_id = $1 ORDER BY repo_name"
);

impl Tx {
    /// Inserts the release row (repos and history go in separately).
    pub(crate) async fn insert_release(&mut self, r: &ReleaseRecord) -> Result<(), StoreError> {
        const SQL: &str = concat!(
            "INSERT INTO releases (",
            release_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, \
             $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24)"
        );
        let dev = SignOffColumns::new(r.sign_offs.dev.as_ref());
        let qa = SignOffColumns::new(r.sign_offs.qa.as_ref());
        on_tx!(self, c => sqlx::query(SQL)
            .bind(r.id.as_str())
            .bind(&r.org)
            .bind(r.source_branch.as_str())
            .bind(r.dest_branch.as_str())
            .bind(r.status.as_str())
            .bind(&r.notes)
            .bind(&r.breaking_changes)
            .bind(&r.created_by.subject)
            .bind(&r.created_by.name)
            .bind(r.created_at)
            .bind(r.last_refreshed_at)
            .bind(&r.content_fingerprint)
            .bind(dev.subject)
            .bind(dev.name)
            .bind(dev.at)
            .bind(dev.fingerprint)
            .bind(qa.subject)
            .bind(qa.name)
            .bind(qa.at)
            .bind(qa.fingerprint)
            .bind(r.channel_id.as_deref())
            .bind(r.chat_post_id.as_deref())
            .bind(r.approval_cycle)
            .bind(r.version)
            .execute(c)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Reads the release and holds it for this transaction: other writers of the same release
    /// wait until this one commits or rolls back. `None` if there is no such release.
    pub async fn lock_release(
        &mut self,
        id: &ReleaseId,
    ) -> Result<Option<ReleaseRecord>, StoreError> {
        let raw: Option<RawRelease> = match &mut self.inner {
            TxInner::Sqlite(t) => {
                sqlx::query_as(SELECT_RELEASE)
                    .bind(id.as_str())
                    .fetch_optional(&mut **t)
                    .await?
            }
            TxInner::Postgres(t) => {
                sqlx::query_as(SELECT_RELEASE_FOR_UPDATE)
                    .bind(id.as_str())
                    .fetch_optional(&mut **t)
                    .await?
            }
        };
        raw.map(RawRelease::into_record).transpose()
    }

    /// The release's repos as this transaction sees them, sorted by name.
    pub async fn repos(&mut self, id: &ReleaseId) -> Result<Vec<RepoRecord>, StoreError> {
        let raw: Vec<RawRepo> =
            on_tx!(self, c => sqlx::query_as(SELECT_REPOS).bind(id.as_str()).fetch_all(c).await)?;
        raw.into_iter().map(RawRepo::into_record).collect()
    }

    /// Writes every mutable column of the release (status, texts, refresh time, fingerprint,
    /// sign-offs, chat ids, approval cycle) and bumps its version. Returns the new version.
    ///
    /// The id, org, branches, creator and creation time never change and are not written.
    pub async fn save_release(&mut self, r: &ReleaseRecord) -> Result<i64, StoreError> {
        const SQL: &str = "UPDATE releases SET \
            status = $2, notes = $3, breaking_changes = $4, last_refreshed_at = $5, \
            content_fingerprint = $6, \
            dev_approved_by_subject = $7, dev_approved_by_name = $8, dev_approved_at = $9, \
            dev_approved_fingerprint = $10, \
            qa_approved_by_subject = $11, qa_approved_by_name = $12, qa_approved_at = $13, \
            qa_approved_fingerprint = $14, \
            channel_id = $15, chat_post_id = $16, approval_cycle = $17, version = version + 1 \
            WHERE id = $1 RETURNING version";
        let dev = SignOffColumns::new(r.sign_offs.dev.as_ref());
        let qa = SignOffColumns::new(r.sign_offs.qa.as_ref());
        let version: Option<i64> = on_tx!(self, c => sqlx::query_scalar(SQL)
            .bind(r.id.as_str())
            .bind(r.status.as_str())
            .bind(&r.notes)
            .bind(&r.breaking_changes)
            .bind(r.last_refreshed_at)
            .bind(&r.content_fingerprint)
            .bind(dev.subject)
            .bind(dev.name)
            .bind(dev.at)
            .bind(dev.fingerprint)
            .bind(qa.subject)
            .bind(qa.name)
            .bind(qa.at)
            .bind(qa.fingerprint)
            .bind(r.channel_id.as_deref())
            .bind(r.chat_post_id.as_deref())
            .bind(r.approval_cycle)
            .fetch_optional(c)
            .await)?;
        version.ok_or(StoreError::NotFound)
    }

    /// Updates what a refresh re-reads of the repo named `change.repo_name` in `release`:
    /// figures, contributors, summary, breaking flag, infra paths, head and pull request.
    /// Leaves `excluded` and `depends_on` alone.
    pub async fn update_repo_change(
        &mut self,
        release: &ReleaseId,
        change: &RepoChange,
    ) -> Result<(), StoreError> {
        const SQL: &str = "UPDATE release_repos SET \
            commit_count = $3, additions = $4, deletions = $5, contributors = $6, summary = $7, \
            is_breaking = $8, infra_changes = $9, head_sha = $10, \
            pr_number = $11, pr_url = $12, pr_state = $13, merge_commit_sha = $14 \
            WHERE release_id = $1 AND repo_name = $2";
        let json = ChangeJson::new(change)?;
        let pull = PullColumns::new(change.pull.as_ref());
        let rows = on_tx!(self, c => bind_repo_change!(sqlx::query(SQL), release, change, json, pull)
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
        found(rows)
    }

    /// Sets (or clears) the pull request of the repo row `repo_id`.
    pub async fn update_repo_pull(
        &mut self,
        repo_id: i64,
        pull: Option<&PullInfo>,
    ) -> Result<(), StoreError> {
        const SQL: &str = "UPDATE release_repos SET \
            pr_number = $2, pr_url = $3, pr_state = $4, merge_commit_sha = $5 WHERE id = $1";
        let pull = PullColumns::new(pull);
        let rows = on_tx!(self, c => sqlx::query(SQL)
            .bind(repo_id)
            .bind(pull.number)
            .bind(pull.url)
            .bind(pull.state)
            .bind(pull.merge_commit_sha)
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
        found(rows)
    }

    /// Adds a repo to `release` (included, no dependencies) and returns its row id.
    ///
    /// [`StoreError::Conflict`] if the release already has a repo of that name,
    /// [`StoreError::NotFound`] if the release does not exist.
    pub async fn insert_repo(
        &mut self,
        release: &ReleaseId,
        change: &RepoChange,
    ) -> Result<i64, StoreError> {
        const SQL: &str = "INSERT INTO release_repos (\
            release_id, repo_name, commit_count, additions, deletions, contributors, summary, \
            is_breaking, infra_changes, head_sha, pr_number, pr_url, pr_state, merge_commit_sha) \
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
            RETURNING id";
        let json = ChangeJson::new(change)?;
        let pull = PullColumns::new(change.pull.as_ref());
        let id: i64 = on_tx!(self, c => bind_repo_change!(sqlx::query_scalar(SQL), release, change, json, pull)
            .fetch_one(c)
            .await)?;
        Ok(id)
    }

    /// Takes the repo row `repo_id` out of its release, or puts it back.
    pub async fn set_repo_excluded(
        &mut self,
        repo_id: i64,
        excluded: bool,
    ) -> Result<(), StoreError> {
        const SQL: &str = "UPDATE release_repos SET excluded = $2 WHERE id = $1";
        let rows = on_tx!(self, c => sqlx::query(SQL)
            .bind(repo_id)
            .bind(excluded)
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
        found(rows)
    }

    /// Replaces the dependencies (repo names) of the repo row `repo_id`.
    pub async fn set_repo_depends_on(
        &mut self,
        repo_id: i64,
        depends_on: &[String],
    ) -> Result<(), StoreError> {
        const SQL: &str = "UPDATE release_repos SET depends_on = $2 WHERE id = $1";
        let json = to_json("depends_on", depends_on)?;
        let rows = on_tx!(self, c => sqlx::query(SQL)
            .bind(repo_id)
            .bind(&json)
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
        found(rows)
    }

    /// Appends a history entry to `release` and returns its id.
    pub async fn append_history(
        &mut self,
        release: &ReleaseId,
        h: &NewHistory,
    ) -> Result<i64, StoreError> {
        const SQL: &str = "INSERT INTO history \
            (release_id, action, actor_subject, actor_name, details, created_at) \
            VALUES ($1, $2, $3, $4, $5, $6) RETURNING id";
        let details = to_json("details", &h.details.fields())?;
        let id: i64 = on_tx!(self, c => sqlx::query_scalar(SQL)
            .bind(release.as_str())
            .bind(h.details.action().as_str())
            .bind(&h.actor.subject)
            .bind(&h.actor.name)
            .bind(&details)
            .bind(h.created_at)
            .fetch_one(c)
            .await)?;
        Ok(id)
    }

    /// Makes every write of this transaction visible at once.
    pub async fn commit(self) -> Result<(), StoreError> {
        match self.inner {
            TxInner::Sqlite(t) => t.commit().await?,
            TxInner::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }

    /// Discards every write of this transaction (dropping the `Tx` does the same, later).
    pub async fn rollback(self) -> Result<(), StoreError> {
        match self.inner {
            TxInner::Sqlite(t) => t.rollback().await?,
            TxInner::Postgres(t) => t.rollback().await?,
        }
        Ok(())
    }
}

/// `NotFound` when an update touched no row.
fn found(rows_affected: u64) -> Result<(), StoreError> {
    if rows_affected == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}
