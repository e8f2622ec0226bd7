//! What the store reads and writes: plain records built from `shipyard-core` types.

use shipyard_core::change::RepoChange;
use shipyard_core::ci::CiStatus;
use shipyard_core::history::{HistoryAction, HistoryDetails};
use shipyard_core::release::SignOffs;
use shipyard_core::{Actor, BranchName, ReleaseId, ReleaseStatus, Role, UnixTime};

/// One release row: everything about a release except its repos and history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseRecord {
    /// The release id.
    pub id: ReleaseId,
    /// The GitHub organisation the release belongs to.
    pub org: String,
    /// Branch the changes come from.
    pub source_branch: BranchName,
    /// Branch the changes go to.
    pub dest_branch: BranchName,
    /// Where the release stands.
    pub status: ReleaseStatus,
    /// Free-text notes (Markdown).
    pub notes: String,
    /// Free-text description of breaking changes (Markdown).
    pub breaking_changes: String,
    /// Who created the release.
    pub created_by: Actor,
    /// When it was created.
    pub created_at: UnixTime,
    /// When its repos were last read from GitHub.
    pub last_refreshed_at: UnixTime,
    /// Hash over the included repos' heads, as computed by the domain.
    pub content_fingerprint: String,
    /// The dev and QA sign-offs.
    pub sign_offs: SignOffs,
    /// Chat channel that follows the release, if any.
    pub channel_id: Option<String>,
    /// Chat summary post kept up to date, if any.
    pub chat_post_id: Option<String>,
    /// How many approval cycles the release went through (a notification goes out once per cycle).
    pub approval_cycle: i64,
    /// Bumped by every [`Tx::save_release`](crate::Tx::save_release); inserted as given.
    pub version: i64,
}

/// One repo of a release, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoRecord {
    /// Stable row id (used in API paths; never reused).
    pub id: i64,
    /// The release the repo belongs to.
    pub release_id: ReleaseId,
    /// What the comparison said, including the pull request.
    pub change: RepoChange,
    /// A person took the repo out of the release.
    pub excluded: bool,
    /// Names of repos of the same release that must deploy first.
    pub depends_on: Vec<String>,
}

/// One stored history entry.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryRecord {
    /// Row id; ascending ids are the order of events.
    pub id: i64,
    /// The release the entry belongs to.
    pub release_id: ReleaseId,
    /// What happened.
    pub action: HistoryAction,
    /// Who did it.
    pub actor: Actor,
    /// What happened, with its facts.
    pub details: HistoryDetails,
    /// When.
    pub created_at: UnixTime,
}

/// A history entry to append.
#[derive(Debug, Clone, PartialEq)]
pub struct NewHistory {
    /// Who did it.
    pub actor: Actor,
    /// What happened, with its facts (the action is the variant).
    pub details: HistoryDetails,
    /// When.
    pub created_at: UnixTime,
}

impl NewHistory {
    /// An entry by `actor` at `created_at`.
    pub fn new(actor: Actor, details: HistoryDetails, created_at: UnixTime) -> Self {
        NewHistory {
            actor,
            details,
            created_at,
        }
    }
}

/// Which releases to list, and which page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseFilter {
    /// Only releases in this status.
    pub status: Option<ReleaseStatus>,
    /// Only releases from this source branch (exact).
    pub source: Option<String>,
    /// Only releases into this destination branch (exact).
    pub dest: Option<String>,
    /// Case-insensitive substring of the id, either branch, the creator's name or the notes.
    pub q: Option<String>,
    /// Page size; clamped to `1..=`[`ReleaseFilter::MAX_LIMIT`].
    pub limit: u32,
    /// The `next_cursor` of the previous page; `None` for the first page.
    pub cursor: Option<String>,
}

impl ReleaseFilter {
    /// Largest page the store returns.
    pub const MAX_LIMIT: u32 = 200;
    /// Page size of [`ReleaseFilter::default`].
    pub const DEFAULT_LIMIT: u32 = 50;

    /// The page size actually used.
    pub fn effective_limit(&self) -> u32 {
        self.limit.clamp(1, Self::MAX_LIMIT)
    }
}

impl Default for ReleaseFilter {
    fn default() -> Self {
        ReleaseFilter {
            status: None,
            source: None,
            dest: None,
            q: None,
            limit: Self::DEFAULT_LIMIT,
            cursor: None,
        }
    }
}

/// One page of the release list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleasePage {
    /// Newest first (by creation time, then id).
    pub releases: Vec<ReleaseSummaryRecord>,
    /// Opaque cursor for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// A release with the figures the list shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseSummaryRecord {
    /// The release row.
    pub release: ReleaseRecord,
    /// Number of included (not excluded) repos.
    pub repo_count: i64,
    /// Commits summed over included repos.
    pub commit_count: i64,
}

/// An API token as stored: its name, the SHA-256 of its secret (hex), and its roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiTokenRecord {
    /// The token's name (its identity in history: `token:<name>`).
    pub name: String,
    /// Hex SHA-256 of the secret; the secret itself is never stored.
    pub token_sha256: String,
    /// Roles the token grants.
    pub roles: Vec<Role>,
    /// When the token was first stored (or its secret last changed).
    pub created_at: UnixTime,
    /// When the token was last used, if ever.
    pub last_used_at: Option<UnixTime>,
}

/// Where the CI run of one release repo stands: the `repo_ci_status` row, one per release repo
/// whose merge is known.
///
/// The identity (`repo_id`, `release_id`, `repo_name`) is fixed when tracking starts; every other
/// field is written by [`Store::update_ci_status`](crate::Store::update_ci_status).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CiStatusRecord {
    /// The release repo's row id (the key; never reused).
    pub repo_id: i64,
    /// The release the repo belongs to.
    pub release_id: ReleaseId,
    /// The repo's name.
    pub repo_name: String,
    /// The merge commit on the destination branch whose run is tracked.
    pub merge_commit_sha: String,
    /// Where the build stands.
    pub status: CiStatus,
    /// GitHub's raw conclusion of the run (`success`, `timed_out`, …), once it completed.
    pub conclusion: Option<String>,
    /// The workflow run's id, once a run was found.
    pub run_id: Option<u64>,
    /// The run's number (what people see: `#937`).
    pub run_number: Option<u64>,
    /// Which attempt of the run (re-runs count up from 1).
    pub run_attempt: Option<u64>,
    /// The run's page on GitHub.
    pub run_url: Option<String>,
    /// The Helm chart version the successful run built, when its log names one.
    pub chart_version: Option<String>,
    /// When tracking began (the poll timeout counts from here).
    pub tracking_started_at: UnixTime,
    /// When the run started.
    pub started_at: Option<UnixTime>,
    /// When the run completed.
    pub completed_at: Option<UnixTime>,
    /// When the tracker last asked GitHub about this repo.
    pub last_checked_at: Option<UnixTime>,
    /// Checks made without finding a run.
    pub checks: u32,
    /// The ETag of the last answer about the run, for a conditional request.
    pub etag: Option<String>,
    /// When the row is next due for a poll.
    pub next_check_at: UnixTime,
    /// Until when the instance that claimed the row polls it; `None` when nobody holds it.
    /// Set by [`Store::claim_due_ci_checks`](crate::Store::claim_due_ci_checks), cleared by
    /// every update (the value given in an update is not written).
    pub lease_until: Option<UnixTime>,
    /// Bumped by every update; an update applies only if this still matches the stored one.
    pub version: i64,
}
