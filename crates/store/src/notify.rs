//! Telling the other replicas that something changed: PostgreSQL `NOTIFY` and `LISTEN`.
//!
//! A notification sent inside a [`Tx`] is delivered by PostgreSQL when, and only when, that
//! transaction commits: a rolled-back change announces nothing. SQLite serves one process, whose
//! in-process bus already reaches every subscriber, so there `notify` does nothing and there is
//! no listener.
//!
//! PostgreSQL drops notifications sent while a listener is disconnected; [`EventListener::next`]
//! therefore reports a lost connection as [`Heard::Lost`] after it has listened again, so the
//! caller can tell its subscribers to re-read.

use crate::error::StoreError;
use crate::tx::{Tx, TxInner};
use crate::{Db, Store};
use sqlx::postgres::PgListener;

/// The longest payload PostgreSQL accepts (its limit is 8000 bytes, counted with the channel).
pub const MAX_NOTIFY_PAYLOAD: usize = 7900;

const NOTIFY: &str = "SELECT pg_notify($1, $2)";

impl Tx {
    /// Queues `payload` on `channel`, delivered when this transaction commits (PostgreSQL); a
    /// no-op on SQLite. A payload over [`MAX_NOTIFY_PAYLOAD`] bytes is refused.
    pub async fn notify(&mut self, channel: &str, payload: &str) -> Result<(), StoreError> {
        check_payload(payload)?;
        if let TxInner::Postgres(t) = &mut self.inner {
            sqlx::query(NOTIFY)
                .bind(channel)
                .bind(payload)
                .execute(&mut **t)
                .await?;
        }
        Ok(())
    }
}

impl Store {
    /// Sends `payload` on `channel` at once, outside any transaction (PostgreSQL); a no-op on
    /// SQLite. For announcing a change already committed by a statement of its own.
    pub async fn notify(&self, channel: &str, payload: &str) -> Result<(), StoreError> {
        check_payload(payload)?;
        if let Db::Postgres(pool) = &self.db {
            sqlx::query(NOTIFY)
                .bind(channel)
                .bind(payload)
                .execute(pool)
                .await?;
        }
        Ok(())
    }

    /// Whether changes made by other processes reach this one only through a listener
    /// (PostgreSQL), rather than never happening (SQLite: one process).
    pub fn is_shared(&self) -> bool {
        matches!(self.db, Db::Postgres(_))
    }

    /// Starts listening on `channel`, on a connection of the pool held for as long as the
    /// listener lives; `None` on SQLite.
    pub async fn listen(&self, channel: &str) -> Result<Option<EventListener>, StoreError> {
        let Db::Postgres(pool) = &self.db else {
            return Ok(None);
        };
        let mut inner = PgListener::connect_with(pool).await?;
        inner.listen(channel).await?;
        Ok(Some(EventListener { inner }))
    }
}

fn check_payload(payload: &str) -> Result<(), StoreError> {
    if payload.len() > MAX_NOTIFY_PAYLOAD {
        return Err(StoreError::Corrupt(format!(
            "a notification of {} bytes is over PostgreSQL's limit",
            payload.len()
        )));
    }
    Ok(())
}

/// What a listener heard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard {
    /// A notification's payload.
    Payload(String),
    /// The connection was lost and has been opened again, listening: whatever was sent in
    /// between is lost.
    Lost,
}

/// A `LISTEN`ing PostgreSQL session.
pub struct EventListener {
    inner: PgListener,
}

impl std::fmt::Debug for EventListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventListener").finish_non_exhaustive()
    }
}

impl EventListener {
    /// The next thing heard. An error means the session is broken (or could not be opened
    /// again): drop this listener and start a new one.
    pub async fn next(&mut self) -> Result<Heard, StoreError> {
        match self.inner.try_recv().await? {
            Some(n) => Ok(Heard::Payload(n.payload().to_owned())),
            None => Ok(Heard::Lost),
        }
    }
}
