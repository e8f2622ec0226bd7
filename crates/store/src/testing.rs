//! Test support (feature `testing`): a fresh, empty database per test on either backend.
//!
//! ```ignore
//! use shipyard_store::{Backend, Store, testing};
//!
//! let url = testing::fresh_database_url(Backend::Postgres).await;
//! let store = Store::connect(&url).await?;
//! store.migrate().await?;
//! // … run the test …
//! store.close().await;
//! testing::drop_database(&url).await;
//! ```
//!
//! PostgreSQL is reached through an admin URL: `SHIPYARD_TEST_PG_URL` if set, else
//! [`DEFAULT_ADMIN_URL`]. Each call creates a database named `shipyard_t_<random>` there.
//! SQLite databases are files under the system temporary directory.
//!
//! These helpers panic when the database cannot be prepared: a test cannot run without it.

use crate::{Backend, Store, StoreError};
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

/// The PostgreSQL admin URL used when `SHIPYARD_TEST_PG_URL` is not set.
pub const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Prefix of every database and file these helpers create; [`drop_database`] drops nothing else.
const PREFIX: &str = "shipyard_t_";

/// The admin URL for PostgreSQL test databases.
pub fn admin_url() -> String {
    std::env::var("SHIPYARD_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned())
}

/// A name no other test (in this or another process) will pick: random bits from std's
/// randomly keyed hasher, mixed with the time and a counter.
fn unique_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    format!("{PREFIX}{:016x}", h.finish())
}

/// `url` with its database (the path) replaced by `database`, keeping any query string.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let authority_end = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    let mut out = format!("{}/{database}", &base[..authority_end]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// The database named in a PostgreSQL URL's path.
fn database_name(url: &str) -> Option<&str> {
    let base = url.split('?').next()?;
    let after_scheme = &base[base.find("://")? + 3..];
    let path = &after_scheme[after_scheme.find('/')? + 1..];
    (!path.is_empty()).then_some(path)
}

async fn admin_connection() -> PgConnection {
    let url = admin_url();
    match PgConnection::connect(&url).await {
        Ok(conn) => conn,
        Err(e) => panic!(
            "cannot reach the PostgreSQL admin database for tests (set SHIPYARD_TEST_PG_URL): {e}"
        ),
    }
}

/// A URL for a new, empty database of `backend` (not migrated).
///
/// # Panics
/// If PostgreSQL is unreachable or refuses to create the database.
pub async fn fresh_database_url(backend: Backend) -> String {
    let name = unique_name();
    match backend {
        Backend::Sqlite => {
            let path = std::env::temp_dir().join(format!("{name}.db"));
            format!("sqlite://{}", path.display())
        }
        Backend::Postgres => {
            let mut admin = admin_connection().await;
            // The name is ours (prefix and hex digits), so formatting it into SQL is safe;
            // CREATE DATABASE takes no bind parameters.
            if let Err(e) = sqlx::query(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
                .execute(&mut admin)
                .await
            {
                panic!("cannot create test database {name}: {e}");
            }
            admin.close().await.ok();
            with_database(&admin_url(), &name)
        }
    }
}

/// A connected, migrated store on a fresh database of `backend`, and the database's URL (for
/// [`drop_database`], or to start a server on the same database).
///
/// # Panics
/// If the database cannot be created, reached or migrated.
pub async fn fresh_store(backend: Backend) -> (Store, String) {
    let url = fresh_database_url(backend).await;
    let store = match connect_and_migrate(&url).await {
        Ok(store) => store,
        Err(e) => panic!("cannot prepare a {backend} test database: {e}"),
    };
    (store, url)
}

async fn connect_and_migrate(url: &str) -> Result<Store, StoreError> {
    let store = Store::connect(url).await?;
    store.migrate().await?;
    Ok(store)
}

/// Removes a database made by [`fresh_database_url`], best effort: errors are ignored, and a
/// URL these helpers did not make is left alone. Close stores using it first.
pub async fn drop_database(url: &str) {
    if let Some(path) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        let path = std::path::Path::new(path.split('?').next().unwrap_or(path));
        let ours = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(PREFIX));
        if ours {
            for suffix in ["", "-wal", "-shm"] {
                let mut file = path.as_os_str().to_owned();
                file.push(suffix);
                std::fs::remove_file(file).ok();
            }
        }
        return;
    }
    let Some(name) = database_name(url) else {
        return;
    };
    let ours = name
        .strip_prefix(PREFIX)
        .is_some_and(|rest| rest.bytes().all(|b| b.is_ascii_hexdigit()));
    if !ours {
        return;
    }
    let Ok(mut admin) = PgConnection::connect(&admin_url()).await else {
        return;
    };
    // Safe to format: `name` was checked to be our prefix followed by hex digits.
    let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
    sqlx::query(AssertSqlSafe(sql))
        .execute(&mut admin)
        .await
        .ok();
    admin.close().await.ok();
}

/// Drops `table` from the test database at `url`, so that the next query on it fails as a
/// broken database would (for tests of how callers report a database failure).
///
/// # Panics
/// If `table` is not a plain identifier or the database cannot be reached.
pub async fn break_table(url: &str, table: &str) {
    assert!(
        !table.is_empty() && table.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
        "not a table name: {table}"
    );
    let store = match Store::connect(url).await {
        Ok(store) => store,
        Err(e) => panic!("cannot reach the test database: {e}"),
    };
    let sql = format!("DROP TABLE {table}");
    let dropped = on_pool!(store, pool => sqlx::query(sqlx::AssertSqlSafe(sql)).execute(pool).await.map(|_| ()));
    if let Err(e) = dropped {
        panic!("cannot drop {table}: {e}");
    }
    store.close().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_get_their_database_replaced() {
        assert_eq!(
            with_database("postgres://u@h:5432/postgres", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            with_database("postgres://u@h/postgres?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://u@h", "x"), "postgres://u@h/x");
        assert_eq!(
            database_name("postgres://u@h:5432/shipyard_t_ab?a=b"),
            Some("shipyard_t_ab")
        );
        assert_eq!(database_name("postgres://u@h"), None);
    }

    #[test]
    fn names_are_unique_and_safe() {
        let a = unique_name();
        let b = unique_name();
        assert_ne!(a, b);
        assert!(a.starts_with(PREFIX) && a.len() < 64);
    }
}
