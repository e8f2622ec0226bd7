//! Jobs that are queued, start and complete are delivered as signed `workflow_job` webhooks, in
//! order with their run's `workflow_run` deliveries.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use shipyard_sim::github::SimGithub;

const SECRET: &str = "job-secret";

/// One delivery reduced to what the order checks need: event, action, and for jobs the job's
/// id, name, status and conclusion (for runs: the run's id, status and conclusion).
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    event: String,
    action: String,
    id: Value,
    name: Value,
    status: Value,
    conclusion: Value,
}

fn seen(r: &Received) -> Seen {
    let event = r.header("x-github-event").to_owned();
    let v = r.json();
    let object = &v[event.as_str()];
    Seen {
        action: v["action"].as_str().unwrap_or_default().to_owned(),
        id: object["id"].clone(),
        name: if event == "workflow_job" {
            object["name"].clone()
        } else {
            Value::Null
        },
        status: object["status"].clone(),
        conclusion: object["conclusion"].clone(),
        event,
    }
}

fn job(action: &str, id: u64, name: &str, status: &str, conclusion: Option<&str>) -> Seen {
    Seen {
        event: "workflow_job".to_owned(),
        action: action.to_owned(),
        id: json!(id),
        name: json!(name),
        status: json!(status),
        conclusion: json!(conclusion),
    }
}

fn run(action: &str, id: u64, status: &str, conclusion: Option<&str>) -> Seen {
    Seen {
        event: "workflow_run".to_owned(),
        action: action.to_owned(),
        id: json!(id),
        name: Value::Null,
        status: json!(status),
        conclusion: json!(conclusion),
    }
}

/// A sim with repository `svc` and a webhook whose receiver checks the signature.
async fn sim() -> (SimGithub, Inbox, String) {
    let sim = SimGithub::start("acme").await.unwrap();
    sim.add_repo("svc");
    let sha = sim.branch_head("svc", "main").unwrap();
    let (url, inbox) = receiver(Some(SECRET)).await;
    sim.set_webhook(&url, SECRET);
    (sim, inbox, sha)
}

/// Everything received since the last call, all of it accepted by the receiver.
async fn take(sim: &SimGithub, inbox: &Inbox) -> Vec<Received> {
    sim.flush_webhooks().await;
    assert!(sim.deliveries().iter().all(|d| d.status == Some(202)));
    std::mem::take(&mut *inbox.lock().unwrap())
}

async fn take_seen(sim: &SimGithub, inbox: &Inbox) -> Vec<Seen> {
    take(sim, inbox).await.iter().map(seen).collect()
}

#[tokio::test]
async fn a_job_is_queued_starts_and_completes_before_its_run() {
    let (sim, inbox, sha) = sim().await;
    let id = sim.start_run("svc", "general.yaml", "main", &sha);
    assert_eq!(
        take_seen(&sim, &inbox).await,
        [run("requested", id, "queued", None)]
    );

    let build = sim.add_job(id, "build", "log");
    let got = take(&sim, &inbox).await;
    assert_eq!(
        got.iter().map(seen).collect::<Vec<_>>(),
        [job("queued", build, "build", "queued", None)]
    );
    let queued = got[0].json();
    let wj = &queued["workflow_job"];
    assert_eq!(wj["run_id"], id);
    assert_eq!(wj["run_attempt"], 1);
    assert_eq!(wj["head_sha"], sha.as_str());
    assert_eq!(wj["head_branch"], "main");
    assert_eq!(wj["workflow_name"], "general");
    assert_eq!(wj["steps"], json!([]));
    assert!(wj["runner_name"].is_null());
    assert!(wj["completed_at"].is_null());
    assert_eq!(queued["repository"]["full_name"], "acme/svc");
    assert_eq!(queued["organization"]["login"], "acme");
    assert!(queued["sender"]["login"].is_string());

    // The run starts, then its job.
    sim.set_run_status(id, "in_progress");
    assert_eq!(
        take_seen(&sim, &inbox).await,
        [
            run("in_progress", id, "in_progress", None),
            job("in_progress", build, "build", "in_progress", None),
        ]
    );
    // Moving to in_progress again starts nothing.
    sim.set_run_status(id, "in_progress");
    assert_eq!(take_seen(&sim, &inbox).await, []);

    // A job added to a running run starts at once; one completed on its own is delivered then.
    let lint = sim.add_job(id, "lint", "");
    sim.complete_job(lint, "failure");
    sim.complete_job(lint, "failure");
    let got = take(&sim, &inbox).await;
    assert_eq!(
        got.iter().map(seen).collect::<Vec<_>>(),
        [
            job("in_progress", lint, "lint", "in_progress", None),
            job("completed", lint, "lint", "completed", Some("failure")),
        ]
    );
    assert!(got[1].json()["workflow_job"]["completed_at"].is_string());

    // The run completes: its remaining job first, then the run.
    sim.complete_run(id, "success");
    let got = take(&sim, &inbox).await;
    assert_eq!(
        got.iter().map(seen).collect::<Vec<_>>(),
        [
            job("completed", build, "build", "completed", Some("success")),
            run("completed", id, "completed", Some("success")),
        ]
    );
    // The delivered job is the one the REST API lists.
    let (status, _, listed) = get(&sim, &format!("/repos/acme/svc/actions/runs/{id}/jobs")).await;
    assert_eq!(status, StatusCode::OK);
    let listed_build = listed["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["id"] == build)
        .unwrap();
    assert_eq!(&got[0].json()["workflow_job"], listed_build);
}

#[tokio::test]
async fn jobs_of_runs_that_wait_or_ended_are_delivered_as_github_would() {
    let (sim, inbox, sha) = sim().await;
    let id = sim.start_run("svc", "deploy.yaml", "main", &sha);
    sim.set_run_status(id, "waiting");
    let deploy = sim.add_job(id, "deploy", "");
    let notify = sim.add_job(id, "notify", "");
    sim.complete_run(id, "startup_failure");
    let late = sim.add_job(id, "late", "");
    assert_eq!(
        take_seen(&sim, &inbox).await,
        [
            run("requested", id, "queued", None),
            job("queued", deploy, "deploy", "waiting", None),
            job("queued", notify, "notify", "waiting", None),
            job("completed", deploy, "deploy", "completed", Some("failure")),
            job("completed", notify, "notify", "completed", Some("failure")),
            run("completed", id, "completed", Some("startup_failure")),
            job("completed", late, "late", "completed", Some("failure")),
        ]
    );

    // A re-run's jobs belong to the new attempt.
    sim.rerun(id);
    let retry = sim.add_job(id, "deploy", "");
    let got = take(&sim, &inbox).await;
    assert_eq!(
        got.iter().map(seen).collect::<Vec<_>>(),
        [
            run("requested", id, "queued", None),
            job("queued", retry, "deploy", "queued", None),
        ]
    );
    assert_eq!(got[1].json()["workflow_job"]["run_attempt"], 2);

    // Nothing is delivered without a webhook.
    sim.remove_webhook();
    let quiet = sim.start_run("svc", "general.yaml", "main", &sha);
    let j = sim.add_job(quiet, "build", "");
    sim.set_run_status(quiet, "in_progress");
    sim.complete_job(j, "success");
    sim.complete_run(quiet, "success");
    assert_eq!(take_seen(&sim, &inbox).await, []);
}
