//! The notification outbox: chat posts owed to people, enqueued in the transaction of the change
//! that causes them and handed to a sender afterwards.
//!
//! Like CI tracking, it is a work queue several instances may serve at once: a sender claims due
//! rows with a lease ([`Store::claim_due_notifications`]), then marks each sent or failed. Each
//! claim counts an attempt, so a sender can tell a first try from a retry after a crash (when the
//! earlier attempt may have posted) and look before posting again.

use crate::error::StoreError;
use crate::rows::release_id;
use crate::{Store, Tx};
use shipyard_core::{ReleaseId, UnixTime};

/// A notification to enqueue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNotification {
    /// Names the occasion; a second enqueue with the same key is ignored.
    pub idempotency_key: String,
    /// The release it is about.
    pub release_id: ReleaseId,
    /// `ready`, `ci_failed`, `deployed`, …
    pub kind: String,
    /// Where to post.
    pub channel_id: String,
    /// The thread to post in, if any.
    pub root_id: Option<String>,
    /// The post's text (Markdown).
    pub message: String,
    /// When it was enqueued; it is due at once.
    pub created_at: UnixTime,
}

/// A stored notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationRecord {
    /// Row id; ascending ids are the order of enqueueing.
    pub id: i64,
    /// See [`NewNotification::idempotency_key`].
    pub idempotency_key: String,
    /// The release it is about.
    pub release_id: ReleaseId,
    /// `ready`, `ci_failed`, `deployed`, …
    pub kind: String,
    /// Where to post.
    pub channel_id: String,
    /// The thread to post in, if any.
    pub root_id: Option<String>,
    /// The post's text.
    pub message: String,
    /// When it was enqueued.
    pub created_at: UnixTime,
    /// Claims so far (the current one included).
    pub attempts: u32,
    /// When it is due (again).
    pub next_attempt_at: UnixTime,
    /// Until when the claimer is sending it.
    pub lease_until: Option<UnixTime>,
    /// When it was posted.
    pub sent_at: Option<UnixTime>,
    /// The chat's id of the post.
    pub post_id: Option<String>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
}

macro_rules! outbox_columns {
    () => {
        "id, idempotency_key, release_id, kind, channel_id, root_id, message, created_at, \
         attempts, next_attempt_at, lease_until, sent_at, post_id, last_error"
    };
}

#[derive(Debug, sqlx::FromRow)]
struct RawNotification {
    id: i64,
    idempotency_key: String,
    release_id: String,
    kind: String,
    channel_id: String,
    root_id: Option<String>,
    message: String,
    created_at: i64,
    attempts: i64,
    next_attempt_at: i64,
    lease_until: Option<i64>,
    sent_at: Option<i64>,
    post_id: Option<String>,
    last_error: Option<String>,
}

impl RawNotification {
    fn into_record(self) -> Result<NotificationRecord, StoreError> {
        Ok(NotificationRecord {
            id: self.id,
            idempotency_key: self.idempotency_key,
            release_id: release_id("notification_outbox.release_id", self.release_id)?,
            kind: self.kind,
            channel_id: self.channel_id,
            root_id: self.root_id,
            message: self.message,
            created_at: self.created_at,
            attempts: u32::try_from(self.attempts).map_err(|_| {
                StoreError::corrupt(
                    "notification_outbox.attempts",
                    format!("{} is not an attempt count", self.attempts),
                )
            })?,
            next_attempt_at: self.next_attempt_at,
            lease_until: self.lease_until,
            sent_at: self.sent_at,
            post_id: self.post_id,
            last_error: self.last_error,
        })
    }
}

fn into_records(raw: Vec<RawNotification>) -> Result<Vec<NotificationRecord>, StoreError> {
    let mut out = raw
        .into_iter()
        .map(RawNotification::into_record)
        .collect::<Result<Vec<_>, _>>()?;
    out.sort_by_key(|n| (n.next_attempt_at, n.id));
    Ok(out)
}

// A second enqueue of the same occasion keeps the first row, sent or not.
const ENQUEUE: &str = "INSERT INTO notification_outbox \
    (idempotency_key, release_id, kind, channel_id, root_id, message, created_at, next_attempt_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $7) \
    ON CONFLICT (idempotency_key) DO NOTHING";

/// Binds a [`NewNotification`] for [`ENQUEUE`].
macro_rules! bind_enqueue {
    ($query:expr, $n:expr) => {
        $query
            .bind(&$n.idempotency_key)
            .bind($n.release_id.as_str())
            .bind(&$n.kind)
            .bind(&$n.channel_id)
            .bind($n.root_id.as_deref())
            .bind(&$n.message)
            .bind($n.created_at)
    };
}

const SELECT_BY_RELEASE: &str = concat!(
    "SELECT ",
    outbox_columns!(),
    " FROM notification_outbox WHERE release_id = $1 ORDER BY id"
);

// As for CI checks: on SQLite one UPDATE is one write transaction (single writer), so nobody
// claims between the pick and the lease; `sent_at IS NULL` is spelled as in the partial index.
const CLAIM_SQLITE: &str = concat!(
    "UPDATE notification_outbox SET lease_until = $2, attempts = attempts + 1 \
     WHERE id IN (\
         SELECT id FROM notification_outbox \
         WHERE sent_at IS NULL \
           AND next_attempt_at <= $1 \
           AND (lease_until IS NULL OR lease_until <= $1) \
         ORDER BY next_attempt_at, id \
         LIMIT $3) \
     RETURNING ",
    outbox_columns!()
);

// On PostgreSQL rows are locked as they are picked and rows another sender holds are skipped.
const CLAIM_POSTGRES: &str = concat!(
    "WITH due AS MATERIALIZED (\
         SELECT id FROM notification_outbox \
         WHERE sent_at IS NULL \
           AND next_attempt_at <= $1 \
           AND (lease_until IS NULL OR lease_until <= $1) \
         ORDER BY next_attempt_at, id \
         LIMIT $3 \
         FOR UPDATE SKIP LOCKED) \
     UPDATE notification_outbox SET lease_until = $2, attempts = attempts + 1 \
     WHERE id IN (SELECT id FROM due) \
     RETURNING ",
    outbox_columns!()
);

// Only an unsent row changes: a late report from a sender whose lease ran out (and whose row
// another sender has since posted) changes nothing.
const MARK_SENT: &str = "UPDATE notification_outbox \
    SET sent_at = $2, post_id = $3, lease_until = NULL, last_error = NULL \
    WHERE id = $1 AND sent_at IS NULL";

const MARK_FAILED: &str = "UPDATE notification_outbox \
    SET last_error = $2, next_attempt_at = $3, lease_until = NULL \
    WHERE id = $1 AND sent_at IS NULL";

const RELEASE: &str = "UPDATE notification_outbox SET lease_until = NULL \
    WHERE id = $1 AND sent_at IS NULL";

impl Store {
    /// Hands the claim on notification `id` back without trying it (its sender is stopping):
    /// it is due again at once for any sender. `false` if it was marked sent meanwhile.
    pub async fn release_notification(&self, id: i64) -> Result<bool, StoreError> {
        let rows = on_pool!(self, pool => sqlx::query(RELEASE)
            .bind(id)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(rows == 1)
    }

    /// Enqueues `n` outside a transaction; `false` when its occasion was enqueued before.
    pub async fn enqueue_notification(&self, n: &NewNotification) -> Result<bool, StoreError> {
        let rows = on_pool!(self, pool => bind_enqueue!(sqlx::query(ENQUEUE), n)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(rows == 1)
    }

    /// The notifications of `release`, oldest first.
    pub async fn notifications(
        &self,
        release: &ReleaseId,
    ) -> Result<Vec<NotificationRecord>, StoreError> {
        let raw: Vec<RawNotification> = on_pool!(self, pool => sqlx::query_as(SELECT_BY_RELEASE)
            .bind(release.as_str())
            .fetch_all(pool)
            .await)?;
        raw.into_iter().map(RawNotification::into_record).collect()
    }

    /// Claims up to `limit` unsent notifications due at `now`, oldest due first, each leased
    /// until `now + lease_secs` and with one more attempt counted. No other claim gets a row
    /// before its lease ends or it is marked sent or failed.
    pub async fn claim_due_notifications(
        &self,
        now: UnixTime,
        lease_secs: i64,
        limit: u32,
    ) -> Result<Vec<NotificationRecord>, StoreError> {
        let raw: Vec<RawNotification> = self
            .claim_leased(CLAIM_SQLITE, CLAIM_POSTGRES, now, lease_secs, limit)
            .await?;
        into_records(raw)
    }

    /// Records that notification `id` was posted as `post_id`; `false` if it was already
    /// marked sent (or does not exist).
    pub async fn mark_notification_sent(
        &self,
        id: i64,
        post_id: &str,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let rows = on_pool!(self, pool => sqlx::query(MARK_SENT)
            .bind(id)
            .bind(now)
            .bind(post_id)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(rows == 1)
    }

    /// Records that an attempt to post notification `id` failed with `error`; it is due again
    /// at `retry_at`. `false` if it was marked sent meanwhile (or does not exist).
    pub async fn mark_notification_failed(
        &self,
        id: i64,
        error: &str,
        retry_at: UnixTime,
    ) -> Result<bool, StoreError> {
        let rows = on_pool!(self, pool => sqlx::query(MARK_FAILED)
            .bind(id)
            .bind(error)
            .bind(retry_at)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(rows == 1)
    }
}

impl Tx {
    /// [`Store::mark_notification_sent`] inside this transaction, so that what the post
    /// changes (e.g. the release's summary post id, a history entry) commits with it.
    pub async fn mark_notification_sent(
        &mut self,
        id: i64,
        post_id: &str,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let rows = on_tx!(self, c => sqlx::query(MARK_SENT)
            .bind(id)
            .bind(now)
            .bind(post_id)
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(rows == 1)
    }

    /// Enqueues `n` in this transaction, so it is sent exactly when the change that causes it
    /// commits; `false` when its occasion was enqueued before.
    pub async fn enqueue_notification(&mut self, n: &NewNotification) -> Result<bool, StoreError> {
        let rows = on_tx!(self, c => bind_enqueue!(sqlx::query(ENQUEUE), n)
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(rows == 1)
    }
}
