//! Shipyard's persistence: releases, their repos, their history and API tokens, in SQLite (the
//! default, one file) or PostgreSQL (for several replicas).
//!
//! This crate owns **all** of Shipyard's SQL, and nothing but SQL: it stores and reads records
//! built from `shipyard-core` types and knows no business rule. Whether a sign-off resets, who
//! may approve, or what a refresh changed is decided in `core` and orchestrated in `engine`; the
//! store only makes each change atomic (see [`Tx`]) and maps database failures to
//! [`StoreError`] values a caller can act on (a unique constraint becomes
//! [`StoreError::Conflict`], a missing row [`StoreError::NotFound`]).
//!
//! Layout:
//! - this file: [`Store`] (connecting, migrations, readiness) and the macros that run one query
//!   text on either backend.
//! - `releases`: reads of releases, repos and history, and the paged release list.
//! - [`Tx`] (`tx`): a write transaction and every write to releases, repos and history.
//! - `ci`: CI tracking, one row per release repo: leases for the poller, version-checked
//!   updates, per-release summaries.
//! - `tokens`: API tokens.
//! - `outbox`: chat notifications owed; `leader`: one process leading a singleton task;
//!   `notify`: `NOTIFY`/`LISTEN`, how replicas hear of each other's changes.
//! - `records`: the public records; `rows`: raw rows and their parsing.
//! - `testing` (feature `testing`): fresh databases on either backend for tests.
//!
//! Design notes:
//! - Two concrete pools ([`Backend::Sqlite`], [`Backend::Postgres`]) rather than `AnyPool`, so
//!   each backend keeps its full type support. SQLite accepts `$1` placeholders, so nearly every
//!   statement is written once and run on either pool; the few dialect differences (row locks,
//!   how a write transaction starts) are spelled out where they occur.
//! - Every statement is static SQL with bind parameters; optional filters are
//!   `($n IS NULL OR column = $n)`, so no SQL is built at run time (only the test helpers format
//!   their own generated database names into `CREATE`/`DROP DATABASE`).
//! - Migrations are embedded per backend (`migrations/sqlite`, `migrations/postgres`) and explain
//!   the schema's choices in their comments.
//! - Room to grow: a new table is a new numbered migration in both folders, a raw row in `rows`
//!   and methods on [`Store`] or [`Tx`]. Per-repo state (CI, deployment) keys on the never-reused
//!   `release_repos.id`; work queues and notifications belong in tables of their own, written in
//!   the same [`Tx`] as the change that causes them.

use sqlx::migrate::{Migrate, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// Runs `$body` with `$c` bound to the pool of whichever backend `$store` uses.
///
/// The body is expanded once per backend, so one query text serves both; it must evaluate to
/// the same type on both (map backend-specific results, e.g. to `rows_affected()`).
macro_rules! on_pool {
    ($store:expr, $c:ident => $body:expr) => {
        match &$store.db {
            $crate::Db::Sqlite($c) => $body,
            $crate::Db::Postgres($c) => $body,
        }
    };
}

/// Runs `$body` with `$c` bound to the open transaction's connection, on either backend.
macro_rules! on_tx {
    ($tx:expr, $c:ident => $body:expr) => {
        match &mut $tx.inner {
            $crate::tx::TxInner::Sqlite(t) => {
                let $c = &mut **t;
                $body
            }
            $crate::tx::TxInner::Postgres(t) => {
                let $c = &mut **t;
                $body
            }
        }
    };
}

mod ci;
mod claim;
mod deliveries;
mod deploy;
mod error;
mod leader;
mod notify;
mod outbox;
mod records;
mod releases;
mod rows;
mod sessions;
mod tokens;
mod tx;

#[cfg(feature = "testing")]
pub mod testing;

pub use deliveries::MAX_DELIVERY_ID_LEN;
pub use deploy::{DeployCounts, DeployStatusRecord};
pub use error::StoreError;
pub use leader::Leadership;
pub use notify::{EventListener, Heard, MAX_NOTIFY_PAYLOAD};
pub use outbox::{NewNotification, NotificationRecord};
pub use records::{
    ApiTokenRecord, CiStatusRecord, HistoryRecord, NewHistory, ReleaseFilter, ReleasePage,
    ReleaseRecord, ReleaseSummaryRecord, RepoRecord,
};
pub use sessions::{LoginFlowRecord, SessionRecord};
pub use tx::Tx;

static SQLITE_MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// How long SQLite waits for another writer before giving up with "database is locked".
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The database behind a [`Store`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// One SQLite file (or an in-memory database).
    Sqlite,
    /// A PostgreSQL database.
    Postgres,
}

impl Backend {
    /// Both backends.
    pub const ALL: [Backend; 2] = [Backend::Sqlite, Backend::Postgres];

    /// `sqlite` or `postgres`.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Connection pool settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// Most connections the pool opens (an in-memory SQLite database always uses one).
    pub max_connections: u32,
    /// How long a caller waits for a free connection before an error.
    pub acquire_timeout: Duration,
    /// PostgreSQL: the `application_name` of every session, so `pg_stat_activity` (and
    /// [`Store::lead_holder`]) tell replicas apart; at most 63 bytes are kept.
    pub application_name: Option<String>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(30),
            application_name: None,
        }
    }
}

/// The two concrete pools; every query is run on one of them through [`on_pool!`].
#[derive(Debug, Clone)]
enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// A handle on the database. Cheap to clone: clones share one connection pool.
#[derive(Debug, Clone)]
pub struct Store {
    db: Db,
}

/// Whether a `sqlite:` URL names an in-memory database, which lives only as long as its one
/// connection.
fn is_sqlite_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

impl Store {
    /// Connects with default pool settings; `url` is `sqlite:…` or `postgres://…`/`postgresql://…`.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        Store::connect_with(url, &StoreOptions::default()).await
    }

    /// Connects with the given pool settings.
    ///
    /// SQLite: the file is created if missing, journals in WAL mode (readers never block the
    /// writer), waits up to 5 s for a busy writer, enforces foreign keys, and syncs at `NORMAL`
    /// (safe with WAL: a power cut may lose the last commits, never corrupt the file). An
    /// in-memory database (`sqlite::memory:`) gets exactly one connection that is never
    /// recycled, since every connection would otherwise see its own empty database; while a
    /// [`Tx`] is open on it, other calls wait for that transaction.
    pub async fn connect_with(url: &str, options: &StoreOptions) -> Result<Store, StoreError> {
        if url.starts_with("sqlite:") {
            let connect = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .busy_timeout(SQLITE_BUSY_TIMEOUT)
                .foreign_keys(true)
                .synchronous(SqliteSynchronous::Normal);
            let pool = SqlitePoolOptions::new().acquire_timeout(options.acquire_timeout);
            let pool = if is_sqlite_memory(url) {
                pool.max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None)
            } else {
                pool.max_connections(options.max_connections.max(1))
            };
            let pool = pool.connect_with(connect).await?;
            tracing::debug!(backend = "sqlite", "connected to the database");
            Ok(Store {
                db: Db::Sqlite(pool),
            })
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let mut connect = PgConnectOptions::from_str(url)?;
            if let Some(name) = &options.application_name {
                connect = connect.application_name(truncate_utf8(name, 63));
            }
            let pool = PgPoolOptions::new()
                .max_connections(options.max_connections.max(1))
                .acquire_timeout(options.acquire_timeout)
                .connect_with(connect)
                .await?;
            tracing::debug!(backend = "postgres", "connected to the database");
            Ok(Store {
                db: Db::Postgres(pool),
            })
        } else {
            Err(StoreError::UnsupportedUrl)
        }
    }

    /// Which database this store talks to.
    pub fn backend(&self) -> Backend {
        match self.db {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// The embedded migrations for this store's backend.
    fn migrator(&self) -> &'static Migrator {
        match self.db {
            Db::Sqlite(_) => &SQLITE_MIGRATOR,
            Db::Postgres(_) => &POSTGRES_MIGRATOR,
        }
    }

    /// Applies every embedded migration not applied yet; a no-op when all are.
    ///
    /// Safe to run from several replicas at once: on PostgreSQL sqlx serialises migrators with
    /// an advisory lock.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let migrator = self.migrator();
        on_pool!(self, pool => migrator.run(pool).await)?;
        Ok(())
    }

    /// Succeeds when the database answers a query and every embedded migration is applied
    /// unchanged; otherwise says what is missing.
    pub async fn ready(&self) -> Result<(), StoreError> {
        let migrator = self.migrator();
        on_pool!(self, pool => {
            let mut conn = pool.acquire().await?;
            sqlx::query("SELECT 1").execute(&mut *conn).await?;
            check_migrations(&mut *conn, migrator).await
        })
    }

    /// Closes every pooled connection; later calls fail.
    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await);
    }
}

/// At most `max` bytes of `s`, cut at a character boundary.
fn truncate_utf8(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Compares the applied migrations with the embedded ones.
async fn check_migrations<C: Migrate>(conn: &mut C, migrator: &Migrator) -> Result<(), StoreError> {
    let not_ready = |what: String| StoreError::NotReady(format!("{what}; run `shipyard migrate`"));
    if let Some(version) = conn
        .dirty_version(&migrator.table_name)
        .await
        .map_err(|e| not_ready(format!("cannot read the applied migrations ({e})")))?
    {
        return Err(not_ready(format!("migration {version} failed part-way")));
    }
    let applied = conn
        .list_applied_migrations(&migrator.table_name)
        .await
        .map_err(|e| not_ready(format!("cannot read the applied migrations ({e})")))?;
    let mut missing = Vec::new();
    for m in migrator
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
    {
        match applied.iter().find(|a| a.version == m.version) {
            None => missing.push(format!("{} {}", m.version, m.description)),
            Some(a) if a.checksum != m.checksum => {
                return Err(StoreError::NotReady(format!(
                    "migration {} {} was applied from different SQL than this build embeds",
                    m.version, m.description
                )));
            }
            Some(_) => {}
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(not_ready(format!(
            "{} migration(s) not applied ({})",
            missing.len(),
            missing.join(", ")
        )))
    }
}
