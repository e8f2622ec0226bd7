//! What the work queues share (CI checks, the notification outbox): handing due rows to one
//! claimer at a time for a lease, with one statement per backend.

use crate::error::StoreError;
use crate::{Db, Store};
use shipyard_core::UnixTime;

impl Store {
    /// Runs a claim statement — `sqlite` or `postgres`, whichever backend this store uses — that
    /// takes `$1` now, `$2` the lease's end and `$3` the most rows, and returns the claimed
    /// rows. Nothing is asked of the database for `limit` 0.
    pub(crate) async fn claim_leased<R>(
        &self,
        sqlite: &'static str,
        postgres: &'static str,
        now: UnixTime,
        lease_secs: i64,
        limit: u32,
    ) -> Result<Vec<R>, StoreError>
    where
        R: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
            + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
            + Send
            + Unpin,
    {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let lease_until = now.saturating_add(lease_secs);
        let rows = match &self.db {
            Db::Sqlite(pool) => {
                sqlx::query_as(sqlite)
                    .bind(now)
                    .bind(lease_until)
                    .bind(i64::from(limit))
                    .fetch_all(pool)
                    .await?
            }
            Db::Postgres(pool) => {
                sqlx::query_as(postgres)
                    .bind(now)
                    .bind(lease_until)
                    .bind(i64::from(limit))
                    .fetch_all(pool)
                    .await?
            }
        };
        Ok(rows)
    }
}
