//! The demo and scale seeds.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use shipyard_sim::github::{SimGithub, seed_demo, seed_scale};

async fn compare(sim: &SimGithub, repo: &str, basehead: &str) -> (StatusCode, Value) {
    let (status, _, body) = get(sim, &format!("/repos/acme/{repo}/compare/{basehead}")).await;
    (status, body)
}

fn messages(cmp: &Value) -> Vec<String> {
    cmp["commits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["commit"]["message"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn demo_org_covers_every_release_situation() {
    let sim = SimGithub::start("acme").await.unwrap();
    seed_demo(&sim);
    let names = sim.repo_names();
    assert_eq!(names.len(), 12, "{names:?}");

    let (_, _, repos) = get(&sim, "/orgs/acme/repos?per_page=100").await;
    let archived: Vec<&str> = repos
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["archived"] == true)
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(archived, ["inventory"]);

    // A breaking `feat!:` and helm changes wait in auth-service, with an open release PR.
    let (status, cmp) = compare(&sim, "auth-service", "master...uat").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(cmp["status"], "ahead");
    assert!(messages(&cmp).iter().any(|m| m.starts_with("feat!:")));
    let files: Vec<&str> = cmp["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["filename"].as_str().unwrap())
        .collect();
    assert!(files.iter().any(|f| f.starts_with("helm/")), "{files:?}");
    let (_, _, pulls) = get(
        &sim,
        "/repos/acme/auth-service/pulls?state=all&head=acme:uat&base=master",
    )
    .await;
    assert_eq!(pulls.as_array().unwrap().len(), 1);
    assert_eq!(pulls[0]["state"], "open");

    let (_, cmp) = compare(&sim, "payments", "master...uat").await;
    assert!(
        messages(&cmp)
            .iter()
            .any(|m| m.contains("\nBREAKING CHANGE:"))
    );

    let (_, cmp) = compare(&sim, "billing", "master...uat").await;
    assert!(
        cmp["commits"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["author"].is_null())
    );
    assert!(
        cmp["files"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["filename"] == "Dockerfile")
    );

    // Released repositories have nothing left, and their release PR is merged.
    for repo in ["api-gateway", "frontend"] {
        let (_, cmp) = compare(&sim, repo, "master...uat").await;
        assert_eq!(cmp["ahead_by"], 0, "{repo}");
        let (_, _, pulls) = get(
            &sim,
            &format!("/repos/acme/{repo}/pulls?state=all&head=acme:uat&base=master"),
        )
        .await;
        assert!(pulls[0]["merged_at"].is_string(), "{repo}");
    }
    for repo in ["docs-site", "notifications"] {
        let (_, cmp) = compare(&sim, repo, "master...uat").await;
        assert_eq!(cmp["status"], "identical", "{repo}");
    }
    let (_, cmp) = compare(&sim, "mobile-bff", "master...uat").await;
    assert_eq!(cmp["status"], "diverged");
    let (status, _) = compare(&sim, "reporting", "master...uat").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, _, pulls) = get(&sim, "/repos/acme/search/pulls?head=acme:uat&base=master").await;
    assert!(pulls.as_array().unwrap().is_empty());
    let (_, cmp) = compare(&sim, "search", "master...uat").await;
    assert_eq!(cmp["status"], "ahead");
    let (_, _, pulls) = get(
        &sim,
        "/repos/acme/user-service/pulls?state=all&head=acme:uat&base=master",
    )
    .await;
    let states: Vec<(&str, bool)> = pulls
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["state"].as_str().unwrap(), p["merged_at"].is_null()))
        .collect();
    assert_eq!(states, [("open", true), ("closed", true)]);
}

#[tokio::test]
async fn scale_seed_is_fast_and_exact() {
    let sim = SimGithub::start("acme").await.unwrap();
    let t = Instant::now();
    seed_scale(&sim, 500, 60, "uat", "master");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert_eq!(sim.repo_names().len(), 500);
    assert_eq!(sim.repo_names()[0], "svc-0001");

    let query = r#"query($after: String) {
      organization(login: "acme") {
        repositories(first: 100, after: $after) {
          pageInfo { hasNextPage endCursor }
          nodes { name dst: ref(qualifiedName: "refs/heads/master") { compare(headRef: "uat") { aheadBy behindBy } } }
        }
      }
    }"#;
    let mut after = Value::Null;
    let mut changed = Vec::new();
    let mut total = 0;
    loop {
        let (_, _, body) = graphql(&sim, query, json!({"after": after})).await;
        let repos = &body["data"]["organization"]["repositories"];
        for n in repos["nodes"].as_array().unwrap() {
            total += 1;
            let ahead = n["dst"]["compare"]["aheadBy"].as_u64().unwrap();
            assert_eq!(n["dst"]["compare"]["behindBy"], 0);
            if ahead > 0 {
                assert!((1..=5).contains(&ahead));
                changed.push(n["name"].as_str().unwrap().to_owned());
            }
        }
        if repos["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = repos["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(total, 500);
    assert_eq!(changed.len(), 60);
    let repo = &changed[0];
    let (_, _, pulls) = get(
        &sim,
        &format!("/repos/acme/{repo}/pulls?head=acme:uat&base=master"),
    )
    .await;
    assert_eq!(pulls.as_array().unwrap().len(), 1);
}
