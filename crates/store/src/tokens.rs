//! API tokens: the configured set mirrored into the database, and when each was last used.

use crate::Store;
use crate::error::StoreError;
use crate::records::ApiTokenRecord;
use crate::rows::{RawApiToken, to_json};
use shipyard_core::UnixTime;

// An existing token keeps its creation and last-use times unless its secret changed: a new
// secret is a new token as far as "when was this last used" is concerned. SET reads the old row
// on both backends, so the order of the assignments does not matter.
const UPSERT_TOKEN: &str = "INSERT INTO api_tokens (name, token_sha256, roles, created_at, last_used_at) \
     VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT (name) DO UPDATE SET \
         roles = excluded.roles, \
         created_at = CASE WHEN api_tokens.token_sha256 = excluded.token_sha256 \
             THEN api_tokens.created_at ELSE excluded.created_at END, \
         last_used_at = CASE WHEN api_tokens.token_sha256 = excluded.token_sha256 \
             THEN api_tokens.last_used_at ELSE excluded.last_used_at END, \
         token_sha256 = excluded.token_sha256";

impl Store {
    /// Makes the stored tokens exactly `tokens`, in one transaction: inserts new names, updates
    /// the hash and roles of existing ones, deletes names not given.
    ///
    /// [`StoreError::Conflict`] if two tokens share a hash; nothing changes then.
    pub async fn sync_api_tokens(&self, tokens: &[ApiTokenRecord]) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let stored: Vec<String> =
            on_tx!(tx, c => sqlx::query_scalar("SELECT name FROM api_tokens").fetch_all(c).await)?;
        // Deletes go first so that a secret moving from one name to another does not collide
        // with itself on the unique hash.
        for name in stored
            .iter()
            .filter(|name| !tokens.iter().any(|t| &t.name == *name))
        {
            on_tx!(tx, c => sqlx::query("DELETE FROM api_tokens WHERE name = $1")
                .bind(name)
                .execute(c)
                .await
                .map(|_| ()))?;
        }
        for t in tokens {
            let roles = to_json("roles", &t.roles)?;
            on_tx!(tx, c => sqlx::query(UPSERT_TOKEN)
                .bind(&t.name)
                .bind(&t.token_sha256)
                .bind(&roles)
                .bind(t.created_at)
                .bind(t.last_used_at)
                .execute(c)
                .await
                .map(|_| ()))?;
        }
        tx.commit().await
    }

    /// Every stored token, by name.
    pub async fn api_tokens(&self) -> Result<Vec<ApiTokenRecord>, StoreError> {
        const SQL: &str = "SELECT name, token_sha256, roles, created_at, last_used_at FROM api_tokens ORDER BY name";
        let raw: Vec<RawApiToken> =
            on_pool!(self, pool => sqlx::query_as(SQL).fetch_all(pool).await)?;
        raw.into_iter().map(RawApiToken::into_record).collect()
    }

    /// Records that token `name` was used at `now`. Never moves the time backwards, and is a
    /// no-op (not an error) for an unknown name.
    pub async fn touch_api_token(&self, name: &str, now: UnixTime) -> Result<(), StoreError> {
        const SQL: &str = "UPDATE api_tokens SET last_used_at = $2 \
             WHERE name = $1 AND (last_used_at IS NULL OR last_used_at < $2)";
        on_pool!(self, pool => sqlx::query(SQL).bind(name).bind(now).execute(pool).await.map(|_| ()))?;
        Ok(())
    }
}
