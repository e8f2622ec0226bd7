//! Leadership of a task that must run in one process only (the chat bot's WebSocket: two
//! replicas each holding one would answer every command twice).
//!
//! On PostgreSQL the leader holds a session-level advisory lock on a connection of its own,
//! taken out of the pool: the lock lasts exactly as long as that session, so a leader that dies
//! or loses its database connection frees it for another replica. On SQLite, which serves one
//! process, whoever asks leads.

use crate::error::StoreError;
use crate::{Db, Store};
use sqlx::Connection;
use std::time::Duration;

/// How long a liveness check of the leader's session may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// Held leadership; dropping it gives it up.
pub struct Leadership {
    /// PostgreSQL: the session holding the lock.
    session: Option<sqlx::PgConnection>,
}

impl std::fmt::Debug for Leadership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leadership")
            .field("session", &self.session.is_some())
            .finish()
    }
}

impl Store {
    /// Tries to become the one process leading `task`; `None` while another process leads it.
    pub async fn try_lead(&self, task: &str) -> Result<Option<Leadership>, StoreError> {
        match &self.db {
            Db::Sqlite(_) => Ok(Some(Leadership { session: None })),
            Db::Postgres(pool) => {
                let mut session = pool.acquire().await?.detach();
                let locked: bool =
                    sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtextextended($1, 0))")
                        .bind(task)
                        .fetch_one(&mut session)
                        .await?;
                if locked {
                    Ok(Some(Leadership {
                        session: Some(session),
                    }))
                } else {
                    session.close().await?;
                    Ok(None)
                }
            }
        }
    }

    /// Who holds the lead of `task`: the `application_name` of the PostgreSQL session holding
    /// its lock (see [`StoreOptions::application_name`](crate::StoreOptions)), `None` when
    /// nobody does. On SQLite, which serves one process, always `None`.
    pub async fn lead_holder(&self, task: &str) -> Result<Option<String>, StoreError> {
        // A lock on a 64-bit key shows its high half in `classid` and its low half in `objid`.
        const SQL: &str = "SELECT a.application_name FROM pg_locks l \
            JOIN pg_stat_activity a ON a.pid = l.pid \
            WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 \
            AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
            AND ((l.classid::bigint << 32) | l.objid::bigint) = hashtextextended($1, 0) \
            LIMIT 1";
        match &self.db {
            Db::Sqlite(_) => Ok(None),
            Db::Postgres(pool) => Ok(sqlx::query_scalar(SQL)
                .bind(task)
                .fetch_optional(pool)
                .await?),
        }
    }
}

impl Leadership {
    /// Gives the lead up now (at shutdown), rather than when the session is dropped.
    pub async fn release(mut self) {
        if let Some(session) = self.session.take() {
            let _ = tokio::time::timeout(CHECK_TIMEOUT, session.close()).await;
        }
    }

    /// Whether leadership is still held: on PostgreSQL, whether the session holding the lock
    /// still answers.
    pub async fn still_held(&mut self) -> bool {
        match &mut self.session {
            None => true,
            Some(session) => tokio::time::timeout(CHECK_TIMEOUT, session.ping())
                .await
                .is_ok_and(|r| r.is_ok()),
        }
    }
}
