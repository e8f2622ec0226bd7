//! `POST /webhooks/github` against a real `shipyard serve`, with the simulated GitHub delivering
//! signed webhooks over loopback: signatures are checked, a merged pull request starts tracking,
//! and run updates arrive without waiting for a poll.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use shipyard::demo::random_token;
use shipyard_config::Secret;
use shipyard_sim::github::{RunPathForm, SimGithub, timestamped_log};
use shipyard_store::Backend;
use std::time::Duration;

fn two_release_prs(sim: &SimGithub) {
    for name in ["billing", "payments"] {
        repo_with_changes(sim, name, &[commit("feat: x", "alice")]);
        sim.open_pr(name, "uat", "master", "Release");
    }
}

/// A server with webhooks on (signed with a fresh secret) whose polls are an hour apart, so any
/// change within a test came from a webhook.
async fn server_with_webhooks(backend: Backend) -> (TestServer, String) {
    let secret = random_token("whsec_");
    let s = secret.clone();
    let server = TestServer::start_with(backend, two_release_prs, move |c| {
        c.github.as_mut().unwrap().webhook_secret = Some(Secret::new(s));
        c.ci.poll_interval = Duration::from_secs(3600);
    })
    .await;
    (server, secret)
}

fn hook_url(server: &TestServer) -> String {
    format!("{}/webhooks/github", server.base)
}

async fn ci_of(server: &TestServer, id: &str, repo: &str) -> Value {
    let (s, body) = server
        .get("viewer", &format!("/api/releases/{id}/ci-status"))
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    body["statuses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["repo_name"] == repo)
        .cloned()
        .unwrap_or_else(|| panic!("{repo} missing from {body}"))
}

/// The latest `push` delivery the simulated GitHub made.
fn last_push(sim: &SimGithub) -> shipyard_sim::github::WebhookDelivery {
    sim.deliveries()
        .into_iter()
        .rfind(|d| d.event == "push")
        .expect("a push delivery")
}

/// Requests for a workflow's runs list: the tracker's polls.
fn run_polls(sim: &SimGithub) -> usize {
    sim.requests()
        .iter()
        .filter(|r| r.path.contains("/actions/workflows/"))
        .count()
}

async fn post_hook(
    server: &TestServer,
    event: &str,
    body: &str,
    signature: Option<&str>,
) -> (StatusCode, Value) {
    post_delivery(
        server,
        "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        event,
        body,
        signature,
    )
    .await
}

/// Posts a delivery with its own `X-GitHub-Delivery` id.
async fn post_delivery(
    server: &TestServer,
    delivery_id: &str,
    event: &str,
    body: &str,
    signature: Option<&str>,
) -> (StatusCode, Value) {
    let mut req = server
        .http
        .post(hook_url(server))
        .header("x-github-event", event)
        .header("x-github-delivery", delivery_id)
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(sig) = signature {
        req = req.header("x-hub-signature-256", sig);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

both_backends!(
    a_merge_and_its_build_arrive_by_webhook_without_a_poll,
    |backend| async move {
        let (server, secret) = server_with_webhooks(backend).await;
        server.sim.set_webhook(&hook_url(&server), &secret);
        let id = server.create_release_id().await;
        assert_eq!(ci_of(&server, &id, "billing").await["status"], Value::Null);

        // The merge is delivered as `pull_request` closed + merged: tracking starts at once.
        let sha = server.sim.merge_pr("billing", 1);
        server.sim.flush_webhooks().await;
        let (_, detail) = server.get("viewer", &format!("/api/releases/{id}")).await;
        let billing = repo(&detail, "billing");
        assert_eq!(billing["pr_state"], "merged", "{detail}");
        assert_eq!(billing["merge_commit_sha"], sha.as_str());
        assert_eq!(
            detail["ci_summary"],
            json!({"total": 1, "success": 0, "failed": 0, "in_progress": 0, "pending": 1})
        );
        let ci = ci_of(&server, &id, "billing").await;
        assert_eq!(ci["status"], "pending", "{ci}");
        assert_eq!(ci["merge_commit_sha"], sha.as_str());
        // payments is not merged: listed, not tracked.
        let payments = ci_of(&server, &id, "payments").await;
        assert_eq!(payments["status"], Value::Null, "{payments}");
        assert_eq!(payments["merge_commit_sha"], Value::Null);
        assert!(
            server
                .history_actions(&id)
                .await
                .contains(&"refreshed".to_owned()),
            "the merge is in the history"
        );

        // While webhooks arrive, the new merge is not polled: its run will be announced.
        let polls = run_polls(&server.sim);
        assert_eq!(polls, 0);

        // The delivery names the workflow as a called one does (`owner/repo/…@ref`).
        server
            .sim
            .set_run_path_form("billing", "general.yaml", RunPathForm::Qualified);

        let run = server
            .sim
            .start_run("billing", "general.yaml", "master", &sha);
        server.sim.flush_webhooks().await;
        let ci = ci_of(&server, &id, "billing").await;
        assert_eq!(ci["status"], "queued", "{ci}");
        assert_eq!(ci["run_id"], run);

        server.sim.set_run_status(run, "in_progress");
        server.sim.flush_webhooks().await;
        assert_eq!(
            ci_of(&server, &id, "billing").await["status"],
            "in_progress"
        );
        let (_, list) = server.get("viewer", "/api/releases").await;
        assert_eq!(
            list["releases"][0]["ci_summary"]["in_progress"], 1,
            "{list}"
        );

        server.sim.add_job(
            run,
            "Publish Helm chart",
            timestamped_log(&["helm package .", "CHART_VERSION=1.1.937", "pushed"]),
        );
        server.sim.complete_run(run, "success");
        server.sim.flush_webhooks().await;
        let ci = ci_of(&server, &id, "billing").await;
        assert_eq!(ci["status"], "success", "{ci}");
        assert_eq!(ci["conclusion"], "success");
        assert_eq!(ci["chart_version"], "1.1.937");
        assert!(ci["run_url"].as_str().unwrap().contains(&run.to_string()));
        assert!(ci["completed_at"].is_i64());

        assert_eq!(
            run_polls(&server.sim),
            polls,
            "every change came by webhook"
        );
        let jobs_listed = server
            .sim
            .requests()
            .iter()
            .filter(|r| r.path.contains("/jobs") && !r.path.contains("/logs"))
            .count();
        assert_eq!(
            jobs_listed, 0,
            "the workflow_job delivery named the Helm job"
        );
        for d in server.sim.deliveries() {
            assert_eq!(
                d.status,
                Some(202),
                "{} {:?}: {:?}",
                d.event,
                d.action,
                d.error
            );
        }
        let actions = server.history_actions(&id).await;
        for expected in ["ci_started", "ci_completed"] {
            assert!(actions.contains(&expected.to_owned()), "{actions:?}");
        }
        let (_, list) = server.get("viewer", "/api/releases").await;
        assert_eq!(
            list["releases"][0]["ci_summary"],
            json!({"total": 1, "success": 1, "failed": 0, "in_progress": 0, "pending": 0})
        );
        server.stop().await;
    }
);

#[tokio::test]
async fn deliveries_with_a_wrong_missing_or_replayed_signature_change_nothing() {
    let (server, secret) = server_with_webhooks(Backend::Sqlite).await;
    let id = server.create_release_id().await;
    let (_, before) = server.get("viewer", &format!("/api/releases/{id}")).await;

    // GitHub configured with another secret: the merge delivery is refused.
    server.sim.set_webhook(&hook_url(&server), "not-the-secret");
    server.sim.merge_pr("billing", 1);
    server.sim.flush_webhooks().await;
    let delivered = server.sim.deliveries();
    let merge = delivered
        .iter()
        .find(|d| d.event == "pull_request")
        .expect("a pull_request delivery");
    assert_eq!(merge.status, Some(401));
    let body = merge.body.clone();

    let good = shipyard_github::webhook::sign(secret.as_bytes(), body.as_bytes());
    let changed_body = body.replace("\"merged\":true", "\"merged\":true ");
    assert_ne!(changed_body, body);
    for (what, body, signature) in [
        ("no signature", body.as_str(), None),
        ("empty signature", body.as_str(), Some("")),
        (
            "sha1 signature",
            body.as_str(),
            Some("sha1=0123456789abcdef"),
        ),
        ("not hex", body.as_str(), Some("sha256=zz")),
        (
            "signed by another secret",
            body.as_str(),
            merge.signature.as_deref(),
        ),
        (
            "replayed with a changed body",
            changed_body.as_str(),
            Some(good.as_str()),
        ),
    ] {
        let (s, e) = post_hook(&server, "pull_request", body, signature).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{what}: {e}");
        assert_eq!(code(&e), "unauthenticated", "{what}");
        assert!(
            e["error"]["message"]
                .as_str()
                .unwrap()
                .contains("X-Hub-Signature-256"),
            "{what}: {e}"
        );
    }
    // Signed, but not JSON: 400, nothing changes.
    let garbage = "{\"action\": \"closed\", ";
    let (s, e) = post_hook(
        &server,
        "pull_request",
        garbage,
        Some(&shipyard_github::webhook::sign(
            secret.as_bytes(),
            garbage.as_bytes(),
        )),
    )
    .await;
    assert_eq!(
        (s, code(&e)),
        (StatusCode::BAD_REQUEST, "invalid_json"),
        "{e}"
    );

    let (_, after) = server.get("viewer", &format!("/api/releases/{id}")).await;
    assert_eq!(after, before, "refused deliveries changed the release");
    assert_eq!(ci_of(&server, &id, "billing").await["status"], Value::Null);
    assert_eq!(
        server.history_actions(&id).await,
        ["created"],
        "nothing in the history"
    );

    // Another org's delivery, correctly signed: accepted and ignored.
    let other_org = body.replace(
        &format!("\"login\":\"{ORG}\""),
        "\"login\":\"someone-else\"",
    );
    let sig = shipyard_github::webhook::sign(secret.as_bytes(), other_org.as_bytes());
    let (s, r) = post_hook(&server, "pull_request", &other_org, Some(&sig)).await;
    assert_eq!(
        (s, r["changed"].as_u64()),
        (StatusCode::ACCEPTED, Some(0)),
        "{r}"
    );
    assert_eq!(ci_of(&server, &id, "billing").await["status"], Value::Null);

    // A ping is accepted and ignored.
    let ping = json!({"zen": "Design for failure.", "hook_id": 1}).to_string();
    let sig = shipyard_github::webhook::sign(secret.as_bytes(), ping.as_bytes());
    let (s, _) = post_hook(&server, "ping", &ping, Some(&sig)).await;
    assert_eq!(s, StatusCode::ACCEPTED);

    // The very same delivery with the right signature is applied: the refusals were about the
    // signature alone.
    let (s, r) = post_hook(&server, "pull_request", &body, Some(&good)).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{r}");
    assert_eq!(r["changed"], 1);
    assert_eq!(ci_of(&server, &id, "billing").await["status"], "pending");
    // Delivered twice (GitHub redelivers): nothing more happens.
    let (s, r) = post_hook(&server, "pull_request", &body, Some(&good)).await;
    assert_eq!(
        (s, r["changed"].as_u64()),
        (StatusCode::ACCEPTED, Some(0)),
        "{r}"
    );
    server.stop().await;
}

#[tokio::test]
async fn webhooks_are_off_without_a_secret() {
    let server = TestServer::start(Backend::Sqlite, two_release_prs).await;
    let body = json!({"zen": "Keep it logically awesome."}).to_string();
    let sig = shipyard_github::webhook::sign(b"anything", body.as_bytes());
    let (s, e) = post_hook(&server, "ping", &body, Some(&sig)).await;
    assert_eq!((s, code(&e)), (StatusCode::NOT_FOUND, "not_found"), "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("webhook_secret")
    );
    server.stop().await;
}

#[tokio::test]
async fn a_push_to_the_source_branch_refreshes_the_release_and_resets_its_sign_offs() {
    let (server, secret) = server_with_webhooks(Backend::Sqlite).await;
    server.sim.set_webhook(&hook_url(&server), &secret);
    let id = server.create_release_id().await;
    let (s, d) = server
        .post("dev", &format!("/api/releases/{id}/approve/dev"), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{d}");
    assert_eq!(repo(&d, "billing")["commit_count"], 1);

    // A push elsewhere changes nothing.
    server.sim.create_branch("billing", "feature/x", "uat");
    server
        .sim
        .commit("billing", "feature/x", commit("wip", "bob"));
    server.sim.flush_webhooks().await;

    // A new commit on `uat`: the release is refreshed by itself and the sign-off goes.
    let sha = server
        .sim
        .commit("billing", "uat", commit("fix: late fix", "alice"));
    server.sim.flush_webhooks().await;
    let push = last_push(&server.sim);
    assert_eq!(push.status, Some(202));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let detail = loop {
        let (_, d) = server.get("viewer", &format!("/api/releases/{id}")).await;
        if repo(&d, "billing")["head_sha"] == sha.as_str() {
            break d;
        }
        assert!(tokio::time::Instant::now() < deadline, "not refreshed: {d}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(repo(&detail, "billing")["commit_count"], 2);
    assert_eq!(detail["release"]["dev_approved_by"], Value::Null);
    let (_, h) = server
        .get("viewer", &format!("/api/releases/{id}/history"))
        .await;
    let entries = h["history"].as_array().unwrap();
    let refreshes: Vec<&Value> = entries
        .iter()
        .filter(|e| e["action"] == "refreshed")
        .collect();
    assert_eq!(refreshes.len(), 1, "one refresh for one push: {h}");
    assert_eq!(refreshes[0]["actor"], "GitHub webhook");
    assert!(
        entries.iter().any(|e| e["action"] == "approvals_reset"),
        "{h}"
    );
    server.stop().await;
}

#[tokio::test]
async fn redeliveries_and_pushes_elsewhere_change_nothing_and_cost_nothing() {
    let secret = random_token("whsec_");
    let s = secret.clone();
    let server = TestServer::start_with(
        Backend::Sqlite,
        |sim| {
            two_release_prs(sim);
            // In the org, but left out of releases by the configuration.
            repo_with_changes(sim, "sandbox-tools", &[commit("feat: toy", "bob")]);
            // In the org and kept, with nothing to release yet.
            repo_unchanged(sim, "search");
        },
        move |c| {
            let gh = c.github.as_mut().unwrap();
            gh.webhook_secret = Some(Secret::new(s));
            gh.repos.exclude = vec!["sandbox-*".into()];
            c.ci.poll_interval = Duration::from_secs(3600);
        },
    )
    .await;
    server.sim.set_webhook(&hook_url(&server), &secret);
    let id = server.create_release_id().await;
    let refreshes = |h: &[String]| h.iter().filter(|a| *a == "refreshed").count();

    // A push to the source branch re-reads that one repo: one compare, one PR lookup.
    let before = server.sim.request_count();
    let sha = server
        .sim
        .commit("billing", "uat", commit("fix: late fix", "alice"));
    server.sim.flush_webhooks().await;
    let push = last_push(&server.sim);
    assert_eq!(push.status, Some(202), "{:?}", push.error);
    let (_, d) = server.get("viewer", &format!("/api/releases/{id}")).await;
    assert_eq!(repo(&d, "billing")["head_sha"], sha.as_str(), "{d}");
    let spent: Vec<String> = server.sim.requests()[before as usize..]
        .iter()
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(spent.len(), 2, "one compare and one PR lookup: {spent:?}");
    assert_eq!(refreshes(&server.history_actions(&id).await), 1);

    // GitHub delivers it again, with the same id: nothing happens, nothing is asked.
    let history = server.history_actions(&id).await;
    let before = server.sim.request_count();
    let signature = push.signature.as_deref();
    let (s, r) = post_delivery(&server, &push.guid, "push", &push.body, signature).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{r}");
    assert_eq!(
        (r["outcome"].as_str(), r["changed"].as_u64()),
        (Some("duplicate"), Some(0))
    );
    // The same push under another id (a second hook, say): the release already holds it.
    let (s, r) = post_delivery(&server, "another-id", "push", &push.body, signature).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{r}");
    assert_eq!(r["changed"], 0, "{r}");
    assert_eq!(server.sim.request_count(), before, "no GitHub requests");
    assert_eq!(server.history_actions(&id).await, history);

    // Pushes elsewhere: another branch, a repo the configuration leaves out.
    server.sim.create_branch("payments", "feature/x", "uat");
    server
        .sim
        .commit("payments", "feature/x", commit("wip", "bob"));
    server
        .sim
        .commit("sandbox-tools", "uat", commit("feat: more toys", "bob"));
    let before = server.sim.request_count();
    server.sim.flush_webhooks().await;
    assert_eq!(server.sim.request_count(), before, "no GitHub requests");
    assert_eq!(server.history_actions(&id).await, history);

    // A push that gives a kept repo something to release adds it, as a refresh would.
    server
        .sim
        .commit("search", "uat", commit("feat: fuzzy search", "carol"));
    server.sim.flush_webhooks().await;
    let (_, d) = server.get("viewer", &format!("/api/releases/{id}")).await;
    assert_eq!(repo(&d, "search")["commit_count"], 1, "{d}");
    let (_, h) = server
        .get("viewer", &format!("/api/releases/{id}/history"))
        .await;
    let last = h["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["action"], "refreshed", "{h}");
    assert_eq!(last["details"]["added"], json!(["search"]));
    assert_eq!(last["details"]["via"], "push");
    server.stop().await;
}
