//! Releases through the API: the real server against the simulated GitHub over sockets, on
//! SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::json;
use shipyard_sim::github::{CommitSpec, SimGithub};

/// 150 quiet repos around a few that change in every way the release cares about.
fn busy_org(sim: &SimGithub) {
    for i in 0..150 {
        repo_unchanged(sim, &format!("svc-{i:03}"));
    }
    repo_with_changes(
        sim,
        "auth-service",
        &[
            commit("feat(oidc): PKCE for public clients", "alice"),
            CommitSpec::new(
                "fix: rotate keys\n\nBREAKING CHANGE: old keys are dropped",
                "Carol Ng",
                "carol@example.com",
            )
            .file("helm/auth/values.yaml", 2, 2)
            .file("src/keys.rs", 40, 5),
            commit("chore: tidy", "bob"),
        ],
    );
    sim.open_pr("auth-service", "uat", "master", "Release uat");

    // billing: an earlier release PR merged, then one more commit: the newest PR is the merged one.
    repo_with_changes(sim, "billing", &[commit("feat: invoices", "dave")]);
    let pr = sim.open_pr("billing", "uat", "master", "Release uat");
    sim.merge_pr("billing", pr);
    sim.commit("billing", "uat", commit("fix: rounding", "erin"));

    // Missing branches, archived, and nothing ahead.
    sim.add_repo("no-uat");
    sim.create_branch("no-uat", "master", "main");
    sim.add_repo("no-master");
    sim.create_branch("no-master", "uat", "main");
    sim.commit("no-master", "uat", commit("feat: x", "alice"));
    repo_with_changes(sim, "old-thing", &[commit("feat: y", "alice")]);
    sim.set_archived("old-thing", true);
}

both_backends!(
    creates_a_release_across_a_multi_page_org,
    |backend| async move {
        let server = TestServer::start(backend, busy_org).await;
        let detail = server.create_release().await;

        assert_eq!(repo_names(&detail), vec!["auth-service", "billing"]);
        assert_eq!(detail["org"], ORG);
        assert_eq!(detail["release"]["status"], "pending");
        assert_eq!(detail["release"]["created_by"], "dev");

        let auth = repo(&detail, "auth-service");
        assert_eq!(auth["commit_count"], 3);
        assert_eq!(auth["contributors"], json!(["alice", "bob", "Carol Ng"]));
        assert_eq!(
            auth["summary"],
            json!([
                "chore: tidy",
                "fix: rotate keys",
                "feat(oidc): PKCE for public clients"
            ])
        );
        assert_eq!(auth["is_breaking"], true);
        assert_eq!(auth["infra_changes"], json!(["helm/auth/values.yaml"]));
        assert_eq!(auth["additions"], 3 + 42 + 3);
        assert_eq!(auth["deletions"], 1 + 7 + 1);
        assert_eq!(auth["pr_number"], 1);
        assert_eq!(auth["pr_state"], "open");
        assert_eq!(auth["merge_commit_sha"], json!(null));
        assert_eq!(
            auth["head_sha"],
            json!(server.sim.branch_head("auth-service", "uat"))
        );

        let billing = repo(&detail, "billing");
        assert_eq!(billing["commit_count"], 1);
        assert_eq!(billing["contributors"], json!(["erin"]));
        assert_eq!(billing["pr_state"], "merged");
        assert_eq!(billing["pr_number"], 1);
        let merge_sha = billing["merge_commit_sha"].as_str().expect("merge sha");
        assert_eq!(merge_sha.len(), 40);

        // What was skipped, and why.
        let skipped = &detail["gathered"]["skipped"];
        assert_eq!(detail["gathered"]["scanned"], 155);
        assert_eq!(skipped["nothing_ahead"], 150);
        assert_eq!(skipped["source_missing"], 1);
        assert_eq!(skipped["dest_missing"], 1);
        assert_eq!(skipped["archived"], 1);

        // The stored release reads back the same, and lists with its counts.
        let (status, again) = server
            .get(
                "viewer",
                &format!(
                    "/api/releases/{}",
                    detail["release"]["id"].as_str().unwrap()
                ),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(again["repos"], detail["repos"]);
        let (_, list) = server.get("viewer", "/api/releases").await;
        assert_eq!(list["releases"][0]["repo_count"], 2);
        assert_eq!(list["releases"][0]["commit_count"], 4);
        assert_eq!(list["next_cursor"], json!(null));
        server.stop().await;
    }
);

both_backends!(rest_fallback_pages_through_the_org, |backend| async move {
    // A GitHub whose GraphQL endpoint is missing: every repo is compared over REST, page by page.
    let server = TestServer::start_with(backend, busy_org, |c| {
        if let Some(gh) = c.github.as_mut() {
            gh.graphql_url = Some(format!("{}/no-graphql-here", gh.api_url));
        }
    })
    .await;
    let detail = server.create_release().await;
    assert_eq!(repo_names(&detail), vec!["auth-service", "billing"]);
    assert_eq!(repo(&detail, "auth-service")["commit_count"], 3);
    let pages: Vec<String> = server
        .sim
        .requests()
        .into_iter()
        .map(|r| r.path)
        .filter(|p| p.starts_with("/orgs/acme/repos"))
        .collect();
    assert_eq!(pages.len(), 2, "two pages of 100: {pages:?}");
    server.stop().await;
});

fn small_org(sim: &SimGithub) {
    for (name, n) in [
        ("api-gateway", 2),
        ("auth-service", 1),
        ("user-service", 3),
        ("frontend", 1),
    ] {
        let commits: Vec<CommitSpec> = (0..n)
            .map(|i| commit(&format!("feat: change {i}"), "alice"))
            .collect();
        repo_with_changes(sim, name, &commits);
    }
}

async fn repo_id(server: &TestServer, id: &str, name: &str) -> i64 {
    let (_, detail) = server.get("viewer", &format!("/api/releases/{id}")).await;
    repo(&detail, name)["id"].as_i64().expect("repo id")
}

both_backends!(
    exclusion_dependencies_and_deploy_order,
    |backend| async move {
        let server = TestServer::start(backend, small_org).await;
        let detail = server.create_release().await;
        let id = detail["release"]["id"].as_str().unwrap().to_owned();
        assert_eq!(
            detail["deploy_order"]["levels"],
            json!([["api-gateway", "auth-service", "frontend", "user-service"]])
        );

        let path = |name_id: i64| format!("/api/releases/{id}/repos/{name_id}");
        let gw = repo_id(&server, &id, "api-gateway").await;
        let users = repo_id(&server, &id, "user-service").await;
        let front = repo_id(&server, &id, "frontend").await;
        let auth = repo_id(&server, &id, "auth-service").await;

        server
            .patch("dev", &path(gw), json!({"depends_on": ["auth-service"]}))
            .await;
        server
            .patch("dev", &path(users), json!({"depends_on": ["auth-service"]}))
            .await;
        let (status, d) = server
            .patch(
                "dev",
                &path(front),
                json!({"depends_on": ["api-gateway", "user-service"]}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{d}");
        assert_eq!(
            d["deploy_order"]["levels"],
            json!([
                ["auth-service"],
                ["api-gateway", "user-service"],
                ["frontend"]
            ])
        );
        assert_eq!(d["deploy_order"]["cycle"], json!(null));

        // A cycle is an error value naming the repos, not a failure.
        let (status, d) = server
            .patch("dev", &path(auth), json!({"depends_on": ["frontend"]}))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            d["deploy_order"]["cycle"],
            json!(["api-gateway", "auth-service", "frontend"])
        );

        // Excluding a repo on the cycle breaks it, and dependencies on it become warnings.
        let (_, d) = server
            .patch("dev", &path(auth), json!({"excluded": true}))
            .await;
        assert_eq!(repo(&d, "auth-service")["excluded"], true);
        assert_eq!(d["deploy_order"]["cycle"], json!(null));
        assert_eq!(
            d["deploy_order"]["levels"],
            json!([["api-gateway", "user-service"], ["frontend"]])
        );
        assert_eq!(
            d["deploy_order"]["warnings"],
            json!([
                "api-gateway depends on auth-service, which is excluded",
                "user-service depends on auth-service, which is excluded"
            ])
        );

        // Dependencies the release cannot take are refused whole, as a conflict with it.
        let (status, e) = server
            .patch("dev", &path(gw), json!({"depends_on": ["no-such-repo"]}))
            .await;
        assert_eq!((status, code(&e)), (StatusCode::CONFLICT, "conflict"));
        assert!(
            e["error"]["message"]
                .as_str()
                .unwrap()
                .contains("depends_on")
        );
        let (status, e) = server
            .patch("dev", &path(gw), json!({"depends_on": ["api-gateway"]}))
            .await;
        assert_eq!((status, code(&e)), (StatusCode::CONFLICT, "conflict"));
        let (status, e) = server
            .patch(
                "dev",
                &format!("/api/releases/{id}/repos/999999"),
                json!({"excluded": true}),
            )
            .await;
        assert_eq!((status, code(&e)), (StatusCode::NOT_FOUND, "not_found"));

        let actions = server.history_actions(&id).await;
        assert_eq!(
            actions,
            vec![
                "created",
                "dependencies_updated",
                "dependencies_updated",
                "dependencies_updated",
                "dependencies_updated",
                "repo_excluded"
            ]
        );
        server.stop().await;
    }
);

both_backends!(
    sign_offs_roles_separation_and_idempotence,
    |backend| async move {
        let server = TestServer::start(backend, small_org).await;
        let id = server.create_release_id().await;
        let dev = format!("/api/releases/{id}/approve/dev");
        let qa = format!("/api/releases/{id}/approve/qa");

        // Wrong role: 403 naming the role.
        let (status, e) = server.post("qa", &dev, json!({})).await;
        assert_eq!((status, code(&e)), (StatusCode::FORBIDDEN, "forbidden"));
        assert!(
            e["error"]["message"]
                .as_str()
                .unwrap()
                .contains("dev_approver"),
            "{e}"
        );
        let (status, e) = server.post("viewer", &qa, json!({})).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(
            e["error"]["message"]
                .as_str()
                .unwrap()
                .contains("qa_approver")
        );

        // One person may not give both.
        let (status, d) = server.post("both", &dev, json!({})).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(d["release"]["dev_approved_by"], "both");
        let (status, e) = server.post("both", &qa, json!({})).await;
        assert_eq!((status, code(&e)), (StatusCode::CONFLICT, "conflict"));

        // Repeats change nothing.
        let (status, d1) = server.post("both", &dev, json!({})).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            d1["release"]["dev_approved_at"],
            d["release"]["dev_approved_at"]
        );

        let (status, d) = server.post("qa", &qa, json!({})).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(d["release"]["status"], "approved");
        let (_, d2) = server.post("qa", &qa, json!({})).await;
        assert_eq!(d2["release"], d["release"]);

        // Revoke, twice: the second is a no-op.
        let (status, d) = server.delete("qa", &qa).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(d["release"]["status"], "pending");
        assert_eq!(d["release"]["qa_approved_by"], json!(null));
        let (status, _) = server.delete("qa", &qa).await;
        assert_eq!(status, StatusCode::OK);

        // Admin may give either.
        let (status, d) = server.post("admin", &qa, json!({})).await;
        assert_eq!(status, StatusCode::OK, "{d}");
        assert_eq!(d["release"]["status"], "approved");

        assert_eq!(
            server.history_actions(&id).await,
            vec![
                "created",
                "approved_dev",
                "approved_qa",
                "status_changed",
                "revoked_qa",
                "status_changed",
                "approved_qa",
                "status_changed"
            ]
        );
        server.stop().await;
    }
);

both_backends!(
    new_commits_reset_sign_offs_merges_do_not,
    |backend| async move {
        let server = TestServer::start(backend, small_org).await;
        let id = server.create_release_id().await;
        server
            .post("dev", &format!("/api/releases/{id}/approve/dev"), json!({}))
            .await;
        let (_, approved) = server
            .post("qa", &format!("/api/releases/{id}/approve/qa"), json!({}))
            .await;
        assert_eq!(approved["release"]["status"], "approved");
        let fingerprint = approved["release"]["content_fingerprint"].clone();

        // Nothing new on GitHub: a refresh stores when it looked, and writes no history.
        let history = server.history_actions(&id).await;
        let (status, d) = server
            .post("dev", &format!("/api/releases/{id}/refresh"), json!({}))
            .await;
        assert_eq!(status, StatusCode::OK, "{d}");
        assert_eq!(d["release"]["status"], "approved");
        assert_eq!(server.history_actions(&id).await, history);

        // The release PR of api-gateway merges: the repo stays, with its merge commit; nothing resets.
        let pr = server
            .sim
            .open_pr("api-gateway", "uat", "master", "Release");
        let merge_sha = server.sim.merge_pr("api-gateway", pr);
        let (status, d) = server
            .post("dev", &format!("/api/releases/{id}/refresh"), json!({}))
            .await;
        assert_eq!(status, StatusCode::OK, "{d}");
        assert_eq!(d["release"]["status"], "approved");
        assert_eq!(d["release"]["content_fingerprint"], fingerprint);
        let gw = repo(&d, "api-gateway");
        assert_eq!(
            (gw["pr_state"].as_str(), gw["merge_commit_sha"].as_str()),
            (Some("merged"), Some(merge_sha.as_str()))
        );
        assert_eq!(gw["commit_count"], 2);

        // A new commit on uat in an included repo: both sign-offs go, and history says why.
        server
            .sim
            .commit("user-service", "uat", commit("fix: late change", "mallory"));
        let (_, d) = server
            .post("dev", &format!("/api/releases/{id}/refresh"), json!({}))
            .await;
        assert_eq!(d["release"]["status"], "pending");
        assert_eq!(d["release"]["dev_approved_by"], json!(null));
        assert_eq!(d["release"]["qa_approved_by"], json!(null));
        assert_ne!(d["release"]["content_fingerprint"], fingerprint);
        assert_eq!(repo(&d, "user-service")["commit_count"], 4);

        let (_, history) = server
            .get("viewer", &format!("/api/releases/{id}/history"))
            .await;
        let reset = history["history"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["action"] == "approvals_reset")
            .expect("reset entry");
        assert_eq!(reset["details"]["repos"], json!(["user-service"]));
        assert_eq!(reset["details"]["sign_offs"], json!(["dev", "qa"]));
        assert_eq!(reset["actor"], "dev");

        // A repo that starts changing after creation joins the release and resets too.
        server
            .post("dev", &format!("/api/releases/{id}/approve/dev"), json!({}))
            .await;
        repo_with_changes(&server.sim, "late-comer", &[commit("feat: new", "zed")]);
        let (_, d) = server
            .post("dev", &format!("/api/releases/{id}/refresh"), json!({}))
            .await;
        assert!(repo_names(&d).contains(&"late-comer".to_owned()));
        assert_eq!(d["release"]["dev_approved_by"], json!(null));

        // Excluding a repo changes the snapshot: sign-offs reset as well.
        server
            .post("dev", &format!("/api/releases/{id}/approve/dev"), json!({}))
            .await;
        let late = repo_id(&server, &id, "late-comer").await;
        let (_, d) = server
            .patch(
                "dev",
                &format!("/api/releases/{id}/repos/{late}"),
                json!({"excluded": true}),
            )
            .await;
        assert_eq!(d["release"]["dev_approved_by"], json!(null));
        // Notes and dependencies do not.
        server
            .post("dev", &format!("/api/releases/{id}/approve/dev"), json!({}))
            .await;
        let (_, d) = server
            .patch(
                "dev",
                &format!("/api/releases/{id}"),
                json!({"notes": "Deploy after 18:00"}),
            )
            .await;
        assert_eq!(d["release"]["dev_approved_by"], "dev");
        assert_eq!(d["release"]["notes"], "Deploy after 18:00");
        server.stop().await;
    }
);

both_backends!(deployed_and_cancelled_are_read_only, |backend| async move {
    let server = TestServer::start(backend, small_org).await;
    let id = server.create_release_id().await;
    let rel = format!("/api/releases/{id}");

    // Only an approved release can be deployed.
    let (status, e) = server
        .patch("admin", &rel, json!({"status": "deployed"}))
        .await;
    assert_eq!((status, code(&e)), (StatusCode::CONFLICT, "conflict"));
    let (status, e) = server
        .patch("viewer", &rel, json!({"status": "cancelled"}))
        .await;
    assert_eq!((status, code(&e)), (StatusCode::FORBIDDEN, "forbidden"));
    let (status, e) = server
        .patch("admin", &rel, json!({"status": "approved"}))
        .await;
    assert_eq!(
        (status, code(&e)),
        (StatusCode::BAD_REQUEST, "invalid_input")
    );

    server
        .post("dev", &format!("{rel}/approve/dev"), json!({}))
        .await;
    server
        .post("qa", &format!("{rel}/approve/qa"), json!({}))
        .await;
    let (status, d) = server
        .patch("qa", &rel, json!({"status": "deployed"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(d["release"]["status"], "deployed");

    let gw = repo_id(&server, &id, "api-gateway").await;
    for (method, path, body) in [
        (
            reqwest::Method::PATCH,
            rel.clone(),
            Some(json!({"notes": "late"})),
        ),
        (
            reqwest::Method::PATCH,
            format!("{rel}/repos/{gw}"),
            Some(json!({"excluded": true})),
        ),
        (reqwest::Method::POST, format!("{rel}/refresh"), None),
        (reqwest::Method::DELETE, format!("{rel}/approve/qa"), None),
        (reqwest::Method::POST, format!("{rel}/approve/dev"), None),
        (
            reqwest::Method::PATCH,
            rel.clone(),
            Some(json!({"status": "cancelled"})),
        ),
    ] {
        let (status, e) = server
            .call(Some("admin"), method.clone(), &path, body)
            .await;
        assert_eq!(
            (status, code(&e)),
            (StatusCode::CONFLICT, "conflict"),
            "{method} {path}: {e}"
        );
        assert!(
            e["error"]["message"].as_str().unwrap().contains("deployed"),
            "{e}"
        );
    }

    // A cancelled release is read-only too.
    let id2 = server.create_release_id().await;
    let (status, d) = server
        .patch(
            "dev",
            &format!("/api/releases/{id2}"),
            json!({"status": "cancelled"}),
        )
        .await;
    assert_eq!(
        (status, d["release"]["status"].as_str()),
        (StatusCode::OK, Some("cancelled"))
    );
    let (status, e) = server
        .post(
            "dev",
            &format!("/api/releases/{id2}/approve/dev"),
            json!({}),
        )
        .await;
    assert_eq!((status, code(&e)), (StatusCode::CONFLICT, "conflict"));

    // Filters on the list.
    let (_, l) = server.get("viewer", "/api/releases?status=cancelled").await;
    assert_eq!(l["releases"].as_array().unwrap().len(), 1);
    assert_eq!(l["releases"][0]["id"], id2.as_str());
    let (_, l) = server.get("viewer", "/api/releases?limit=1").await;
    assert_eq!(l["releases"][0]["id"], id2.as_str(), "newest first");
    let cursor = l["next_cursor"].as_str().expect("a second page").to_owned();
    let (_, l2) = server
        .get("viewer", &format!("/api/releases?limit=1&cursor={cursor}"))
        .await;
    assert_eq!(l2["releases"][0]["id"], id.as_str());
    assert_eq!(l2["next_cursor"], json!(null));
    server.stop().await;
});

both_backends!(
    unchanged_answers_are_served_from_etags,
    |backend| async move {
        let server = TestServer::start(backend, small_org).await;
        let id = server.create_release_id().await;
        server.sim.reset_counters();
        let (status, _) = server
            .post("dev", &format!("/api/releases/{id}/refresh"), json!({}))
            .await;
        assert_eq!(status, StatusCode::OK);
        let requests = server.sim.requests();
        let conditional: Vec<_> = requests.iter().filter(|r| r.method == "GET").collect();
        assert!(!conditional.is_empty());
        // Every REST read was asked before: each went out with If-None-Match and came back 304.
        for r in &conditional {
            assert!(r.had_if_none_match, "{r:?}");
            assert_eq!(r.status, 304, "{r:?}");
        }
        server.stop().await;
    }
);

both_backends!(
    the_detail_is_answered_with_an_etag_and_gzip_to_those_who_accept_it,
    |backend| async move {
        use std::io::Read as _;
        let server = TestServer::start(backend, small_org).await;
        let id = server.create_release_id().await;
        let url = format!("{}/api/releases/{id}", server.base);
        let ask = |accept: Option<&'static str>, etag: Option<String>| {
            let mut req = server.http.get(&url).bearer_auth(&server.tokens["viewer"]);
            if let Some(a) = accept {
                req = req.header("accept-encoding", a);
            }
            if let Some(t) = etag {
                req = req.header("if-none-match", t);
            }
            req.send()
        };
        // As it is.
        let plain = ask(None, None).await.unwrap();
        assert_eq!(plain.status(), StatusCode::OK);
        assert!(plain.headers().get("content-encoding").is_none());
        assert_eq!(plain.headers()["vary"], "accept-encoding");
        let plain_tag = plain.headers()["etag"].to_str().unwrap().to_owned();
        let plain_body = plain.bytes().await.unwrap();
        // As a browser asks: gzip, with a tag of its own, inflating to the same JSON.
        let packed = ask(Some("gzip, deflate, br, zstd"), None).await.unwrap();
        assert_eq!(packed.status(), StatusCode::OK);
        assert_eq!(packed.headers()["content-encoding"], "gzip");
        assert_eq!(packed.headers()["content-type"], "application/json");
        let packed_tag = packed.headers()["etag"].to_str().unwrap().to_owned();
        assert_ne!(packed_tag, plain_tag);
        let packed_body = packed.bytes().await.unwrap();
        assert!(packed_body.len() < plain_body.len());
        let mut inflated = Vec::new();
        flate2::read::GzDecoder::new(&packed_body[..])
            .read_to_end(&mut inflated)
            .unwrap();
        assert_eq!(inflated, plain_body);
        // gzip refused by weight: as it is.
        let refused = ask(Some("gzip;q=0, br"), None).await.unwrap();
        assert!(refused.headers().get("content-encoding").is_none());
        // Either tag sent back, with either encoding asked: 304 while nothing changed.
        for (accept, tag) in [
            (None, &plain_tag),
            (Some("gzip"), &packed_tag),
            (None, &packed_tag),
            (Some("gzip"), &plain_tag),
        ] {
            let again = ask(accept, Some(tag.clone())).await.unwrap();
            assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{accept:?} {tag}");
            assert!(again.bytes().await.unwrap().is_empty());
        }
        // A change gives a new tag: the old one is answered in full.
        let (status, _) = server
            .post("dev", &format!("/api/releases/{id}/approve/dev"), json!({}))
            .await;
        assert_eq!(status, StatusCode::OK);
        let changed = ask(Some("gzip"), Some(packed_tag.clone())).await.unwrap();
        assert_eq!(changed.status(), StatusCode::OK);
        assert_ne!(changed.headers()["etag"].to_str().unwrap(), packed_tag);
        server.stop().await;
    }
);

both_backends!(live_events_follow_changes, |backend| async move {
    let server = TestServer::start(backend, small_org).await;
    let id = server.create_release_id().await;
    let mut stream = server
        .http
        .get(format!("{}/api/releases/{id}/events", server.base))
        .bearer_auth(&server.tokens["viewer"])
        .send()
        .await
        .unwrap();
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    server
        .post("dev", &format!("/api/releases/{id}/approve/dev"), json!({}))
        .await;

    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !(seen.contains("\"kind\":\"approvals\"") && seen.contains("\"kind\":\"history\"")) {
        let chunk = tokio::time::timeout_at(deadline, stream.chunk())
            .await
            .expect("events in time")
            .unwrap()
            .expect("stream open");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains("event: release"), "{seen}");
    assert!(seen.contains(&format!("\"release_id\":\"{id}\"")), "{seen}");
    server.stop().await;
});

both_backends!(list_search_and_filters, |backend| async move {
    let server = TestServer::start(backend, |sim| {
        small_org(sim);
        for repo in ["api-gateway", "auth-service"] {
            sim.create_branch(repo, "dev", "uat");
            sim.commit(repo, "dev", commit("feat: next", "alice"));
        }
    })
    .await;
    let first = server.create_release_id().await;
    let (_, second) = server
        .post(
            "qa",
            "/api/releases",
            json!({"source_branch": "dev", "dest_branch": "uat"}),
        )
        .await;
    let second = second["release"]["id"].as_str().unwrap().to_owned();
    server
        .patch(
            "dev",
            &format!("/api/releases/{first}"),
            json!({"notes": "Includes the Billing migration"}),
        )
        .await;

    let ids = |v: &serde_json::Value| -> Vec<String> {
        v["releases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        ids(&server.get("viewer", "/api/releases").await.1),
        vec![second.clone(), first.clone()]
    );
    assert_eq!(
        ids(&server.get("viewer", "/api/releases?source=dev").await.1),
        vec![second.clone()]
    );
    assert_eq!(
        ids(&server.get("viewer", "/api/releases?dest=master").await.1),
        vec![first.clone()]
    );
    assert_eq!(
        ids(&server
            .get("viewer", "/api/releases?q=billing%20MIGRATION")
            .await
            .1),
        vec![first.clone()]
    );
    assert_eq!(
        ids(&server
            .get("viewer", &format!("/api/releases?q={second}"))
            .await
            .1),
        vec![second.clone()]
    );
    assert!(
        ids(&server
            .get("viewer", "/api/releases?status=approved")
            .await
            .1)
        .is_empty()
    );
    server.stop().await;
});
