//! The simulated Argo CD over real sockets: every answer has the key paths and JSON types of
//! Argo CD's wire examples in `fixtures/argocd/`, and scripting moves apps through the states
//! those examples show, behind Argo CD's (and Cloudflare Access's) rules.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;
use shipyard_sim::argocd::{
    AppKind, ArgoCdOptions, ArgoCdSim, CloudflareAccess, Fault, Rejection, SimApp, git_revision,
    values_revision,
};

/// Argo CD's wire examples (see the README there).
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/argocd");

/// The token the instances accept: three dot-separated parts, like Argo CD's JWTs.
const TOKEN: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzaGlweWFyZCJ9.c2lnbmF0dXJl";

const SIDECAR: &str = "docker.io/istio/proxyv2:1.22.3";

const CF_ID: &str = "4f2b8e1c9a7d3f5e.access";
const CF_SECRET: &str = "6b0c2a4d8e1f3b5c7a9d0e2f4b6c8a1d";

/// Kubernetes' `managedFields`: optional metadata, present in two of the application examples
/// and absent from the others, so a client must not depend on it either way.
const MANAGED_FIELDS: &str = "$.metadata.managedFields";

/// Argo Rollouts labels its pods `rollouts-pod-template-hash`, a Deployment `pod-template-hash`:
/// the one difference between the example's Rollout tree and a Deployment's.
const ROLLOUT_POD_LABEL: &str = "$.nodes[].networkingInfo.labels.rollouts-pod-template-hash";
const DEPLOYMENT_POD_LABEL: &str = "$.nodes[].networkingInfo.labels.pod-template-hash";

const DEPLOYMENT_QUERY: &str =
    "namespace=billing&resourceName=billing&group=apps&version=v1&kind=Deployment";

// ---------------------------------------------------------------------------------------------
// Helpers.

fn fixture(name: &str) -> Value {
    let path = format!("{FIXTURES}/{name}");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A client like Shipyard's Argo CD client: no redirects followed, a short timeout.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent("shipyard-sim-tests")
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// One answer, its body kept as text.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    fn json(&self) -> Value {
        assert!(
            self.header("content-type").starts_with("application/json"),
            "not JSON ({}): {}",
            self.header("content-type"),
            self.body
        );
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// GET `url` with these headers only.
async fn fetch(url: &str, headers: &[(&str, &str)]) -> Answer {
    let mut req = client().get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.text().await.unwrap();
    Answer {
        status,
        headers,
        body,
    }
}

/// GET `path` below the instance's URL with its token.
async fn api(sim: &ArgoCdSim, path: &str) -> Answer {
    let bearer = format!("Bearer {TOKEN}");
    fetch(
        &format!("{}{path}", sim.url()),
        &[("authorization", bearer.as_str())],
    )
    .await
}

/// GET `path` with the token, expecting `200` JSON.
async fn api_json(sim: &ArgoCdSim, path: &str) -> Value {
    let a = api(sim, path).await;
    assert_eq!(a.status, StatusCode::OK, "{path}: {}", a.body);
    a.json()
}

async fn app(sim: &ArgoCdSim, name: &str) -> Value {
    api_json(sim, &format!("/api/v1/applications/{name}")).await
}

async fn tree(sim: &ArgoCdSim, name: &str) -> Value {
    api_json(sim, &format!("/api/v1/applications/{name}/resource-tree")).await
}

/// The live Deployment `billing` of app `name`, parsed out of its `manifest` string.
async fn live_deployment(sim: &ArgoCdSim, name: &str) -> Value {
    let r = api_json(
        sim,
        &format!("/api/v1/applications/{name}/resource?{DEPLOYMENT_QUERY}"),
    )
    .await;
    serde_json::from_str(r["manifest"].as_str().unwrap()).unwrap()
}

async fn qa() -> ArgoCdSim {
    ArgoCdSim::start(ArgoCdOptions::new("qa", TOKEN))
        .await
        .unwrap()
}

/// The fixtures' scenario: `billing-qa` in project `payments`, chart `billing`.
fn billing(kind: AppKind, version: &str) -> SimApp {
    SimApp::new("billing-qa", "payments", "billing", version).kind(kind)
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

fn nodes<'a>(tree: &'a Value, kind: &str) -> Vec<&'a Value> {
    tree["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["kind"] == kind)
        .collect()
}

/// How many pods of the tree run the app's image at `version`.
fn pods_at(tree: &Value, version: &str) -> usize {
    let image = format!("registry.example.com/acme/billing:{version}");
    nodes(tree, "Pod")
        .iter()
        .filter(|p| strings(&p["images"]).contains(&image))
        .count()
}

fn resource<'a>(app: &'a Value, kind: &str) -> &'a Value {
    app["status"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in status.resources"))
}

fn history_revisions(app: &Value) -> Vec<String> {
    app["status"]["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["revision"].as_str().unwrap().to_owned())
        .collect()
}

fn names(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap().to_owned())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Shapes: key paths and JSON types.

/// Every key path of a JSON value with the JSON types found there; array elements share the
/// path `…[]`, so an array is described by the union of its elements' shapes.
type Shape = BTreeMap<String, BTreeSet<&'static str>>;

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn walk(v: &Value, path: &str, out: &mut Shape) {
    out.entry(path.to_owned()).or_default().insert(type_name(v));
    match v {
        Value::Object(m) => {
            for (k, c) in m {
                walk(c, &format!("{path}.{k}"), out);
            }
        }
        Value::Array(a) => {
            let element = format!("{path}[]");
            for c in a {
                walk(c, &element, out);
            }
        }
        _ => {}
    }
}

fn shape(v: &Value) -> Shape {
    let mut out = Shape::new();
    walk(v, "$", &mut out);
    out
}

/// Differences between the shapes of `fixture` and `actual`; paths below one of `optional`
/// may be absent from either side (but must have the same types where both have them).
fn shape_diff(fixture: &Value, actual: &Value, optional: &[&str]) -> Vec<String> {
    let expected = shape(fixture);
    let got = shape(actual);
    let is_optional = |p: &str| {
        optional
            .iter()
            .any(|o| p == *o || p.strip_prefix(o).is_some_and(|r| r.starts_with(['.', '['])))
    };
    let mut out = Vec::new();
    for (path, types) in &expected {
        match got.get(path) {
            None if is_optional(path) => {}
            None => out.push(format!("missing {path} ({types:?})")),
            Some(t) if t != types => out.push(format!("{path}: {t:?} where Argo CD has {types:?}")),
            Some(_) => {}
        }
    }
    for (path, types) in &got {
        if !expected.contains_key(path) && !is_optional(path) {
            out.push(format!("extra {path} ({types:?})"));
        }
    }
    out
}

fn assert_shape(name: &str, actual: &Value, optional: &[&str]) {
    let diff = shape_diff(&fixture(name), actual, optional);
    assert!(
        diff.is_empty(),
        "the answer differs from {name}:\n{}",
        diff.join("\n")
    );
}

#[test]
fn the_shape_comparison_sees_missing_extra_and_retyped_keys() {
    let f = serde_json::json!({"a": [{"b": 1}, {"c": "x"}], "d": {"e": true}});
    assert!(shape_diff(&f, &f, &[]).is_empty());
    let same = serde_json::json!({"a": [{"c": "y", "b": 2}], "d": {"e": false}});
    assert!(shape_diff(&f, &same, &[]).is_empty());
    let other = serde_json::json!({"a": [{"b": "1"}], "d": {"e": true, "f": null}});
    let diff = shape_diff(&f, &other, &[]);
    assert_eq!(diff.len(), 3, "{diff:?}");
    assert!(diff.iter().any(|d| d.starts_with("missing $.a[].c")));
    assert!(diff.iter().any(|d| d.starts_with("$.a[].b:")));
    assert!(diff.iter().any(|d| d.starts_with("extra $.d.f")));
    assert!(
        shape_diff(
            &f,
            &serde_json::json!({"a": [], "d": {"e": true}}),
            &["$.a"]
        )
        .is_empty()
    );
    // Without its elements, an array has none of their paths.
    assert_eq!(
        shape_diff(
            &f,
            &serde_json::json!({"a": [], "d": {"e": true}}),
            &["$.a[].b"]
        ),
        [
            "missing $.a[] ({\"object\"})",
            "missing $.a[].c ({\"string\"})"
        ]
    );
}

#[tokio::test]
async fn each_kind_of_app_has_the_shape_of_its_example() {
    let sim = qa().await;
    for (kind, file) in [
        (AppKind::HelmRepo, "application-helm-chart.json"),
        (AppKind::MultiSource, "application-multi-source.json"),
        (AppKind::GitPath, "application-git-path.json"),
    ] {
        sim.add_app(billing(kind, "1.1.940"));
        let a = app(&sim, "billing-qa").await;
        assert_shape(file, &a, &[MANAGED_FIELDS]);
        assert_eq!(a["status"]["sync"]["status"], "Synced", "{file}");
        assert_eq!(a["status"]["health"]["status"], "Healthy", "{file}");
        sim.remove_app("billing-qa");
    }
}

#[tokio::test]
async fn a_sync_in_flight_and_a_failed_one_have_the_shapes_of_their_examples() {
    let sim = qa().await;
    sim.add_app(billing(AppKind::HelmRepo, "1.1.939"));
    sim.set_target("billing-qa", "1.1.940");
    sim.start_sync("billing-qa");
    let a = app(&sim, "billing-qa").await;
    assert_shape("application-progressing.json", &a, &[MANAGED_FIELDS]);
    assert_eq!(a["status"]["operationState"]["phase"], "Running");

    sim.degrade(
        "billing-qa",
        "Deployment \"billing\" exceeded its progress deadline",
    );
    let a = app(&sim, "billing-qa").await;
    assert_shape("application-degraded.json", &a, &[MANAGED_FIELDS]);
    assert_eq!(a["status"]["health"]["status"], "Degraded");

    sim.add_app(billing(AppKind::HelmRepo, "1.1.940"));
    sim.set_unpublished("billing-qa", "1.1.941");
    let a = app(&sim, "billing-qa").await;
    assert_shape("application-comparison-error.json", &a, &[MANAGED_FIELDS]);
    assert_eq!(a["status"]["sync"]["status"], "Unknown");
}

#[tokio::test]
async fn the_list_has_the_shape_of_its_example() {
    let sim = qa().await;
    sim.add_app(billing(AppKind::HelmRepo, "1.1.940"));
    let list = api_json(&sim, "/api/v1/applications?name=billing-qa").await;
    assert_shape("application-list.json", &list, &[]);
}

#[tokio::test]
async fn trees_and_the_live_deployment_have_the_shapes_of_their_examples() {
    let sim = qa().await;
    sim.add_app(billing(AppKind::HelmRepo, "1.1.940"));
    let t = tree(&sim, "billing-qa").await;
    assert_shape("resource-tree.json", &t, &[]);

    let r = api_json(
        &sim,
        &format!("/api/v1/applications/billing-qa/resource?{DEPLOYMENT_QUERY}"),
    )
    .await;
    assert_shape("resource-deployment.json", &r, &[]);
    let manifest: Value = serde_json::from_str(r["manifest"].as_str().unwrap()).unwrap();
    let example: Value = serde_json::from_str(
        fixture("resource-deployment.json")["manifest"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let diff = shape_diff(&example, &manifest, &[]);
    assert!(
        diff.is_empty(),
        "the live Deployment differs from resource-deployment.json's manifest:\n{}",
        diff.join("\n")
    );

    // Mid-rollout: old and new ReplicaSets with their pods. The example's workload is an Argo
    // Rollout and it carries no `hosts`; the nodes must still have the same keys.
    sim.add_app(billing(AppKind::HelmRepo, "1.1.939"));
    sim.set_target("billing-qa", "1.1.940");
    sim.start_sync("billing-qa");
    let t = tree(&sim, "billing-qa").await;
    let nodes_only = serde_json::json!({ "nodes": t["nodes"].clone() });
    assert_shape(
        "resource-tree-rollout.json",
        &nodes_only,
        &[ROLLOUT_POD_LABEL, DEPLOYMENT_POD_LABEL],
    );
    let hosts_only = serde_json::json!({ "hosts": t["hosts"].clone() });
    let example_hosts =
        serde_json::json!({ "hosts": fixture("resource-tree.json")["hosts"].clone() });
    assert!(shape_diff(&example_hosts, &hosts_only, &[]).is_empty());
}

#[tokio::test]
async fn error_bodies_are_argo_cds() {
    let sim = qa().await;
    sim.add_app(billing(AppKind::HelmRepo, "1.1.940"));
    let url = format!("{}/api/v1/applications/billing-qa", sim.url());

    let a = fetch(&url, &[]).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_shape("error-unauthenticated.json", &a.json(), &[]);
    assert_eq!(a.json(), fixture("error-unauthenticated.json"));

    let a = fetch(&url, &[("authorization", "Bearer aaa.bbb.ccc")]).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(a.json(), fixture("error-invalid-session.json"));

    sim.remove_app("billing-qa");
    let a = api(&sim, "/api/v1/applications/billing-qa").await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_shape("error-permission-denied.json", &a.json(), &[]);
    assert_eq!(a.json(), fixture("error-permission-denied.json"));

    let a = api(&sim, "/api/v1/applications/billing-qa?project=payments").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_shape("error-not-found.json", &a.json(), &[]);
    assert_eq!(a.json(), fixture("error-not-found.json"));

    sim.add_app(billing(AppKind::HelmRepo, "1.1.940"));
    let a = api(
        &sim,
        "/api/v1/applications/billing-qa/resource?namespace=default&resourceName=billing&group=apps&version=v1&kind=Deployment",
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.json(), fixture("error-resource-not-in-app.json"));
}

// ---------------------------------------------------------------------------------------------
// Sync, rollout and health.

#[tokio::test]
async fn a_sync_moves_from_out_of_sync_through_a_rollout_to_synced() {
    let sim = qa().await;
    sim.add_app(billing(AppKind::HelmRepo, "1.1.939"));
    let a = app(&sim, "billing-qa").await;
    assert_eq!(a["spec"]["source"]["targetRevision"], "1.1.939");
    assert_eq!(a["status"]["sync"]["status"], "Synced");
    assert_eq!(a["status"]["health"]["status"], "Healthy");
    assert!(a.get("operation").is_none());
    let before = history_revisions(&a);
    assert_eq!(before.last().map(String::as_str), Some("1.1.939"));
    assert_eq!(
        strings(&a["status"]["summary"]["images"]),
        [SIDECAR, "registry.example.com/acme/billing:1.1.939"]
    );

    // A new desired version: only the spec and the comparison move.
    sim.set_target("billing-qa", "1.1.940");
    let a = app(&sim, "billing-qa").await;
    assert_eq!(a["spec"]["source"]["targetRevision"], "1.1.940");
    assert_eq!(a["status"]["sync"]["status"], "OutOfSync");
    assert_eq!(a["status"]["sync"]["revision"], "1.1.940");
    assert_eq!(a["status"]["health"]["status"], "Healthy");
    assert_eq!(history_revisions(&a), before);
    assert_eq!(
        strings(&a["status"]["summary"]["images"]),
        [SIDECAR, "registry.example.com/acme/billing:1.1.939"]
    );
    let s = sim.app_state("billing-qa").unwrap();
    assert_eq!(
        (s.target.as_str(), s.running.as_str(), s.sync.as_str()),
        ("1.1.940", "1.1.939", "OutOfSync")
    );

    // The sync starts: one new pod beside the old ones.
    sim.start_sync("billing-qa");
    let a = app(&sim, "billing-qa").await;
    assert_eq!(a["operation"]["sync"]["revision"], "1.1.940");
    assert_eq!(a["status"]["operationState"]["phase"], "Running");
    assert!(a["status"]["operationState"].get("finishedAt").is_none());
    assert_eq!(a["status"]["health"]["status"], "Progressing");
    let dep = resource(&a, "Deployment");
    assert_eq!(dep["health"]["status"], "Progressing");
    assert_eq!(
        dep["health"]["message"],
        "Waiting for rollout to finish: 1 out of 3 new replicas have been updated..."
    );
    assert_eq!(
        strings(&a["status"]["summary"]["images"]),
        [
            SIDECAR,
            "registry.example.com/acme/billing:1.1.939",
            "registry.example.com/acme/billing:1.1.940"
        ]
    );
    let t = tree(&sim, "billing-qa").await;
    assert_eq!(nodes(&t, "ReplicaSet").len(), 2);
    assert_eq!((pods_at(&t, "1.1.939"), pods_at(&t, "1.1.940")), (2, 1));
    let workload = nodes(&t, "Deployment")[0];
    assert_eq!(workload["health"]["status"], "Progressing");
    for node in t["nodes"].as_array().unwrap() {
        let text = node.to_string();
        assert!(
            !text.contains("eplicas\""),
            "tree nodes carry no replica counts: {text}"
        );
    }
    let d = live_deployment(&sim, "billing-qa").await;
    assert_eq!(d["spec"]["replicas"], 3);
    assert_eq!(d["status"]["updatedReplicas"], 1);
    assert_eq!(d["status"]["readyReplicas"], 2);
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.example.com/acme/billing:1.1.940"
    );
    assert!(sim.app_state("billing-qa").unwrap().operation_in_flight);

    sim.progress("billing-qa", 2);
    let t = tree(&sim, "billing-qa").await;
    assert_eq!((pods_at(&t, "1.1.939"), pods_at(&t, "1.1.940")), (1, 2));
    let d = live_deployment(&sim, "billing-qa").await;
    assert_eq!(d["status"]["updatedReplicas"], 2);
    let s = sim.app_state("billing-qa").unwrap();
    assert_eq!((s.updated, s.replicas), (2, 3));
    assert_eq!(s.rolling_to.as_deref(), Some("1.1.940"));

    sim.finish_sync("billing-qa");
    let a = app(&sim, "billing-qa").await;
    assert!(a.get("operation").is_none());
    assert_eq!(a["status"]["operationState"]["phase"], "Succeeded");
    assert!(a["status"]["operationState"]["finishedAt"].is_string());
    assert_eq!(a["status"]["sync"]["status"], "Synced");
    assert_eq!(a["status"]["health"]["status"], "Healthy");
    let after = history_revisions(&a);
    assert_eq!(after.len(), before.len() + 1);
    assert_eq!(after[..before.len()], before[..]);
    assert_eq!(after.last().map(String::as_str), Some("1.1.940"));
    assert_eq!(
        strings(&a["status"]["summary"]["images"]),
        [SIDECAR, "registry.example.com/acme/billing:1.1.940"]
    );
    let t = tree(&sim, "billing-qa").await;
    assert_eq!((pods_at(&t, "1.1.939"), pods_at(&t, "1.1.940")), (0, 3));
    let d = live_deployment(&sim, "billing-qa").await;
    assert_eq!(d["status"]["updatedReplicas"], 3);
    assert_eq!(d["status"]["readyReplicas"], 3);
    let s = sim.app_state("billing-qa").unwrap();
    assert_eq!(s.running, "1.1.940");
    assert_eq!(s.rolling_to, None);
    assert_eq!(s.history.last().map(String::as_str), Some("1.1.940"));
}

#[tokio::test]
async fn multi_source_and_git_path_apps_report_their_revisions() {
    let sim = qa().await;
    sim.add_app(billing(AppKind::MultiSource, "1.1.939"));
    sim.add_app(SimApp::new("ledger-qa", "payments", "ledger", "2.0.3").kind(AppKind::GitPath));

    sim.set_target("billing-qa", "1.1.940");
    let a = app(&sim, "billing-qa").await;
    assert_eq!(a["spec"]["sources"][0]["targetRevision"], "1.1.940");
    assert_eq!(a["spec"]["sources"][1]["ref"], "values");
    assert_eq!(
        strings(&a["status"]["sync"]["revisions"]),
        ["1.1.940".to_owned(), values_revision("1.1.940")]
    );
    assert_eq!(a["status"]["sync"]["status"], "OutOfSync");

    sim.set_target("ledger-qa", "2.0.4");
    let a = app(&sim, "ledger-qa").await;
    assert_eq!(a["spec"]["source"]["targetRevision"], "master");
    let tag = a["spec"]["source"]["helm"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "image.tag")
        .unwrap()["value"]
        .clone();
    assert_eq!(tag, "2.0.4");
    assert_eq!(a["status"]["sync"]["revision"], git_revision("2.0.4"));
    assert_eq!(a["status"]["sync"]["status"], "OutOfSync");
    sim.finish_sync("ledger-qa");
    let a = app(&sim, "ledger-qa").await;
    assert_eq!(a["status"]["sync"]["status"], "Synced");
    assert_eq!(
        history_revisions(&a).last().cloned(),
        Some(git_revision("2.0.4"))
    );
    assert_eq!(
        strings(&a["status"]["summary"]["images"]),
        [SIDECAR, "registry.example.com/acme/ledger:2.0.4"]
    );
}

#[tokio::test]
async fn a_degraded_rollout_names_the_deployment_and_fails_the_operation() {
    let sim = qa().await;
    sim.add_app(billing(AppKind::HelmRepo, "1.1.939"));
    sim.set_target("billing-qa", "1.1.940");
    sim.start_sync("billing-qa");
    let before = history_revisions(&app(&sim, "billing-qa").await);
    let message = "Deployment \"billing\" exceeded its progress deadline";
    sim.degrade("billing-qa", message);

    let a = app(&sim, "billing-qa").await;
    assert_eq!(a["status"]["health"]["status"], "Degraded");
    assert_eq!(
        a["status"]["health"]["message"],
        "apps/Deployment:billing/billing"
    );
    let dep = resource(&a, "Deployment");
    assert_eq!(dep["health"]["status"], "Degraded");
    assert_eq!(dep["health"]["message"], message);
    assert_eq!(a["status"]["operationState"]["phase"], "Failed");
    assert!(a.get("operation").is_none());
    let conditions = a["status"]["conditions"].as_array().unwrap();
    assert_eq!(conditions.len(), 1);
    assert_eq!(conditions[0]["type"], "SyncError");
    assert!(
        conditions[0]["message"]
            .as_str()
            .unwrap()
            .contains("1.1.940")
    );
    assert_eq!(history_revisions(&a), before);
    let t = tree(&sim, "billing-qa").await;
    let crashing: Vec<_> = nodes(&t, "Pod")
        .into_iter()
        .filter(|p| p["health"]["status"] == "Degraded")
        .collect();
    assert_eq!(crashing.len(), 1);
    assert!(
        strings(&crashing[0]["images"])
            .contains(&"registry.example.com/acme/billing:1.1.940".to_owned())
    );
    let s = sim.app_state("billing-qa").unwrap();
    assert_eq!(s.health, "Degraded");
    assert_eq!(s.health_message.as_deref(), Some(message));
    assert_eq!(s.phase, "Failed");

    // The next sync clears it.
    sim.finish_sync("billing-qa");
    let a = app(&sim, "billing-qa").await;
    assert_eq!(a["status"]["health"]["status"], "Healthy");
    assert!(a["status"].get("conditions").is_none());
}

#[tokio::test]
async fn a_paused_deployment_is_suspended_until_resumed() {
    let sim = qa().await;
    sim.add_app(billing(AppKind::HelmRepo, "1.1.940"));
    sim.suspend("billing-qa");
    let a = app(&sim, "billing-qa").await;
    assert_eq!(a["status"]["health"]["status"], "Suspended");
    let dep = resource(&a, "Deployment");
    assert_eq!(dep["health"]["status"], "Suspended");
    assert_eq!(dep["health"]["message"], "Deployment is paused");
    assert_eq!(
        live_deployment(&sim, "billing-qa").await["spec"]["paused"],
        true
    );
    assert_eq!(sim.app_state("billing-qa").unwrap().health, "Suspended");

    sim.resume("billing-qa");
    let a = app(&sim, "billing-qa").await;
    assert_eq!(a["status"]["health"]["status"], "Healthy");
    assert!(
        live_deployment(&sim, "billing-qa").await["spec"]
            .get("paused")
            .is_none()
    );
}

#[tokio::test]
async fn a_rollout_moves_to_the_new_version_by_itself() {
    let sim = qa().await;
    sim.add_app(billing(AppKind::HelmRepo, "1.1.939"));
    let handle = sim.roll_out("billing-qa", "1.1.940", Duration::from_millis(3));
    tokio::time::timeout(Duration::from_secs(10), handle)
        .await
        .unwrap()
        .unwrap();
    let a = app(&sim, "billing-qa").await;
    assert_eq!(a["spec"]["source"]["targetRevision"], "1.1.940");
    assert_eq!(a["status"]["sync"]["status"], "Synced");
    assert_eq!(a["status"]["health"]["status"], "Healthy");
    assert_eq!(
        history_revisions(&a).last().map(String::as_str),
        Some("1.1.940")
    );
    assert_eq!(pods_at(&tree(&sim, "billing-qa").await, "1.1.940"), 3);

    // Polled while it runs, it is seen out of sync or progressing and then done.
    let handle = sim.roll_out("billing-qa", "1.1.941", Duration::from_millis(20));
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = BTreeSet::new();
    loop {
        let a = app(&sim, "billing-qa").await;
        let sync = a["status"]["sync"]["status"].as_str().unwrap().to_owned();
        let health = a["status"]["health"]["status"].as_str().unwrap().to_owned();
        let done = history_revisions(&a).last().map(String::as_str) == Some("1.1.941");
        seen.insert(format!("{sync}/{health}"));
        if done {
            assert_eq!((sync.as_str(), health.as_str()), ("Synced", "Healthy"));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the rollout did not finish: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert!(seen.len() > 1, "{seen:?}");
    handle.await.unwrap();

    // A removed app stops it early.
    let handle = sim.roll_out("billing-qa", "1.1.942", Duration::from_millis(20));
    sim.remove_app("billing-qa");
    tokio::time::timeout(Duration::from_secs(10), handle)
        .await
        .unwrap()
        .unwrap();
    assert!(sim.app_state("billing-qa").is_none());
}

// ---------------------------------------------------------------------------------------------
// Argo CD's rules for what a token may see.

#[tokio::test]
async fn a_missing_app_is_forbidden_without_a_project_and_not_found_with_one() {
    let sim = qa().await;
    sim.add_app(billing(AppKind::HelmRepo, "1.1.940"));
    assert_eq!(
        api(&sim, "/api/v1/applications/billing-qa?project=payments")
            .await
            .status,
        StatusCode::OK
    );
    // Another project than the app's: not found.
    let a = api(&sim, "/api/v1/applications/billing-qa?project=other").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(a.json()["code"], 5);

    sim.remove_app("billing-qa");
    assert!(sim.apps().is_empty());
    for path in [
        "/api/v1/applications/billing-qa",
        "/api/v1/applications/billing-qa/resource-tree",
        &format!("/api/v1/applications/billing-qa/resource?{DEPLOYMENT_QUERY}"),
    ] {
        let a = api(&sim, path).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{path}");
        assert_eq!(a.json()["code"], 7, "{path}");
    }
    for path in [
        "/api/v1/applications/billing-qa?project=payments",
        "/api/v1/applications/billing-qa?projects=payments",
        "/api/v1/applications/billing-qa/resource-tree?project=payments",
    ] {
        let a = api(&sim, path).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(a.json()["code"], 5, "{path}");
    }
    let list = api_json(&sim, "/api/v1/applications").await;
    assert!(names(&list).is_empty());
}

#[tokio::test]
async fn a_forbidden_app_is_403_and_left_out_of_the_list() {
    let sim = qa().await;
    sim.add_app(billing(AppKind::HelmRepo, "1.1.940"));
    sim.add_app(SimApp::new("ledger-qa", "payments", "ledger", "2.0.3"));
    sim.forbid_app("billing-qa", true);
    assert!(sim.app_state("billing-qa").unwrap().forbidden);
    for path in [
        "/api/v1/applications/billing-qa",
        "/api/v1/applications/billing-qa?project=payments",
        "/api/v1/applications/billing-qa/resource-tree",
        &format!("/api/v1/applications/billing-qa/resource?{DEPLOYMENT_QUERY}"),
    ] {
        let a = api(&sim, path).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{path}");
        assert_eq!(a.json(), fixture("error-permission-denied.json"));
    }
    let list = api_json(&sim, "/api/v1/applications").await;
    assert_eq!(names(&list), ["ledger-qa"]);
    let list = api_json(&sim, "/api/v1/applications?name=billing-qa").await;
    assert!(names(&list).is_empty());

    sim.forbid_app("billing-qa", false);
    app(&sim, "billing-qa").await;
    let list = api_json(&sim, "/api/v1/applications").await;
    assert_eq!(names(&list), ["billing-qa", "ledger-qa"]);
}

#[tokio::test]
async fn the_list_filters_by_name_selector_project_repo_and_namespace() {
    let sim = qa().await;
    sim.add_app(billing(AppKind::HelmRepo, "1.1.940"));
    sim.add_app(
        SimApp::new("ledger-qa", "ledger", "ledger", "2.0.3")
            .kind(AppKind::GitPath)
            .label("tier", "backend"),
    );
    sim.add_app(SimApp::new("audit-qa", "payments", "audit", "0.4.1").namespace("team-a"));

    let all = api_json(&sim, "/api/v1/applications").await;
    assert_eq!(names(&all), ["audit-qa", "billing-qa", "ledger-qa"]);
    // The list carries no per-resource health.
    for item in all["items"].as_array().unwrap() {
        for r in item["status"]["resources"].as_array().unwrap() {
            assert!(r.get("health").is_none(), "{r}");
        }
    }
    let cases: &[(&str, &[&str])] = &[
        ("name=billing-qa", &["billing-qa"]),
        ("name=nope", &[]),
        (
            "selector=env%3Dqa",
            &["audit-qa", "billing-qa", "ledger-qa"],
        ),
        ("selector=env%3Duat", &[]),
        ("selector=env%3Dqa%2Crepo%3Dledger", &["ledger-qa"]),
        ("selector=tier", &["ledger-qa"]),
        ("selector=team+in+(payments)", &["audit-qa", "billing-qa"]),
        ("projects=payments", &["audit-qa", "billing-qa"]),
        (
            "projects=payments&projects=ledger",
            &["audit-qa", "billing-qa", "ledger-qa"],
        ),
        ("project=ledger", &["ledger-qa"]),
        (
            "repo=https%3A%2F%2Fgithub.com%2Facme%2Fdeployments.git",
            &["ledger-qa"],
        ),
        ("appNamespace=team-a", &["audit-qa"]),
        ("name=billing-qa&projects=ledger", &[]),
    ];
    for (query, expected) in cases {
        let list = api_json(&sim, &format!("/api/v1/applications?{query}")).await;
        assert_eq!(names(&list), *expected, "{query}");
    }
    let a = api(&sim, "/api/v1/applications?selector=env%3D%3D%3D").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.json()["code"], 3);
}

#[tokio::test]
async fn apps_outside_the_argocd_namespace_need_app_namespace() {
    let sim = qa().await;
    sim.add_app(billing(AppKind::HelmRepo, "1.1.940").namespace("team-a"));
    let a = api(&sim, "/api/v1/applications/billing-qa").await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let a = api(&sim, "/api/v1/applications/billing-qa?project=payments").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    let a = api(&sim, "/api/v1/applications/billing-qa?appNamespace=argocd").await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);

    let a = app(&sim, "billing-qa?appNamespace=team-a").await;
    assert_eq!(a["metadata"]["namespace"], "team-a");
    let t = api_json(
        &sim,
        "/api/v1/applications/billing-qa/resource-tree?appNamespace=team-a",
    )
    .await;
    assert_eq!(nodes(&t, "Deployment").len(), 1);
    let r = api(
        &sim,
        &format!("/api/v1/applications/billing-qa/resource?appNamespace=team-a&{DEPLOYMENT_QUERY}"),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
}

// ---------------------------------------------------------------------------------------------
// Authentication and Cloudflare Access.

#[tokio::test]
async fn a_missing_or_wrong_token_is_401_code_16() {
    let sim = qa().await;
    sim.add_app(billing(AppKind::HelmRepo, "1.1.940"));
    let url = format!("{}/api/v1/applications", sim.url());
    let unauthenticated = fixture("error-unauthenticated.json");
    let invalid = fixture("error-invalid-session.json");
    let cases: &[(&[(&str, &str)], &Value)] = &[
        (&[], &unauthenticated),
        (&[("authorization", "Bearer")], &unauthenticated),
        (&[("authorization", "Bearer not-a-jwt")], &unauthenticated),
        (
            &[("authorization", "Basic YWRtaW46YWRtaW4=")],
            &unauthenticated,
        ),
        (&[("authorization", "Bearer aaa.bbb.ccc")], &invalid),
        (&[("cookie", "argocd.token=aaa.bbb.ccc")], &invalid),
    ];
    for (headers, body) in cases {
        let a = fetch(&url, headers).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{headers:?}");
        assert_eq!(a.json(), **body, "{headers:?}");
        assert_eq!(a.json()["code"], 16);
    }
    // Authentication comes before the app's existence.
    let a = fetch(&format!("{url}/nope"), &[]).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);

    let cookie = format!("other=1; argocd.token={TOKEN}");
    let a = fetch(&url, &[("cookie", cookie.as_str())]).await;
    assert_eq!(a.status, StatusCode::OK);
    let bearer = format!("bearer {TOKEN}");
    let a = fetch(&url, &[("authorization", bearer.as_str())]).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(sim.requests().rejected, 7);
}

async fn behind_cloudflare(rejection: Rejection) -> ArgoCdSim {
    let access = CloudflareAccess::new(CF_ID, CF_SECRET).rejection(rejection);
    let sim = ArgoCdSim::start(ArgoCdOptions::new("qa", TOKEN).cloudflare(access))
        .await
        .unwrap();
    sim.add_app(billing(AppKind::HelmRepo, "1.1.940"));
    sim
}

fn with_service_token<'a>(bearer: &'a str, secret: &'a str) -> [(&'a str, &'a str); 3] {
    [
        ("authorization", bearer),
        ("cf-access-client-id", CF_ID),
        ("cf-access-client-secret", secret),
    ]
}

#[tokio::test]
async fn cloudflare_access_redirects_requests_without_the_service_token() {
    let sim = behind_cloudflare(Rejection::Redirect).await;
    assert_eq!(
        sim.options().cloudflare.as_ref().unwrap().rejection,
        Rejection::Redirect
    );
    let path = "/api/v1/applications/billing-qa";
    let url = format!("{}{path}", sim.url());
    let bearer = format!("Bearer {TOKEN}");

    for headers in [
        vec![("authorization", bearer.as_str())],
        with_service_token(&bearer, "wrong").to_vec(),
        vec![
            ("authorization", bearer.as_str()),
            ("cf-access-client-secret", CF_SECRET),
        ],
    ] {
        let a = fetch(&url, &headers).await;
        assert_eq!(a.status, StatusCode::FOUND, "{headers:?}");
        let location = url::Url::parse(a.header("location")).unwrap();
        assert_eq!(location.scheme(), "https");
        assert!(
            location
                .host_str()
                .unwrap()
                .ends_with(".cloudflareaccess.com"),
            "{location}"
        );
        assert!(location.path().starts_with("/cdn-cgi/access/login/"));
        let redirect = location
            .query_pairs()
            .find(|(k, _)| k == "redirect_url")
            .map(|(_, v)| v.into_owned());
        assert_eq!(redirect.as_deref(), Some(path));
        assert!(a.header("set-cookie").starts_with("CF_AppSession="));
        assert_eq!(a.header("server"), "cloudflare");
        assert!(!a.header("cf-ray").is_empty());
        assert!(a.body.is_empty());
    }
    assert_eq!(sim.requests().cloudflare_rejected, 3);
    assert_eq!(sim.requests().get, 0);

    // The service token passes; Argo CD then judges the bearer token.
    let a = fetch(&url, &with_service_token(&bearer, CF_SECRET)).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json()["metadata"]["name"], "billing-qa");
    assert_eq!(a.header("server"), "cloudflare");
    assert!(!a.header("cf-ray").is_empty());
    let a = fetch(&url, &with_service_token("Bearer aaa.bbb.ccc", CF_SECRET)).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(a.json()["code"], 16);

    // A revoked service token.
    sim.set_cloudflare_rejects(true);
    let a = fetch(&url, &with_service_token(&bearer, CF_SECRET)).await;
    assert_eq!(a.status, StatusCode::FOUND);
    sim.set_cloudflare_rejects(false);
    let a = fetch(&url, &with_service_token(&bearer, CF_SECRET)).await;
    assert_eq!(a.status, StatusCode::OK);

    let counts = sim.requests();
    assert_eq!(counts.cloudflare_rejected, 4);
    assert_eq!(counts.rejected, 5);
    assert_eq!(counts.get, 2);
}

#[tokio::test]
async fn cloudflare_access_with_service_auth_only_answers_a_403_page() {
    let sim = behind_cloudflare(Rejection::Html403).await;
    let url = format!("{}/api/v1/applications", sim.url());
    let bearer = format!("Bearer {TOKEN}");
    let a = fetch(&url, &[("authorization", bearer.as_str())]).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert!(a.header("content-type").starts_with("text/html"));
    assert!(a.body.contains("Cloudflare Access"), "{}", a.body);
    let ray = a.header("cf-ray");
    let ray_id = ray.split_once('-').unwrap().0;
    assert!(a.body.contains(&format!("Ray ID: {ray_id}")), "{}", a.body);
    assert!(serde_json::from_str::<Value>(&a.body).is_err());

    let a = fetch(&url, &with_service_token(&bearer, CF_SECRET)).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(names(&a.json()), ["billing-qa"]);
}

// ---------------------------------------------------------------------------------------------
// The path prefix, outages, faults and counts.

#[tokio::test]
async fn a_path_prefix_holds_every_route() {
    let sim = ArgoCdSim::start(ArgoCdOptions::new("qa", TOKEN).path_prefix("argocd/"))
        .await
        .unwrap();
    sim.add_app(billing(AppKind::HelmRepo, "1.1.940"));
    assert_eq!(sim.options().path_prefix, "/argocd");
    assert_eq!(sim.url(), format!("{}/argocd", sim.origin()));
    assert_eq!(sim.url(), format!("http://{}/argocd", sim.addr()));

    assert_eq!(
        names(&api_json(&sim, "/api/v1/applications").await),
        ["billing-qa"]
    );
    app(&sim, "billing-qa").await;
    tree(&sim, "billing-qa").await;
    live_deployment(&sim, "billing-qa").await;

    let bearer = format!("Bearer {TOKEN}");
    for path in [
        "/api/v1/applications".to_owned(),
        "/argocd/api/v2/applications".to_owned(),
        "/argocd".to_owned(),
        "/argocd/api/v1/applications/billing-qa/events".to_owned(),
    ] {
        let a = fetch(
            &format!("{}{path}", sim.origin()),
            &[("authorization", bearer.as_str())],
        )
        .await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{path}");
        assert!(a.header("content-type").starts_with("text/plain"), "{path}");
        assert_eq!(a.body, "Not Found\n", "{path}");
    }
    assert_eq!(sim.requests().other, 4);
    let resp = client()
        .post(format!("{}/api/v1/applications", sim.url()))
        .header("authorization", bearer.as_str())
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_client_error());
}

#[tokio::test]
async fn while_down_every_request_is_503_from_the_load_balancer() {
    let sim = qa().await;
    sim.add_app(billing(AppKind::HelmRepo, "1.1.940"));
    sim.set_down(true);
    for path in ["/api/v1/applications", "/api/v1/applications/billing-qa"] {
        let a = api(&sim, path).await;
        assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE, "{path}");
        assert!(a.header("content-type").starts_with("text/plain"));
    }
    let a = fetch(&format!("{}/api/v1/applications", sim.url()), &[]).await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(sim.requests().faulted, 3);
    sim.set_down(false);
    app(&sim, "billing-qa").await;
}

#[tokio::test]
async fn injected_faults_answer_in_order_and_then_stop() {
    let sim = qa().await;
    sim.add_app(billing(AppKind::HelmRepo, "1.1.940"));
    let path = "/api/v1/applications/billing-qa";

    sim.set_fault(Fault::Internal, 2);
    for _ in 0..2 {
        let a = api(&sim, path).await;
        assert_eq!(a.status, StatusCode::INTERNAL_SERVER_ERROR);
        let body = a.json();
        assert_eq!(body["code"], 13);
        assert!(body["error"].is_string() && body["message"].is_string());
        assert_shape("error-permission-denied.json", &body, &[]);
    }
    assert_eq!(api(&sim, path).await.status, StatusCode::OK);

    sim.push_faults([Fault::Unavailable, Fault::Internal]);
    let a = api(&sim, path).await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(a.header("content-type").starts_with("text/plain"));
    assert_eq!(
        api(&sim, path).await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(api(&sim, path).await.status, StatusCode::OK);

    sim.set_fault(Fault::Reset, 1);
    let bearer = format!("Bearer {TOKEN}");
    let reset = async {
        let resp = client()
            .get(format!("{}{path}", sim.url()))
            .header("authorization", bearer.as_str())
            .send()
            .await?;
        resp.bytes().await
    }
    .await;
    assert!(reset.is_err(), "a reset connection answered {reset:?}");
    assert_eq!(api(&sim, path).await.status, StatusCode::OK);

    sim.set_fault(Fault::Delay(Duration::from_millis(150)), 1);
    let started = Instant::now();
    assert_eq!(api(&sim, path).await.status, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(150));

    sim.set_fault(Fault::Internal, 5);
    sim.clear_faults();
    assert_eq!(api(&sim, path).await.status, StatusCode::OK);

    let counts = sim.requests();
    assert_eq!(counts.faulted, 5);
    let log = sim.request_log();
    let reset_entry = log.iter().find(|r| r.status.is_none()).unwrap();
    assert_eq!(reset_entry.path, path);
    assert_eq!(log.iter().filter(|r| r.status.is_none()).count(), 1);
}

#[tokio::test]
async fn requests_are_counted_by_kind_and_logged() {
    let sim = qa().await;
    sim.add_app(billing(AppKind::HelmRepo, "1.1.940"));
    api(&sim, "/api/v1/applications?name=billing-qa").await;
    api(&sim, "/api/v1/applications/billing-qa?refresh=normal").await;
    api(&sim, "/api/v1/applications/missing").await;
    api(&sim, "/api/v1/applications/billing-qa/resource-tree").await;
    api(
        &sim,
        &format!("/api/v1/applications/billing-qa/resource?{DEPLOYMENT_QUERY}"),
    )
    .await;
    api(&sim, "/api/v1/session").await;
    fetch(&format!("{}/api/v1/applications", sim.url()), &[]).await;
    sim.set_fault(Fault::Unavailable, 1);
    api(&sim, "/api/v1/applications").await;

    let counts = sim.requests();
    assert_eq!(
        (
            counts.list,
            counts.get,
            counts.tree,
            counts.resource,
            counts.other,
            counts.rejected,
            counts.cloudflare_rejected,
            counts.faulted,
            counts.refresh
        ),
        (1, 2, 1, 1, 1, 1, 0, 1, 1)
    );
    assert_eq!(counts.total(), 8);
    let log = sim.request_log();
    assert_eq!(log.len(), 8);
    assert!(log.iter().all(|r| r.method == "GET"));
    assert_eq!(log[0].path, "/api/v1/applications?name=billing-qa");
    let statuses: Vec<Option<u16>> = log.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [
            Some(200),
            Some(200),
            Some(403),
            Some(200),
            Some(200),
            Some(404),
            Some(401),
            Some(503)
        ]
    );

    sim.reset_requests();
    assert_eq!(sim.requests(), Default::default());
    assert!(sim.request_log().is_empty());
    sim.shutdown().await;
}
