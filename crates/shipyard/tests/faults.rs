//! GitHub misbehaving: creation completes after retries, or fails with one clear error and
//! nothing half-stored. And many people acting at once leave a state some serial order makes.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::json;
use shipyard_sim::github::{Fault, SimGithub};
use std::time::Duration;

fn org_of_twenty(sim: &SimGithub) {
    for i in 0..20 {
        let name = format!("svc-{i:02}");
        if i % 2 == 0 {
            repo_with_changes(
                sim,
                &name,
                &[commit("feat: x", "alice"), commit("fix: y", "bob")],
            );
            sim.open_pr(&name, "uat", "master", "Release");
        } else {
            repo_unchanged(sim, &name);
        }
    }
}

both_backends!(transient_faults_are_retried, |backend| async move {
    let server = TestServer::start(backend, org_of_twenty).await;
    // Four failures in a row can hit one request at most, within its retry budget.
    server.sim.push_faults([
        Fault::Status(502),
        Fault::Reset,
        Fault::SecondaryRateLimit {
            retry_after_secs: 1,
        },
        Fault::RateLimited { reset_in_secs: 1 },
    ]);
    server.sim.set_latency(Duration::from_millis(5));
    let detail = server.create_release().await;
    assert_eq!(detail["repos"].as_array().unwrap().len(), 10);
    for r in detail["repos"].as_array().unwrap() {
        assert_eq!(r["commit_count"], 2, "{r}");
        assert_eq!(r["pr_state"], "open", "{r}");
    }
    // The overview query comes first and alone, so it met all four faults before it got through.
    let graphql = server
        .sim
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/graphql"))
        .count();
    assert_eq!(graphql, 5, "four failed attempts and one answer");
    server.stop().await;
});

both_backends!(
    random_resets_either_complete_or_store_nothing,
    |backend| async move {
        let server = TestServer::start(backend, org_of_twenty).await;
        server.sim.set_fault_rate(0.35, Fault::Reset);
        for _ in 0..3 {
            let (status, body) = server
                .post(
                    "dev",
                    "/api/releases",
                    json!({"source_branch": "uat", "dest_branch": "master"}),
                )
                .await;
            let (_, list) = server.get("viewer", "/api/releases").await;
            let stored = list["releases"].as_array().unwrap().len();
            match status {
                StatusCode::CREATED => {
                    assert_eq!(
                        body["repos"].as_array().unwrap().len(),
                        10,
                        "a created release is complete"
                    );
                    server
                        .call(
                            Some("admin"),
                            reqwest::Method::PATCH,
                            &format!("/api/releases/{}", body["release"]["id"].as_str().unwrap()),
                            Some(json!({"status": "cancelled"})),
                        )
                        .await;
                }
                StatusCode::BAD_GATEWAY => {
                    assert_eq!(code(&body), "upstream_unavailable");
                }
                other => panic!("unexpected {other}: {body}"),
            }
            let created_so_far = server.get("viewer", "/api/releases").await.1["releases"]
                .as_array()
                .unwrap()
                .len();
            assert_eq!(stored, created_so_far);
        }
        server.sim.set_fault_rate(0.0, Fault::Reset);
        server.stop().await;
    }
);

both_backends!(concurrent_changes_serialize, |backend| async move {
    let server = TestServer::start(backend, org_of_twenty).await;
    let detail = server.create_release().await;
    let id = detail["release"]["id"].as_str().unwrap().to_owned();
    let repo_ids: Vec<i64> = detail["repos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .take(3)
        .collect();

    let mut plan = Vec::new();
    for i in 0..50 {
        let (who, method, path, body) = match i % 5 {
            0 => (
                "dev",
                reqwest::Method::POST,
                format!("/api/releases/{id}/approve/dev"),
                None,
            ),
            1 => (
                "qa",
                reqwest::Method::POST,
                format!("/api/releases/{id}/approve/qa"),
                None,
            ),
            2 => (
                "dev",
                reqwest::Method::DELETE,
                format!("/api/releases/{id}/approve/dev"),
                None,
            ),
            3 => (
                "dev",
                reqwest::Method::PATCH,
                format!("/api/releases/{id}/repos/{}", repo_ids[i % 3]),
                Some(json!({"excluded": i % 2 == 0})),
            ),
            _ => (
                "qa",
                reqwest::Method::POST,
                format!("/api/releases/{id}/refresh"),
                None,
            ),
        };
        plan.push((who, method, path, body));
    }
    let calls = plan.iter().map(|(who, method, path, body)| {
        server.call(Some(who), method.clone(), path, body.clone())
    });
    for (status, body) in futures::future::join_all(calls).await {
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    // Replaying history gives the final state: one entry per effective change, in a serial order.
    let (_, history) = server
        .get("viewer", &format!("/api/releases/{id}/history"))
        .await;
    let (mut dev, mut qa) = (false, false);
    let mut excluded = std::collections::BTreeMap::new();
    for h in history["history"].as_array().unwrap() {
        match h["action"].as_str().unwrap() {
            "approved_dev" => {
                assert!(!dev, "approved twice in a row");
                dev = true;
            }
            "approved_qa" => {
                assert!(!qa, "approved twice in a row");
                qa = true;
            }
            "revoked_dev" => {
                assert!(dev, "revoked a missing sign-off");
                dev = false;
            }
            "approvals_reset" => {
                for k in h["details"]["sign_offs"].as_array().unwrap() {
                    match k.as_str().unwrap() {
                        "dev" => dev = false,
                        _ => qa = false,
                    }
                }
            }
            "repo_excluded" => {
                assert_ne!(
                    excluded.insert(h["details"]["repo"].as_str().unwrap().to_owned(), true),
                    Some(true)
                );
            }
            "repo_included" => {
                assert_eq!(
                    excluded.insert(h["details"]["repo"].as_str().unwrap().to_owned(), false),
                    Some(true)
                );
            }
            _ => {}
        }
    }
    let (_, final_state) = server.get("viewer", &format!("/api/releases/{id}")).await;
    assert_eq!(final_state["release"]["dev_approved_by"].is_string(), dev);
    assert_eq!(final_state["release"]["qa_approved_by"].is_string(), qa);
    assert_eq!(final_state["release"]["status"] == "approved", dev && qa);
    for r in final_state["repos"].as_array().unwrap() {
        assert_eq!(
            r["excluded"].as_bool().unwrap(),
            excluded
                .get(r["repo_name"].as_str().unwrap())
                .copied()
                .unwrap_or(false),
            "{r}"
        );
    }
    server.stop().await;
});
