//! Answers built from the fixtures: each starts as a copy of an Argo CD example and gets the
//! app's names, versions and statuses patched in.

use serde_json::{Map, Value, json};

use super::AppKind;
use super::fixtures::{FIXTURES, IMAGE_REGISTRY, SIDECAR_IMAGE, status_resource, tree_node};
use super::state::{App, ConditionKind, Phase, Pod};
use super::util::{hex_digest, rfc3339, uid};

/// The commit of the deployments repository that set `image.tag` to `version`: what a
/// [`AppKind::GitPath`] app's `sync.revision` and `history[].revision` hold.
pub fn git_revision(version: &str) -> String {
    hex_digest(&format!("git:{version}"))[..40].to_owned()
}

/// The commit of the values repository (the `ref: values` source) a [`AppKind::MultiSource`]
/// app resolved along with chart `version`: the second of `sync.revisions`.
pub fn values_revision(version: &str) -> String {
    hex_digest(&format!("values:{version}"))[..40].to_owned()
}

/// The image of the app's own container at `version`.
pub(crate) fn image(app: &App, version: &str) -> String {
    format!("{}:{version}", image_repository(app))
}

fn image_repository(app: &App) -> String {
    format!("{IMAGE_REGISTRY}/{}", app.spec.repo)
}

fn host(app: &App) -> String {
    format!("{}.{}.example.com", app.spec.repo, app.env)
}

fn namespace(app: &App) -> &str {
    &app.spec.destination_namespace
}

fn config_map(app: &App) -> String {
    format!("{}-config", app.release())
}

fn template(kind: AppKind) -> &'static Value {
    match kind {
        AppKind::HelmRepo => &FIXTURES.helm,
        AppKind::MultiSource => &FIXTURES.multi,
        AppKind::GitPath => &FIXTURES.git,
    }
}

/// The fixture's first element of an array, for building one element per entry.
fn first(v: &Value) -> Value {
    v.get(0).cloned().unwrap_or(Value::Null)
}

fn remove(v: &mut Value, key: &str) {
    if let Some(obj) = v.as_object_mut() {
        obj.remove(key);
    }
}

/// The message of the `ComparisonError` condition (illustrative, as in the fixture).
pub(crate) fn comparison_error_message(sources: usize) -> String {
    let text = FIXTURES.comparison_error["status"]["conditions"][0]["message"]
        .as_str()
        .unwrap_or_default();
    text.replace("source 1 of 1", &format!("source 1 of {sources}"))
}

/// The message of the `SyncError` condition of a failed sync to `version`.
pub(crate) fn sync_error_message(version: &str) -> String {
    format!(
        "Failed sync attempt to {version}: one or more synchronization tasks completed \
         unsuccessfully (retried 3 times)."
    )
}

/// The single source of a [`AppKind::HelmRepo`] or [`AppKind::GitPath`] app at `version`.
fn source(app: &App, version: &str) -> Value {
    let mut s;
    match app.spec.kind {
        AppKind::GitPath => {
            s = FIXTURES.git["spec"]["source"].clone();
            s["path"] = json!(format!("charts/{}", app.spec.repo));
            s["helm"]["valueFiles"] = json!([format!("values-{}.yaml", app.env)]);
            if let Some(params) = s["helm"]["parameters"].as_array_mut() {
                for p in params {
                    match p["name"].as_str() {
                        Some("image.tag") => p["value"] = json!(version),
                        Some("image.repository") => p["value"] = json!(image_repository(app)),
                        _ => {}
                    }
                }
            }
            s["helm"]["valuesObject"]["image"]["tag"] = json!(version);
        }
        AppKind::HelmRepo | AppKind::MultiSource => {
            s = FIXTURES.helm["spec"]["source"].clone();
            s["chart"] = json!(app.spec.repo);
            s["targetRevision"] = json!(version);
            s["helm"]["releaseName"] = json!(app.release());
            s["helm"]["valuesObject"]["ingress"]["host"] = json!(host(app));
        }
    }
    s["helm"]["valuesObject"]["replicaCount"] = json!(app.spec.replicas);
    s
}

/// The two sources of a [`AppKind::MultiSource`] app at chart `version`.
fn sources(app: &App, version: &str) -> Value {
    let mut s = FIXTURES.multi["spec"]["sources"].clone();
    let chart = &mut s[0];
    chart["chart"] = json!(app.spec.repo);
    chart["targetRevision"] = json!(version);
    chart["helm"]["releaseName"] = json!(app.release());
    chart["helm"]["valueFiles"] =
        json!([format!("$values/{}/values-{}.yaml", app.spec.repo, app.env)]);
    s
}

/// What Argo CD resolved `version` to: the chart version, or the git commit.
fn revision(app: &App, version: &str) -> String {
    match app.spec.kind {
        AppKind::GitPath => git_revision(version),
        AppKind::HelmRepo | AppKind::MultiSource => version.to_owned(),
    }
}

fn revisions(version: &str) -> Value {
    json!([version, values_revision(version)])
}

fn metadata(app: &App) -> Value {
    let mut m = FIXTURES.helm["metadata"].clone();
    m["name"] = json!(app.spec.name);
    m["namespace"] = json!(app.spec.namespace);
    m["uid"] = json!(app.uid);
    m["resourceVersion"] = json!(app.resource_version.to_string());
    m["generation"] = json!(app.generation);
    m["creationTimestamp"] = json!(rfc3339(app.created));
    m["labels"] = json!(app.labels());
    if let Some(fields) = m["managedFields"].as_array_mut() {
        for f in fields {
            f["time"] = json!(rfc3339(app.changed));
        }
    }
    m
}

fn health_json(status: &str, message: Option<&str>) -> Value {
    let mut h = json!({ "status": status });
    if let Some(m) = message {
        h["message"] = json!(m);
    }
    h
}

/// `status.resources[]`, with each resource's health when `with_health` (as `GET` fills it in
/// since Argo CD 3.0; the list leaves it out).
fn resources(app: &App, with_health: bool) -> Value {
    let health = app.health();
    let out_of_sync = app.sync_status() == "OutOfSync";
    let items: Vec<Value> = ["ConfigMap", "Service", "Deployment", "Ingress"]
        .into_iter()
        .map(|kind| {
            let mut r = status_resource(kind);
            r["namespace"] = json!(namespace(app));
            r["name"] = json!(if kind == "ConfigMap" {
                config_map(app)
            } else {
                app.release().to_owned()
            });
            if kind == "Deployment" {
                r["status"] = json!(if out_of_sync { "OutOfSync" } else { "Synced" });
                if r.get("health").is_some() {
                    r["health"] = health_json(health.status, health.message.as_deref());
                }
            }
            if !with_health {
                remove(&mut r, "health");
            }
            r
        })
        .collect();
    Value::Array(items)
}

fn sync(app: &App) -> Value {
    let mut s = template(app.spec.kind)["status"]["sync"].clone();
    s["status"] = json!(app.sync_status());
    s["comparedTo"]["destination"]["namespace"] = json!(namespace(app));
    match app.spec.kind {
        AppKind::MultiSource => {
            s["comparedTo"]["sources"] = sources(app, &app.compared);
            s["revisions"] = revisions(&app.compared);
        }
        AppKind::HelmRepo | AppKind::GitPath => {
            s["comparedTo"]["source"] = source(app, &app.compared);
            s["revision"] = json!(revision(app, &app.compared));
        }
    }
    s
}

fn history(app: &App) -> Value {
    let element = first(&template(app.spec.kind)["status"]["history"]);
    let entries = app
        .history
        .iter()
        .map(|d| {
            let mut e = element.clone();
            e["id"] = json!(d.id);
            e["deployStartedAt"] = json!(rfc3339(d.started));
            e["deployedAt"] = json!(rfc3339(d.deployed));
            match app.spec.kind {
                AppKind::MultiSource => {
                    e["sources"] = sources(app, &d.version);
                    e["revisions"] = revisions(&d.version);
                }
                AppKind::HelmRepo | AppKind::GitPath => {
                    e["source"] = source(app, &d.version);
                    e["revision"] = json!(revision(app, &d.version));
                }
            }
            e
        })
        .collect();
    Value::Array(entries)
}

fn conditions(app: &App) -> Option<Value> {
    if app.conditions.is_empty() {
        return None;
    }
    let items = app
        .conditions
        .iter()
        .map(|c| {
            let fixture = match c.kind {
                ConditionKind::ComparisonError => &FIXTURES.comparison_error,
                ConditionKind::SyncError => &FIXTURES.degraded,
            };
            let mut v = first(&fixture["status"]["conditions"]);
            v["message"] = json!(c.message);
            v["lastTransitionTime"] = json!(rfc3339(c.since));
            v
        })
        .collect();
    Some(Value::Array(items))
}

/// `operationState.syncResult.resources[]`.
fn sync_results(app: &App) -> Value {
    let op = &app.operation;
    let fixture = &FIXTURES.helm["status"]["operationState"]["syncResult"]["resources"];
    let mut items: Vec<Value> = fixture.as_array().cloned().unwrap_or_default();
    let ns = namespace(app).to_owned();
    for r in &mut items {
        let kind = r["kind"].as_str().unwrap_or_default().to_owned();
        let name = if kind == "ConfigMap" {
            config_map(app)
        } else {
            app.release().to_owned()
        };
        let message = match kind.as_str() {
            "ConfigMap" => format!("configmap/{name} unchanged"),
            "Service" => format!("service/{name} unchanged"),
            "Ingress" => format!("ingress.networking.k8s.io/{name} unchanged"),
            _ => format!("deployment.apps/{name} configured"),
        };
        r["namespace"] = json!(ns);
        r["name"] = json!(name);
        r["message"] = json!(message);
        if kind == "Deployment" {
            r["images"] = json!([image(app, &op.version), SIDECAR_IMAGE]);
            if op.phase == Phase::Failed {
                r["hookPhase"] = json!("Failed");
                if let Some(m) = &app.degraded {
                    r["message"] = json!(m);
                }
            }
        }
    }
    if op.phase == Phase::Running {
        // The PostSync hook that has not run yet, as in `application-progressing.json`.
        let hook = FIXTURES.progressing["status"]["operationState"]["syncResult"]["resources"]
            .as_array()
            .and_then(|r| r.iter().find(|r| r.get("hookType").is_some()))
            .cloned();
        if let Some(mut hook) = hook {
            hook["namespace"] = json!(ns);
            hook["name"] = json!(format!("{}-smoke-test", app.release()));
            items.push(hook);
        }
    }
    Value::Array(items)
}

/// `operationState.operation` (also the top-level `operation` while it runs).
fn operation(app: &App) -> Value {
    let mut o = template(app.spec.kind)["status"]["operationState"]["operation"].clone();
    let version = &app.operation.version;
    match app.spec.kind {
        AppKind::MultiSource => o["sync"]["revisions"] = revisions(version),
        AppKind::HelmRepo | AppKind::GitPath => {
            o["sync"]["revision"] = json!(revision(app, version));
        }
    }
    o
}

fn operation_state(app: &App) -> Value {
    let op = &app.operation;
    let mut s = template(app.spec.kind)["status"]["operationState"].clone();
    s["operation"] = operation(app);
    s["phase"] = json!(op.phase.as_str());
    s["message"] = json!(match op.phase {
        Phase::Running => format!(
            "waiting for healthy state of apps/Deployment/{}",
            app.release()
        ),
        Phase::Succeeded => "successfully synced (all tasks run)".to_owned(),
        Phase::Failed => "one or more synchronization tasks completed unsuccessfully".to_owned(),
    });
    s["syncResult"]["resources"] = sync_results(app);
    match app.spec.kind {
        AppKind::MultiSource => {
            s["syncResult"]["sources"] = sources(app, &op.version);
            s["syncResult"]["revisions"] = revisions(&op.version);
        }
        AppKind::HelmRepo | AppKind::GitPath => {
            s["syncResult"]["source"] = source(app, &op.version);
            s["syncResult"]["revision"] = json!(revision(app, &op.version));
        }
    }
    s["startedAt"] = json!(rfc3339(op.started));
    match op.finished {
        Some(t) => s["finishedAt"] = json!(rfc3339(t)),
        None => remove(&mut s, "finishedAt"),
    }
    s
}

fn pod_images(app: &App, pod: &Pod) -> Vec<String> {
    let mut images = vec![image(app, &pod.version), SIDECAR_IMAGE.to_owned()];
    images.sort();
    images
}

/// `summary.images`: the sorted union of every pod's images.
pub(crate) fn summary_images(app: &App) -> Vec<String> {
    let mut images: Vec<String> = app.pods().iter().flat_map(|p| pod_images(app, p)).collect();
    images.sort();
    images.dedup();
    images
}

/// One Application as `GET /api/v1/applications/{name}` answers it (`with_health`) or as an
/// item of the list (without per-resource health).
pub(crate) fn application(app: &App, with_health: bool) -> Value {
    let mut v = template(app.spec.kind).clone();
    v["metadata"] = metadata(app);
    v["spec"]["project"] = json!(app.spec.project);
    v["spec"]["destination"]["namespace"] = json!(namespace(app));
    match app.spec.kind {
        AppKind::MultiSource => v["spec"]["sources"] = sources(app, &app.target),
        AppKind::HelmRepo | AppKind::GitPath => v["spec"]["source"] = source(app, &app.target),
    }
    let health = app.health();
    let status = &mut v["status"];
    status["resources"] = resources(app, with_health);
    status["sync"] = sync(app);
    status["health"]["status"] = json!(health.status);
    status["health"]["lastTransitionTime"] = json!(rfc3339(app.health_since));
    if health.status == "Degraded" {
        // Argo CD 3.6 names the causing resources, as in `application-degraded.json`.
        status["health"]["message"] = json!(format!(
            "apps/Deployment:{}/{}",
            namespace(app),
            app.release()
        ));
    } else {
        remove(&mut status["health"], "message");
    }
    status["history"] = history(app);
    match conditions(app) {
        Some(c) => status["conditions"] = c,
        None => remove(status, "conditions"),
    }
    status["reconciledAt"] = json!(rfc3339(app.reconciled));
    status["operationState"] = operation_state(app);
    status["summary"]["externalURLs"] = json!([format!("https://{}/", host(app))]);
    status["summary"]["images"] = json!(summary_images(app));
    if app.operation.phase == Phase::Running {
        v["operation"] = operation(app);
    } else {
        remove(&mut v, "operation");
    }
    v
}

/// `GET /api/v1/applications`: `{"metadata":{"resourceVersion":…},"items":[…]}`.
pub(crate) fn list(items: Vec<Value>, resource_version: u64) -> Value {
    let mut l = FIXTURES.list.clone();
    l["metadata"]["resourceVersion"] = json!(resource_version.to_string());
    l["items"] = Value::Array(items);
    l
}

fn parent_ref(template: &Value, group: &str, kind: &str, ns: &str, name: &str, uid: &str) -> Value {
    let mut r = template.clone();
    r["group"] = json!(group);
    r["kind"] = json!(kind);
    r["namespace"] = json!(ns);
    r["name"] = json!(name);
    r["uid"] = json!(uid);
    r
}

fn info(template: &Value, items: &[(&str, String)]) -> Value {
    let element = first(template);
    Value::Array(
        items
            .iter()
            .map(|(name, value)| {
                let mut i = element.clone();
                i["name"] = json!(name);
                i["value"] = json!(value);
                i
            })
            .collect(),
    )
}

fn deployment_uid(app: &App) -> String {
    uid(&format!(
        "deployment/{}/{}/{}",
        app.spec.name,
        namespace(app),
        app.release()
    ))
}

fn selector_labels(app: &App) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(
        "app.kubernetes.io/instance".to_owned(),
        json!(app.release()),
    );
    m.insert("app.kubernetes.io/name".to_owned(), json!(app.spec.repo));
    m
}

/// `GET …/resource-tree`: the fixture's nodes for this app's Deployment, ReplicaSets and Pods
/// (new and old during a rollout), sorted by group, kind, namespace and name.
pub(crate) fn tree(app: &App) -> Value {
    let ns = namespace(app).to_owned();
    let rv = app.resource_version;
    let hosts = FIXTURES.tree["hosts"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut nodes = Vec::new();

    let mut cm = tree_node("ConfigMap");
    cm["namespace"] = json!(ns);
    cm["name"] = json!(config_map(app));
    cm["uid"] = json!(uid(&format!("cm/{}/{}", app.spec.name, config_map(app))));
    cm["createdAt"] = json!(rfc3339(app.created));
    nodes.push(cm);

    let mut svc = tree_node("Service");
    svc["namespace"] = json!(ns);
    svc["name"] = json!(app.release());
    svc["uid"] = json!(uid(&format!("svc/{}/{}", app.spec.name, app.release())));
    svc["networkingInfo"]["targetLabels"] = Value::Object(selector_labels(app));
    svc["createdAt"] = json!(rfc3339(app.created));
    nodes.push(svc);

    let mut ing = tree_node("Ingress");
    ing["namespace"] = json!(ns);
    ing["name"] = json!(app.release());
    ing["uid"] = json!(uid(&format!("ing/{}/{}", app.spec.name, app.release())));
    if let Some(refs) = ing["networkingInfo"]["targetRefs"].as_array_mut() {
        for r in refs {
            r["namespace"] = json!(ns);
            r["name"] = json!(app.release());
        }
    }
    ing["networkingInfo"]["externalURLs"] = json!([format!("https://{}/", host(app))]);
    ing["createdAt"] = json!(rfc3339(app.created));
    nodes.push(ing);

    let health = app.health();
    let deploy_uid = deployment_uid(app);
    let mut dep = tree_node("Deployment");
    dep["namespace"] = json!(ns);
    dep["name"] = json!(app.release());
    dep["uid"] = json!(deploy_uid);
    dep["info"] = info(
        &dep["info"],
        &[("Revision", format!("Rev:{}", app.deployment_revision()))],
    );
    dep["resourceVersion"] = json!(rv.to_string());
    dep["health"] = health_json(health.status, health.message.as_deref());
    dep["createdAt"] = json!(rfc3339(app.created));
    nodes.push(dep);

    let replica_sets = app.replica_sets();
    let pods = app.pods();
    let rs_template = tree_node("ReplicaSet");
    for (index, rs) in replica_sets.iter().enumerate() {
        let ready = pods.iter().filter(|p| p.rs == index && p.ready).count();
        let ready = u32::try_from(ready).unwrap_or(u32::MAX);
        let mut n = rs_template.clone();
        n["namespace"] = json!(ns);
        n["name"] = json!(rs.name);
        n["uid"] = json!(rs.uid);
        n["parentRefs"] = json!([parent_ref(
            &first(&rs_template["parentRefs"]),
            "apps",
            "Deployment",
            &ns,
            app.release(),
            &deploy_uid
        )]);
        n["info"] = info(&n["info"], &[("Revision", format!("Rev:{}", rs.revision))]);
        n["resourceVersion"] = json!((rv + rs.revision).to_string());
        n["health"] = if ready < rs.desired {
            health_json(
                "Progressing",
                Some(&format!(
                    "Waiting for rollout to finish: {ready} out of {} new replicas are \
                     available...",
                    rs.desired
                )),
            )
        } else {
            health_json("Healthy", None)
        };
        n["createdAt"] = json!(rfc3339(rs.created));
        nodes.push(n);
    }

    let pod_template = tree_node("Pod");
    let mut per_host = vec![0u64; hosts.len()];
    for (k, pod) in pods.iter().enumerate() {
        let Some(rs) = replica_sets.get(pod.rs) else {
            continue;
        };
        let host_index = if hosts.is_empty() {
            0
        } else {
            pod.host % hosts.len()
        };
        if let Some(c) = per_host.get_mut(host_index) {
            *c += 1;
        }
        let host_name = hosts
            .get(host_index)
            .and_then(|h| h["name"].as_str())
            .unwrap_or_default()
            .to_owned();
        let mut n = pod_template.clone();
        n["namespace"] = json!(ns);
        n["name"] = json!(pod.name);
        n["uid"] = json!(pod.uid);
        n["parentRefs"] = json!([parent_ref(
            &first(&pod_template["parentRefs"]),
            "apps",
            "ReplicaSet",
            &ns,
            &rs.name,
            &rs.uid
        )]);
        let template_info = |name: &str| {
            pod_template["info"]
                .as_array()
                .and_then(|i| i.iter().find(|i| i["name"] == name))
                .and_then(|i| i["value"].as_str())
                .unwrap_or_default()
                .to_owned()
        };
        let mut items = vec![
            (
                "Status Reason",
                if pod.crashing {
                    "CrashLoopBackOff".to_owned()
                } else {
                    template_info("Status Reason")
                },
            ),
            ("Node", host_name),
            (
                "Containers",
                if pod.ready {
                    "2/2".to_owned()
                } else {
                    "1/2".to_owned()
                },
            ),
        ];
        if pod.crashing {
            items.push(("Restart Count", "5".to_owned()));
        }
        items.push(("cpu", template_info("cpu")));
        items.push(("memory", template_info("memory")));
        n["info"] = info(&pod_template["info"], &items);
        let mut labels = selector_labels(app);
        labels.insert("pod-template-hash".to_owned(), json!(rs.hash));
        n["networkingInfo"]["labels"] = Value::Object(labels);
        n["resourceVersion"] = json!((rv + 100 + k as u64).to_string());
        n["images"] = json!(pod_images(app, pod));
        n["health"] = if pod.crashing {
            health_json(
                "Degraded",
                Some(&format!(
                    "back-off 5m0s restarting failed container={} pod={}_{ns}({})",
                    app.spec.repo, pod.name, pod.uid
                )),
            )
        } else if pod.ready {
            health_json("Healthy", None)
        } else {
            health_json("Progressing", None)
        };
        n["createdAt"] = json!(rfc3339(pod.created));
        nodes.push(n);
    }

    nodes.sort_by(|a, b| {
        let key = |n: &Value| {
            ["group", "kind", "namespace", "name"]
                .map(|k| n[k].as_str().unwrap_or_default().to_owned())
        };
        key(a).cmp(&key(b))
    });

    let hosts: Vec<Value> = hosts
        .into_iter()
        .zip(per_host)
        .filter(|(_, count)| *count > 0)
        .map(|(mut h, count)| {
            if let Some(infos) = h["resourcesInfo"].as_array_mut() {
                for i in infos {
                    // The fixture's host runs one pod of the app.
                    if let Some(one) = i["requestedByApp"].as_u64() {
                        i["requestedByApp"] = json!(one * count);
                    }
                }
            }
            h
        })
        .collect();

    let mut t = FIXTURES.tree.clone();
    t["nodes"] = Value::Array(nodes);
    t["hosts"] = Value::Array(hosts);
    t
}

fn tracking_id(app: &App, group: &str, kind: &str, name: &str) -> String {
    format!("{}:{group}/{kind}:{}/{name}", app.spec.name, namespace(app))
}

fn omit_zero(status: &mut Value, key: &str, n: u32) {
    if n == 0 {
        remove(status, key);
    } else {
        status[key] = json!(n);
    }
}

/// The live Deployment, as `resource-deployment.json`'s manifest with this app's names, pod
/// template image and rollout counts (zero counts are left out, as Kubernetes does).
fn deployment(app: &App) -> Value {
    let mut d = FIXTURES.deployment.clone();
    let version = app.template_version().to_owned();
    let revision = app.deployment_revision();
    let chart_version = match app.spec.kind {
        // A chart in a git path keeps its Chart.yaml version; only the image tag moves.
        AppKind::GitPath => "0.1.0".to_owned(),
        AppKind::HelmRepo | AppKind::MultiSource => version.clone(),
    };
    let m = &mut d["metadata"];
    m["annotations"]["argocd.argoproj.io/tracking-id"] =
        json!(tracking_id(app, "apps", "Deployment", app.release()));
    m["annotations"]["deployment.kubernetes.io/revision"] = json!(revision.to_string());
    m["creationTimestamp"] = json!(rfc3339(app.created));
    m["generation"] = json!(revision);
    m["labels"]["app.kubernetes.io/instance"] = json!(app.release());
    m["labels"]["app.kubernetes.io/name"] = json!(app.spec.repo);
    m["labels"]["app.kubernetes.io/version"] = json!(version);
    m["labels"]["helm.sh/chart"] = json!(format!("{}-{chart_version}", app.spec.repo));
    if let Some(fields) = m["managedFields"].as_array_mut() {
        for f in fields {
            f["time"] = json!(rfc3339(app.changed));
        }
    }
    m["name"] = json!(app.release());
    m["namespace"] = json!(namespace(app));
    m["resourceVersion"] = json!(app.resource_version.to_string());
    m["uid"] = json!(deployment_uid(app));

    let spec = &mut d["spec"];
    spec["replicas"] = json!(app.spec.replicas);
    if app.paused {
        spec["paused"] = json!(true);
    }
    spec["selector"]["matchLabels"] = Value::Object(selector_labels(app));
    spec["template"]["metadata"]["labels"] = Value::Object(selector_labels(app));
    if let Some(containers) = spec["template"]["spec"]["containers"].as_array_mut()
        && let Some(c) = containers.first_mut()
    {
        c["image"] = json!(image(app, &version));
        c["name"] = json!(app.spec.repo);
    }

    let replicas = app.spec.replicas;
    let ready = app.ready_replicas();
    let replica_sets = app.replica_sets();
    let newest = replica_sets
        .last()
        .map(|r| r.name.clone())
        .unwrap_or_default();
    let status = &mut d["status"];
    omit_zero(status, "replicas", replicas);
    omit_zero(status, "updatedReplicas", app.updated_replicas());
    omit_zero(status, "readyReplicas", ready);
    omit_zero(status, "availableReplicas", ready);
    status["observedGeneration"] = json!(revision);
    let changed = rfc3339(app.changed);
    let rolling = app.new.is_some();
    if let Some(conditions) = status["conditions"].as_array_mut() {
        for c in conditions {
            match c["type"].as_str() {
                Some("Available") => {
                    let available = ready + 1 >= replicas;
                    c["status"] = json!(if available { "True" } else { "False" });
                    c["reason"] = json!(if available {
                        "MinimumReplicasAvailable"
                    } else {
                        "MinimumReplicasUnavailable"
                    });
                    c["message"] = json!(if available {
                        "Deployment has minimum availability."
                    } else {
                        "Deployment does not have minimum availability."
                    });
                    c["lastUpdateTime"] = json!(changed);
                }
                Some("Progressing") => {
                    let (status, reason, message) = if app.paused {
                        (
                            "Unknown",
                            "DeploymentPaused",
                            "Deployment is paused".to_owned(),
                        )
                    } else if app.degraded.is_some() {
                        (
                            "False",
                            "ProgressDeadlineExceeded",
                            format!("ReplicaSet \"{newest}\" has timed out progressing."),
                        )
                    } else if rolling {
                        (
                            "True",
                            "ReplicaSetUpdated",
                            format!("ReplicaSet \"{newest}\" is progressing."),
                        )
                    } else {
                        (
                            "True",
                            "NewReplicaSetAvailable",
                            format!("ReplicaSet \"{newest}\" has successfully progressed."),
                        )
                    };
                    c["status"] = json!(status);
                    c["reason"] = json!(reason);
                    c["message"] = json!(message);
                    c["lastUpdateTime"] = json!(changed);
                }
                _ => {}
            }
        }
    }
    d
}

/// Any other node of the tree: the fixture Deployment's `apiVersion`, `kind` and `metadata`
/// with this object's names (this simulation keeps no other fields of other kinds).
fn other_object(app: &App, node: &Value) -> Value {
    let group = node["group"].as_str().unwrap_or_default();
    let version = node["version"].as_str().unwrap_or("v1");
    let kind = node["kind"].as_str().unwrap_or_default();
    let name = node["name"].as_str().unwrap_or_default();
    let fixture = &FIXTURES.deployment;
    let mut metadata = Map::new();
    for key in ["creationTimestamp", "labels", "name", "namespace", "uid"] {
        if let Some(v) = fixture["metadata"].get(key) {
            metadata.insert(key.to_owned(), v.clone());
        }
    }
    let mut m = Value::Object(metadata);
    if matches!(kind, "ConfigMap" | "Service" | "Ingress") {
        let mut annotations = Map::new();
        annotations.insert(
            "argocd.argoproj.io/tracking-id".to_owned(),
            json!(tracking_id(app, group, kind, name)),
        );
        m["annotations"] = Value::Object(annotations);
    }
    m["creationTimestamp"] = node["createdAt"].clone();
    m["labels"] = Value::Object(selector_labels(app));
    m["name"] = json!(name);
    m["namespace"] = node["namespace"].clone();
    m["resourceVersion"] = node["resourceVersion"].clone();
    m["uid"] = node["uid"].clone();
    let mut o = Map::new();
    o.insert(
        "apiVersion".to_owned(),
        json!(if group.is_empty() {
            version.to_owned()
        } else {
            format!("{group}/{version}")
        }),
    );
    o.insert("kind".to_owned(), json!(kind));
    o.insert("metadata".to_owned(), m);
    Value::Object(o)
}

/// `GET …/resource`: `{"manifest": "<live object as a JSON string>"}` for a node of the tree
/// (matched by group, kind, namespace and name, as Argo CD does), or `None`.
pub(crate) fn resource(app: &App, group: &str, kind: &str, ns: &str, name: &str) -> Option<Value> {
    let tree = tree(app);
    let node = tree["nodes"].as_array()?.iter().find(|n| {
        n["group"].as_str().unwrap_or_default() == group
            && n["kind"] == kind
            && n["namespace"].as_str().unwrap_or_default() == ns
            && n["name"] == name
    })?;
    let object = if kind == "Deployment" && group == "apps" {
        deployment(app)
    } else {
        other_object(app, node)
    };
    let mut r = FIXTURES.resource.clone();
    r["manifest"] = json!(object.to_string());
    Some(r)
}

/// An Argo CD error body (`{"error","code","message"}`) shaped like the fixtures'.
pub(crate) fn error(code: u16, message: &str) -> Value {
    let mut e = FIXTURES.permission_denied.clone();
    e["error"] = json!(message);
    e["code"] = json!(code);
    e["message"] = json!(message);
    e
}

/// 404 code 5 for an app name.
pub(crate) fn not_found(name: &str) -> Value {
    let mut e = FIXTURES.not_found.clone();
    let message = format!("applications.argoproj.io \"{name}\" not found");
    e["error"] = json!(message);
    e["message"] = json!(message);
    e
}

/// 400 code 3 for `/resource` outside the app's tree.
pub(crate) fn not_in_app(kind: &str, group: &str, name: &str, app: &str) -> Value {
    let mut e = FIXTURES.resource_not_in_app.clone();
    let message = format!("{kind} {group} {name} not found as part of application {app}");
    e["error"] = json!(message);
    e["message"] = json!(message);
    e
}
