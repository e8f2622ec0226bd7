//! Chat notifications owed by a release: "Release Ready to Deploy" is written to the outbox once
//! per approval cycle, in the transaction of the sign-off that completes the approval, and only
//! for releases started from a chat channel. Sending them is the bot's part.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::json;
use shipyard_store::Backend;

fn two_repos(sim: &shipyard_sim::github::SimGithub) {
    repo_with_changes(sim, "billing", &[commit("feat: a", "alice")]);
    repo_with_changes(sim, "payments", &[commit("fix: b", "bob")]);
}

/// The outbox rows of the release but its summary post (which every release with a channel has).
async fn outbox(server: &TestServer, id: &str) -> Vec<shipyard_store::NotificationRecord> {
    let mut rows = all_rows(server, id).await;
    rows.retain(|r| r.kind != "summary");
    rows
}

both_backends!(
    ready_to_deploy_once_per_approval_cycle,
    |backend| async move {
        let server = TestServer::start(backend, two_repos).await;
        let (s, created) = server
        .post(
            "dev",
            "/api/releases",
            json!({"source_branch": "uat", "dest_branch": "master", "channel_id": "town-square"}),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{created}");
        let id = created["release"]["id"].as_str().unwrap().to_owned();

        sign(&server, &id, "dev", "dev", true).await;
        assert!(
            outbox(&server, &id).await.is_empty(),
            "one sign-off is not an approval"
        );
        sign(&server, &id, "qa", "qa", true).await;
        let rows = outbox(&server, &id).await;
        assert_eq!(rows.len(), 1, "{rows:?}");
        let n = &rows[0];
        assert_eq!(n.kind, "ready");
        assert_eq!(n.channel_id, "town-square");
        assert_eq!(n.idempotency_key, format!("ready:{id}:1"));
        assert_eq!(
            n.message,
            format!(
                "✅ **Release Ready to Deploy**\n`uat` → `master` | 2 repositories\n\
             Approved by: dev (Dev), qa (QA)\n[View Details]({}/releases/{id})",
                server.base
            )
        );
        assert_eq!(n.sent_at, None);

        // Signing again changes nothing; a revoke and a new approval is a new cycle: one more.
        let (s, _) = server
            .post("qa", &format!("/api/releases/{id}/approve/qa"), json!({}))
            .await;
        assert!(s.is_success() || s == StatusCode::CONFLICT, "{s}");
        assert_eq!(outbox(&server, &id).await.len(), 1);
        sign(&server, &id, "qa", "qa", false).await;
        sign(&server, &id, "qa", "qa", true).await;
        let keys: Vec<String> = outbox(&server, &id)
            .await
            .into_iter()
            .map(|n| n.idempotency_key)
            .collect();
        assert_eq!(keys, [format!("ready:{id}:1"), format!("ready:{id}:2")]);

        // The summary post is owed from the creation on: top level for a release created
        // through the API (from chat it is a reply in the command's thread).
        let rows = all_rows(&server, &id).await;
        let summary = rows.iter().find(|r| r.kind == "summary").unwrap();
        assert_eq!(summary.idempotency_key, format!("summary:{id}"));
        assert_eq!(summary.root_id, None);
        assert!(
            summary.message.starts_with(
                "## Release: `uat` → `master`\n**Repositories:** 2 | **Commits:** 2 |"
            ),
            "{}",
            summary.message
        );

        // Marking it deployed owes one "Release Deployed"; doing it again owes nothing more.
        let path = format!("/api/releases/{id}");
        let (s, body) = server
            .patch("admin", &path, json!({"status": "deployed"}))
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        let (s, _) = server
            .patch("admin", &path, json!({"status": "deployed"}))
            .await;
        assert!(s.is_success() || s == StatusCode::CONFLICT, "{s}");
        let deployed: Vec<_> = outbox(&server, &id)
            .await
            .into_iter()
            .filter(|n| n.kind == "deployed")
            .collect();
        assert_eq!(deployed.len(), 1, "{deployed:?}");
        assert_eq!(deployed[0].idempotency_key, format!("deployed:{id}"));
        assert!(
            deployed[0]
                .message
                .starts_with("🚀 **Release Deployed**\n`uat` → `master` | 2 repositories"),
            "{}",
            deployed[0].message
        );
        server.stop().await;
    }
);

#[tokio::test]
async fn releases_not_started_from_chat_owe_no_post() {
    let server = TestServer::start(Backend::Sqlite, two_repos).await;
    let id = server.create_release_id().await;
    sign(&server, &id, "dev", "dev", true).await;
    sign(&server, &id, "qa", "qa", true).await;
    let (_, d) = server.get("viewer", &format!("/api/releases/{id}")).await;
    assert_eq!(d["release"]["status"], "approved");
    assert!(all_rows(&server, &id).await.is_empty());
    server.stop().await;
}
