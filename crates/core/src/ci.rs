//! CI tracking rules: what a GitHub Actions run's status and conclusion mean for a release repo,
//! when tracking gives up, and how the Helm chart version is read from a job log.

use serde::{Deserialize, Serialize};

/// Where a release repo's build stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CiStatus {
    /// The merge is known; no run found yet.
    Pending,
    /// The run waits for a runner (`requested`, `waiting`, `pending` and `queued` on GitHub).
    Queued,
    /// The run is running.
    InProgress,
    /// The run succeeded.
    Success,
    /// The run failed (also `timed_out`, `action_required`, `startup_failure`).
    Failure,
    /// The run was cancelled.
    Cancelled,
    /// The run was skipped: nothing was built.
    Skipped,
    /// The run ended neutral: nothing was built.
    Neutral,
    /// No run of the workflow appeared after the allowed number of checks.
    NoWorkflow,
    /// The run did not complete within the poll timeout.
    Timeout,
}

impl CiStatus {
    /// Every status, in a stable order.
    pub const ALL: [CiStatus; 10] = [
        CiStatus::Pending,
        CiStatus::Queued,
        CiStatus::InProgress,
        CiStatus::Success,
        CiStatus::Failure,
        CiStatus::Cancelled,
        CiStatus::Skipped,
        CiStatus::Neutral,
        CiStatus::NoWorkflow,
        CiStatus::Timeout,
    ];

    /// The snake_case name used in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            CiStatus::Pending => "pending",
            CiStatus::Queued => "queued",
            CiStatus::InProgress => "in_progress",
            CiStatus::Success => "success",
            CiStatus::Failure => "failure",
            CiStatus::Cancelled => "cancelled",
            CiStatus::Skipped => "skipped",
            CiStatus::Neutral => "neutral",
            CiStatus::NoWorkflow => "no_workflow",
            CiStatus::Timeout => "timeout",
        }
    }

    /// Parses [`CiStatus::as_str`].
    pub fn parse(s: &str) -> Option<CiStatus> {
        CiStatus::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// Whether tracking has ended (nothing more will change without a new run).
    pub fn is_final(self) -> bool {
        !matches!(
            self,
            CiStatus::Pending | CiStatus::Queued | CiStatus::InProgress
        )
    }

    /// Whether this ending counts as a failed build (history `ci_failed`).
    pub fn is_failed(self) -> bool {
        matches!(
            self,
            CiStatus::Failure | CiStatus::Cancelled | CiStatus::NoWorkflow | CiStatus::Timeout
        )
    }

    /// The status of a run from GitHub's `status` and `conclusion` fields. Unknown values are
    /// read as still running (`status`) or failed (`conclusion`), never as success.
    pub fn from_run(status: &str, conclusion: Option<&str>) -> CiStatus {
        match status {
            "completed" => match conclusion.unwrap_or("") {
                "success" => CiStatus::Success,
                "cancelled" => CiStatus::Cancelled,
                "skipped" => CiStatus::Skipped,
                "neutral" => CiStatus::Neutral,
                // failure, timed_out, action_required, startup_failure, stale, anything new
                _ => CiStatus::Failure,
            },
            "in_progress" => CiStatus::InProgress,
            // requested, waiting, pending, queued
            _ => CiStatus::Queued,
        }
    }
}

/// Counts of a release's CI statuses, over included repos that have tracking.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CiSummary {
    /// Repos with tracking.
    pub total: u32,
    /// Built successfully.
    pub success: u32,
    /// Failed, cancelled, timed out or without a workflow.
    pub failed: u32,
    /// Queued or running.
    pub in_progress: u32,
    /// Merged, no run found yet.
    pub pending: u32,
}

impl CiSummary {
    /// Adds up `statuses`.
    pub fn of(statuses: impl IntoIterator<Item = CiStatus>) -> CiSummary {
        let mut s = CiSummary::default();
        for status in statuses {
            s.total += 1;
            match status {
                CiStatus::Success => s.success += 1,
                CiStatus::Queued | CiStatus::InProgress => s.in_progress += 1,
                CiStatus::Pending => s.pending += 1,
                other if other.is_failed() => s.failed += 1,
                _ => {}
            }
        }
        s
    }
}

/// What the tracker should do about a repo whose run has not been found, or is not complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Keep checking.
    KeepChecking,
    /// Give up: no run appeared.
    NoWorkflow,
    /// Give up: tracking lasted longer than the poll timeout.
    Timeout,
}

/// Whether to keep tracking a repo that is not complete: `checks` made so far without finding a
/// run (`found_run` false), tracking since `started_at`, limits from configuration.
pub fn verdict(
    found_run: bool,
    checks: u32,
    no_workflow_after_checks: u32,
    started_at: i64,
    now: i64,
    poll_timeout_secs: i64,
) -> Verdict {
    if !found_run && checks >= no_workflow_after_checks {
        Verdict::NoWorkflow
    } else if now - started_at >= poll_timeout_secs {
        Verdict::Timeout
    } else {
        Verdict::KeepChecking
    }
}

/// Whether a run's `path` names the tracked workflow file `workflow_file` (e.g. `general.yaml`).
///
/// GitHub writes the path in several forms: `.github/workflows/general.yaml`,
/// `.github/workflows/general.yaml@main`, `….yaml@refs/heads/master`, and for a workflow
/// called from another repository `owner/repo/.github/workflows/general.yaml@<ref>`. The `@ref`
/// is dropped, then the rest must end with `.github/workflows/<file>` at a path boundary.
pub fn workflow_path_matches(path: &str, workflow_file: &str) -> bool {
    let file = workflow_file.trim_start_matches('/');
    if file.is_empty() {
        return false;
    }
    let path = path.split_once('@').map_or(path, |(p, _)| p);
    let Some(dir) = path.strip_suffix(file) else {
        return false;
    };
    let Some(before) = dir.strip_suffix(".github/workflows/") else {
        return false;
    };
    before.is_empty() || before.ends_with('/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflow_paths_match_in_every_form_github_writes() {
        let cases = [
            (".github/workflows/general.yaml", true),
            (".github/workflows/general.yaml@main", true),
            (".github/workflows/general.yaml@refs/heads/master", true),
            (
                "acme/svc/.github/workflows/general.yaml@refs/heads/master",
                true,
            ),
            (
                "acme/svc/.github/workflows/general.yaml@1595d4b6de6a9e9751fb270a41019ce507d4099e",
                true,
            ),
            (".github/workflows/general.yml", false),
            (".github/workflows/other-general.yaml", false),
            (".github/workflows/general.yaml.bak", false),
            (".github/workflows/sub/general.yaml", false),
            ("general.yaml", false),
            ("x.github/workflows/general.yaml", false),
            ("", false),
            ("@.github/workflows/general.yaml", false),
        ];
        for (path, want) in cases {
            assert_eq!(
                workflow_path_matches(path, "general.yaml"),
                want,
                "{path:?}"
            );
        }
        assert!(!workflow_path_matches(".github/workflows/", ""));
    }

    #[test]
    fn github_run_states_map_as_the_table_says() {
        let cases = [
            ("requested", None, CiStatus::Queued),
            ("waiting", None, CiStatus::Queued),
            ("pending", None, CiStatus::Queued),
            ("queued", None, CiStatus::Queued),
            ("in_progress", None, CiStatus::InProgress),
            ("completed", Some("success"), CiStatus::Success),
            ("completed", Some("failure"), CiStatus::Failure),
            ("completed", Some("timed_out"), CiStatus::Failure),
            ("completed", Some("action_required"), CiStatus::Failure),
            ("completed", Some("startup_failure"), CiStatus::Failure),
            ("completed", Some("cancelled"), CiStatus::Cancelled),
            ("completed", Some("skipped"), CiStatus::Skipped),
            ("completed", Some("neutral"), CiStatus::Neutral),
            ("completed", None, CiStatus::Failure),
        ];
        for (status, conclusion, want) in cases {
            assert_eq!(
                CiStatus::from_run(status, conclusion),
                want,
                "{status} {conclusion:?}"
            );
        }
    }

    #[test]
    fn names_round_trip_and_match_serde() {
        for s in CiStatus::ALL {
            assert_eq!(CiStatus::parse(s.as_str()), Some(s));
            assert_eq!(
                serde_json::to_value(s).ok(),
                Some(serde_json::json!(s.as_str()))
            );
        }
        assert_eq!(CiStatus::parse("done"), None);
        assert!(!CiStatus::Queued.is_final() && CiStatus::Skipped.is_final());
        assert!(CiStatus::Timeout.is_failed() && !CiStatus::Neutral.is_failed());
    }

    #[test]
    fn summary_counts_by_kind() {
        let s = CiSummary::of([
            CiStatus::Success,
            CiStatus::Success,
            CiStatus::Failure,
            CiStatus::NoWorkflow,
            CiStatus::InProgress,
            CiStatus::Queued,
            CiStatus::Pending,
            CiStatus::Skipped,
        ]);
        assert_eq!(
            s,
            CiSummary {
                total: 8,
                success: 2,
                failed: 2,
                in_progress: 2,
                pending: 1
            }
        );
    }

    #[test]
    fn tracking_gives_up_after_checks_or_time() {
        let day = 86_400;
        assert_eq!(verdict(false, 2, 3, 0, 60, day), Verdict::KeepChecking);
        assert_eq!(verdict(false, 3, 3, 0, 90, day), Verdict::NoWorkflow);
        // A run was found: the check count no longer matters, only the time.
        assert_eq!(verdict(true, 50, 3, 0, 3600, day), Verdict::KeepChecking);
        assert_eq!(verdict(true, 50, 3, 0, day, day), Verdict::Timeout);
    }
}
