//! The store's one error type, and how database errors become it.

use sqlx::error::{DatabaseError, ErrorKind};

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The release, repo or token asked for does not exist.
    #[error("not found")]
    NotFound,
    /// A write collides with what is stored (a unique constraint); the message is for a person.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A stored value does not parse as what it should be.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// A list cursor that this store did not hand out.
    #[error("invalid cursor: pass back the next_cursor of a previous page, unchanged")]
    InvalidCursor,
    /// The database URL names no backend this store speaks.
    #[error("unsupported database URL: it must start with sqlite: or postgres://")]
    UnsupportedUrl,
    /// The database answers but is not usable yet (migrations missing or changed).
    #[error("database not ready: {0}")]
    NotReady(String),
    /// Any other database failure.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    /// Migrations could not be applied.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// A named constraint and what its violation means for a person.
struct Constraint {
    /// The name given in the migrations (what PostgreSQL reports).
    name: &'static str,
    /// The column list SQLite reports for a UNIQUE failure instead of the name.
    sqlite_columns: &'static str,
    /// What to tell a person.
    message: &'static str,
}

const UNIQUE_CONSTRAINTS: &[Constraint] = &[
    Constraint {
        name: "releases_pkey",
        sqlite_columns: "releases.id",
        message: "a release with this id already exists",
    },
    Constraint {
        name: "release_repos_release_repo_uq",
        sqlite_columns: "release_repos.release_id, release_repos.repo_name",
        message: "this release already has a repo with that name",
    },
    Constraint {
        name: "api_tokens_pkey",
        sqlite_columns: "api_tokens.name",
        message: "an API token with this name already exists",
    },
    Constraint {
        name: "api_tokens_token_sha256_uq",
        sqlite_columns: "api_tokens.token_sha256",
        message: "two API tokens have the same secret",
    },
];

fn unique_violation_message(e: &dyn DatabaseError) -> &'static str {
    let sqlite_columns = e.message().strip_prefix("UNIQUE constraint failed: ");
    UNIQUE_CONSTRAINTS
        .iter()
        .find(|c| e.constraint() == Some(c.name) || sqlite_columns == Some(c.sqlite_columns))
        .map_or("a record with these values already exists", |c| c.message)
}

impl From<sqlx::Error> for StoreError {
    /// Classifies a database error: unique violations become [`StoreError::Conflict`], a missing
    /// parent row (foreign key) or row becomes [`StoreError::NotFound`].
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(db) => match db.kind() {
                ErrorKind::UniqueViolation => {
                    StoreError::Conflict(unique_violation_message(db.as_ref()).to_owned())
                }
                ErrorKind::ForeignKeyViolation => StoreError::NotFound,
                _ => StoreError::Database(e),
            },
            _ => StoreError::Database(e),
        }
    }
}

impl StoreError {
    /// A stored value that fails to parse; `what` names the column or field.
    pub(crate) fn corrupt(what: impl std::fmt::Display, detail: impl std::fmt::Display) -> Self {
        StoreError::Corrupt(format!("{what}: {detail}"))
    }
}
