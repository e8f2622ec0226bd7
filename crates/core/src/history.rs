//! The append-only history of a release: what happened ([`HistoryAction`]), with the facts of
//! each kind of entry ([`HistoryDetails`], one variant per action) and how people read it
//! ([`HistoryDetails::describe`]).
//!
//! Stored rows keep the action's name and the details' fields as a JSON object; the API shows
//! the same object. Every field has a default, so rows written by earlier versions (with fewer
//! fields) still read back.

use crate::ReleaseStatus;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
    /// An environment was first seen rolling out a repo's expected version.
    DeployStarted,
    /// Deployment tracking saw a repo's expected version running in an environment, or the
    /// release running everywhere it should.
    DeployObserved,
    /// A repo's rollout of its expected version failed in an environment.
    DeployFailed,
    /// A notification was sent.
    Notified,
}

impl HistoryAction {
    /// Every action.
    pub const ALL: [HistoryAction; 19] = [
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
        HistoryAction::DeployStarted,
        HistoryAction::DeployObserved,
        HistoryAction::DeployFailed,
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
            HistoryAction::DeployStarted => "deploy_started",
            HistoryAction::DeployObserved => "deploy_observed",
            HistoryAction::DeployFailed => "deploy_failed",
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

/// Why a refresh happened, when it was not someone pressing Refresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefreshCause {
    /// GitHub reported a release pull request merged (`pull_request` webhook).
    Webhook,
    /// GitHub reported a push to the release's source branch (`push` webhook).
    Push,
}

/// The facts of one history entry, one variant per [`HistoryAction`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", content = "details", rename_all = "snake_case")]
pub enum HistoryDetails {
    /// The release was created.
    Created {
        /// Repos in the release.
        #[serde(default)]
        repos: u64,
        /// Commits across them.
        #[serde(default)]
        commits: u64,
        /// Repos of the org looked at.
        #[serde(default)]
        scanned: u64,
        /// Repos left out, by reason (`archived`, `filtered`, `nothing_ahead`, …).
        #[serde(default)]
        skipped: BTreeMap<String, u64>,
    },
    /// Repos were compared with GitHub again.
    Refreshed {
        /// Included repos with new commits.
        #[serde(default)]
        changed: Vec<String>,
        /// Repos that joined the release.
        #[serde(default)]
        added: Vec<String>,
        /// Repos whose release pull request is now merged.
        #[serde(default)]
        merged: Vec<String>,
        /// What set it off, when not a person.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        via: Option<RefreshCause>,
    },
    /// Notes or breaking-change text edited.
    NotesUpdated {
        /// `notes`, `breaking_changes`.
        #[serde(default)]
        fields: Vec<String>,
    },
    /// A repo was taken out of the release.
    RepoExcluded {
        /// The repo.
        #[serde(default)]
        repo: String,
    },
    /// A repo was put back.
    RepoIncluded {
        /// The repo.
        #[serde(default)]
        repo: String,
    },
    /// A repo's dependencies changed.
    DependenciesUpdated {
        /// The repo.
        #[serde(default)]
        repo: String,
        /// What it depends on now.
        #[serde(default)]
        depends_on: Vec<String>,
    },
    /// Dev sign-off given.
    ApprovedDev {
        /// The snapshot signed off.
        #[serde(default)]
        fingerprint: String,
    },
    /// QA sign-off given.
    ApprovedQa {
        /// The snapshot signed off.
        #[serde(default)]
        fingerprint: String,
    },
    /// Dev sign-off withdrawn.
    RevokedDev {
        /// Who had given it.
        #[serde(default)]
        previously_by: Option<String>,
    },
    /// QA sign-off withdrawn.
    RevokedQa {
        /// Who had given it.
        #[serde(default)]
        previously_by: Option<String>,
    },
    /// Sign-offs reset because the snapshot changed.
    ApprovalsReset {
        /// Why, for people.
        #[serde(default)]
        reason: String,
        /// The repos whose change caused it.
        #[serde(default)]
        repos: Vec<String>,
        /// The sign-offs dropped (`dev`, `qa`).
        #[serde(default)]
        sign_offs: Vec<String>,
    },
    /// Status changed.
    StatusChanged {
        /// Before.
        from: ReleaseStatus,
        /// After.
        to: ReleaseStatus,
    },
    /// A CI run was first seen queued or running.
    CiStarted {
        /// The repo.
        #[serde(default)]
        repo: String,
        /// The run's number.
        #[serde(default)]
        run_number: u64,
        /// The run's id.
        #[serde(default)]
        run_id: u64,
    },
    /// A CI run succeeded.
    CiCompleted {
        /// The repo.
        #[serde(default)]
        repo: String,
        /// The run's number.
        #[serde(default)]
        run_number: u64,
        /// The chart version read from its Helm job's log, if any.
        #[serde(default)]
        chart_version: Option<String>,
    },
    /// A CI run failed, was cancelled, timed out or was never found.
    CiFailed {
        /// The repo.
        #[serde(default)]
        repo: String,
        /// GitHub's conclusion (`failure`, `cancelled`, `timed_out`, …), or `timeout` or
        /// `no_workflow`.
        #[serde(default)]
        reason: String,
        /// The run's number, when there was a run.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        run_number: Option<u64>,
        /// The workflow looked for (`no_workflow`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        workflow: Option<String>,
        /// Checks made without finding a run (`no_workflow`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        checks: Option<u32>,
    },
    /// An environment was first seen rolling out a repo's expected version.
    DeployStarted {
        /// The repo.
        #[serde(default)]
        repo: String,
        /// The environment.
        #[serde(default)]
        environment: String,
        /// The expected version (CI's chart version).
        #[serde(default)]
        version: String,
    },
    /// A repo runs its expected version in an environment (`repo` and `version` set), or the
    /// whole release runs in the deploy environment (neither set).
    DeployObserved {
        /// Where.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        environment: Option<String>,
        /// The repo, for one repo's arrival.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        repo: Option<String>,
        /// The version that runs, for one repo's arrival.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        version: Option<String>,
    },
    /// A repo's rollout of its expected version failed in an environment.
    DeployFailed {
        /// The repo.
        #[serde(default)]
        repo: String,
        /// The environment.
        #[serde(default)]
        environment: String,
        /// The expected version.
        #[serde(default)]
        version: String,
        /// What Argo CD says went wrong.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// A chat notification was posted.
    Notified {
        /// `summary`, `ready`, `ci_failed`, `deployed`.
        #[serde(default)]
        kind: String,
        /// Where.
        #[serde(default)]
        channel_id: String,
        /// The post.
        #[serde(default)]
        post_id: String,
        /// Attempts it took.
        #[serde(default)]
        attempts: u32,
    },
}

/// A stored entry whose details do not read as its action's (a corrupt row).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("history details of `{action}` do not read back: {reason}")]
pub struct DetailsError {
    /// The stored action name.
    pub action: String,
    /// Why.
    pub reason: String,
}

impl HistoryDetails {
    /// The action this entry records.
    pub fn action(&self) -> HistoryAction {
        match self {
            HistoryDetails::Created { .. } => HistoryAction::Created,
            HistoryDetails::Refreshed { .. } => HistoryAction::Refreshed,
            HistoryDetails::NotesUpdated { .. } => HistoryAction::NotesUpdated,
            HistoryDetails::RepoExcluded { .. } => HistoryAction::RepoExcluded,
            HistoryDetails::RepoIncluded { .. } => HistoryAction::RepoIncluded,
            HistoryDetails::DependenciesUpdated { .. } => HistoryAction::DependenciesUpdated,
            HistoryDetails::ApprovedDev { .. } => HistoryAction::ApprovedDev,
            HistoryDetails::ApprovedQa { .. } => HistoryAction::ApprovedQa,
            HistoryDetails::RevokedDev { .. } => HistoryAction::RevokedDev,
            HistoryDetails::RevokedQa { .. } => HistoryAction::RevokedQa,
            HistoryDetails::ApprovalsReset { .. } => HistoryAction::ApprovalsReset,
            HistoryDetails::StatusChanged { .. } => HistoryAction::StatusChanged,
            HistoryDetails::CiStarted { .. } => HistoryAction::CiStarted,
            HistoryDetails::CiCompleted { .. } => HistoryAction::CiCompleted,
            HistoryDetails::CiFailed { .. } => HistoryAction::CiFailed,
            HistoryDetails::DeployStarted { .. } => HistoryAction::DeployStarted,
            HistoryDetails::DeployObserved { .. } => HistoryAction::DeployObserved,
            HistoryDetails::DeployFailed { .. } => HistoryAction::DeployFailed,
            HistoryDetails::Notified { .. } => HistoryAction::Notified,
        }
    }

    /// The sign-off given, as an entry.
    pub fn approved(kind: crate::SignOffKind, fingerprint: String) -> Self {
        match kind {
            crate::SignOffKind::Dev => HistoryDetails::ApprovedDev { fingerprint },
            crate::SignOffKind::Qa => HistoryDetails::ApprovedQa { fingerprint },
        }
    }

    /// The sign-off withdrawn, as an entry.
    pub fn revoked(kind: crate::SignOffKind, previously_by: Option<String>) -> Self {
        match kind {
            crate::SignOffKind::Dev => HistoryDetails::RevokedDev { previously_by },
            crate::SignOffKind::Qa => HistoryDetails::RevokedQa { previously_by },
        }
    }

    /// The details' fields as a JSON object: what is stored beside the action's name, and what
    /// the API shows.
    pub fn fields(&self) -> serde_json::Value {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(mut tagged)) => tagged
                .remove("details")
                .unwrap_or_else(|| serde_json::Value::Object(Default::default())),
            _ => serde_json::Value::Object(Default::default()),
        }
    }

    /// Reads stored details back: the action's name and its fields (`null` reads as none).
    pub fn from_stored(action: &str, fields: serde_json::Value) -> Result<Self, DetailsError> {
        let fields = match fields {
            serde_json::Value::Null => serde_json::Value::Object(Default::default()),
            other => other,
        };
        serde_json::from_value(serde_json::json!({"action": action, "details": fields})).map_err(
            |e| DetailsError {
                action: action.to_owned(),
                reason: e.to_string(),
            },
        )
    }

    /// The entry in words, after the actor's name ("alice signed off as QA").
    pub fn describe(&self) -> String {
        fn run(n: Option<u64>) -> String {
            n.map(|n| format!(" #{n}")).unwrap_or_default()
        }
        match self {
            HistoryDetails::Created { repos, commits, .. } => {
                format!("created the release: {repos} repositories, {commits} commits")
            }
            HistoryDetails::Refreshed {
                via: Some(RefreshCause::Webhook),
                merged,
                ..
            } => format!("reported merged: {}", merged.join(", ")),
            HistoryDetails::Refreshed {
                changed,
                added,
                merged,
                via,
            } => {
                let mut parts = Vec::new();
                if !changed.is_empty() {
                    parts.push(format!("new commits in {}", changed.join(", ")));
                }
                if !added.is_empty() {
                    parts.push(format!("now changed: {}", added.join(", ")));
                }
                if !merged.is_empty() {
                    parts.push(format!("merged: {}", merged.join(", ")));
                }
                let lead = if *via == Some(RefreshCause::Push) {
                    "reported a push"
                } else {
                    "compared with GitHub again"
                };
                if parts.is_empty() {
                    format!("{lead}: nothing new")
                } else {
                    format!("{lead}: {}", parts.join("; "))
                }
            }
            HistoryDetails::NotesUpdated { fields } => {
                match (
                    fields.iter().any(|f| f == "notes"),
                    fields.iter().any(|f| f == "breaking_changes"),
                ) {
                    (true, true) => "edited the notes and breaking changes".to_owned(),
                    (false, true) => "edited the breaking changes".to_owned(),
                    _ => "edited the notes".to_owned(),
                }
            }
            HistoryDetails::RepoExcluded { repo } => format!("excluded {repo}"),
            HistoryDetails::RepoIncluded { repo } => format!("included {repo} again"),
            HistoryDetails::DependenciesUpdated { repo, depends_on } => {
                if depends_on.is_empty() {
                    format!("cleared the dependencies of {repo}")
                } else {
                    format!("made {repo} depend on {}", depends_on.join(", "))
                }
            }
            HistoryDetails::ApprovedDev { .. } => "signed off as Dev".to_owned(),
            HistoryDetails::ApprovedQa { .. } => "signed off as QA".to_owned(),
            HistoryDetails::RevokedDev { .. } => "withdrew the Dev sign-off".to_owned(),
            HistoryDetails::RevokedQa { .. } => "withdrew the QA sign-off".to_owned(),
            HistoryDetails::ApprovalsReset { reason, repos, .. } => {
                let mut s = format!("sign-offs reset: {reason}");
                if !repos.is_empty() {
                    s.push_str(&format!(" ({})", repos.join(", ")));
                }
                s
            }
            HistoryDetails::StatusChanged { from, to } => {
                format!("status {} → {}", from.as_str(), to.as_str())
            }
            HistoryDetails::CiStarted {
                repo, run_number, ..
            } => format!("build{} of {repo} started", run(Some(*run_number))),
            HistoryDetails::CiCompleted {
                repo,
                run_number,
                chart_version,
            } => match chart_version {
                Some(v) => format!(
                    "build{} of {repo} succeeded: chart {v}",
                    run(Some(*run_number))
                ),
                None => format!(
                    "build{} of {repo} succeeded; no chart version in its Helm job log",
                    run(Some(*run_number))
                ),
            },
            HistoryDetails::CiFailed {
                repo,
                reason,
                run_number,
                workflow,
                checks,
            } => match reason.as_str() {
                "no_workflow" => format!(
                    "found no run of {} for {repo} after {} checks",
                    workflow.as_deref().unwrap_or("the workflow"),
                    checks.unwrap_or(0)
                ),
                "timeout" => format!("build{} of {repo} did not finish in time", run(*run_number)),
                "cancelled" => format!("build{} of {repo} was cancelled", run(*run_number)),
                reason => format!("build{} of {repo} failed ({reason})", run(*run_number)),
            },
            HistoryDetails::DeployStarted {
                repo,
                environment,
                version,
            } => format!("{environment} started rolling out {repo} {version}"),
            HistoryDetails::DeployObserved {
                environment,
                repo,
                version,
            } => match (environment, repo) {
                (Some(env), Some(repo)) => match version {
                    Some(v) => format!("{env} runs {repo} {v}"),
                    None => format!("{env} runs {repo}"),
                },
                (Some(env), None) => format!("saw the release running in {env}"),
                (None, _) => "saw the release deployed".to_owned(),
            },
            HistoryDetails::DeployFailed {
                repo,
                environment,
                version,
                message,
            } => match message {
                Some(m) => format!("{repo} {version} failed in {environment}: {m}"),
                None => format!("{repo} {version} failed in {environment}"),
            },
            HistoryDetails::Notified { kind, .. } => {
                format!("posted the {kind} notification in chat")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ci_failed(reason: &str, run_number: Option<u64>) -> HistoryDetails {
        HistoryDetails::CiFailed {
            repo: "billing".into(),
            reason: reason.into(),
            run_number,
            workflow: None,
            checks: None,
        }
    }

    #[test]
    fn every_entry_reads_in_words() {
        let cases: Vec<(HistoryDetails, &str)> = vec![
            (
                HistoryDetails::Created {
                    repos: 3,
                    commits: 12,
                    scanned: 40,
                    skipped: BTreeMap::new(),
                },
                "created the release: 3 repositories, 12 commits",
            ),
            (
                HistoryDetails::Refreshed {
                    changed: vec!["a".into(), "b".into()],
                    added: vec!["c".into()],
                    merged: vec![],
                    via: None,
                },
                "compared with GitHub again: new commits in a, b; now changed: c",
            ),
            (
                HistoryDetails::Refreshed {
                    changed: vec![],
                    added: vec![],
                    merged: vec![],
                    via: None,
                },
                "compared with GitHub again: nothing new",
            ),
            (
                HistoryDetails::Refreshed {
                    changed: vec!["a".into()],
                    added: vec![],
                    merged: vec![],
                    via: Some(RefreshCause::Push),
                },
                "reported a push: new commits in a",
            ),
            (
                HistoryDetails::Refreshed {
                    changed: vec![],
                    added: vec![],
                    merged: vec!["a".into()],
                    via: Some(RefreshCause::Webhook),
                },
                "reported merged: a",
            ),
            (
                HistoryDetails::NotesUpdated {
                    fields: vec!["breaking_changes".into()],
                },
                "edited the breaking changes",
            ),
            (
                HistoryDetails::NotesUpdated {
                    fields: vec!["notes".into(), "breaking_changes".into()],
                },
                "edited the notes and breaking changes",
            ),
            (
                HistoryDetails::RepoExcluded { repo: "a".into() },
                "excluded a",
            ),
            (
                HistoryDetails::RepoIncluded { repo: "a".into() },
                "included a again",
            ),
            (
                HistoryDetails::DependenciesUpdated {
                    repo: "a".into(),
                    depends_on: vec!["b".into(), "c".into()],
                },
                "made a depend on b, c",
            ),
            (
                HistoryDetails::DependenciesUpdated {
                    repo: "a".into(),
                    depends_on: vec![],
                },
                "cleared the dependencies of a",
            ),
            (
                HistoryDetails::approved(crate::SignOffKind::Qa, "fp".into()),
                "signed off as QA",
            ),
            (
                HistoryDetails::revoked(crate::SignOffKind::Dev, Some("alice".into())),
                "withdrew the Dev sign-off",
            ),
            (
                HistoryDetails::ApprovalsReset {
                    reason: "new commits since the sign-offs".into(),
                    repos: vec!["a".into()],
                    sign_offs: vec!["dev".into()],
                },
                "sign-offs reset: new commits since the sign-offs (a)",
            ),
            (
                HistoryDetails::StatusChanged {
                    from: ReleaseStatus::Pending,
                    to: ReleaseStatus::Approved,
                },
                "status pending → approved",
            ),
            (
                HistoryDetails::CiStarted {
                    repo: "billing".into(),
                    run_number: 7,
                    run_id: 99,
                },
                "build #7 of billing started",
            ),
            (
                HistoryDetails::CiCompleted {
                    repo: "billing".into(),
                    run_number: 7,
                    chart_version: Some("1.1.937".into()),
                },
                "build #7 of billing succeeded: chart 1.1.937",
            ),
            (
                HistoryDetails::CiCompleted {
                    repo: "billing".into(),
                    run_number: 7,
                    chart_version: None,
                },
                "build #7 of billing succeeded; no chart version in its Helm job log",
            ),
            (
                ci_failed("failure", Some(7)),
                "build #7 of billing failed (failure)",
            ),
            (
                ci_failed("cancelled", Some(7)),
                "build #7 of billing was cancelled",
            ),
            (
                ci_failed("timeout", None),
                "build of billing did not finish in time",
            ),
            (
                HistoryDetails::CiFailed {
                    repo: "billing".into(),
                    reason: "no_workflow".into(),
                    run_number: None,
                    workflow: Some(".github/workflows/general.yaml".into()),
                    checks: Some(3),
                },
                "found no run of .github/workflows/general.yaml for billing after 3 checks",
            ),
            (
                HistoryDetails::DeployStarted {
                    repo: "billing".into(),
                    environment: "qa".into(),
                    version: "1.1.940".into(),
                },
                "qa started rolling out billing 1.1.940",
            ),
            (
                HistoryDetails::DeployObserved {
                    environment: Some("prod".into()),
                    repo: Some("billing".into()),
                    version: Some("1.1.940".into()),
                },
                "prod runs billing 1.1.940",
            ),
            (
                HistoryDetails::DeployObserved {
                    environment: Some("prod".into()),
                    repo: None,
                    version: None,
                },
                "saw the release running in prod",
            ),
            (
                HistoryDetails::DeployFailed {
                    repo: "billing".into(),
                    environment: "uat".into(),
                    version: "1.1.940".into(),
                    message: Some("Deployment exceeded its progress deadline".into()),
                },
                "billing 1.1.940 failed in uat: Deployment exceeded its progress deadline",
            ),
            (
                HistoryDetails::Notified {
                    kind: "ready".into(),
                    channel_id: "c".into(),
                    post_id: "p".into(),
                    attempts: 1,
                },
                "posted the ready notification in chat",
            ),
        ];
        for (details, want) in cases {
            assert_eq!(details.describe(), want, "{details:?}");
        }
    }

    #[test]
    fn fields_round_trip_through_storage() {
        let entries = [
            HistoryDetails::Refreshed {
                changed: vec!["a".into()],
                added: vec![],
                merged: vec!["b".into()],
                via: Some(RefreshCause::Push),
            },
            HistoryDetails::StatusChanged {
                from: ReleaseStatus::Approved,
                to: ReleaseStatus::Deployed,
            },
            ci_failed("timed_out", Some(3)),
            HistoryDetails::DeployObserved {
                environment: None,
                repo: None,
                version: None,
            },
            HistoryDetails::DeployObserved {
                environment: Some("prod".into()),
                repo: Some("billing".into()),
                version: Some("1.1.940".into()),
            },
            HistoryDetails::DeployStarted {
                repo: "billing".into(),
                environment: "qa".into(),
                version: "1.1.940".into(),
            },
            HistoryDetails::DeployFailed {
                repo: "billing".into(),
                environment: "uat".into(),
                version: "1.1.940".into(),
                message: Some("Deployment exceeded its progress deadline".into()),
            },
        ];
        for d in entries {
            let stored = d.fields();
            assert!(stored.is_object(), "{stored}");
            assert_eq!(
                HistoryDetails::from_stored(d.action().as_str(), stored).unwrap(),
                d
            );
        }
    }

    #[test]
    fn rows_written_before_typed_details_still_read() {
        // Shapes as earlier versions stored them.
        let old = [
            ("created", json!({"repos": 2, "commits": 5})),
            (
                "refreshed",
                json!({"changed": [], "added": [], "merged": ["a"], "via": "webhook"}),
            ),
            ("approved_dev", json!({"fingerprint": "abc"})),
            ("revoked_qa", json!({"previously_by": null})),
            (
                "status_changed",
                json!({"from": "pending", "to": "approved"}),
            ),
            (
                "ci_failed",
                json!({"repo": "x", "reason": "no_workflow", "workflow": ".github/workflows/g.yaml", "checks": 3}),
            ),
            (
                "ci_completed",
                json!({"repo": "x", "run_number": 4, "chart_version": null}),
            ),
            (
                "notified",
                json!({"kind": "summary", "channel_id": "c", "post_id": "p", "attempts": 1}),
            ),
            ("deploy_observed", json!({})),
            ("notes_updated", serde_json::Value::Null),
        ];
        for (action, fields) in old {
            let d = HistoryDetails::from_stored(action, fields.clone())
                .unwrap_or_else(|e| panic!("{action} {fields}: {e}"));
            assert_eq!(d.action().as_str(), action);
        }
        assert!(HistoryDetails::from_stored("no_such_action", json!({})).is_err());
        assert!(HistoryDetails::from_stored("status_changed", json!({"from": "x"})).is_err());
    }

    #[test]
    fn the_api_shape_is_the_stored_fields() {
        let d = HistoryDetails::CiCompleted {
            repo: "billing".into(),
            run_number: 937,
            chart_version: Some("1.1.937".into()),
        };
        assert_eq!(
            d.fields(),
            json!({"repo": "billing", "run_number": 937, "chart_version": "1.1.937"})
        );
    }

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
