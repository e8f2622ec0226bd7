//! `github.pr_comments: true`: the real server keeps one comment on each release pull request,
//! following the release (sign-offs, then CI), against the simulated GitHub over a socket.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::json;
use shipyard_core::dashboard;
use std::time::Duration;

/// Waits until the release comment on `repo`'s PR #1 satisfies `done`; returns its body.
async fn comment_when(server: &TestServer, repo: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mine: Vec<_> = server
            .sim
            .comments(repo, 1)
            .into_iter()
            .filter(|c| c.login == "shipyard-releases" && dashboard::is_release_comment(&c.body))
            .collect();
        assert!(mine.len() <= 1, "one comment per PR: {mine:#?}");
        if let Some(c) = mine.first()
            && done(&c.body)
        {
            return c.body.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the comment on {repo} never got there: {mine:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

both_backends!(
    a_release_pull_request_comment_follows_the_release,
    |backend| async move {
        let mut server = TestServer::start_with(
            backend,
            |sim| {
                sim.set_token_login("shipyard-releases");
                for repo in ["billing", "ledger"] {
                    repo_with_changes(sim, repo, &[commit("feat: x", "alice")]);
                    sim.open_pr(repo, "uat", "master", "Release");
                }
                // Someone quoting the marker is not the release comment.
                sim.add_comment("billing", 1, "mallory", dashboard::RELEASE_MARKER);
            },
            |c| {
                c.ci.poll_interval = Duration::from_secs(1);
                c.github.as_mut().unwrap().pr_comments = true;
            },
        )
        .await;
        let id = server.create_release_id().await;
        let body = comment_when(&server, "billing", |b| {
            b.contains("| Dev sign-off | ⏳ pending |")
        })
        .await;
        assert!(body.contains(&format!("/releases/{id})")), "{body}");
        assert!(body.contains("Release uat → master · pending"), "{body}");
        comment_when(&server, "ledger", |b| {
            b.contains("| QA sign-off | ⏳ pending |")
        })
        .await;

        for kind in ["dev", "qa"] {
            let who = if kind == "dev" { "dev" } else { "qa" };
            let (s, b) = server
                .post(
                    who,
                    &format!("/api/releases/{id}/approve/{kind}"),
                    json!({}),
                )
                .await;
            assert_eq!(s, reqwest::StatusCode::OK, "{b}");
        }
        comment_when(&server, "billing", |b| {
            b.contains("| Dev sign-off | ✅ success — by dev |")
                && b.contains("| QA sign-off | ✅ success — by qa |")
                && b.contains("· approved")
        })
        .await;

        let sha = server.sim.merge_pr("billing", 1);
        let (s, _) = server
            .post("dev", &format!("/api/releases/{id}/refresh"), json!({}))
            .await;
        assert_eq!(s, reqwest::StatusCode::OK);
        server
            .sim
            .successful_build("billing", "general.yaml", "master", &sha, "1.1.937");
        comment_when(&server, "billing", |b| {
            b.contains("✅ success — chart 1.1.937")
        })
        .await;

        // After a restart the comment is found again, not posted twice.
        let before = server.sim.requests().len();
        server.restart_with(|_| {}).await;
        let (s, b) = server
            .patch(
                "dev",
                &format!("/api/releases/{id}"),
                json!({"notes": "Payments first."}),
            )
            .await;
        assert_eq!(s, reqwest::StatusCode::OK, "{b}");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        // The new leader lists the PR's comments once to find its own again.
        while !server.sim.requests()[before..]
            .iter()
            .any(|r| r.method == "GET" && r.path.contains("/issues/1/comments"))
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no sync after the restart"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
        let own: Vec<_> = server
            .sim
            .comments("billing", 1)
            .into_iter()
            .filter(|c| c.login == "shipyard-releases")
            .collect();
        assert_eq!(own.len(), 1, "{own:#?}");
        server.stop().await;
    }
);
