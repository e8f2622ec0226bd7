//! Every key of GitHub's example answers and webhook deliveries exists at the same place in the
//! simulated ones.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;

use common::*;
use reqwest::StatusCode;
use serde_json::Value;
use shipyard_sim::github::SimGithub;

/// Recorded payloads, kept with the GitHub client (see the README there).
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../github/tests/fixtures/rest");

const WEBHOOK_FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../github/tests/fixtures/webhooks"
);

/// Keys GitHub's schema marks nullable, which the simulation answers with `null`.
const NULLABLE_OBJECTS: &[&str] = &["milestone", "assignee"];

/// Collects keys of `fixture` missing from `actual`, recursing into objects and into the first
/// element of arrays (when both arrays have one).
fn missing_keys(fixture: &Value, actual: &Value, path: &str, out: &mut Vec<String>) {
    match (fixture, actual) {
        (Value::Object(f), Value::Object(a)) => {
            for (k, fv) in f {
                let p = format!("{path}.{k}");
                match a.get(k) {
                    None => out.push(p),
                    Some(Value::Null) if fv.is_object() => {
                        if !NULLABLE_OBJECTS.contains(&k.as_str()) {
                            out.push(format!("{p} (null where GitHub has an object)"));
                        }
                    }
                    Some(av) => missing_keys(fv, av, &p, out),
                }
            }
        }
        (Value::Array(f), Value::Array(a)) => {
            if let (Some(f0), Some(a0)) = (f.first(), a.first()) {
                missing_keys(f0, a0, &format!("{path}[0]"), out);
            }
        }
        (Value::Object(_), other) => out.push(format!("{path} (object expected, got {other})")),
        (Value::Array(_), other) => out.push(format!("{path} (array expected, got {other})")),
        _ => {}
    }
}

fn fixture(name: &str) -> Option<Value> {
    fixture_in(FIXTURES, name)
}

fn fixture_in(dir: &str, name: &str) -> Option<Value> {
    let path = PathBuf::from(dir).join(name);
    let text = std::fs::read_to_string(&path).ok()?;
    Some(serde_json::from_str(&text).unwrap())
}

async fn check(sim: &SimGithub, fixture_name: &str, path: &str) {
    let Some(expected) = fixture(fixture_name) else {
        panic!("fixture {fixture_name} is missing from {FIXTURES}");
    };
    let (status, _, actual) = get(sim, path).await;
    assert_eq!(status, StatusCode::OK, "{path}");
    let mut missing = Vec::new();
    missing_keys(&expected, &actual, "$", &mut missing);
    assert!(
        missing.is_empty(),
        "{path} lacks keys of {fixture_name}:\n{}",
        missing.join("\n")
    );
}

#[tokio::test]
async fn answers_have_the_shapes_of_githubs_examples() {
    let sim = SimGithub::start("acme").await.unwrap();
    sim.add_repo("svc");
    sim.create_branch("svc", "master", "main");
    // Commits by people with GitHub accounts, so `author`/`committer` are objects everywhere.
    sim.commit(
        "svc",
        "master",
        change("chore: base", Some("dev0"), "README.md", 1, 0),
    );
    sim.create_branch("svc", "uat", "master");
    sim.commit(
        "svc",
        "uat",
        change("feat: x", Some("dev1"), "src/x.rs", 5, 1),
    );
    sim.commit(
        "svc",
        "uat",
        change("fix: y", Some("dev2"), "helm/values.yaml", 1, 1),
    );
    sim.open_pr("svc", "uat", "master", "Release svc");

    check(
        &sim,
        "repos.compare-commits-with-basehead.200.default.json",
        "/repos/acme/svc/compare/master...uat",
    )
    .await;
    check(
        &sim,
        "repos.list-for-org.200.default.json",
        "/orgs/acme/repos?type=all",
    )
    .await;
    check(
        &sim,
        "pulls.list.200.default.json",
        "/repos/acme/svc/pulls?state=all",
    )
    .await;
    check(
        &sim,
        "repos.get-branch.200.default.json",
        "/repos/acme/svc/branches/uat",
    )
    .await;
    check(&sim, "rate-limit.get.200.default.json", "/rate_limit").await;

    let master = sim.branch_head("svc", "master").unwrap();
    let run = sim.successful_build("svc", "general.yaml", "master", &master, "1.1.937");
    check(
        &sim,
        "actions.list-workflow-runs.200.default.json",
        "/repos/acme/svc/actions/workflows/general.yaml/runs",
    )
    .await;
    check(
        &sim,
        "actions.get-workflow-run.200.default.json",
        &format!("/repos/acme/svc/actions/runs/{run}"),
    )
    .await;
    check(
        &sim,
        "actions.list-jobs-for-workflow-run.200.default.json",
        &format!("/repos/acme/svc/actions/runs/{run}/jobs"),
    )
    .await;
}

/// Deliveries GitHub makes for an org webhook carry no `installation` (only GitHub Apps get one).
const APP_ONLY: &[&str] = &["$.installation"];

/// Only jobs deploying to an environment carry a `deployment`; simulated jobs have none.
const ENVIRONMENT_ONLY: &[&str] = &["$.deployment"];

/// Whether a missing key is one the simulation leaves out on purpose.
fn skipped(missing: &str) -> bool {
    APP_ONLY
        .iter()
        .chain(ENVIRONMENT_ONLY)
        .any(|p| missing.starts_with(p))
}

#[tokio::test]
async fn deliveries_have_the_shapes_of_githubs_examples() {
    let sim = SimGithub::start("acme").await.unwrap();
    let (url, _inbox) = receiver(None).await;
    sim.set_webhook(&url, "secret");
    sim.add_repo("svc");
    sim.create_branch("svc", "uat", "main");
    sim.commit(
        "svc",
        "uat",
        change("feat: x", Some("dev1"), "src/x.rs", 5, 1),
    );
    let pr = sim.open_pr("svc", "uat", "main", "Release svc");
    let merge = sim.merge_pr("svc", pr);
    sim.successful_build("svc", "general.yaml", "main", &merge, "1.0.0");
    let queued = sim.start_run("svc", "lint.yaml", "main", &merge);
    sim.add_job(queued, "lint", "");
    sim.commit(
        "svc",
        "uat",
        change("feat: y", Some("dev1"), "src/y.rs", 1, 0),
    );
    let pr = sim.open_pr("svc", "uat", "main", "Release svc again");
    sim.close_pr("svc", pr);
    sim.delete_branch("svc", "uat");
    sim.flush_webhooks().await;
    let deliveries = sim.deliveries();
    let find = |event: &str, action: &str| -> Value {
        let d = deliveries
            .iter()
            .find(|d| d.event == event && d.action.as_deref() == Some(action))
            .unwrap_or_else(|| panic!("no {event} {action} delivery"));
        serde_json::from_str(&d.body).unwrap()
    };
    // Job fixtures 0, 1 and 2 come from an org webhook, the others from a GitHub App.
    for (fixture_name, event, action) in [
        ("workflow_run.requested.3.json", "workflow_run", "requested"),
        ("workflow_run.completed.1.json", "workflow_run", "completed"),
        ("workflow_job.queued.5.json", "workflow_job", "queued"),
        ("workflow_job.queued.6.json", "workflow_job", "queued"),
        (
            "workflow_job.in_progress.0.json",
            "workflow_job",
            "in_progress",
        ),
        (
            "workflow_job.in_progress.3.json",
            "workflow_job",
            "in_progress",
        ),
        (
            "workflow_job.in_progress.4.json",
            "workflow_job",
            "in_progress",
        ),
        ("workflow_job.completed.1.json", "workflow_job", "completed"),
        ("workflow_job.completed.2.json", "workflow_job", "completed"),
        (
            "pull_request.closed.unmerged.4.json",
            "pull_request",
            "closed",
        ),
    ] {
        let Some(expected) = fixture_in(WEBHOOK_FIXTURES, fixture_name) else {
            panic!("fixture {fixture_name} is missing from {WEBHOOK_FIXTURES}");
        };
        let actual = find(event, action);
        let mut missing = Vec::new();
        missing_keys(&expected, &actual, "$", &mut missing);
        missing.retain(|m| !skipped(m));
        assert!(
            missing.is_empty(),
            "{event} {action} lacks keys of {fixture_name}:\n{}",
            missing.join("\n")
        );
    }

    let pushes: Vec<Value> = deliveries
        .iter()
        .filter(|d| d.event == "push")
        .map(|d| serde_json::from_str(&d.body).unwrap())
        .collect();
    let with_commits = pushes
        .iter()
        .find(|p| p["commits"].as_array().is_some_and(|c| !c.is_empty()))
        .expect("a push with commits");
    let deleted = pushes
        .iter()
        .find(|p| p["deleted"] == true)
        .expect("a push deleting a branch");
    // 1 and 6 come from an org webhook, 0 and 2 from a repository webhook, the others from a
    // GitHub App (`installation`).
    for (fixture_name, actual) in [
        ("push.event.0.json", with_commits),
        ("push.event.4.json", with_commits),
        ("push.event.5.json", with_commits),
        ("push.event.1.json", deleted),
        ("push.event.2.json", deleted),
        ("push.event.3.json", deleted),
        ("push.event.6.json", deleted),
    ] {
        let Some(expected) = fixture_in(WEBHOOK_FIXTURES, fixture_name) else {
            panic!("fixture {fixture_name} is missing from {WEBHOOK_FIXTURES}");
        };
        let mut missing = Vec::new();
        missing_keys(&expected, actual, "$", &mut missing);
        missing.retain(|m| !skipped(m));
        assert!(
            missing.is_empty(),
            "push lacks keys of {fixture_name}:\n{}",
            missing.join("\n")
        );
        for key in ["created_at", "pushed_at"] {
            assert!(actual["repository"][key].is_u64(), "{fixture_name}: {key}");
        }
        assert!(actual["repository"]["organization"].is_string());
    }
}

#[test]
fn the_checker_notices_missing_keys() {
    let fixture: Value =
        serde_json::json!({"a": {"b": 1, "c": [{"d": 1}]}, "milestone": {"x": 1}, "e": {"f": 1}});
    let actual: Value =
        serde_json::json!({"a": {"b": 2, "c": [{"z": 1}]}, "milestone": null, "e": null});
    let mut missing = Vec::new();
    missing_keys(&fixture, &actual, "$", &mut missing);
    assert_eq!(missing.len(), 2, "{missing:?}");
    assert!(missing[0].starts_with("$.a.c[0].d"));
    assert!(missing[1].starts_with("$.e"));
}
