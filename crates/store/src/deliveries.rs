//! Webhook deliveries already applied, by id: a redelivery of one of them changes nothing.

use crate::Store;
use crate::error::StoreError;
use shipyard_core::UnixTime;

/// Longest delivery id remembered; GitHub's are 36-character GUIDs.
pub const MAX_DELIVERY_ID_LEN: usize = 100;

impl Store {
    /// Remembers delivery `id` of `event`, received at `now`, and forgets those received before
    /// `forget_before`. Returns `false` when `id` was already remembered: the delivery was seen.
    pub async fn remember_delivery(
        &self,
        id: &str,
        event: &str,
        now: UnixTime,
        forget_before: UnixTime,
    ) -> Result<bool, StoreError> {
        const FORGET: &str = "DELETE FROM webhook_deliveries WHERE received_at < $1";
        const INSERT: &str = "INSERT INTO webhook_deliveries (delivery_id, event, received_at) \
             VALUES ($1, $2, $3) ON CONFLICT (delivery_id) DO NOTHING";
        on_pool!(self, pool => sqlx::query(FORGET).bind(forget_before).execute(pool).await.map(|_| ()))?;
        let inserted = on_pool!(self, pool => sqlx::query(INSERT)
            .bind(id)
            .bind(event)
            .bind(now)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(inserted == 1)
    }

    /// Forgets delivery `id`, so that GitHub's redelivery of it is applied (after a failure).
    pub async fn forget_delivery(&self, id: &str) -> Result<(), StoreError> {
        const SQL: &str = "DELETE FROM webhook_deliveries WHERE delivery_id = $1";
        on_pool!(self, pool => sqlx::query(SQL).bind(id).execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// How many delivery ids are remembered.
    pub async fn remembered_deliveries(&self) -> Result<u64, StoreError> {
        const SQL: &str = "SELECT COUNT(*) FROM webhook_deliveries";
        let n: i64 = on_pool!(self, pool => sqlx::query_scalar(SQL).fetch_one(pool).await)?;
        Ok(n.max(0) as u64)
    }
}
