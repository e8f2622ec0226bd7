//! REST behaviour of the simulated GitHub over real sockets.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::Value;
use shipyard_sim::github::{RateResource, SimGithub};

fn names(body: &Value) -> Vec<String> {
    body.as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn org_repos_paginate_with_link_headers() {
    let sim = SimGithub::start("acme").await.unwrap();
    for n in ["gamma", "alpha", "eta", "delta", "beta", "zeta", "epsilon"] {
        sim.add_repo(n);
    }
    let (status, h, body) = get(&sim, "/orgs/acme/repos?type=all&per_page=3").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(names(&body), ["alpha", "beta", "delta"]);
    let base = sim.url();
    assert_eq!(
        link(&h, "next").as_deref(),
        Some(format!("{base}/orgs/acme/repos?type=all&per_page=3&page=2").as_str())
    );
    assert_eq!(
        link(&h, "last").as_deref(),
        Some(format!("{base}/orgs/acme/repos?type=all&per_page=3&page=3").as_str())
    );
    assert!(link(&h, "prev").is_none() && link(&h, "first").is_none());

    let (_, h, body) = get(&sim, "/orgs/acme/repos?type=all&per_page=3&page=2").await;
    assert_eq!(names(&body), ["epsilon", "eta", "gamma"]);
    let rels: Vec<String> = links(&h).into_iter().map(|(r, _)| r).collect();
    assert_eq!(rels, ["prev", "next", "last", "first"]);
    assert!(link(&h, "prev").unwrap().ends_with("page=1"));

    let (_, h, body) = get(&sim, "/orgs/acme/repos?type=all&per_page=3&page=3").await;
    assert_eq!(names(&body), ["zeta"]);
    assert!(link(&h, "next").is_none() && link(&h, "last").is_none());
    assert!(link(&h, "first").is_some());

    // Following rel="next" visits every repository once, in name order.
    let mut url = Some(format!("{base}/orgs/acme/repos?per_page=2&type=all"));
    let mut seen = Vec::new();
    while let Some(u) = url {
        let resp = client().get(&u).send().await.unwrap();
        let h = resp.headers().clone();
        seen.extend(names(&resp.json().await.unwrap()));
        url = link(&h, "next");
    }
    assert_eq!(
        seen,
        ["alpha", "beta", "delta", "epsilon", "eta", "gamma", "zeta"]
    );

    // One page: no Link header; per_page is capped at 100.
    let (_, h, body) = get(&sim, "/orgs/acme/repos?per_page=500").await;
    assert_eq!(names(&body).len(), 7);
    assert!(h.get("link").is_none());

    let (status, _, body) = get(&sim, "/orgs/nobody/repos").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["message"], "Not Found");
    assert_eq!(body["status"], "404");
}

#[tokio::test]
async fn repo_and_branch_lookups() {
    let sim = SimGithub::start("acme").await.unwrap();
    sim.add_repo("svc");
    sim.create_branch("svc", "release/2026.1", "main");
    let (status, _, repo) = get(&sim, "/repos/acme/svc").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(repo["full_name"], "acme/svc");
    assert_eq!(repo["default_branch"], "main");
    assert_eq!(repo["html_url"], "https://github.com/acme/svc");
    assert_eq!(repo["url"], format!("{}/repos/acme/svc", sim.url()));

    let (status, _, b) = get(&sim, "/repos/acme/svc/branches/release/2026.1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(b["name"], "release/2026.1");
    assert_eq!(
        b["commit"]["sha"].as_str(),
        sim.branch_head("svc", "main").as_deref()
    );

    let (status, _, b) = get(&sim, "/repos/acme/svc/branches/uat").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(b["message"], "Branch not found");

    sim.delete_branch("svc", "release/2026.1");
    let (status, _, _) = get(&sim, "/repos/acme/svc/branches/release/2026.1").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = get(&sim, "/repos/acme/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = get(&sim, "/repos/other/svc").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, _, body) = get(&sim, "/no/such/route").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["message"], "Not Found");
    let resp = client()
        .delete(format!("{}/repos/acme/svc", sim.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn compare_has_git_semantics() {
    let sim = SimGithub::start("acme").await.unwrap();
    sim.add_repo("svc");
    sim.create_branch("svc", "master", "main");
    sim.create_branch("svc", "uat", "master");

    let (_, _, c) = get(&sim, "/repos/acme/svc/compare/master...uat").await;
    assert_eq!(c["status"], "identical");
    assert_eq!(c["ahead_by"], 0);
    assert_eq!(c["total_commits"], 0);

    let first = sim.commit(
        "svc",
        "uat",
        change("feat: one", Some("dev1"), "src/a.rs", 10, 2),
    );
    let second = sim.commit(
        "svc",
        "uat",
        change("fix: two", Some("dev2"), "src/a.rs", 3, 1),
    );
    sim.commit(
        "svc",
        "uat",
        change("chore: helm", None, "helm/values.yaml", 1, 1),
    );
    assert_eq!(first.len(), 40);
    assert!(
        first
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );

    let (status, _, c) = get(&sim, "/repos/acme/svc/compare/master...uat").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(c["status"], "ahead");
    assert_eq!(c["ahead_by"], 3);
    assert_eq!(c["behind_by"], 0);
    assert_eq!(c["total_commits"], 3);
    assert_eq!(c["commits"][0]["sha"], first.as_str());
    assert_eq!(c["commits"][1]["sha"], second.as_str());
    assert_eq!(c["commits"][1]["parents"][0]["sha"], first.as_str());
    assert_eq!(c["commits"][0]["commit"]["message"], "feat: one");
    assert_eq!(
        c["merge_base_commit"]["sha"].as_str(),
        sim.branch_head("svc", "master").as_deref()
    );
    assert_eq!(c["base_commit"]["sha"], c["merge_base_commit"]["sha"]);
    let files = c["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    assert_eq!(files[0]["filename"], "helm/values.yaml");
    assert_eq!(files[1]["filename"], "src/a.rs");
    assert_eq!(files[1]["additions"], 13);
    assert_eq!(files[1]["deletions"], 3);
    assert_eq!(files[1]["changes"], 16);
    assert_eq!(files[0]["status"], "modified");
    assert_eq!(files[1]["status"], "modified");

    let (_, _, c) = get(&sim, "/repos/acme/svc/compare/uat...master").await;
    assert_eq!(c["status"], "behind");
    assert_eq!(c["ahead_by"], 0);
    assert_eq!(c["behind_by"], 3);

    // A hotfix on master makes the branches diverge.
    sim.commit(
        "svc",
        "master",
        change("fix: hotfix", None, "src/b.rs", 1, 0),
    );
    let (_, _, c) = get(&sim, "/repos/acme/svc/compare/master...uat").await;
    assert_eq!(c["status"], "diverged");
    assert_eq!(c["ahead_by"], 3);
    assert_eq!(c["behind_by"], 1);

    // After the release PR is merged, nothing in uat is missing from master.
    let n = sim.open_pr("svc", "uat", "master", "Release");
    let merge = sim.merge_pr("svc", n);
    assert_eq!(
        sim.branch_head("svc", "master").as_deref(),
        Some(merge.as_str())
    );
    let (_, _, c) = get(&sim, "/repos/acme/svc/compare/master...uat").await;
    assert_eq!(c["ahead_by"], 0);
    assert_eq!(c["total_commits"], 0);
    assert_eq!(c["status"], "behind");
    assert_eq!(c["behind_by"], 2);
    let (_, _, c) = get(&sim, "/repos/acme/svc/compare/uat...master").await;
    let merge_commit = c["commits"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(merge_commit["sha"], merge.as_str());
    assert_eq!(merge_commit["parents"].as_array().unwrap().len(), 2);

    // Shas, refs/heads/ names and owner:ref work as either side.
    let path = format!("/repos/acme/svc/compare/{}...refs/heads/uat", &first[..12]);
    let (status, _, c) = get(&sim, &path).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(c["ahead_by"], 2);
    let (_, _, c) = get(&sim, "/repos/acme/svc/compare/acme:master...acme:uat").await;
    assert_eq!(c["ahead_by"], 0);

    let (status, _, body) = get(&sim, "/repos/acme/svc/compare/master...nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["message"], "Not Found");
    assert_eq!(body["status"], "404");
}

#[tokio::test]
async fn compare_caps_and_pages() {
    let sim = SimGithub::start("acme").await.unwrap();
    sim.add_repo("big");
    sim.create_branch("big", "dev", "main");
    let mut shas = Vec::new();
    for i in 0..260 {
        shas.push(sim.commit(
            "big",
            "dev",
            change(
                &format!("feat: step {i}"),
                None,
                &format!("src/f{i:03}.rs"),
                1,
                0,
            ),
        ));
    }
    let mut many = change("chore: many files", None, "x", 1, 0);
    many.files = (0..310)
        .map(|i| shipyard_sim::github::FileChange {
            path: format!("gen/{i:03}.txt"),
            additions: 1,
            deletions: 0,
        })
        .collect();
    shas.push(sim.commit("big", "dev", many));

    let (_, h, c) = get(&sim, "/repos/acme/big/compare/main...dev").await;
    assert_eq!(c["total_commits"], 261);
    assert_eq!(c["ahead_by"], 261);
    let commits = c["commits"].as_array().unwrap();
    assert_eq!(commits.len(), 250);
    // The newest 250, oldest first.
    assert_eq!(commits[0]["sha"], shas[11].as_str());
    assert_eq!(commits[249]["sha"], shas[260].as_str());
    assert_eq!(c["files"].as_array().unwrap().len(), 300);
    assert_eq!(c["files"][0]["status"], "added");
    assert!(h.get("link").is_none());

    let (_, h, c) = get(
        &sim,
        "/repos/acme/big/compare/main...dev?per_page=100&page=1",
    )
    .await;
    assert_eq!(c["commits"].as_array().unwrap().len(), 100);
    assert_eq!(c["commits"][0]["sha"], shas[0].as_str());
    assert_eq!(c["files"].as_array().unwrap().len(), 300);
    assert!(link(&h, "next").unwrap().ends_with("per_page=100&page=2"));
    assert!(link(&h, "last").unwrap().ends_with("page=3"));

    let (_, h, c) = get(
        &sim,
        "/repos/acme/big/compare/main...dev?per_page=100&page=3",
    )
    .await;
    assert_eq!(c["commits"].as_array().unwrap().len(), 61);
    assert_eq!(c["commits"][0]["sha"], shas[200].as_str());
    assert_eq!(c["total_commits"], 261);
    assert!(c["files"].as_array().unwrap().is_empty());
    assert!(link(&h, "next").is_none());
    assert!(link(&h, "prev").unwrap().ends_with("page=2"));
}

#[tokio::test]
async fn author_is_null_without_github_account() {
    let sim = SimGithub::start("acme").await.unwrap();
    sim.add_repo("svc");
    sim.create_branch("svc", "dev", "main");
    sim.commit("svc", "dev", change("feat: anon", None, "a", 1, 0));
    sim.commit(
        "svc",
        "dev",
        change("feat: known", Some("octo-dev"), "b", 1, 0),
    );
    let (_, _, c) = get(&sim, "/repos/acme/svc/compare/main...dev").await;
    let anon = &c["commits"][0];
    assert!(anon["author"].is_null());
    assert!(anon["committer"].is_null());
    assert_eq!(anon["commit"]["author"]["name"], "Dev Person");
    assert_eq!(anon["commit"]["author"]["email"], "dev@example.com");
    assert!(
        anon["commit"]["author"]["date"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    let known = &c["commits"][1];
    assert_eq!(known["author"]["login"], "octo-dev");
    assert_eq!(known["author"]["type"], "User");
    // The simulated clock moves forward one minute per commit.
    assert!(
        anon["commit"]["author"]["date"].as_str().unwrap()
            < known["commit"]["author"]["date"].as_str().unwrap()
    );
}

#[tokio::test]
async fn pulls_filter_by_state_head_and_base() {
    let sim = SimGithub::start("acme").await.unwrap();
    sim.add_repo("svc");
    for b in ["master", "uat", "dev", "feature"] {
        sim.create_branch("svc", b, "main");
    }
    sim.commit("svc", "dev", change("feat: x", Some("a"), "x", 1, 0));
    sim.commit("svc", "feature", change("feat: y", Some("b"), "y", 1, 0));
    let promoted = sim.open_pr("svc", "dev", "uat", "Promote dev");
    let merge = sim.merge_pr("svc", promoted);
    let abandoned = sim.open_pr("svc", "feature", "dev", "Try feature");
    sim.close_pr("svc", abandoned);
    let release = sim.open_pr_as("svc", "uat", "master", "Release", "release-lead");
    let later = sim.open_pr("svc", "dev", "master", "Skip uat");

    let nums = |b: &Value| -> Vec<u64> {
        b.as_array()
            .unwrap()
            .iter()
            .map(|p| p["number"].as_u64().unwrap())
            .collect()
    };
    let (_, _, b) = get(&sim, "/repos/acme/svc/pulls").await;
    assert_eq!(nums(&b), [later, release]);
    let (_, _, b) = get(&sim, "/repos/acme/svc/pulls?state=all").await;
    assert_eq!(nums(&b), [later, release, abandoned, promoted]);
    let (_, _, b) = get(&sim, "/repos/acme/svc/pulls?state=all&direction=asc").await;
    assert_eq!(nums(&b), [promoted, abandoned, release, later]);
    let (_, _, b) = get(
        &sim,
        "/repos/acme/svc/pulls?state=all&head=acme:uat&base=master",
    )
    .await;
    assert_eq!(nums(&b), [release]);
    assert_eq!(b[0]["user"]["login"], "release-lead");
    assert_eq!(b[0]["head"]["label"], "acme:uat");
    assert_eq!(b[0]["head"]["ref"], "uat");
    assert_eq!(b[0]["base"]["ref"], "master");
    assert_eq!(
        b[0]["head"]["sha"].as_str(),
        sim.branch_head("svc", "uat").as_deref()
    );
    assert!(b[0]["merged_at"].is_null());
    assert_eq!(
        b[0]["html_url"],
        format!("https://github.com/acme/svc/pull/{release}")
    );
    let (_, _, b) = get(&sim, "/repos/acme/svc/pulls?state=all&head=other:uat").await;
    assert!(nums(&b).is_empty());
    // Without the owner GitHub ignores the head filter.
    let (_, _, b) = get(&sim, "/repos/acme/svc/pulls?head=uat").await;
    assert_eq!(nums(&b), [later, release]);

    let (_, _, b) = get(
        &sim,
        "/repos/acme/svc/pulls?state=closed&head=acme:dev&base=uat",
    )
    .await;
    assert_eq!(nums(&b), [promoted]);
    let merged = &b[0];
    assert_eq!(merged["state"], "closed");
    assert!(
        merged.get("merged").is_none(),
        "list items have no `merged`"
    );
    assert!(merged["merged_at"].is_string());
    assert!(merged["closed_at"].is_string());
    assert_eq!(merged["merge_commit_sha"], merge.as_str());

    let (_, _, b) = get(&sim, "/repos/acme/svc/pulls?state=closed&base=dev").await;
    assert_eq!(nums(&b), [abandoned]);
    assert!(b[0]["merged_at"].is_null());
    assert!(b[0]["closed_at"].is_string());

    let (status, _, p) = get(&sim, &format!("/repos/acme/svc/pulls/{promoted}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(p["merged"], true);
    assert_eq!(p["merged_by"]["login"], "a");
    let (_, _, p) = get(&sim, &format!("/repos/acme/svc/pulls/{abandoned}")).await;
    assert_eq!(p["merged"], false);
    let (_, _, p) = get(&sim, &format!("/repos/acme/svc/pulls/{release}")).await;
    assert_eq!(p["merged"], false);
    assert_eq!(p["state"], "open");
    assert_eq!(p["commits"], 2);
    let (status, _, _) = get(&sim, "/repos/acme/svc/pulls/999").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = get(&sim, "/repos/acme/svc/pulls/abc").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (_, h, b) = get(&sim, "/repos/acme/svc/pulls?state=all&per_page=1&page=2").await;
    assert_eq!(nums(&b), [release]);
    assert!(link(&h, "last").unwrap().ends_with("page=4"));
}

#[tokio::test]
async fn etag_304_does_not_count_against_the_limit() {
    let sim = SimGithub::start("acme").await.unwrap();
    sim.add_repo("svc");
    let (status, h, _) = get(&sim, "/repos/acme/svc").await;
    assert_eq!(status, StatusCode::OK);
    let etag = header(&h, "etag").to_owned();
    assert!(etag.starts_with("W/\"") && etag.len() == 4 + 64, "{etag}");
    let remaining = header_u64(&h, "x-ratelimit-remaining");
    assert_eq!(remaining, 4999);
    assert_eq!(header_u64(&h, "x-ratelimit-used"), 1);
    assert_eq!(header(&h, "x-ratelimit-resource"), "core");
    assert_eq!(
        header(&h, "content-type"),
        "application/json; charset=utf-8"
    );
    assert!(!header(&h, "x-github-request-id").is_empty());

    for _ in 0..3 {
        let (status, h, body) =
            get_with(&sim, "/repos/acme/svc", &[("if-none-match", &etag)]).await;
        assert_eq!(status, StatusCode::NOT_MODIFIED);
        assert!(body.is_null());
        assert_eq!(header_u64(&h, "x-ratelimit-remaining"), remaining);
        assert_eq!(header(&h, "etag"), etag);
    }
    assert_eq!(sim.rate_limit(RateResource::Core).remaining, remaining);

    // A stale tag gets a full answer, which counts.
    let (status, h, _) =
        get_with(&sim, "/repos/acme/svc", &[("if-none-match", "W/\"0000\"")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header_u64(&h, "x-ratelimit-remaining"), remaining - 1);

    // New data, new tag.
    sim.commit("svc", "main", change("feat: x", None, "x", 1, 0));
    let (status, h, _) = get_with(&sim, "/repos/acme/svc", &[("if-none-match", &etag)]).await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(header(&h, "etag"), etag);

    let recorded = sim.requests();
    assert_eq!(recorded.len(), 6);
    assert_eq!(sim.request_count(), 6);
    assert_eq!(recorded[1].status, 304);
    assert!(recorded[1].had_if_none_match);
    assert!(!recorded[0].had_if_none_match);
    assert_eq!(recorded[0].method, "GET");
    assert_eq!(recorded[0].path, "/repos/acme/svc");
    sim.reset_counters();
    assert_eq!(sim.request_count(), 0);
    assert!(sim.requests().is_empty());
}

#[tokio::test]
async fn token_is_checked_when_set() {
    let sim = SimGithub::start("acme").await.unwrap();
    sim.add_repo("svc");
    sim.set_token(Some("s3cret".to_owned()));
    let (status, h, body) = get(&sim, "/repos/acme/svc").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["message"], "Bad credentials");
    assert_eq!(body["documentation_url"], "https://docs.github.com/rest");
    assert_eq!(body["status"], "401");
    assert!(h.contains_key("x-ratelimit-limit"));
    let (status, _, _) =
        get_with(&sim, "/repos/acme/svc", &[("authorization", "Bearer nope")]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = get_with(
        &sim,
        "/repos/acme/svc",
        &[("authorization", "Bearer s3cret")],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = get_with(
        &sim,
        "/repos/acme/svc",
        &[("authorization", "token s3cret")],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, body) = graphql(&sim, "{ rateLimit { remaining } }", Value::Null).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["message"], "Bad credentials");
    let rec = sim.requests();
    assert!(!rec[0].had_authorization);
    assert!(rec[1].had_authorization);
    sim.set_token(None);
    let (status, _, _) = get(&sim, "/repos/acme/svc").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn primary_rate_limit_runs_out_and_refills() {
    let sim = SimGithub::start("acme").await.unwrap();
    sim.add_repo("svc");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();

    let (status, h, body) = get(&sim, "/rate_limit").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["resources"]["core"]["remaining"], 5000);
    assert_eq!(body["rate"]["limit"], 5000);
    assert_eq!(header_u64(&h, "x-ratelimit-remaining"), 5000);

    sim.set_rate_limit(100, 2, now + 600);
    let (s1, h1, _) = get(&sim, "/repos/acme/svc").await;
    let (s2, h2, _) = get(&sim, "/repos/acme/svc").await;
    let (s3, h3, body) = get(&sim, "/repos/acme/svc").await;
    assert_eq!(
        (s1, s2, s3),
        (StatusCode::OK, StatusCode::OK, StatusCode::FORBIDDEN)
    );
    assert_eq!(header_u64(&h1, "x-ratelimit-remaining"), 1);
    assert_eq!(header_u64(&h2, "x-ratelimit-remaining"), 0);
    assert_eq!(header_u64(&h3, "x-ratelimit-remaining"), 0);
    assert_eq!(header_u64(&h3, "x-ratelimit-reset"), now + 600);
    assert_eq!(header_u64(&h3, "x-ratelimit-used"), 100);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("API rate limit exceeded")
    );

    // /rate_limit is free even when the limit is exhausted.
    let (status, _, body) = get(&sim, "/rate_limit").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["resources"]["core"]["remaining"], 0);
    assert_eq!(body["resources"]["core"]["used"], 100);

    // GraphQL over its primary limit answers 200 with an error.
    let (status, h, body) = graphql(&sim, "{ rateLimit { remaining } }", Value::Null).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&h, "x-ratelimit-resource"), "graphql");
    assert_eq!(header_u64(&h, "x-ratelimit-remaining"), 1);
    assert_eq!(body["data"]["rateLimit"]["remaining"], 1);
    graphql(&sim, "{ rateLimit { remaining } }", Value::Null).await;
    let (status, h, body) = graphql(&sim, "{ rateLimit { remaining } }", Value::Null).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header_u64(&h, "x-ratelimit-remaining"), 0);
    assert_eq!(body["errors"][0]["type"], "RATE_LIMITED");

    // Once the reset time has passed the window refills.
    sim.set_rate_limit(100, 0, now.saturating_sub(1));
    let (status, h, _) = get(&sim, "/repos/acme/svc").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header_u64(&h, "x-ratelimit-remaining"), 99);
    assert!(header_u64(&h, "x-ratelimit-reset") > now);
}
