//! The JSON shapes of the API. Domain and store types never serialize directly: they are
//! converted here, so the wire format changes only on purpose.

use serde::{Deserialize, Serialize};
use shipyard_core::ci::CiSummary;
use shipyard_core::deploy::EnvironmentSummary;
use shipyard_engine::ReleaseView;
use shipyard_engine::releases::Created;
use shipyard_engine::{
    CiStatusRecord, DeployStatusRecord, HistoryRecord, ReleaseRecord, ReleaseSummaryRecord,
    RepoRecord,
};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// A release's own fields.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReleaseJson {
    /// Release id.
    pub id: String,
    /// Branch the changes come from.
    pub source_branch: String,
    /// Branch they go to.
    pub dest_branch: String,
    /// `pending`, `approved`, `deployed` or `cancelled`.
    pub status: String,
    /// Markdown notes.
    pub notes: String,
    /// Markdown description of breaking changes.
    pub breaking_changes: String,
    /// Who created it (display name).
    pub created_by: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Dev sign-off: who.
    pub dev_approved_by: Option<String>,
    /// Dev sign-off: when.
    pub dev_approved_at: Option<i64>,
    /// QA sign-off: who.
    pub qa_approved_by: Option<String>,
    /// QA sign-off: when.
    pub qa_approved_at: Option<i64>,
    /// Last comparison with GitHub.
    pub last_refreshed_at: i64,
    /// Hash over the included repos' source heads: the snapshot that sign-offs apply to.
    pub content_fingerprint: String,
    /// Mattermost channel kept informed.
    pub channel_id: Option<String>,
    /// The summary post in that channel, kept up to date (once posted).
    pub chat_post_id: Option<String>,
}

impl From<&ReleaseRecord> for ReleaseJson {
    fn from(r: &ReleaseRecord) -> Self {
        ReleaseJson {
            id: r.id.to_string(),
            source_branch: r.source_branch.to_string(),
            dest_branch: r.dest_branch.to_string(),
            status: r.status.as_str().to_owned(),
            notes: r.notes.clone(),
            breaking_changes: r.breaking_changes.clone(),
            created_by: r.created_by.name.clone(),
            created_at: r.created_at,
            dev_approved_by: r.sign_offs.dev.as_ref().map(|s| s.by.name.clone()),
            dev_approved_at: r.sign_offs.dev.as_ref().map(|s| s.at),
            qa_approved_by: r.sign_offs.qa.as_ref().map(|s| s.by.name.clone()),
            qa_approved_at: r.sign_offs.qa.as_ref().map(|s| s.at),
            last_refreshed_at: r.last_refreshed_at,
            content_fingerprint: r.content_fingerprint.clone(),
            channel_id: r.channel_id.clone(),
            chat_post_id: r.chat_post_id.clone(),
        }
    }
}

/// One repository of a release.
#[derive(Debug, Serialize, ToSchema)]
pub struct RepoJson {
    /// Row id, for `PATCH /api/releases/{id}/repos/{repo_id}`.
    pub id: i64,
    /// Repository name.
    pub repo_name: String,
    /// Commits in source not in dest.
    pub commit_count: u64,
    /// Lines added.
    pub additions: u64,
    /// Lines deleted.
    pub deletions: u64,
    /// Distinct authors.
    pub contributors: Vec<String>,
    /// Commit subjects, newest first.
    pub summary: Vec<String>,
    /// A breaking change is among the commits.
    pub is_breaking: bool,
    /// Changed infrastructure paths.
    pub infra_changes: Vec<String>,
    /// Source head at the last refresh.
    pub head_sha: String,
    /// Pull request from source into dest.
    pub pr_number: Option<u64>,
    /// Its link.
    pub pr_url: Option<String>,
    /// `open`, `merged` or `closed`.
    pub pr_state: Option<String>,
    /// Merge commit, once merged.
    pub merge_commit_sha: Option<String>,
    /// Taken out of the release.
    pub excluded: bool,
    /// Repos that deploy first.
    pub depends_on: Vec<String>,
}

impl From<&RepoRecord> for RepoJson {
    fn from(r: &RepoRecord) -> Self {
        let c = &r.change;
        RepoJson {
            id: r.id,
            repo_name: c.repo_name.clone(),
            commit_count: c.commit_count,
            additions: c.additions,
            deletions: c.deletions,
            contributors: c.contributors.clone(),
            summary: c.summary.clone(),
            is_breaking: c.is_breaking,
            infra_changes: c.infra_changes.clone(),
            head_sha: c.head_sha.clone(),
            pr_number: c.pull.as_ref().map(|p| p.number),
            pr_url: c.pull.as_ref().map(|p| p.url.clone()),
            pr_state: c.pull.as_ref().map(|p| p.state.as_str().to_owned()),
            merge_commit_sha: c.pull.as_ref().and_then(|p| p.merge_commit_sha.clone()),
            excluded: r.excluded,
            depends_on: r.depends_on.clone(),
        }
    }
}

/// Deploy order of the included repos.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeployOrderJson {
    /// Level 1 first.
    pub levels: Vec<Vec<String>>,
    /// Repos on one dependency cycle, in order, or null.
    pub cycle: Option<Vec<String>>,
    /// Ignored dependencies, in words.
    pub warnings: Vec<String>,
}

/// CI tracking counts over included repos that have tracking.
#[derive(Debug, Serialize, ToSchema, Default)]
pub struct CiSummaryJson {
    /// Repos with CI tracking.
    pub total: u64,
    /// Succeeded.
    pub success: u64,
    /// Failed, cancelled, timed out or without workflow.
    pub failed: u64,
    /// Queued or running.
    pub in_progress: u64,
    /// Merge known, run not found yet.
    pub pending: u64,
}

impl From<CiSummary> for CiSummaryJson {
    fn from(s: CiSummary) -> Self {
        CiSummaryJson {
            total: s.total.into(),
            success: s.success.into(),
            failed: s.failed.into(),
            in_progress: s.in_progress.into(),
            pending: s.pending.into(),
        }
    }
}

/// The CI state of one included repo.
#[derive(Debug, Serialize, ToSchema)]
pub struct CiStatusJson {
    /// Repo row id.
    pub repo_id: i64,
    /// Repository name.
    pub repo_name: String,
    /// `pending`, `queued`, `in_progress`, `success`, `failure`, `cancelled`, `skipped`,
    /// `neutral`, `no_workflow` or `timeout`; null while the repo is not tracked (not merged).
    pub status: Option<String>,
    /// GitHub's raw conclusion, once the run completed.
    pub conclusion: Option<String>,
    /// Workflow run id.
    pub run_id: Option<u64>,
    /// Workflow run number.
    pub run_number: Option<u64>,
    /// The run's page on GitHub.
    pub run_url: Option<String>,
    /// Chart version read from the Helm job's log.
    pub chart_version: Option<String>,
    /// The merge commit being built.
    pub merge_commit_sha: Option<String>,
    /// Unix seconds the run started.
    pub started_at: Option<i64>,
    /// Unix seconds the run completed (or tracking gave up).
    pub completed_at: Option<i64>,
    /// Unix seconds of the last check.
    pub last_checked_at: Option<i64>,
}

impl CiStatusJson {
    /// The state of `repo`, tracked by `ci` or not tracked.
    pub fn new(repo: &RepoRecord, ci: Option<&CiStatusRecord>) -> Self {
        CiStatusJson {
            repo_id: repo.id,
            repo_name: repo.change.repo_name.clone(),
            status: ci.map(|c| c.status.as_str().to_owned()),
            conclusion: ci.and_then(|c| c.conclusion.clone()),
            run_id: ci.and_then(|c| c.run_id),
            run_number: ci.and_then(|c| c.run_number),
            run_url: ci.and_then(|c| c.run_url.clone()),
            chart_version: ci.and_then(|c| c.chart_version.clone()),
            merge_commit_sha: ci.map(|c| c.merge_commit_sha.clone()),
            started_at: ci.and_then(|c| c.started_at),
            completed_at: ci.and_then(|c| c.completed_at),
            last_checked_at: ci.and_then(|c| c.last_checked_at),
        }
    }
}

/// The CI state of every included repo of a release.
#[derive(Debug, Serialize, ToSchema)]
pub struct CiStatusList {
    /// Included repos, by name.
    pub statuses: Vec<CiStatusJson>,
    /// Whether any tracked repo is still pending, queued or running.
    pub any_in_progress: bool,
}

impl From<&ReleaseView> for CiStatusList {
    fn from(v: &ReleaseView) -> Self {
        let statuses: Vec<CiStatusJson> = v
            .repos
            .iter()
            .filter(|r| !r.excluded)
            .map(|r| CiStatusJson::new(r, v.ci_of(r.id)))
            .collect();
        let any_in_progress = v
            .repos
            .iter()
            .filter(|r| !r.excluded)
            .filter_map(|r| v.ci_of(r.id))
            .any(|c| !c.status.is_final());
        CiStatusList {
            statuses,
            any_in_progress,
        }
    }
}

/// How many included repos of a release are in each deployment state in one environment.
#[derive(Debug, Serialize, ToSchema)]
pub struct EnvironmentSummaryJson {
    /// The environment.
    pub environment: String,
    /// Included repos.
    pub total: u32,
    /// Running their expected version, synced and healthy.
    pub deployed: u32,
    /// A sync or rollout under way.
    pub rolling_out: u32,
    /// Another version runs, or out of sync.
    pub mismatch: u32,
    /// Degraded, or the sync failed.
    pub failed: u32,
    /// No chart yet, or the application is not found or not readable.
    pub waiting: u32,
    /// Not read yet, or the last read failed.
    pub unknown: u32,
}

impl From<EnvironmentSummary> for EnvironmentSummaryJson {
    fn from(s: EnvironmentSummary) -> Self {
        EnvironmentSummaryJson {
            environment: s.environment,
            total: s.total,
            deployed: s.deployed,
            rolling_out: s.rolling_out,
            mismatch: s.mismatch,
            failed: s.failed,
            waiting: s.waiting,
            unknown: s.unknown,
        }
    }
}

/// Rollout counts of the live workload.
#[derive(Debug, Serialize, ToSchema)]
pub struct RolloutJson {
    /// Desired replicas.
    pub replicas: u32,
    /// Ready pods (any version).
    pub ready: u32,
    /// Pods on the current template.
    pub updated: u32,
}

/// Where one repo stands in one environment, as last read from Argo CD.
#[derive(Debug, Serialize, ToSchema)]
pub struct EnvironmentStatusJson {
    /// The Argo CD application read.
    pub app_name: String,
    /// The version that runs (last successful read).
    pub current_version: Option<String>,
    /// CI's chart version.
    pub expected_version: Option<String>,
    /// The version Argo CD is moving to.
    pub target_version: Option<String>,
    /// `Synced`, `OutOfSync` or `Unknown`.
    pub sync_status: Option<String>,
    /// `Healthy`, `Progressing`, `Degraded`, `Suspended`, `Missing` or `Unknown`.
    pub health_status: Option<String>,
    /// `Running`, `Succeeded`, `Failed`, `Error` or `Terminating`.
    pub operation_phase: Option<String>,
    /// The resolved revision (a chart version or a commit SHA).
    pub revision: Option<String>,
    /// What Argo CD says is wrong or going on.
    pub message: Option<String>,
    /// `deployed`, `rolling_out`, `mismatch`, `failed`, `waiting` or `unknown`.
    #[schema(example = "deployed")]
    pub state: String,
    /// Whether the application exists and may be read.
    pub found: bool,
    /// Rollout counts, when the live workload was read.
    pub rollout: Option<RolloutJson>,
    /// Unix seconds of the last read (successful or not).
    pub last_checked_at: Option<i64>,
    /// Unix seconds when anything shown last changed.
    pub last_changed_at: Option<i64>,
    /// Why the last read failed or found nothing readable.
    pub error: Option<String>,
}

impl From<&DeployStatusRecord> for EnvironmentStatusJson {
    fn from(r: &DeployStatusRecord) -> Self {
        EnvironmentStatusJson {
            app_name: r.app_name.clone(),
            current_version: r.current_version.clone(),
            expected_version: r.expected_version.clone(),
            target_version: r.target_version.clone(),
            sync_status: r.sync_status.clone(),
            health_status: r.health_status.clone(),
            operation_phase: r.operation_phase.clone(),
            revision: r.revision.clone(),
            message: r.message.clone(),
            state: r.state().as_str().to_owned(),
            found: r.found,
            rollout: r.rollout.map(|x| RolloutJson {
                replicas: x.replicas,
                ready: x.ready,
                updated: x.updated,
            }),
            last_checked_at: r.last_checked_at,
            last_changed_at: r.last_changed_at,
            error: r.error.clone(),
        }
    }
}

/// One included repo in every environment.
#[derive(Debug, Serialize, ToSchema)]
pub struct RepoDeploymentJson {
    /// Repo row id.
    pub repo_id: i64,
    /// Repository name.
    pub repo_name: String,
    /// By environment; an environment is missing while the repo has no chart version yet.
    pub environments: BTreeMap<String, EnvironmentStatusJson>,
}

/// Where every included repo of a release runs, from the stored reads.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeploymentStatusList {
    /// Included repos, by name.
    pub statuses: Vec<RepoDeploymentJson>,
    /// The configured environments, in order (empty without Argo CD tracking).
    pub environments: Vec<String>,
    /// Where "deployed" is judged (null without Argo CD tracking).
    pub deploy_environment: Option<String>,
    /// Whether any environment of an included repo is not `deployed` yet.
    pub any_pending: bool,
}

impl From<&ReleaseView> for DeploymentStatusList {
    fn from(v: &ReleaseView) -> Self {
        let Some(d) = &v.deployment else {
            return DeploymentStatusList {
                statuses: Vec::new(),
                environments: Vec::new(),
                deploy_environment: None,
                any_pending: false,
            };
        };
        let statuses = v
            .repos
            .iter()
            .filter(|r| !r.excluded)
            .map(|r| RepoDeploymentJson {
                repo_id: r.id,
                repo_name: r.change.repo_name.clone(),
                environments: d
                    .environments
                    .iter()
                    .filter_map(|env| d.of(r.id, env).map(|row| (env.clone(), row.into())))
                    .collect(),
            })
            .collect();
        DeploymentStatusList {
            statuses,
            environments: d.environments.clone(),
            deploy_environment: Some(d.deploy_environment.clone()),
            any_pending: v.deployment_pending(),
        }
    }
}

/// What the gathering found, answered on creation.
#[derive(Debug, Serialize, ToSchema)]
pub struct GatheredJson {
    /// Repos of the org looked at.
    pub scanned: usize,
    /// Repos in the release.
    pub changed: usize,
    /// Skipped repos by reason: `archived`, `filtered`, `source_missing`, `dest_missing`, `nothing_ahead`.
    pub skipped: BTreeMap<String, usize>,
}

/// A release with everything about it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReleaseDetail {
    /// The release.
    pub release: ReleaseJson,
    /// Its repos, by name.
    pub repos: Vec<RepoJson>,
    /// Deploy order.
    pub deploy_order: DeployOrderJson,
    /// CI counts.
    pub ci_summary: CiSummaryJson,
    /// Deployment counts per environment, in the configuration's order; null when Argo CD
    /// tracking is not configured.
    pub deployment_summary: Option<Vec<EnvironmentSummaryJson>>,
    /// GitHub organisation.
    pub org: String,
    /// Only on creation: what the gathering skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gathered: Option<GatheredJson>,
}

impl From<&ReleaseView> for ReleaseDetail {
    fn from(v: &ReleaseView) -> Self {
        ReleaseDetail {
            release: ReleaseJson::from(&v.release),
            repos: v.repos.iter().map(RepoJson::from).collect(),
            deploy_order: DeployOrderJson {
                levels: v.deploy_order.levels.clone(),
                cycle: v.deploy_order.cycle.clone(),
                warnings: v.deploy_order.warnings.clone(),
            },
            ci_summary: v.ci_summary().into(),
            deployment_summary: v
                .deployment_summary()
                .map(|all| all.into_iter().map(Into::into).collect()),
            org: v.org.clone(),
            gathered: None,
        }
    }
}

impl From<&Created> for ReleaseDetail {
    fn from(c: &Created) -> Self {
        let mut detail = ReleaseDetail::from(&c.view);
        detail.gathered = Some(GatheredJson {
            scanned: c.gathered.scanned,
            changed: c.gathered.changed.len(),
            skipped: c
                .gathered
                .skipped
                .iter()
                .map(|(k, v)| {
                    (
                        serde_json::to_value(k)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_owned))
                            .unwrap_or_default(),
                        *v,
                    )
                })
                .collect(),
        });
        detail
    }
}

/// A line of the release list.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReleaseSummary {
    /// Release id.
    pub id: String,
    /// Source branch.
    pub source_branch: String,
    /// Destination branch.
    pub dest_branch: String,
    /// Status.
    pub status: String,
    /// Included repos.
    pub repo_count: i64,
    /// Commits over included repos.
    pub commit_count: i64,
    /// Creator's display name.
    pub created_by: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Dev sign-off by.
    pub dev_approved_by: Option<String>,
    /// QA sign-off by.
    pub qa_approved_by: Option<String>,
    /// CI counts.
    pub ci_summary: CiSummaryJson,
    /// Deployment counts per environment; null when Argo CD tracking is not configured.
    pub deployment_summary: Option<Vec<EnvironmentSummaryJson>>,
}

impl ReleaseSummary {
    /// The list line of `s`, with its CI and deployment counts.
    pub fn new(
        s: &ReleaseSummaryRecord,
        ci: CiSummary,
        deployment: Option<Vec<EnvironmentSummary>>,
    ) -> Self {
        let r = &s.release;
        ReleaseSummary {
            id: r.id.to_string(),
            source_branch: r.source_branch.to_string(),
            dest_branch: r.dest_branch.to_string(),
            status: r.status.as_str().to_owned(),
            repo_count: s.repo_count,
            commit_count: s.commit_count,
            created_by: r.created_by.name.clone(),
            created_at: r.created_at,
            dev_approved_by: r.sign_offs.dev.as_ref().map(|x| x.by.name.clone()),
            qa_approved_by: r.sign_offs.qa.as_ref().map(|x| x.by.name.clone()),
            ci_summary: ci.into(),
            deployment_summary: deployment.map(|all| all.into_iter().map(Into::into).collect()),
        }
    }
}

/// A page of releases.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReleaseList {
    /// Newest first.
    pub releases: Vec<ReleaseSummary>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// One history entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryEntry {
    /// Entry id.
    pub id: i64,
    /// Release id.
    pub release_id: String,
    /// What happened (`created`, `approved_dev`, `approvals_reset`, …).
    pub action: String,
    /// Who did it (display name).
    pub actor: String,
    /// Their stable identity (SSO subject, `token:<name>`, …).
    pub actor_subject: String,
    /// Details, depending on the action.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    /// Unix seconds.
    pub created_at: i64,
}

impl From<&HistoryRecord> for HistoryEntry {
    fn from(h: &HistoryRecord) -> Self {
        HistoryEntry {
            id: h.id,
            release_id: h.release_id.to_string(),
            action: h.action.as_str().to_owned(),
            actor: h.actor.name.clone(),
            actor_subject: h.actor.subject.clone(),
            details: h.details.fields(),
            created_at: h.created_at,
        }
    }
}

/// The history of a release.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryList {
    /// Oldest first.
    pub history: Vec<HistoryEntry>,
}

/// Body of `POST /api/releases`.
///
/// The branch names' pattern (git's rules for branch names) is set on the description by
/// `api::doc`, from the rule itself.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRelease {
    /// Branch the changes come from, e.g. `uat`.
    #[schema(min_length = 1, max_length = 255)]
    pub source_branch: String,
    /// Branch they go to, e.g. `master`; not the source.
    #[schema(min_length = 1, max_length = 255)]
    pub dest_branch: String,
    /// Mattermost channel to keep informed (its id).
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z0-9_-]{1,64}$")]
    pub channel_id: Option<String>,
}

/// A status a release can be moved to by hand.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatusChange {
    /// It was deployed (needs an approved release).
    Deployed,
    /// It will not be deployed.
    Cancelled,
}

impl StatusChange {
    /// The status name the engine takes.
    pub fn as_str(self) -> &'static str {
        match self {
            StatusChange::Deployed => "deployed",
            StatusChange::Cancelled => "cancelled",
        }
    }
}

/// A release status, as the list filters by it.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatusName {
    /// Waiting for sign-offs.
    Pending,
    /// Both sign-offs given.
    Approved,
    /// Deployed.
    Deployed,
    /// Cancelled.
    Cancelled,
}

impl From<StatusName> for shipyard_core::ReleaseStatus {
    fn from(s: StatusName) -> Self {
        match s {
            StatusName::Pending => shipyard_core::ReleaseStatus::Pending,
            StatusName::Approved => shipyard_core::ReleaseStatus::Approved,
            StatusName::Deployed => shipyard_core::ReleaseStatus::Deployed,
            StatusName::Cancelled => shipyard_core::ReleaseStatus::Cancelled,
        }
    }
}

/// Body of `PATCH /api/releases/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchRelease {
    /// New notes (Markdown, at most 65,536 characters).
    #[serde(default)]
    #[schema(max_length = 65536)]
    pub notes: Option<String>,
    /// New breaking-change text (Markdown, at most 65,536 characters).
    #[serde(default)]
    #[schema(max_length = 65536)]
    pub breaking_changes: Option<String>,
    /// Move the release to `deployed` or `cancelled`.
    #[serde(default)]
    pub status: Option<StatusChange>,
}

/// Body of `PATCH /api/releases/{id}/repos/{repo_id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchRepo {
    /// Take the repo out of the release (resets sign-offs), or put it back.
    #[serde(default)]
    pub excluded: Option<bool>,
    /// Names of repos of this release that must deploy first (at most 100). A name that is
    /// not a repo of this release, or the repo itself, is a conflict (409).
    #[serde(default)]
    #[schema(max_items = 100)]
    pub depends_on: Option<Vec<String>>,
}

/// Answer of `GET /api/me`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    /// Stable identity.
    pub subject: String,
    /// Display name.
    pub name: String,
    /// E-mail, when the identity provider gives one.
    pub email: Option<String>,
    /// Shipyard roles.
    pub roles: Vec<String>,
    /// `sso` or `token`.
    pub auth: String,
    /// For sessions: the token to send as `X-CSRF-Token` with every change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csrf_token: Option<String>,
}
