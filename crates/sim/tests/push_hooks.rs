//! Branch heads that move are delivered as signed `push` webhooks in GitHub's shape.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use shipyard_sim::github::{CommitSpec, SimGithub};

const ZERO: &str = "0000000000000000000000000000000000000000";
const SECRET: &str = "push-secret";

fn signed_by_secret(r: &Received) -> bool {
    let Some(given) = r
        .header("x-hub-signature-256")
        .strip_prefix("sha256=")
        .and_then(|h| hex::decode(h).ok())
    else {
        return false;
    };
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(&r.body);
    mac.verify_slice(&given).is_ok()
}

/// A sim with repository `svc` and a webhook; returns what the receiver got after `script`.
async fn deliveries_of(script: impl FnOnce(&SimGithub)) -> (SimGithub, Vec<Received>) {
    let sim = SimGithub::start("acme").await.unwrap();
    sim.add_repo("svc");
    let (url, inbox) = receiver(Some(SECRET)).await;
    sim.set_webhook(&url, SECRET);
    script(&sim);
    sim.flush_webhooks().await;
    let got = inbox.lock().unwrap().clone();
    for r in &got {
        assert!(signed_by_secret(r), "unsigned delivery");
    }
    assert!(sim.deliveries().iter().all(|d| d.status == Some(202)));
    (sim, got)
}

fn pushes(got: &[Received]) -> Vec<Value> {
    got.iter()
        .filter(|r| r.header("x-github-event") == "push")
        .map(Received::json)
        .collect()
}

#[tokio::test]
async fn a_commit_is_pushed_to_its_branch() {
    let mut main = String::new();
    let mut sha = String::new();
    let (_sim, got) = deliveries_of(|sim| {
        main = sim.branch_head("svc", "main").unwrap();
        sha = sim.commit(
            "svc",
            "main",
            change(
                "feat: invoices\n\nBody.",
                Some("ada"),
                "src/invoice.rs",
                10,
                0,
            ),
        );
    })
    .await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].header("x-github-event"), "push");
    let p = got[0].json();
    assert_eq!(p["ref"], "refs/heads/main");
    assert_eq!(p["before"], main.as_str());
    assert_eq!(p["after"], sha.as_str());
    assert_eq!(p["created"], false);
    assert_eq!(p["deleted"], false);
    assert_eq!(p["forced"], false);
    assert_eq!(p["base_ref"], Value::Null);
    assert_eq!(
        p["compare"],
        format!(
            "https://github.com/acme/svc/compare/{}...{}",
            &main[..12],
            &sha[..12]
        )
    );
    let commits = p["commits"].as_array().unwrap();
    assert_eq!(commits.len(), 1);
    let c = &commits[0];
    assert_eq!(c["id"], sha.as_str());
    assert_eq!(c["message"], "feat: invoices\n\nBody.");
    assert_eq!(c["distinct"], true);
    assert_eq!(
        c["url"],
        format!("https://github.com/acme/svc/commit/{sha}")
    );
    assert_eq!(c["author"]["username"], "ada");
    assert_eq!(c["author"]["email"], "dev@example.com");
    assert_eq!(c["added"], serde_json::json!(["src/invoice.rs"]));
    assert_eq!(c["modified"], serde_json::json!([]));
    assert_eq!(c["removed"], serde_json::json!([]));
    assert!(c["timestamp"].as_str().unwrap().ends_with('Z'));
    assert_eq!(p["head_commit"], *c);
    assert_eq!(p["pusher"]["name"], "ada");
    assert_eq!(p["sender"]["login"], "ada");
    assert_eq!(p["organization"]["login"], "acme");
    let repo = &p["repository"];
    assert_eq!(repo["full_name"], "acme/svc");
    assert_eq!(repo["owner"]["login"], "acme");
    assert_eq!(repo["owner"]["name"], "acme");
    assert_eq!(repo["organization"], "acme");
    assert_eq!(repo["master_branch"], "main");
    assert!(repo["pushed_at"].is_u64() && repo["created_at"].is_u64());
    assert!(repo["updated_at"].is_string());
}

#[tokio::test]
async fn a_commit_without_an_account_has_no_username() {
    let (_sim, got) = deliveries_of(|sim| {
        sim.commit(
            "svc",
            "main",
            CommitSpec::new("fix: typo", "Ada", "ada@example.com").file("README.md", 1, 1),
        );
    })
    .await;
    let p = got[0].json();
    let c = &p["commits"][0];
    assert!(c["author"].get("username").is_none());
    assert_eq!(c["author"]["name"], "Ada");
    assert_eq!(c["modified"], serde_json::json!(["README.md"]));
    assert_eq!(p["pusher"]["name"], "release-manager");
}

#[tokio::test]
async fn a_merge_is_pushed_to_the_base_before_the_pull_request_closes() {
    let mut base_before = String::new();
    let mut feature = String::new();
    let mut merge = String::new();
    let mut number = 0;
    let (sim, got) = deliveries_of(|sim| {
        sim.create_branch("svc", "uat", "main");
        feature = sim.commit(
            "svc",
            "uat",
            change("feat: x", Some("dev1"), "src/x.rs", 5, 0),
        );
        base_before = sim.branch_head("svc", "main").unwrap();
        number = sim.open_pr_as("svc", "uat", "main", "Release svc", "lead");
        merge = sim.merge_pr("svc", number);
    })
    .await;
    assert_eq!(
        sim.branch_head("svc", "main").as_deref(),
        Some(merge.as_str())
    );
    let events: Vec<&str> = got.iter().map(|r| r.header("x-github-event")).collect();
    assert_eq!(events, ["push", "push", "push", "pull_request"]);
    let p = got[2].json();
    assert_eq!(p["ref"], "refs/heads/main");
    assert_eq!(p["before"], base_before.as_str());
    assert_eq!(p["after"], merge.as_str());
    assert_eq!(p["forced"], false);
    let commits = p["commits"].as_array().unwrap();
    let ids: Vec<&str> = commits.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [feature.as_str(), merge.as_str()]);
    // The feature commit was on `uat` already; only the merge commit is new.
    assert_eq!(commits[0]["distinct"], false);
    assert_eq!(commits[1]["distinct"], true);
    assert_eq!(p["head_commit"]["id"], merge.as_str());
    assert_eq!(p["head_commit"]["committer"]["username"], "web-flow");
    assert!(
        p["head_commit"]["message"]
            .as_str()
            .unwrap()
            .starts_with(&format!("Merge pull request #{number}"))
    );
    assert_eq!(p["pusher"]["name"], "lead");
    let pr = got[3].json();
    assert_eq!(pr["action"], "closed");
    assert_eq!(pr["pull_request"]["merged"], true);
    assert_eq!(pr["pull_request"]["merge_commit_sha"], merge.as_str());
}

#[tokio::test]
async fn branches_created_moved_and_deleted_are_pushed() {
    let mut main = String::new();
    let mut second = String::new();
    let (_sim, got) = deliveries_of(|sim| {
        main = sim.branch_head("svc", "main").unwrap();
        sim.create_branch("svc", "uat", "main");
        // Unchanged heads are not pushed.
        sim.create_branch("svc", "uat", "main");
        sim.set_branch_head("svc", "uat", &main);
        sim.delete_branch("svc", "nope");
        sim.commit("svc", "uat", change("one", None, "a.txt", 1, 0));
        second = sim.commit("svc", "uat", change("two", None, "a.txt", 1, 0));
        sim.set_branch_head("svc", "uat", &main);
        sim.set_branch_head("svc", "uat", &second);
        sim.delete_branch("svc", "uat");
    })
    .await;
    let p = pushes(&got);
    assert_eq!(p.len(), 6);

    let created = &p[0];
    assert_eq!(created["ref"], "refs/heads/uat");
    assert_eq!(created["created"], true);
    assert_eq!(created["deleted"], false);
    assert_eq!(created["before"], ZERO);
    assert_eq!(created["after"], main.as_str());
    assert_eq!(created["commits"], serde_json::json!([]));
    assert_eq!(created["head_commit"]["id"], main.as_str());
    assert_eq!(created["head_commit"]["distinct"], false);
    assert_eq!(
        created["compare"],
        "https://github.com/acme/svc/compare/uat"
    );

    // A reset backwards is forced; moving forward again is a fast-forward with both commits.
    let back = &p[3];
    assert_eq!(back["before"], second.as_str());
    assert_eq!(back["after"], main.as_str());
    assert_eq!(back["forced"], true);
    assert_eq!(back["commits"], serde_json::json!([]));
    let forward = &p[4];
    assert_eq!(forward["forced"], false);
    assert_eq!(forward["commits"].as_array().unwrap().len(), 2);
    assert_eq!(forward["commits"][1]["id"], second.as_str());
    assert_eq!(forward["commits"][0]["added"], serde_json::json!(["a.txt"]));
    assert_eq!(
        forward["commits"][1]["modified"],
        serde_json::json!(["a.txt"])
    );

    let deleted = &p[5];
    assert_eq!(deleted["deleted"], true);
    assert_eq!(deleted["created"], false);
    assert_eq!(deleted["before"], second.as_str());
    assert_eq!(deleted["after"], ZERO);
    assert_eq!(deleted["head_commit"], Value::Null);
    assert_eq!(deleted["commits"], serde_json::json!([]));
    assert_eq!(
        deleted["compare"],
        format!(
            "https://github.com/acme/svc/compare/{}...000000000000",
            &second[..12]
        )
    );
}

#[tokio::test]
async fn nothing_is_pushed_without_a_webhook() {
    let sim = SimGithub::start("acme").await.unwrap();
    sim.add_repo("svc");
    sim.create_branch("svc", "uat", "main");
    sim.commit("svc", "uat", change("one", None, "a.txt", 1, 0));
    let pr = sim.open_pr("svc", "uat", "main", "Release");
    sim.merge_pr("svc", pr);
    sim.delete_branch("svc", "uat");
    sim.flush_webhooks().await;
    assert!(sim.deliveries().is_empty());
}
