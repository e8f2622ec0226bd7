//! What the simulated Argo CD knows about each application, and how scripting moves it.
//!
//! The model is the cluster side (which ReplicaSets exist, which pods run which version and
//! whether they are ready) plus Argo CD's side (desired version, the last comparison, the
//! last operation, history). Everything in an answer is derived from it by `render`.

use std::collections::{BTreeMap, VecDeque};

use super::{Fault, RecordedRequest, RequestCounts, SimApp};

/// How many older versions a new app's history starts with (when they can be derived).
const OLDER_HISTORY: u64 = 2;

/// Seconds between one pod of a ReplicaSet and the next.
const POD_SPACING: u64 = 30;

/// The phase of an Argo CD sync operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Applied, waiting for health.
    Running,
    /// Done.
    Succeeded,
    /// Gave up.
    Failed,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Running => "Running",
            Phase::Succeeded => "Succeeded",
            Phase::Failed => "Failed",
        }
    }
}

/// The last (or current) sync operation.
#[derive(Debug, Clone)]
pub(crate) struct Operation {
    /// The version being synced.
    pub version: String,
    pub phase: Phase,
    pub started: u64,
    pub finished: Option<u64>,
}

/// One `status.history[]` entry.
#[derive(Debug, Clone)]
pub(crate) struct Deployed {
    pub id: u64,
    pub version: String,
    pub started: u64,
    pub deployed: u64,
}

/// A Deployment revision: one per version rolled out (a rollback reuses the version's
/// ReplicaSet and gives it a new number, as Kubernetes does).
#[derive(Debug, Clone)]
pub(crate) struct Revision {
    pub version: String,
    pub number: u64,
    pub created: u64,
}

/// The kinds of `status.conditions[]` the simulation raises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConditionKind {
    ComparisonError,
    SyncError,
}

#[derive(Debug, Clone)]
pub(crate) struct Condition {
    pub kind: ConditionKind,
    pub message: String,
    pub since: u64,
}

/// One ReplicaSet of the app's Deployment as the tree shows it.
#[derive(Debug, Clone)]
pub(crate) struct ReplicaSet {
    pub version: String,
    pub revision: u64,
    pub hash: String,
    pub name: String,
    pub uid: String,
    pub created: u64,
    /// Pods it should have.
    pub desired: u32,
}

/// One pod.
#[derive(Debug, Clone)]
pub(crate) struct Pod {
    pub name: String,
    pub uid: String,
    /// Index into [`App::replica_sets`].
    pub rs: usize,
    pub version: String,
    pub ready: bool,
    pub crashing: bool,
    /// Index of the host (the fixture's `hosts[]`) it runs on.
    pub host: usize,
    pub created: u64,
}

/// Health of the app's Deployment (and so of the app).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Health {
    pub status: &'static str,
    pub message: Option<String>,
}

/// One simulated application.
#[derive(Debug, Clone)]
pub(crate) struct App {
    pub spec: SimApp,
    /// The server's environment (label `env`, host names, values files).
    pub env: String,
    pub uid: String,
    pub created: u64,
    /// Time of the last change.
    pub changed: u64,
    pub forbidden: bool,
    pub generation: u64,
    pub resource_version: u64,
    /// The desired version (`spec`).
    pub target: String,
    /// The target the last successful comparison resolved (`status.sync.revision`).
    pub compared: String,
    /// The target is not in the chart index: comparison fails.
    pub unpublished: bool,
    /// The version the pods not yet updated run.
    pub old: String,
    /// The version a rollout moves to, while one is under way (or stuck).
    pub new: Option<String>,
    /// Pods on `new`.
    pub rolled: u32,
    /// Set by `degrade`: the new pods crash; the Deployment's health message.
    pub degraded: Option<String>,
    /// The Deployment is paused.
    pub paused: bool,
    pub operation: Operation,
    pub conditions: Vec<Condition>,
    pub history: Vec<Deployed>,
    pub revisions: Vec<Revision>,
    /// The app's health status the last time it changed, and when.
    pub health_status: &'static str,
    pub health_since: u64,
    pub reconciled: u64,
}

/// Versions before `version` by its last numeric component: `1.1.940` → `1.1.938`, `1.1.939`.
fn older_versions(version: &str) -> Vec<String> {
    let Some((head, last)) = version.rsplit_once('.') else {
        return Vec::new();
    };
    let Ok(n) = last.parse::<u64>() else {
        return Vec::new();
    };
    (1..=OLDER_HISTORY.min(n))
        .rev()
        .map(|k| format!("{head}.{}", n - k))
        .collect()
}

impl App {
    /// A Synced, Healthy app running `spec.version`, with a few older versions in its history.
    pub fn new(spec: SimApp, env: &str, now: u64, resource_version: u64) -> App {
        let mut versions = older_versions(&spec.version);
        versions.push(spec.version.clone());
        let count = versions.len() as u64;
        let created = now.saturating_sub(86_400 * (count + 30));
        let mut history = Vec::new();
        let mut revisions = Vec::new();
        for (i, v) in versions.iter().enumerate() {
            let i = i as u64;
            // One deploy a day, the newest an hour ago.
            let deployed = now.saturating_sub(3_600 + 86_400 * (count - 1 - i));
            let started = deployed.saturating_sub(4);
            history.push(Deployed {
                id: 10 + i,
                version: v.clone(),
                started,
                deployed,
            });
            revisions.push(Revision {
                version: v.clone(),
                number: 11 + i,
                created: started + 2,
            });
        }
        let (started, deployed) = history
            .last()
            .map_or((now, now), |d| (d.started, d.deployed));
        let version = spec.version.clone();
        App {
            uid: super::util::uid(&format!("app/{}/{}", spec.namespace, spec.name)),
            created,
            changed: now,
            forbidden: false,
            generation: 20 + count,
            resource_version,
            target: version.clone(),
            compared: version.clone(),
            unpublished: false,
            old: version.clone(),
            new: None,
            rolled: 0,
            degraded: None,
            paused: false,
            operation: Operation {
                version,
                phase: Phase::Succeeded,
                started,
                finished: Some(deployed),
            },
            conditions: Vec::new(),
            history,
            revisions,
            health_status: "Healthy",
            health_since: deployed + 90,
            reconciled: now,
            env: env.to_owned(),
            spec,
        }
    }

    /// The version in the Deployment's pod template: the one the last apply wrote.
    pub fn template_version(&self) -> &str {
        self.new.as_deref().unwrap_or(&self.old)
    }

    /// `status.sync.status`.
    pub fn sync_status(&self) -> &'static str {
        if self.unpublished {
            "Unknown"
        } else if self.operation.phase == Phase::Running && self.new.is_some() {
            // Compared before the apply, as in `application-progressing.json`.
            "OutOfSync"
        } else if self.compared == self.template_version() {
            "Synced"
        } else {
            "OutOfSync"
        }
    }

    fn revision(&self, version: &str) -> Revision {
        self.revisions
            .iter()
            .filter(|r| r.version == version)
            .max_by_key(|r| r.number)
            .cloned()
            .unwrap_or(Revision {
                version: version.to_owned(),
                number: 1,
                created: self.created,
            })
    }

    /// The Deployment's revision number (`deployment.kubernetes.io/revision`).
    pub fn deployment_revision(&self) -> u64 {
        self.revision(self.template_version()).number
    }

    /// The Deployment's name (the Helm release).
    pub fn release(&self) -> &str {
        &self.spec.release_name
    }

    fn replica_set(&self, version: &str, desired: u32) -> ReplicaSet {
        let rev = self.revision(version);
        let hash = super::util::k8s_suffix(&format!("{}/{}", self.spec.repo, version), 10);
        let name = format!("{}-{hash}", self.release());
        ReplicaSet {
            uid: super::util::uid(&format!(
                "rs/{}/{}/{name}",
                self.spec.name, self.spec.destination_namespace
            )),
            version: version.to_owned(),
            revision: rev.number,
            hash,
            name,
            created: rev.created,
            desired,
        }
    }

    /// The ReplicaSets the tree shows, oldest revision first: during a rollout the old and
    /// the new one; otherwise the previous one (scaled to zero) and the current one.
    pub fn replica_sets(&self) -> Vec<ReplicaSet> {
        let replicas = self.spec.replicas;
        match &self.new {
            Some(new) if *new != self.old => vec![
                self.replica_set(&self.old, replicas.saturating_sub(self.rolled)),
                self.replica_set(new, self.rolled.min(replicas)),
            ],
            _ => {
                let current = self.revision(&self.old);
                let previous = self
                    .revisions
                    .iter()
                    .filter(|r| r.number < current.number && r.version != current.version)
                    .max_by_key(|r| r.number);
                let mut out = Vec::new();
                if let Some(p) = previous {
                    out.push(self.replica_set(&p.version, 0));
                }
                out.push(self.replica_set(&self.old, replicas));
                out
            }
        }
    }

    /// Every pod, by ReplicaSet.
    pub fn pods(&self) -> Vec<Pod> {
        let rolling = self.new.as_ref().is_some_and(|n| *n != self.old);
        let running = self.operation.phase == Phase::Running;
        let mut out = Vec::new();
        for (ri, rs) in self.replica_sets().into_iter().enumerate() {
            let is_new = rolling && Some(&rs.version) == self.new.as_ref();
            for i in 0..rs.desired {
                let crashing = self.degraded.is_some() && (is_new || !rolling);
                // The newest pod of a rollout that is still being waited for is not ready yet.
                let starting = is_new && running && !self.paused && i + 1 == rs.desired;
                let suffix = super::util::k8s_suffix(&format!("{}/{i}", rs.name), 5);
                let name = format!("{}-{suffix}", rs.name);
                out.push(Pod {
                    uid: super::util::uid(&format!("pod/{}/{name}", self.spec.name)),
                    name,
                    rs: ri,
                    version: rs.version.clone(),
                    ready: !crashing && !starting,
                    crashing,
                    host: out.len(),
                    created: rs.created + POD_SPACING * u64::from(i),
                });
            }
        }
        out
    }

    /// `status.updatedReplicas` of the Deployment.
    pub fn updated_replicas(&self) -> u32 {
        match &self.new {
            Some(n) if *n != self.old => self.rolled.min(self.spec.replicas),
            _ => self.spec.replicas,
        }
    }

    /// Pods that are ready (and so available).
    pub fn ready_replicas(&self) -> u32 {
        u32::try_from(self.pods().iter().filter(|p| p.ready).count()).unwrap_or(u32::MAX)
    }

    /// Health of the Deployment, as gitops-engine's Deployment check words it.
    pub fn health(&self) -> Health {
        if let Some(message) = &self.degraded {
            return Health {
                status: "Degraded",
                message: Some(message.clone()),
            };
        }
        if self.paused {
            return Health {
                status: "Suspended",
                message: Some("Deployment is paused".to_owned()),
            };
        }
        let replicas = self.spec.replicas;
        let updated = self.updated_replicas();
        let ready = self.ready_replicas();
        if updated < replicas {
            return Health {
                status: "Progressing",
                message: Some(format!(
                    "Waiting for rollout to finish: {updated} out of {replicas} new replicas have \
                     been updated..."
                )),
            };
        }
        if ready < updated {
            return Health {
                status: "Progressing",
                message: Some(format!(
                    "Waiting for rollout to finish: {ready} of {updated} updated replicas are \
                     available..."
                )),
            };
        }
        Health {
            status: "Healthy",
            message: None,
        }
    }

    /// Records a change: new resource version and generation, health transition time.
    pub fn touch(&mut self, now: u64, resource_version: u64) {
        self.changed = now;
        self.reconciled = now;
        self.resource_version = resource_version;
        self.generation += 1;
        let status = self.health().status;
        if status != self.health_status {
            self.health_status = status;
            self.health_since = now;
        }
    }

    fn drop_conditions(&mut self, kind: ConditionKind) {
        self.conditions.retain(|c| c.kind != kind);
    }

    fn raise(&mut self, kind: ConditionKind, message: String, now: u64) {
        self.drop_conditions(kind);
        self.conditions.push(Condition {
            kind,
            message,
            since: now,
        });
    }

    /// A new desired version that the chart index has.
    pub fn set_target(&mut self, version: &str) {
        version.clone_into(&mut self.target);
        version.clone_into(&mut self.compared);
        self.unpublished = false;
        self.drop_conditions(ConditionKind::ComparisonError);
    }

    /// A new desired version the chart index does not list yet.
    pub fn set_unpublished(&mut self, version: &str, now: u64) {
        version.clone_into(&mut self.target);
        self.unpublished = true;
        let sources = if self.spec.kind == super::AppKind::MultiSource {
            2
        } else {
            1
        };
        let message = super::render::comparison_error_message(sources);
        self.raise(ConditionKind::ComparisonError, message, now);
    }

    /// Starts syncing to the last compared target: the new ReplicaSet gets its first pod.
    pub fn start_sync(&mut self, now: u64) {
        let version = self.compared.clone();
        let next = self.revisions.iter().map(|r| r.number).max().unwrap_or(0) + 1;
        if version != self.old {
            match self.revisions.iter_mut().find(|r| r.version == version) {
                Some(r) => r.number = next,
                None => self.revisions.push(Revision {
                    version: version.clone(),
                    number: next,
                    created: now,
                }),
            }
            self.new = Some(version.clone());
            self.rolled = self.spec.replicas.min(1);
        } else {
            self.new = None;
            self.rolled = 0;
        }
        self.degraded = None;
        self.paused = false;
        self.drop_conditions(ConditionKind::SyncError);
        self.operation = Operation {
            version,
            phase: Phase::Running,
            started: now,
            finished: None,
        };
    }

    fn in_flight(&self) -> bool {
        self.operation.phase == Phase::Running || self.new.is_some()
    }

    /// Moves `updated` pods to the new version (starting the sync if none is running).
    pub fn progress(&mut self, updated: u32, now: u64) {
        if !self.in_flight() {
            self.start_sync(now);
        }
        if self.new.is_some() {
            self.rolled = updated.min(self.spec.replicas);
        }
    }

    /// The sync succeeds: every pod on the new version, history appended.
    pub fn finish_sync(&mut self, now: u64) {
        if !self.in_flight() && self.compared != self.old {
            self.start_sync(now);
        }
        let version = self
            .new
            .take()
            .unwrap_or_else(|| self.operation.version.clone());
        let started = if self.operation.phase == Phase::Running {
            self.operation.started
        } else {
            now
        };
        self.old = version.clone();
        self.rolled = 0;
        self.degraded = None;
        self.paused = false;
        self.drop_conditions(ConditionKind::SyncError);
        let id = self.history.last().map_or(0, |d| d.id + 1);
        self.history.push(Deployed {
            id,
            version: version.clone(),
            started,
            deployed: now,
        });
        self.operation = Operation {
            version,
            phase: Phase::Succeeded,
            started,
            finished: Some(now),
        };
    }

    /// The new pods crash (all pods, when nothing is rolling out); the operation fails.
    pub fn degrade(&mut self, message: &str, now: u64) {
        if !self.in_flight() && self.compared != self.old {
            self.start_sync(now);
        }
        self.degraded = Some(message.to_owned());
        self.paused = false;
        self.operation.phase = Phase::Failed;
        self.operation.finished = Some(now);
        let message = super::render::sync_error_message(&self.operation.version);
        self.raise(ConditionKind::SyncError, message, now);
    }

    /// Pauses the Deployment: health Suspended.
    pub fn suspend(&mut self) {
        self.paused = true;
    }

    /// Unpauses the Deployment.
    pub fn resume(&mut self) {
        self.paused = false;
    }

    /// The label set selectors match against.
    pub fn labels(&self) -> BTreeMap<String, String> {
        let mut labels = BTreeMap::new();
        labels.insert("env".to_owned(), self.env.clone());
        labels.insert("repo".to_owned(), self.spec.repo.clone());
        labels.insert("team".to_owned(), self.spec.project.clone());
        for (k, v) in &self.spec.labels {
            labels.insert(k.clone(), v.clone());
        }
        labels
    }
}

/// Everything behind the server's lock.
#[derive(Debug, Default)]
pub(crate) struct State {
    /// By name (names are unique across app namespaces here).
    pub apps: BTreeMap<String, App>,
    /// Bumped on every change; apps carry the value of their last change.
    pub resource_version: u64,
    pub faults: VecDeque<Fault>,
    pub down: bool,
    pub cloudflare_rejects: bool,
    pub counts: RequestCounts,
    pub log: Vec<RecordedRequest>,
}

#[cfg(test)]
mod tests {
    use super::super::{AppKind, SimApp};
    use super::*;

    fn app() -> App {
        let spec =
            SimApp::new("billing-qa", "payments", "billing", "1.1.940").kind(AppKind::HelmRepo);
        App::new(spec, "qa", 1_705_000_000, 1)
    }

    #[test]
    fn older_versions_count_down_the_last_number() {
        assert_eq!(older_versions("1.1.940"), ["1.1.938", "1.1.939"]);
        assert_eq!(older_versions("1.0.1"), ["1.0.0"]);
        assert!(older_versions("1.0.0").is_empty());
        assert!(older_versions("main").is_empty());
    }

    #[test]
    fn a_rollout_moves_pods_and_health_step_by_step() {
        let mut a = app();
        assert_eq!(a.sync_status(), "Synced");
        assert_eq!(a.health().status, "Healthy");
        assert_eq!(a.replica_sets().len(), 2);
        assert_eq!(a.replica_sets()[0].desired, 0);
        a.set_target("1.1.941");
        assert_eq!(a.sync_status(), "OutOfSync");
        a.start_sync(1_705_000_100);
        assert_eq!(a.updated_replicas(), 1);
        assert_eq!(a.ready_replicas(), 2);
        let h = a.health();
        assert_eq!(h.status, "Progressing");
        assert_eq!(
            h.message.as_deref(),
            Some("Waiting for rollout to finish: 1 out of 3 new replicas have been updated...")
        );
        a.progress(3, 1_705_000_200);
        assert_eq!(
            a.health().message.as_deref(),
            Some("Waiting for rollout to finish: 2 of 3 updated replicas are available...")
        );
        let history = a.history.len();
        a.finish_sync(1_705_000_300);
        assert_eq!(a.history.len(), history + 1);
        assert_eq!(a.old, "1.1.941");
        assert_eq!(a.health().status, "Healthy");
        assert_eq!(a.sync_status(), "Synced");
        assert!(a.pods().iter().all(|p| p.version == "1.1.941" && p.ready));
        assert!(a.deployment_revision() > 13);
    }

    #[test]
    fn degrading_crashes_only_the_new_pods() {
        let mut a = app();
        a.set_target("1.1.941");
        a.start_sync(1_705_000_100);
        a.degrade("boom", 1_705_000_200);
        let pods = a.pods();
        assert_eq!(pods.iter().filter(|p| p.crashing).count(), 1);
        assert!(
            pods.iter()
                .filter(|p| p.crashing)
                .all(|p| p.version == "1.1.941")
        );
        assert_eq!(a.health().status, "Degraded");
        assert_eq!(a.operation.phase, Phase::Failed);
        assert_eq!(a.sync_status(), "Synced");
    }
}
