//! The parts of Argo CD's answers that deployment tracking reads, as Argo CD writes them
//! (`pkg/apis/application/v1alpha1/types.go`: camelCase keys, empty fields omitted, unknown
//! fields added with every release). Everything is optional and defaults to empty, so a field
//! Argo CD leaves out (or a newer one it adds) never fails a read.

use serde::Deserialize;
use serde_json::Value;

/// `GET /api/v1/applications/{name}` (no `kind`/`apiVersion`: it starts with `metadata`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Application {
    /// Name and namespace.
    pub metadata: ObjectMeta,
    /// What should run.
    pub spec: AppSpec,
    /// What the controller saw.
    pub status: AppStatus,
    /// Present only while an operation (a sync) runs; cleared when it completes.
    pub operation: Option<Value>,
}

/// `GET /api/v1/applications`: `items` is `[]`, never `null`, when nothing matches.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ApplicationList {
    /// The applications the token may read, sorted by name.
    pub items: Vec<Application>,
}

/// Kubernetes object metadata.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ObjectMeta {
    /// The application's name.
    pub name: String,
    /// The namespace the Application object lives in (`argocd` unless "apps in any namespace").
    pub namespace: String,
}

/// `spec`: one `source`, or several `sources`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AppSpec {
    /// A single-source application's source.
    pub source: Option<Source>,
    /// A multi-source application's sources (`source` is then absent).
    pub sources: Vec<Source>,
    /// The Argo CD project.
    pub project: String,
}

/// One source: a Helm repository's chart, or a path in a git repository.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Source {
    /// `repoURL`.
    #[serde(rename = "repoURL")]
    pub repo_url: String,
    /// The chart's name, for a Helm repository.
    pub chart: Option<String>,
    /// The directory, for a git repository.
    pub path: Option<String>,
    /// The desired version, branch or range: never the running version.
    pub target_revision: String,
    /// Set on a source that only provides files to the others (`$values/…`).
    #[serde(rename = "ref")]
    pub reference: Option<String>,
    /// Helm options.
    pub helm: Option<HelmSource>,
}

/// `source.helm`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct HelmSource {
    /// `--set` style parameters (they win over `valuesObject`).
    pub parameters: Vec<HelmParameter>,
    /// Inline values.
    pub values_object: Option<Value>,
}

/// One Helm parameter.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct HelmParameter {
    /// E.g. `image.tag`.
    pub name: String,
    /// Its value.
    pub value: String,
}

/// `status`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AppStatus {
    /// The last comparison with the desired state.
    pub sync: SyncStatus,
    /// The application's health.
    pub health: Health,
    /// Deployments that fully succeeded, oldest first.
    pub history: Vec<HistoryEntry>,
    /// The last (or running) operation.
    pub operation_state: Option<OperationState>,
    /// Images of every pod, and external URLs.
    pub summary: Summary,
    /// Errors and warnings (`ComparisonError`, `SyncError`, …).
    pub conditions: Vec<Condition>,
    /// The resources the application manages.
    pub resources: Vec<ResourceStatus>,
}

/// `status.sync`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SyncStatus {
    /// `Synced`, `OutOfSync` or `Unknown`.
    pub status: String,
    /// The resolved target of a single-source application.
    pub revision: Option<String>,
    /// The resolved targets of a multi-source application, one per source.
    pub revisions: Vec<String>,
}

/// A health status with its message.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Health {
    /// `Healthy`, `Progressing`, `Degraded`, `Suspended`, `Missing` or `Unknown`.
    pub status: String,
    /// Why, when not healthy.
    pub message: Option<String>,
}

/// One entry of `status.history`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct HistoryEntry {
    /// Increasing.
    pub id: i64,
    /// What was deployed (single source).
    pub revision: Option<String>,
    /// What was deployed, per source (multi-source).
    pub revisions: Vec<String>,
}

/// `status.operationState`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct OperationState {
    /// `Running`, `Succeeded`, `Failed`, `Error` or `Terminating`.
    pub phase: String,
    /// What happened, for people.
    pub message: Option<String>,
    /// The operation that was asked for.
    pub operation: Option<Operation>,
    /// The result of a sync.
    pub sync_result: Option<SyncResult>,
}

/// `operationState.operation`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Operation {
    /// A sync operation.
    pub sync: Option<SyncOperation>,
}

/// `operation.sync`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SyncOperation {
    /// The revision being synced (single source).
    pub revision: Option<String>,
    /// The revisions being synced (multi-source).
    pub revisions: Vec<String>,
}

/// `operationState.syncResult`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SyncResult {
    /// `""` on multi-source applications.
    pub revision: Option<String>,
    /// Per source.
    pub revisions: Vec<String>,
}

/// `status.summary`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Summary {
    /// The sorted union of every pod's images (old and new during a rollout).
    pub images: Vec<String>,
}

/// One of `status.conditions`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Condition {
    /// E.g. `ComparisonError`.
    #[serde(rename = "type")]
    pub kind: String,
    /// What went wrong.
    pub message: String,
}

/// One of `status.resources`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct ResourceStatus {
    /// API group (empty for core kinds).
    pub group: String,
    /// API version.
    pub version: String,
    /// Kind.
    pub kind: String,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// The resource's health; only single-application answers carry it (not the list).
    pub health: Option<ResourceHealth>,
}

/// The health of one resource of an application.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ResourceHealth {
    /// `Healthy`, `Progressing`, `Degraded`, …
    pub status: String,
    /// Why, when not healthy.
    pub message: Option<String>,
}

/// `GET /api/v1/applications/{name}/resource-tree`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ResourceTree {
    /// Every live object of the application, flattened.
    pub nodes: Vec<TreeNode>,
}

/// One node of a resource tree (`group`…`uid` flattened into it, whatever the swagger says).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TreeNode {
    /// API group.
    pub group: String,
    /// Kind.
    pub kind: String,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Unique id.
    pub uid: String,
    /// Owners.
    pub parent_refs: Vec<NodeRef>,
    /// `Revision` on workloads and ReplicaSets; `Containers` `ready/total` on pods.
    pub info: Vec<InfoItem>,
    /// Only on pods.
    pub images: Vec<String>,
    /// Health, when the kind has one.
    pub health: Option<Health>,
}

/// A parent reference.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct NodeRef {
    /// Kind.
    pub kind: String,
    /// Name.
    pub name: String,
    /// Unique id.
    pub uid: String,
}

/// A name/value pair of a tree node.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct InfoItem {
    /// E.g. `Containers`.
    pub name: String,
    /// E.g. `2/2`.
    pub value: String,
}

/// `GET /api/v1/applications/{name}/resource`: the live object as a JSON string.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct LiveResource {
    /// The object's JSON.
    pub manifest: String,
}

/// The parts of a live Deployment or Argo Rollout that tracking reads.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Workload {
    /// Desired state.
    pub spec: WorkloadSpec,
    /// Observed state.
    pub status: WorkloadStatus,
}

impl LiveResource {
    /// The manifest as a workload; `None` when it is not JSON of that shape.
    pub fn workload(&self) -> Option<Workload> {
        serde_json::from_str(&self.manifest).ok()
    }
}

/// `spec` of a workload.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct WorkloadSpec {
    /// Desired replicas (Kubernetes' default is 1).
    pub replicas: Option<u32>,
    /// The pod template.
    pub template: PodTemplate,
}

/// `spec.template`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct PodTemplate {
    /// Its spec.
    pub spec: PodSpec,
}

/// `spec.template.spec`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PodSpec {
    /// The containers.
    pub containers: Vec<Container>,
}

/// A container.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Container {
    /// Its name.
    pub name: String,
    /// `registry/name:tag` or `registry/name@sha256:…`.
    pub image: String,
}

/// `status` of a workload.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct WorkloadStatus {
    /// Pods of every version.
    pub replicas: Option<u32>,
    /// Pods ready.
    pub ready_replicas: Option<u32>,
    /// Pods on the current template.
    pub updated_replicas: Option<u32>,
}

/// An Argo CD error body (grpc-gateway): `{"error", "code", "message"}`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ErrorBody {
    /// The gRPC code (5 not found, 7 permission denied, 16 unauthenticated, …).
    pub code: Option<i64>,
    /// The message.
    pub message: String,
    /// The same message, older servers.
    pub error: String,
}
