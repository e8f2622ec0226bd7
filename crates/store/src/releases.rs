//! Releases, repos and history: creating a release in one transaction, reading it back, and
//! the paged release list.

use crate::error::StoreError;
use crate::records::{
    HistoryRecord, NewHistory, ReleaseFilter, ReleasePage, ReleaseRecord, RepoRecord,
};
use crate::rows::{RawHistory, RawRelease, RawReleaseSummary, RawRepo, release_columns};
use crate::tx::SELECT_REPOS;
use crate::{Store, Tx};
use shipyard_core::change::RepoChange;
use shipyard_core::{ReleaseId, UnixTime};

const SELECT_RELEASE: &str = concat!(
    "SELECT ",
    release_columns!(),
    " FROM releases WHERE id = $1"
);

const SELECT_HISTORY: &str = "SELECT id, release_id, action, actor_subject, actor_name, details, created_at \
     FROM history WHERE release_id = $1 ORDER BY id";

// Every filter is optional through `$n IS NULL OR …`, so one static statement serves every
// combination. The keyset condition on ($5, $6) continues after the last row of the previous
// page, which stays correct while new releases are created (unlike OFFSET). `LIMIT $7` asks for
// one row more than the page to learn whether another page follows.
//
// `q` matches with LIKE on LOWER() of both sides: the same statement on both backends (SQLite
// lowers ASCII letters only, PostgreSQL every letter). The pattern escapes `%`, `_` and `\`.
const LIST_RELEASES: &str = concat!(
    "SELECT ",
    release_columns!(),
    r#",
        (SELECT COUNT(*) FROM release_repos rr
            WHERE rr.release_id = releases.id AND NOT rr.excluded) AS repo_count,
        (SELECT CAST(COALESCE(SUM(rr.commit_count), 0) AS BIGINT) FROM release_repos rr
            WHERE rr.release_id = releases.id AND NOT rr.excluded) AS commit_count,
        seq
    FROM releases
    WHERE ($1 IS NULL OR status = $1)
      AND ($2 IS NULL OR source_branch = $2)
      AND ($3 IS NULL OR dest_branch = $3)
      AND ($4 IS NULL
           OR LOWER(id) LIKE LOWER($4) ESCAPE '\'
           OR LOWER(source_branch) LIKE LOWER($4) ESCAPE '\'
           OR LOWER(dest_branch) LIKE LOWER($4) ESCAPE '\'
           OR LOWER(created_by_name) LIKE LOWER($4) ESCAPE '\'
           OR LOWER(notes) LIKE LOWER($4) ESCAPE '\')
      AND ($5 IS NULL OR created_at < $5 OR (created_at = $5 AND seq < $6))
    ORDER BY created_at DESC, seq DESC
    LIMIT $7"#
);

/// Where a page ends: the sort key of its last release.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cursor {
    created_at: UnixTime,
    seq: i64,
}

impl Cursor {
    /// The text handed to clients. Its shape is not part of the API.
    fn encode(&self) -> String {
        format!("{}:{}", self.created_at, self.seq)
    }

    /// Reads `<created_at>:<seq>`, each an optional `-` and 1 to 18 digits (what the API's
    /// description states), nothing else.
    fn decode(s: &str) -> Result<Cursor, StoreError> {
        fn number(s: &str) -> Result<i64, StoreError> {
            let digits = s.strip_prefix('-').unwrap_or(s);
            if digits.is_empty() || digits.len() > 18 || !digits.bytes().all(|b| b.is_ascii_digit())
            {
                return Err(StoreError::InvalidCursor);
            }
            s.parse().map_err(|_| StoreError::InvalidCursor)
        }
        let (at, seq) = s.split_once(':').ok_or(StoreError::InvalidCursor)?;
        Ok(Cursor {
            created_at: number(at)?,
            seq: number(seq)?,
        })
    }
}

/// A LIKE pattern matching `q` anywhere, with LIKE's wildcards in `q` taken literally.
fn contains_pattern(q: &str) -> String {
    let mut pattern = String::with_capacity(q.len() + 2);
    pattern.push('%');
    for c in q.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

impl Store {
    /// Stores a new release with its repos and first history entries, all or nothing.
    ///
    /// [`StoreError::Conflict`] if the id is taken or two repos share a name; nothing is stored then.
    pub async fn insert_release(
        &self,
        release: &ReleaseRecord,
        repos: &[RepoChange],
        history: &[NewHistory],
    ) -> Result<(), StoreError> {
        self.insert_release_notifying(release, repos, history, &[])
            .await
    }

    /// As [`Store::insert_release`], also enqueueing `notifications` in the same transaction.
    pub async fn insert_release_notifying(
        &self,
        release: &ReleaseRecord,
        repos: &[RepoChange],
        history: &[NewHistory],
        notifications: &[crate::NewNotification],
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        tx.insert_release(release).await?;
        for repo in repos {
            tx.insert_repo(&release.id, repo).await?;
        }
        for h in history {
            tx.append_history(&release.id, h).await?;
        }
        for n in notifications {
            tx.enqueue_notification(n).await?;
        }
        tx.commit().await
    }

    /// Starts a write transaction (see [`Tx`]).
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        let inner = match &self.db {
            crate::Db::Sqlite(pool) => {
                crate::tx::TxInner::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?)
            }
            crate::Db::Postgres(pool) => crate::tx::TxInner::Postgres(pool.begin().await?),
        };
        Ok(Tx { inner })
    }

    /// The release `id`, or `None`.
    pub async fn release(&self, id: &ReleaseId) -> Result<Option<ReleaseRecord>, StoreError> {
        let raw: Option<RawRelease> = on_pool!(self, pool => sqlx::query_as(SELECT_RELEASE).bind(id.as_str()).fetch_optional(pool).await)?;
        raw.map(RawRelease::into_record).transpose()
    }

    /// The repos of release `id`, sorted by name (byte order); empty for an unknown release.
    pub async fn repos(&self, id: &ReleaseId) -> Result<Vec<RepoRecord>, StoreError> {
        let raw: Vec<RawRepo> = on_pool!(self, pool => sqlx::query_as(SELECT_REPOS).bind(id.as_str()).fetch_all(pool).await)?;
        raw.into_iter().map(RawRepo::into_record).collect()
    }

    /// The history of release `id`, oldest first; empty for an unknown release.
    pub async fn history(&self, id: &ReleaseId) -> Result<Vec<HistoryRecord>, StoreError> {
        let raw: Vec<RawHistory> = on_pool!(self, pool => sqlx::query_as(SELECT_HISTORY).bind(id.as_str()).fetch_all(pool).await)?;
        raw.into_iter().map(RawHistory::into_record).collect()
    }

    /// One page of releases matching `filter`, newest first.
    ///
    /// [`StoreError::InvalidCursor`] if `filter.cursor` is not a cursor this store handed out.
    pub async fn list_releases(&self, filter: &ReleaseFilter) -> Result<ReleasePage, StoreError> {
        let cursor = filter.cursor.as_deref().map(Cursor::decode).transpose()?;
        let limit = filter.effective_limit();
        let q = filter
            .q
            .as_deref()
            .filter(|q| !q.is_empty())
            .map(contains_pattern);
        let raw: Vec<RawReleaseSummary> = on_pool!(self, pool => sqlx::query_as(LIST_RELEASES)
            .bind(filter.status.map(|s| s.as_str()))
            .bind(filter.source.as_deref())
            .bind(filter.dest.as_deref())
            .bind(q.as_deref())
            .bind(cursor.as_ref().map(|c| c.created_at))
            .bind(cursor.as_ref().map(|c| c.seq))
            .bind(i64::from(limit) + 1)
            .fetch_all(pool)
            .await)?;
        let more = raw.len() > limit as usize;
        let last_seq = raw.get((limit as usize).saturating_sub(1)).map(|r| r.seq);
        let releases = raw
            .into_iter()
            .take(limit as usize)
            .map(RawReleaseSummary::into_record)
            .collect::<Result<Vec<_>, _>>()?;
        let next_cursor = match (more, releases.last(), last_seq) {
            (true, Some(s), Some(seq)) => Some(
                Cursor {
                    created_at: s.release.created_at,
                    seq,
                }
                .encode(),
            ),
            _ => None,
        };
        Ok(ReleasePage {
            releases,
            next_cursor,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_junk() {
        let c = Cursor {
            created_at: 1_700_000_000,
            seq: 42,
        };
        assert_eq!(Cursor::decode(&c.encode()).ok(), Some(c));
        assert!(Cursor::decode("-5:-7").is_ok());
        for bad in [
            "",
            "x",
            "1:",
            ":abcdefghij",
            "abc:abcdefghij",
            "1:ABCDEFGHIJ",
            "1;abcdefghij",
            "+1:2",
            "1:+2",
            " 1:2",
            "1:2:3",
            "1234567890123456789:1",
            "-:1",
        ] {
            assert!(
                matches!(Cursor::decode(bad), Err(StoreError::InvalidCursor)),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn like_wildcards_are_literal() {
        assert_eq!(contains_pattern("a%b_c\\d"), "%a\\%b\\_c\\\\d%");
        assert_eq!(contains_pattern("uat"), "%uat%");
    }
}
