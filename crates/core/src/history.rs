//! The append-only history of a release.

use serde::{Deserialize, Serialize};

/// What happened, as recorded in history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HistoryAction {
    /// The release was created.
    Created,
    /// Repos were re-read from GitHub.
    Refreshed,
    /// Notes or breaking-change text edited.
    NotesUpdated,
    /// A repo was taken out of the release.
    RepoExcluded,
    /// A repo was put back.
    RepoIncluded,
    /// A repo's dependencies changed.
    DependenciesUpdated,
    /// Dev sign-off given.
    ApprovedDev,
    /// QA sign-off given.
    ApprovedQa,
    /// Dev sign-off withdrawn.
    RevokedDev,
    /// QA sign-off withdrawn.
    RevokedQa,
    /// Sign-offs reset because the snapshot changed.
    ApprovalsReset,
    /// Status changed (deployed, cancelled, approved, pending).
    StatusChanged,
    /// A CI run was first seen.
    CiStarted,
    /// A CI run succeeded.
    CiCompleted,
    /// A CI run failed, was cancelled, timed out or was never found.
    CiFailed,
    /// Deployment tracking saw the release running everywhere it should.
    DeployObserved,
    /// A notification was sent.
    Notified,
}

impl HistoryAction {
    /// Every action.
    pub const ALL: [HistoryAction; 17] = [
        HistoryAction::Created,
        HistoryAction::Refreshed,
        HistoryAction::NotesUpdated,
        HistoryAction::RepoExcluded,
        HistoryAction::RepoIncluded,
        HistoryAction::DependenciesUpdated,
        HistoryAction::ApprovedDev,
        HistoryAction::ApprovedQa,
        HistoryAction::RevokedDev,
        HistoryAction::RevokedQa,
        HistoryAction::ApprovalsReset,
        HistoryAction::StatusChanged,
        HistoryAction::CiStarted,
        HistoryAction::CiCompleted,
        HistoryAction::CiFailed,
        HistoryAction::DeployObserved,
        HistoryAction::Notified,
    ];

    /// The stored and API name.
    pub fn as_str(self) -> &'static str {
        match self {
            HistoryAction::Created => "created",
            HistoryAction::Refreshed => "refreshed",
            HistoryAction::NotesUpdated => "notes_updated",
            HistoryAction::RepoExcluded => "repo_excluded",
            HistoryAction::RepoIncluded => "repo_included",
            HistoryAction::DependenciesUpdated => "dependencies_updated",
            HistoryAction::ApprovedDev => "approved_dev",
            HistoryAction::ApprovedQa => "approved_qa",
            HistoryAction::RevokedDev => "revoked_dev",
            HistoryAction::RevokedQa => "revoked_qa",
            HistoryAction::ApprovalsReset => "approvals_reset",
            HistoryAction::StatusChanged => "status_changed",
            HistoryAction::CiStarted => "ci_started",
            HistoryAction::CiCompleted => "ci_completed",
            HistoryAction::CiFailed => "ci_failed",
            HistoryAction::DeployObserved => "deploy_observed",
            HistoryAction::Notified => "notified",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        HistoryAction::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// The history action for giving a sign-off.
    pub fn approved(kind: crate::SignOffKind) -> Self {
        match kind {
            crate::SignOffKind::Dev => HistoryAction::ApprovedDev,
            crate::SignOffKind::Qa => HistoryAction::ApprovedQa,
        }
    }

    /// The history action for withdrawing a sign-off.
    pub fn revoked(kind: crate::SignOffKind) -> Self {
        match kind {
            crate::SignOffKind::Dev => HistoryAction::RevokedDev,
            crate::SignOffKind::Qa => HistoryAction::RevokedQa,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_serde() {
        for a in HistoryAction::ALL {
            assert_eq!(HistoryAction::parse(a.as_str()), Some(a));
            assert_eq!(
                serde_json::to_value(a).unwrap(),
                serde_json::json!(a.as_str())
            );
        }
    }
}
