//! Raw rows as both backends return them, and their conversion to and from records.
//!
//! Every column type here decodes the same way from SQLite and PostgreSQL (`String`, `i64`,
//! `bool` and their `Option`s), so one `FromRow` serves both. Parsing into domain types happens
//! in one place, and a value that does not parse is [`StoreError::Corrupt`], never a panic.

use crate::error::StoreError;
use crate::records::{
    ApiTokenRecord, CiStatusRecord, HistoryRecord, ReleaseRecord, ReleaseSummaryRecord, RepoRecord,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use shipyard_core::change::{PrState, PullInfo, RepoChange};
use shipyard_core::ci::CiStatus;
use shipyard_core::history::{HistoryAction, HistoryDetails};
use shipyard_core::release::{SignOff, SignOffs};
use shipyard_core::{Actor, BranchName, ReleaseId, ReleaseStatus};

/// Columns of `releases`, in the order [`RawRelease`] and the insert statement use.
macro_rules! release_columns {
    () => {
        "id, org, source_branch, dest_branch, status, notes, breaking_changes, \
         created_by_subject, created_by_name, created_at, last_refreshed_at, content_fingerprint, \
         dev_approved_by_subject, dev_approved_by_name, dev_approved_at, dev_approved_fingerprint, \
         qa_approved_by_subject, qa_approved_by_name, qa_approved_at, qa_approved_fingerprint, \
         channel_id, chat_post_id, approval_cycle, version"
    };
}
pub(crate) use release_columns;

/// Columns of `release_repos`, in the order [`RawRepo`] uses.
macro_rules! repo_columns {
    () => {
        "id, release_id, repo_name, commit_count, additions, deletions, contributors, summary, \
         is_breaking, infra_changes, head_sha, pr_number, pr_url, pr_state, merge_commit_sha, \
         excluded, depends_on"
    };
}
pub(crate) use repo_columns;

/// Columns of `repo_ci_status`, in the order [`RawCiStatus`] uses.
macro_rules! ci_columns {
    () => {
        "repo_id, release_id, repo_name, merge_commit_sha, status, conclusion, \
         run_id, run_number, run_attempt, run_url, chart_version, \
         tracking_started_at, started_at, completed_at, last_checked_at, checks, etag, \
         next_check_at, lease_until, version"
    };
}
pub(crate) use ci_columns;

/// A `releases` row.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct RawRelease {
    id: String,
    org: String,
    source_branch: String,
    dest_branch: String,
    status: String,
    notes: String,
    breaking_changes: String,
    created_by_subject: String,
    created_by_name: String,
    created_at: i64,
    last_refreshed_at: i64,
    content_fingerprint: String,
    dev_approved_by_subject: Option<String>,
    dev_approved_by_name: Option<String>,
    dev_approved_at: Option<i64>,
    dev_approved_fingerprint: Option<String>,
    qa_approved_by_subject: Option<String>,
    qa_approved_by_name: Option<String>,
    qa_approved_at: Option<i64>,
    qa_approved_fingerprint: Option<String>,
    channel_id: Option<String>,
    chat_post_id: Option<String>,
    approval_cycle: i64,
    version: i64,
}

/// A `releases` row with the list figures.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct RawReleaseSummary {
    #[sqlx(flatten)]
    release: RawRelease,
    repo_count: i64,
    commit_count: i64,
    /// Creation order, for the list's cursor.
    pub(crate) seq: i64,
}

/// A `release_repos` row.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct RawRepo {
    id: i64,
    release_id: String,
    repo_name: String,
    commit_count: i64,
    additions: i64,
    deletions: i64,
    contributors: String,
    summary: String,
    is_breaking: bool,
    infra_changes: String,
    head_sha: String,
    pr_number: Option<i64>,
    pr_url: Option<String>,
    pr_state: Option<String>,
    merge_commit_sha: Option<String>,
    excluded: bool,
    depends_on: String,
}

/// A `history` row.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct RawHistory {
    id: i64,
    release_id: String,
    action: String,
    actor_subject: String,
    actor_name: String,
    details: String,
    created_at: i64,
}

/// A `repo_ci_status` row.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct RawCiStatus {
    repo_id: i64,
    release_id: String,
    repo_name: String,
    merge_commit_sha: String,
    status: String,
    conclusion: Option<String>,
    run_id: Option<i64>,
    run_number: Option<i64>,
    run_attempt: Option<i64>,
    run_url: Option<String>,
    chart_version: Option<String>,
    tracking_started_at: i64,
    started_at: Option<i64>,
    completed_at: Option<i64>,
    last_checked_at: Option<i64>,
    checks: i64,
    etag: Option<String>,
    next_check_at: i64,
    lease_until: Option<i64>,
    version: i64,
}

/// An `api_tokens` row.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct RawApiToken {
    name: String,
    token_sha256: String,
    roles: String,
    created_at: i64,
    last_used_at: Option<i64>,
}

pub(crate) fn release_id(column: &str, s: String) -> Result<ReleaseId, StoreError> {
    ReleaseId::parse(&s)
        .ok_or_else(|| StoreError::corrupt(column, format!("`{s}` is not a release id")))
}

fn branch(column: &str, s: &str) -> Result<BranchName, StoreError> {
    BranchName::parse(s).map_err(|e| StoreError::corrupt(column, e))
}

fn count(column: &str, n: i64) -> Result<u64, StoreError> {
    u64::try_from(n).map_err(|_| StoreError::corrupt(column, format!("{n} is negative")))
}

pub(crate) fn from_json<T: DeserializeOwned>(column: &str, s: &str) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::corrupt(column, e))
}

/// JSON text for a TEXT column.
pub(crate) fn to_json<T: Serialize + ?Sized>(
    column: &str,
    value: &T,
) -> Result<String, StoreError> {
    serde_json::to_string(value)
        .map_err(|e| StoreError::corrupt(column, format!("cannot encode: {e}")))
}

/// A count or number for a BIGINT column. Values past `i64::MAX` cannot occur in practice
/// (commit counts, line counts, PR numbers) and are stored as `i64::MAX`.
pub(crate) fn to_db(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn sign_off(
    kind: &str,
    subject: Option<String>,
    name: Option<String>,
    at: Option<i64>,
    fingerprint: Option<String>,
) -> Result<Option<SignOff>, StoreError> {
    match (subject, name, at, fingerprint) {
        (None, None, None, None) => Ok(None),
        (Some(subject), Some(name), Some(at), Some(fingerprint)) => Ok(Some(SignOff {
            by: Actor { subject, name },
            at,
            fingerprint,
        })),
        _ => Err(StoreError::corrupt(
            format!("{kind} sign-off"),
            "only some of its columns are set",
        )),
    }
}

impl RawRelease {
    /// Parses the row into a record.
    pub(crate) fn into_record(self) -> Result<ReleaseRecord, StoreError> {
        let status = ReleaseStatus::parse(&self.status).ok_or_else(|| {
            StoreError::corrupt(
                "releases.status",
                format!("unknown status `{}`", self.status),
            )
        })?;
        Ok(ReleaseRecord {
            id: release_id("releases.id", self.id)?,
            org: self.org,
            source_branch: branch("releases.source_branch", &self.source_branch)?,
            dest_branch: branch("releases.dest_branch", &self.dest_branch)?,
            status,
            notes: self.notes,
            breaking_changes: self.breaking_changes,
            created_by: Actor {
                subject: self.created_by_subject,
                name: self.created_by_name,
            },
            created_at: self.created_at,
            last_refreshed_at: self.last_refreshed_at,
            content_fingerprint: self.content_fingerprint,
            sign_offs: SignOffs {
                dev: sign_off(
                    "dev",
                    self.dev_approved_by_subject,
                    self.dev_approved_by_name,
                    self.dev_approved_at,
                    self.dev_approved_fingerprint,
                )?,
                qa: sign_off(
                    "qa",
                    self.qa_approved_by_subject,
                    self.qa_approved_by_name,
                    self.qa_approved_at,
                    self.qa_approved_fingerprint,
                )?,
            },
            channel_id: self.channel_id,
            chat_post_id: self.chat_post_id,
            approval_cycle: self.approval_cycle,
            version: self.version,
        })
    }
}

impl RawReleaseSummary {
    /// Parses the row into a record.
    pub(crate) fn into_record(self) -> Result<ReleaseSummaryRecord, StoreError> {
        Ok(ReleaseSummaryRecord {
            release: self.release.into_record()?,
            repo_count: self.repo_count,
            commit_count: self.commit_count,
        })
    }
}

/// A CI status name from the database.
pub(crate) fn ci_status(column: &str, s: &str) -> Result<CiStatus, StoreError> {
    CiStatus::parse(s)
        .ok_or_else(|| StoreError::corrupt(column, format!("unknown CI status `{s}`")))
}

impl RawCiStatus {
    /// Parses the row into a record.
    pub(crate) fn into_record(self) -> Result<CiStatusRecord, StoreError> {
        let optional_count = |column: &str, n: Option<i64>| n.map(|n| count(column, n)).transpose();
        Ok(CiStatusRecord {
            repo_id: self.repo_id,
            release_id: release_id("repo_ci_status.release_id", self.release_id)?,
            repo_name: self.repo_name,
            merge_commit_sha: self.merge_commit_sha,
            status: ci_status("repo_ci_status.status", &self.status)?,
            conclusion: self.conclusion,
            run_id: optional_count("repo_ci_status.run_id", self.run_id)?,
            run_number: optional_count("repo_ci_status.run_number", self.run_number)?,
            run_attempt: optional_count("repo_ci_status.run_attempt", self.run_attempt)?,
            run_url: self.run_url,
            chart_version: self.chart_version,
            tracking_started_at: self.tracking_started_at,
            started_at: self.started_at,
            completed_at: self.completed_at,
            last_checked_at: self.last_checked_at,
            checks: u32::try_from(self.checks).map_err(|_| {
                StoreError::corrupt(
                    "repo_ci_status.checks",
                    format!("{} is not a check count", self.checks),
                )
            })?,
            etag: self.etag,
            next_check_at: self.next_check_at,
            lease_until: self.lease_until,
            version: self.version,
        })
    }
}

fn pull(
    number: Option<i64>,
    url: Option<String>,
    state: Option<String>,
    merge_commit_sha: Option<String>,
) -> Result<Option<PullInfo>, StoreError> {
    match (number, url, state) {
        (None, None, None) if merge_commit_sha.is_none() => Ok(None),
        (Some(number), Some(url), Some(state)) => Ok(Some(PullInfo {
            number: count("release_repos.pr_number", number)?,
            url,
            state: PrState::parse(&state).ok_or_else(|| {
                StoreError::corrupt("release_repos.pr_state", format!("unknown state `{state}`"))
            })?,
            merge_commit_sha,
        })),
        _ => Err(StoreError::corrupt(
            "release_repos.pr_*",
            "only some pull request columns are set",
        )),
    }
}

impl RawRepo {
    /// Parses the row into a record.
    pub(crate) fn into_record(self) -> Result<RepoRecord, StoreError> {
        Ok(RepoRecord {
            id: self.id,
            release_id: release_id("release_repos.release_id", self.release_id)?,
            change: RepoChange {
                repo_name: self.repo_name,
                commit_count: count("release_repos.commit_count", self.commit_count)?,
                additions: count("release_repos.additions", self.additions)?,
                deletions: count("release_repos.deletions", self.deletions)?,
                contributors: from_json("release_repos.contributors", &self.contributors)?,
                summary: from_json("release_repos.summary", &self.summary)?,
                is_breaking: self.is_breaking,
                infra_changes: from_json("release_repos.infra_changes", &self.infra_changes)?,
                head_sha: self.head_sha,
                pull: pull(
                    self.pr_number,
                    self.pr_url,
                    self.pr_state,
                    self.merge_commit_sha,
                )?,
            },
            excluded: self.excluded,
            depends_on: from_json("release_repos.depends_on", &self.depends_on)?,
        })
    }
}

impl RawHistory {
    /// Parses the row into a record.
    pub(crate) fn into_record(self) -> Result<HistoryRecord, StoreError> {
        let action = HistoryAction::parse(&self.action).ok_or_else(|| {
            StoreError::corrupt(
                "history.action",
                format!("unknown action `{}`", self.action),
            )
        })?;
        let fields: serde_json::Value = from_json("history.details", &self.details)?;
        let details = HistoryDetails::from_stored(action.as_str(), fields)
            .map_err(|e| StoreError::corrupt("history.details", e.to_string()))?;
        Ok(HistoryRecord {
            id: self.id,
            release_id: release_id("history.release_id", self.release_id)?,
            action,
            actor: Actor {
                subject: self.actor_subject,
                name: self.actor_name,
            },
            details,
            created_at: self.created_at,
        })
    }
}

impl RawApiToken {
    /// Parses the row into a record.
    pub(crate) fn into_record(self) -> Result<ApiTokenRecord, StoreError> {
        Ok(ApiTokenRecord {
            roles: from_json(&format!("api_tokens.roles of `{}`", self.name), &self.roles)?,
            name: self.name,
            token_sha256: self.token_sha256,
            created_at: self.created_at,
            last_used_at: self.last_used_at,
        })
    }
}

/// The columns a pull request occupies, ready to bind.
pub(crate) struct PullColumns<'a> {
    pub(crate) number: Option<i64>,
    pub(crate) url: Option<&'a str>,
    pub(crate) state: Option<&'static str>,
    pub(crate) merge_commit_sha: Option<&'a str>,
}

impl<'a> PullColumns<'a> {
    /// Splits an optional pull request into its columns.
    pub(crate) fn new(pull: Option<&'a PullInfo>) -> Self {
        PullColumns {
            number: pull.map(|p| to_db(p.number)),
            url: pull.map(|p| p.url.as_str()),
            state: pull.map(|p| p.state.as_str()),
            merge_commit_sha: pull.and_then(|p| p.merge_commit_sha.as_deref()),
        }
    }
}

/// The JSON list columns of a repo change, encoded.
pub(crate) struct ChangeJson {
    pub(crate) contributors: String,
    pub(crate) summary: String,
    pub(crate) infra_changes: String,
}

impl ChangeJson {
    /// Encodes the lists of `change`.
    pub(crate) fn new(change: &RepoChange) -> Result<Self, StoreError> {
        Ok(ChangeJson {
            contributors: to_json("contributors", &change.contributors)?,
            summary: to_json("summary", &change.summary)?,
            infra_changes: to_json("infra_changes", &change.infra_changes)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw_release() -> RawRelease {
        RawRelease {
            id: "abcdefghij".into(),
            org: "acme".into(),
            source_branch: "uat".into(),
            dest_branch: "master".into(),
            status: "pending".into(),
            notes: String::new(),
            breaking_changes: String::new(),
            created_by_subject: "s".into(),
            created_by_name: "n".into(),
            created_at: 1,
            last_refreshed_at: 1,
            content_fingerprint: "fp".into(),
            dev_approved_by_subject: None,
            dev_approved_by_name: None,
            dev_approved_at: None,
            dev_approved_fingerprint: None,
            qa_approved_by_subject: None,
            qa_approved_by_name: None,
            qa_approved_at: None,
            qa_approved_fingerprint: None,
            channel_id: None,
            chat_post_id: None,
            approval_cycle: 0,
            version: 0,
        }
    }

    fn raw_repo() -> RawRepo {
        RawRepo {
            id: 1,
            release_id: "abcdefghij".into(),
            repo_name: "svc".into(),
            commit_count: 1,
            additions: 2,
            deletions: 3,
            contributors: "[\"a\"]".into(),
            summary: "[]".into(),
            is_breaking: false,
            infra_changes: "[]".into(),
            head_sha: "h".into(),
            pr_number: None,
            pr_url: None,
            pr_state: None,
            merge_commit_sha: None,
            excluded: false,
            depends_on: "[]".into(),
        }
    }

    fn is_corrupt<T: std::fmt::Debug>(r: Result<T, StoreError>) -> bool {
        matches!(r, Err(StoreError::Corrupt(_)))
    }

    #[test]
    fn valid_rows_parse() {
        assert!(raw_release().into_record().is_ok());
        let repo = raw_repo().into_record().unwrap();
        assert_eq!(repo.change.contributors, ["a"]);
        assert_eq!(repo.change.pull, None);
    }

    #[test]
    fn bad_release_values_are_corrupt() {
        let cases: [fn(&mut RawRelease); 5] = [
            |r| r.id = "not an id".into(),
            |r| r.status = "shipped".into(),
            |r| r.source_branch = "a..b".into(),
            |r| r.dev_approved_by_subject = Some("half".into()),
            |r| r.qa_approved_at = Some(5),
        ];
        for case in cases {
            let mut r = raw_release();
            case(&mut r);
            assert!(is_corrupt(r.into_record()));
        }
    }

    #[test]
    fn bad_repo_values_are_corrupt() {
        let cases: [fn(&mut RawRepo); 6] = [
            |r| r.commit_count = -1,
            |r| r.contributors = "not json".into(),
            |r| r.depends_on = "{\"a\": 1}".into(),
            |r| r.pr_number = Some(3),
            |r| r.merge_commit_sha = Some("m".into()),
            |r| {
                r.pr_number = Some(3);
                r.pr_url = Some("u".into());
                r.pr_state = Some("draft".into());
            },
        ];
        for case in cases {
            let mut r = raw_repo();
            case(&mut r);
            assert!(is_corrupt(r.into_record()));
        }
    }

    #[test]
    fn bad_history_and_token_values_are_corrupt() {
        let history = |action: &str, details: &str| RawHistory {
            id: 1,
            release_id: "abcdefghij".into(),
            action: action.into(),
            actor_subject: "s".into(),
            actor_name: "n".into(),
            details: details.into(),
            created_at: 1,
        };
        assert!(history("created", "{}").into_record().is_ok());
        assert!(is_corrupt(history("exploded", "{}").into_record()));
        assert!(is_corrupt(history("created", "{").into_record()));
        assert!(is_corrupt(
            history("status_changed", r#"{"from": "nowhere"}"#).into_record()
        ));
        let token = |roles: &str| RawApiToken {
            name: "t".into(),
            token_sha256: "h".into(),
            roles: roles.into(),
            created_at: 1,
            last_used_at: None,
        };
        assert!(token("[\"admin\"]").into_record().is_ok());
        assert!(is_corrupt(token("[\"root\"]").into_record()));
    }

    #[test]
    fn bad_ci_values_are_corrupt() {
        let raw = || RawCiStatus {
            repo_id: 1,
            release_id: "abcdefghij".into(),
            repo_name: "svc".into(),
            merge_commit_sha: "m".into(),
            status: "in_progress".into(),
            conclusion: None,
            run_id: Some(5),
            run_number: Some(6),
            run_attempt: Some(1),
            run_url: Some("u".into()),
            chart_version: None,
            tracking_started_at: 1,
            started_at: Some(2),
            completed_at: None,
            last_checked_at: Some(3),
            checks: 0,
            etag: None,
            next_check_at: 4,
            lease_until: None,
            version: 0,
        };
        let ok = raw().into_record().unwrap();
        assert_eq!(ok.status, CiStatus::InProgress);
        assert_eq!(ok.run_id, Some(5));
        let cases: [fn(&mut RawCiStatus); 5] = [
            |r| r.status = "done".into(),
            |r| r.release_id = "nope".into(),
            |r| r.run_id = Some(-1),
            |r| r.checks = -1,
            |r| r.checks = i64::from(u32::MAX) + 1,
        ];
        for case in cases {
            let mut r = raw();
            case(&mut r);
            assert!(is_corrupt(r.into_record()));
        }
    }

    #[test]
    fn huge_counts_saturate() {
        assert_eq!(to_db(u64::MAX), i64::MAX);
        assert_eq!(to_db(7), 7);
    }
}
