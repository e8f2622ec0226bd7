//! Deployment tracking rules: which version an Argo CD application runs, how far its rollout
//! is, and the one-word verdict (`state`) for a release repo in one environment.
//!
//! The inputs are Argo CD's own shapes ([`argo`]); the traps they hide are handled here, once:
//! `spec.source.targetRevision` is the *desired* version; `status.sync.revision` is what runs
//! only while `Synced` (else the last `status.history` entry, appended only after a fully
//! successful sync); a chart from a git path has commit SHAs as revisions, so its version is the
//! live workload's image tag; `status.summary.images` mixes old and new tags during a rollout;
//! tree nodes carry no replica counts.

pub mod argo;

use argo::{Application, ResourceStatus, ResourceTree, Source, Workload};
use serde::{Deserialize, Serialize};

/// Where the running version is read from (`argocd.version_source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VersionSource {
    /// The chart version for a chart from a Helm repository, else the image tag.
    #[default]
    Auto,
    /// Only the Helm chart version.
    Chart,
    /// Only the image tag of the live workload (or the `image.tag` Helm parameter).
    Image,
}

impl VersionSource {
    /// The name used in the configuration file.
    pub fn as_str(self) -> &'static str {
        match self {
            VersionSource::Auto => "auto",
            VersionSource::Chart => "chart",
            VersionSource::Image => "image",
        }
    }
}

/// The one-word verdict for a repo in one environment; the UI colours it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeployState {
    /// Runs the expected version, synced, healthy, no operation running.
    Deployed,
    /// An operation runs, or the app is `Progressing` or `Suspended` (a paused canary).
    RollingOut,
    /// Another version runs, or the app is `OutOfSync`.
    Mismatch,
    /// `Degraded`, or the last operation for the expected version failed.
    Failed,
    /// No expected version yet, no readable application, or the chart is not published yet.
    Waiting,
    /// No successful read yet, or the last read failed.
    Unknown,
}

impl DeployState {
    /// Every state, in the order the summaries list them.
    pub const ALL: [DeployState; 6] = [
        DeployState::Deployed,
        DeployState::RollingOut,
        DeployState::Mismatch,
        DeployState::Failed,
        DeployState::Waiting,
        DeployState::Unknown,
    ];

    /// The snake_case name used in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            DeployState::Deployed => "deployed",
            DeployState::RollingOut => "rolling_out",
            DeployState::Mismatch => "mismatch",
            DeployState::Failed => "failed",
            DeployState::Waiting => "waiting",
            DeployState::Unknown => "unknown",
        }
    }
}

/// How far a rollout is: desired replicas, ready pods, pods on the new template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rollout {
    /// Desired replicas.
    pub replicas: u32,
    /// Pods ready (any version).
    pub ready: u32,
    /// Pods on the current template.
    pub updated: u32,
}

/// What one read of an application says, before the verdict.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reading {
    /// The version that runs, if it can be told (a commit SHA is never a version).
    pub current_version: Option<String>,
    /// The version Argo CD is moving to, if it can be told.
    pub target_version: Option<String>,
    /// `Synced`, `OutOfSync` or `Unknown`.
    pub sync_status: Option<String>,
    /// Argo CD's health of the application.
    pub health_status: Option<String>,
    /// The last operation's phase; `Running` while an operation is present.
    pub operation_phase: Option<String>,
    /// The resolved target revision of the deploying source (a chart version or a commit SHA).
    pub revision: Option<String>,
    /// What Argo CD says is wrong or going on, for people.
    pub message: Option<String>,
    /// A digest of everything the list answer says about the app: when it is unchanged since
    /// the last read, nothing else needs reading.
    pub fingerprint: String,
}

/// Whether `s` is a git commit SHA (40 or 64 hex digits): never shown as a version.
pub fn is_commit_sha(s: &str) -> bool {
    matches!(s.len(), 40 | 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn version(s: Option<&str>) -> Option<String> {
    s.map(str::trim)
        .filter(|s| !s.is_empty() && !is_commit_sha(s))
        .map(str::to_owned)
}

/// The image's name without tag or digest (`registry/acme/billing`).
pub fn image_name(image: &str) -> &str {
    let without_digest = image.split('@').next().unwrap_or(image);
    let last_slash = without_digest.rfind('/').map_or(0, |i| i + 1);
    match without_digest[last_slash..].find(':') {
        Some(colon) => &without_digest[..last_slash + colon],
        None => without_digest,
    }
}

/// The image's tag; `None` for an image pinned by digest or without a tag.
pub fn image_tag(image: &str) -> Option<&str> {
    if image.contains('@') {
        return None;
    }
    let last_slash = image.rfind('/').map_or(0, |i| i + 1);
    image[last_slash..]
        .split_once(':')
        .map(|(_, tag)| tag)
        .filter(|t| !t.is_empty())
}

/// Whether the image is the repo's own (its name, before `:`/`@`, ends with the repo name).
pub fn is_repo_image(image: &str, repo: &str) -> bool {
    let name = image_name(image);
    name == repo || name.ends_with(&format!("/{repo}"))
}

/// The source that deploys the chart, with its index among `spec.sources` (`None` for a
/// single-source app): the entry with `chart` set and no `ref`, else the first without `ref`.
pub fn deploying_source(app: &Application) -> Option<(Option<usize>, &Source)> {
    if let Some(source) = &app.spec.source {
        return Some((None, source));
    }
    let sources = &app.spec.sources;
    sources
        .iter()
        .position(|s| s.chart.is_some() && s.reference.is_none())
        .or_else(|| sources.iter().position(|s| s.reference.is_none()))
        .map(|i| (Some(i), &sources[i]))
}

fn pick<'a>(
    index: Option<usize>,
    single: Option<&'a String>,
    many: &'a [String],
) -> Option<&'a str> {
    match index {
        None => single.map(String::as_str),
        Some(i) => many.get(i).map(String::as_str),
    }
}

/// The resolved target revision of the deploying source (chart version or commit SHA).
fn sync_revision(app: &Application) -> Option<&str> {
    let (index, _) = deploying_source(app)?;
    let sync = &app.status.sync;
    pick(index, sync.revision.as_ref(), &sync.revisions).filter(|r| !r.is_empty())
}

/// The chart version that runs: the sync revision while `Synced`, else the last history entry.
pub fn chart_version(app: &Application) -> Option<String> {
    let (index, _) = deploying_source(app)?;
    if app.status.sync.status == "Synced" {
        return version(sync_revision(app));
    }
    let last = app.status.history.iter().max_by_key(|h| h.id)?;
    version(pick(index, last.revision.as_ref(), &last.revisions))
}

/// The `image.tag` the app asks for: the Helm parameter, else `valuesObject.image.tag`.
pub fn helm_image_tag(source: &Source) -> Option<String> {
    let helm = source.helm.as_ref()?;
    if let Some(p) = helm.parameters.iter().find(|p| p.name == "image.tag") {
        return version(Some(&p.value));
    }
    let tag = helm.values_object.as_ref()?.pointer("/image/tag")?;
    version(tag.as_str())
}

/// The image tag that runs: the live workload's container of the repo's image, else the
/// `image.tag` Helm value, else `summary.images` when it holds exactly one tag of the repo's
/// image (during a rollout it holds both, and then tells nothing).
pub fn image_version(app: &Application, live: Option<&Workload>, repo: &str) -> Option<String> {
    if let Some(workload) = live {
        let image = workload
            .spec
            .template
            .spec
            .containers
            .iter()
            .find(|c| is_repo_image(&c.image, repo));
        if let Some(c) = image {
            // A digest-pinned image has no version; nothing else is more truthful then.
            return version(image_tag(&c.image));
        }
    }
    if let Some(tag) = deploying_source(app).and_then(|(_, s)| helm_image_tag(s)) {
        return Some(tag);
    }
    let mut tags: Vec<&str> = app
        .status
        .summary
        .images
        .iter()
        .filter(|i| is_repo_image(i, repo))
        .filter_map(|i| image_tag(i))
        .collect();
    tags.dedup();
    match tags.as_slice() {
        [one] => version(Some(one)),
        _ => None,
    }
}

/// Whether the running version comes from the live workload (a chart from a git path, or
/// `version_source: image`): then the workload is read whenever the app changes.
pub fn needs_live_workload(app: &Application, source: VersionSource) -> bool {
    match source {
        VersionSource::Chart => false,
        VersionSource::Image => true,
        VersionSource::Auto => deploying_source(app).is_some_and(|(_, s)| s.chart.is_none()),
    }
}

/// The version that runs, by `source`.
pub fn running_version(
    app: &Application,
    source: VersionSource,
    live: Option<&Workload>,
    repo: &str,
) -> Option<String> {
    if needs_live_workload(app, source) {
        image_version(app, live, repo)
    } else {
        chart_version(app)
    }
}

/// The version Argo CD is moving to: the resolved chart revision (or, while the comparison
/// failed, the desired one), or for an image-tracked app the `image.tag` it asks for.
pub fn target_version(app: &Application, source: VersionSource) -> Option<String> {
    let (_, src) = deploying_source(app)?;
    if needs_live_workload(app, source) {
        return helm_image_tag(src);
    }
    if app.status.sync.status == "Unknown" {
        return version(Some(&src.target_revision)).filter(|v| !v.contains('*'));
    }
    version(sync_revision(app))
}

/// The workload that carries the repo's pods: a Deployment or an Argo Rollout among the app's
/// resources, preferring one named after the repo (Helm release names vary).
pub fn workload_of<'a>(app: &'a Application, repo: &str) -> Option<&'a ResourceStatus> {
    let workloads: Vec<&ResourceStatus> = app
        .status
        .resources
        .iter()
        .filter(|r| {
            (r.kind == "Deployment" && r.group == "apps")
                || (r.kind == "Rollout" && r.group == "argoproj.io")
        })
        .collect();
    workloads
        .iter()
        .find(|r| r.name == repo)
        .or_else(|| workloads.iter().find(|r| r.name.contains(repo)))
        .or_else(|| workloads.first())
        .copied()
}

/// Rollout counts from the live workload's status.
pub fn rollout_of(workload: &Workload) -> Rollout {
    let status = &workload.status;
    Rollout {
        replicas: workload.spec.replicas.or(status.replicas).unwrap_or(1),
        ready: status.ready_replicas.unwrap_or(0),
        updated: status.updated_replicas.unwrap_or(0),
    }
}

/// Rollout counts by counting pods in the tree: the workload's ReplicaSets, the newest (highest
/// `Revision`) holding the updated pods; a pod is ready when all its containers are.
pub fn rollout_from_tree(tree: &ResourceTree, workload: &ResourceStatus) -> Option<Rollout> {
    let node = tree.nodes.iter().find(|n| {
        n.kind == workload.kind && n.name == workload.name && n.namespace == workload.namespace
    })?;
    let revision = |n: &argo::TreeNode| -> i64 {
        n.info
            .iter()
            .find(|i| i.name == "Revision")
            .and_then(|i| i.value.trim_start_matches("Rev:").parse().ok())
            .unwrap_or(0)
    };
    let sets: Vec<&argo::TreeNode> = tree
        .nodes
        .iter()
        .filter(|n| n.kind == "ReplicaSet" && n.parent_refs.iter().any(|p| p.uid == node.uid))
        .collect();
    let newest = sets.iter().max_by_key(|s| revision(s))?;
    let pods: Vec<(&argo::TreeNode, bool)> = tree
        .nodes
        .iter()
        .filter(|n| n.kind == "Pod")
        .filter_map(|pod| {
            let set = sets
                .iter()
                .find(|s| pod.parent_refs.iter().any(|p| p.uid == s.uid))?;
            Some((pod, set.uid == newest.uid))
        })
        .collect();
    let ready = pods
        .iter()
        .filter(|(pod, _)| {
            pod.info
                .iter()
                .find(|i| i.name == "Containers")
                .and_then(|i| i.value.split_once('/'))
                .is_some_and(|(a, b)| a == b)
        })
        .count();
    let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    Some(Rollout {
        replicas: count(pods.len()),
        ready: count(ready),
        updated: count(pods.iter().filter(|(_, new)| *new).count()),
    })
}

/// Whether the app is changing: an operation runs, or health is `Progressing`/`Suspended`.
/// Only then are the tree and the live workload read, for the rollout counts.
pub fn is_rolling_out(app: &Application) -> bool {
    app.operation.is_some()
        || app
            .status
            .operation_state
            .as_ref()
            .is_some_and(|o| o.phase == "Running")
        || matches!(
            app.status.health.status.as_str(),
            "Progressing" | "Suspended"
        )
}

fn non_empty(s: &str) -> Option<String> {
    (!s.trim().is_empty()).then(|| s.to_owned())
}

/// What Argo CD says is wrong or going on, most telling first.
fn message_of(app: &Application) -> Option<String> {
    let status = &app.status;
    let op = status.operation_state.as_ref();
    let failed_op = op.filter(|o| matches!(o.phase.as_str(), "Failed" | "Error"));
    let condition = status
        .conditions
        .iter()
        .find(|c| c.kind.ends_with("Error"))
        .map(|c| c.message.clone());
    if status.health.status == "Degraded" || failed_op.is_some() {
        // A degraded resource says why in its own words (single-application answers only);
        // the application's health message merely names the resource.
        let degraded: Vec<String> = status
            .resources
            .iter()
            .filter_map(|r| {
                let h = r.health.as_ref().filter(|h| h.status == "Degraded")?;
                h.message.clone().filter(|m| !m.trim().is_empty())
            })
            .collect();
        let health = if degraded.is_empty() {
            status.health.message.clone()
        } else {
            Some(degraded.join("; "))
        };
        let parts: Vec<String> = [failed_op.and_then(|o| o.message.clone()), health]
            .into_iter()
            .flatten()
            .filter(|m| !m.trim().is_empty())
            .collect();
        if !parts.is_empty() {
            return Some(parts.join(": "));
        }
    }
    condition
        .or_else(|| status.health.message.clone().filter(|m| !m.is_empty()))
        .or_else(|| {
            op.filter(|o| o.phase == "Running")
                .and_then(|o| o.message.clone())
        })
}

/// Reads one application: everything but the rollout counts.
pub fn read(
    app: &Application,
    source: VersionSource,
    live: Option<&Workload>,
    repo: &str,
) -> Reading {
    let status = &app.status;
    let operation_phase = if app.operation.is_some() {
        Some("Running".to_owned())
    } else {
        status
            .operation_state
            .as_ref()
            .and_then(|o| non_empty(&o.phase))
    };
    let last_history = status.history.iter().map(|h| h.id).max().unwrap_or(0);
    let fingerprint = format!(
        "{}|{}|{}|{}|{}|{}|{}|{}|{}",
        status.sync.status,
        status.sync.revision.as_deref().unwrap_or(""),
        status.sync.revisions.join(","),
        status.health.status,
        operation_phase.as_deref().unwrap_or(""),
        last_history,
        status.summary.images.join(","),
        deploying_source(app).map_or("", |(_, s)| s.target_revision.as_str()),
        deploying_source(app)
            .and_then(|(_, s)| helm_image_tag(s))
            .unwrap_or_default(),
    );
    Reading {
        current_version: running_version(app, source, live, repo),
        target_version: target_version(app, source),
        sync_status: non_empty(&status.sync.status),
        health_status: non_empty(&status.health.status),
        operation_phase,
        revision: sync_revision(app).map(str::to_owned),
        message: message_of(app),
        fingerprint,
    }
}

/// What the verdict is made of: a stored row of one repo in one environment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Observed<'a> {
    /// Whether the last read succeeded (an answer "not found" is a successful read).
    pub read_ok: bool,
    /// CI's chart version, once known.
    pub expected: Option<&'a str>,
    /// Whether the application exists and may be read.
    pub found: bool,
    /// The running version.
    pub current: Option<&'a str>,
    /// The version Argo CD is moving to.
    pub target: Option<&'a str>,
    /// `status.sync.status`.
    pub sync: Option<&'a str>,
    /// `status.health.status`.
    pub health: Option<&'a str>,
    /// The operation's phase.
    pub operation: Option<&'a str>,
}

/// The verdict: the first rule that applies wins, so an outage shows `unknown` with the last
/// versions kept, and a `Degraded` app is `failed` whatever version it runs.
pub fn state(o: &Observed<'_>) -> DeployState {
    if !o.read_ok {
        return DeployState::Unknown;
    }
    let Some(expected) = o.expected else {
        return DeployState::Waiting;
    };
    if !o.found || o.sync == Some("Unknown") {
        return DeployState::Waiting;
    }
    let op_failed = matches!(o.operation, Some("Failed" | "Error"));
    let for_expected = match o.target {
        Some(target) => target == expected,
        None => o.current != Some(expected),
    };
    if o.health == Some("Degraded") || (op_failed && for_expected) {
        return DeployState::Failed;
    }
    if o.operation == Some("Running") || matches!(o.health, Some("Progressing" | "Suspended")) {
        return DeployState::RollingOut;
    }
    if o.current == Some(expected) && o.sync == Some("Synced") && o.health == Some("Healthy") {
        return DeployState::Deployed;
    }
    DeployState::Mismatch
}

/// A history milestone of one repo in one environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Milestone {
    /// First seen rolling out the expected version.
    Started,
    /// Runs the expected version (`deployed`).
    Observed,
    /// Failed for the expected version.
    Failed,
}

/// The expected versions each milestone was last recorded for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Marks {
    /// `deploy_started` was recorded for this expected version.
    pub started: Option<String>,
    /// `deploy_observed` was recorded for this expected version.
    pub observed: Option<String>,
    /// `deploy_failed` was recorded for this expected version.
    pub failed: Option<String>,
}

/// The milestones a new verdict owes, each once per expected version; `marks` is updated.
pub fn milestones(
    marks: &mut Marks,
    state: DeployState,
    expected: Option<&str>,
    target: Option<&str>,
) -> Vec<Milestone> {
    let Some(expected) = expected else {
        return Vec::new();
    };
    let mut owed = Vec::new();
    let mut once = |mark: &mut Option<String>, m: Milestone| {
        if mark.as_deref() != Some(expected) {
            *mark = Some(expected.to_owned());
            owed.push(m);
        }
    };
    match state {
        DeployState::RollingOut if target == Some(expected) => {
            once(&mut marks.started, Milestone::Started);
        }
        DeployState::Deployed => once(&mut marks.observed, Milestone::Observed),
        DeployState::Failed => once(&mut marks.failed, Milestone::Failed),
        _ => {}
    }
    owed
}

/// How many repos of a release are in each state in one environment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvironmentSummary {
    /// The environment.
    pub environment: String,
    /// Included repos.
    pub total: u32,
    /// In state `deployed`.
    pub deployed: u32,
    /// In state `rolling_out`.
    pub rolling_out: u32,
    /// In state `mismatch`.
    pub mismatch: u32,
    /// In state `failed`.
    pub failed: u32,
    /// In state `waiting` (also repos without a chart version yet).
    pub waiting: u32,
    /// In state `unknown`.
    pub unknown: u32,
}

impl EnvironmentSummary {
    /// Counts `states` (one per included repo; `None` for a repo not tracked yet, which waits).
    pub fn of(environment: &str, states: impl IntoIterator<Item = Option<DeployState>>) -> Self {
        let mut s = EnvironmentSummary {
            environment: environment.to_owned(),
            ..Default::default()
        };
        for state in states {
            s.total += 1;
            let slot = match state.unwrap_or(DeployState::Waiting) {
                DeployState::Deployed => &mut s.deployed,
                DeployState::RollingOut => &mut s.rolling_out,
                DeployState::Mismatch => &mut s.mismatch,
                DeployState::Failed => &mut s.failed,
                DeployState::Waiting => &mut s.waiting,
                DeployState::Unknown => &mut s.unknown,
            };
            *slot += 1;
        }
        s
    }

    /// Whether every included repo is `deployed` (and there is at least one).
    pub fn all_deployed(&self) -> bool {
        self.total > 0 && self.deployed == self.total
    }
}

#[cfg(test)]
mod tests;
