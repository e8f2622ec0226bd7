//! Deployment tracking through the real server: `GET /api/releases/{id}/deployment-status`,
//! `deployment_summary` in the release detail and list, and the Argo CD push hint
//! `POST /webhooks/argocd` (shared secret, body never trusted), on both backends, with the
//! simulated GitHub and two simulated Argo CDs over loopback. Without `argocd` nothing claims a
//! deployment state.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use shipyard_config::{ArgocdConfig, ArgocdEnvironment, Secret, VersionSource};
use shipyard_sim::argocd::{ArgoCdOptions as SimOptions, ArgoCdSim, SimApp};
use std::collections::BTreeMap;
use std::time::Duration;

async fn argo(env: &str) -> (ArgoCdSim, String) {
    let token = shipyard_sim::argocd::random_api_token();
    let sim = ArgoCdSim::start(SimOptions::new(env, &token))
        .await
        .unwrap();
    sim.add_app(SimApp::new(
        &format!("billing-{env}"),
        "payments",
        "billing",
        "1.1.939",
    ));
    (sim, token)
}

/// Polls `path` until `done` holds (the server's trackers run on their own), at most 15 s.
async fn eventually(server: &TestServer, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..300 {
        let (status, body) = server.get("viewer", path).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        if done(&body) {
            return body;
        }
        last = body;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{path} never got there; last answer: {last:#}");
}

async fn hint(server: &TestServer, secret: Option<&str>, body: &str) -> (StatusCode, Value) {
    let mut req = server
        .http
        .post(format!("{}/webhooks/argocd", server.base))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(s) = secret {
        req = req.header("x-shipyard-secret", s);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn readyz(server: &TestServer) -> Value {
    let resp = server
        .http
        .get(format!("{}/readyz", server.base))
        .send()
        .await
        .unwrap();
    resp.json().await.unwrap()
}

fn state<'a>(body: &'a Value, env: &str) -> &'a Value {
    &body["statuses"][0]["environments"][env]["state"]
}

both_backends!(
    deployment_status_follows_argo_cd_and_a_push_hint_reads_at_once,
    |backend| async move {
        let (qa, qa_token) = argo("qa").await;
        let (prod, prod_token) = argo("prod").await;
        let secret = shipyard::demo::random_token("hint");
        let environments = [("qa", &qa, qa_token), ("prod", &prod, prod_token)]
            .into_iter()
            .map(|(name, sim, token)| {
                (
                    name.to_owned(),
                    ArgocdEnvironment {
                        url: sim.url(),
                        token: Some(Secret::new(token)),
                        cf_client_id: None,
                        cf_client_secret: None,
                        app_suffix: format!("-{name}"),
                        project: None,
                        app_namespace: None,
                    },
                )
            })
            .collect();
        let hook_secret = secret.clone();
        let server = TestServer::start_with(
            backend,
            |sim| {
                repo_with_changes(sim, "billing", &[commit("feat: pay", "alice")]);
                sim.open_pr("billing", "uat", "master", "Release");
            },
            move |config| {
                config.ci.poll_interval = Duration::from_secs(1);
                config.argocd = Some(ArgocdConfig {
                    // Long: in this test only the first read and push hints read anything.
                    poll_interval: Duration::from_secs(3600),
                    cache_ttl: Duration::from_secs(10),
                    deploy_environment: "prod".into(),
                    environments,
                    version_source: VersionSource::Auto,
                    overrides: BTreeMap::new(),
                    webhook_secret: Some(Secret::new(hook_secret)),
                    selector: None,
                });
            },
        )
        .await;
        let created = server.create_release().await;
        let id = created["release"]["id"].as_str().unwrap().to_owned();
        let summary = &created["deployment_summary"];
        assert_eq!(
            summary,
            &json!([
                {"environment": "qa", "total": 1, "deployed": 0, "rolling_out": 0, "mismatch": 0, "failed": 0, "waiting": 1, "unknown": 0},
                {"environment": "prod", "total": 1, "deployed": 0, "rolling_out": 0, "mismatch": 0, "failed": 0, "waiting": 1, "unknown": 0}
            ]),
            "no chart yet: waiting"
        );
        let path = format!("/api/releases/{id}/deployment-status");
        let (_, before) = server.get("viewer", &path).await;
        assert_eq!(before["environments"], json!(["qa", "prod"]));
        assert_eq!(before["statuses"][0]["environments"], json!({}));
        assert_eq!(before["any_pending"], true);

        // The PR merges, CI publishes 1.1.940: tracking starts and reads each environment once.
        let sha = server.sim.merge_pr("billing", 1);
        server
            .sim
            .successful_build("billing", "general.yaml", "master", &sha, "1.1.940");
        let (s, body) = server
            .post("dev", &format!("/api/releases/{id}/refresh"), json!({}))
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        let read = eventually(&server, &path, |b| {
            state(b, "qa") == "mismatch" && state(b, "prod") == "mismatch"
        })
        .await;
        let qa_status = &read["statuses"][0]["environments"]["qa"];
        assert_eq!(qa_status["app_name"], "billing-qa");
        assert_eq!(qa_status["current_version"], "1.1.939");
        assert_eq!(qa_status["expected_version"], "1.1.940");
        assert_eq!(qa_status["sync_status"], "Synced");
        assert_eq!(qa_status["health_status"], "Healthy");
        assert_eq!(qa_status["found"], true);
        assert_eq!(qa_status["error"], Value::Null);
        assert!(qa_status["last_checked_at"].as_i64().unwrap() > 0);
        assert_eq!(read["statuses"][0]["repo_name"], "billing");
        assert_eq!(read["any_pending"], true);

        let ready = readyz(&server).await;
        assert_eq!(
            ready["argocd"],
            json!([
                {"environment": "qa", "reachable": true, "error": null},
                {"environment": "prod", "reachable": true, "error": null}
            ]),
            "{ready:#}"
        );
        let (_, detail) = server.get("viewer", &format!("/api/releases/{id}")).await;
        assert_eq!(detail["deployment_summary"][0]["mismatch"], 1, "{detail:#}");
        let (_, list) = server.get("viewer", "/api/releases").await;
        assert_eq!(
            list["releases"][0]["deployment_summary"][1]["environment"],
            "prod"
        );
        assert_eq!(list["releases"][0]["deployment_summary"][1]["mismatch"], 1);

        // qa deploys; nothing reads it before the hour is up, unless Argo CD hints.
        qa.set_target("billing-qa", "1.1.940");
        qa.start_sync("billing-qa");
        qa.finish_sync("billing-qa");
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let (_, still) = server.get("viewer", &path).await;
        assert_eq!(state(&still, "qa"), "mismatch", "no read without a hint");

        let body =
            r#"{"app":"billing-qa","revision":"1.1.940","health":"Healthy","sync":"Synced"}"#;
        let (s, refused) = hint(&server, Some("wrong"), body).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{refused}");
        assert_eq!(refused["error"]["code"], "unauthenticated", "{refused}");
        let (s, _) = hint(&server, None, body).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        let (s, bad) = hint(&server, Some(&secret), "{\"revision\": 1}").await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}");
        let (s, bad) = hint(&server, Some(&secret), r#"{"app": ""}"#).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}");
        let qa_gets_before = qa.requests().total();
        let (s, accepted) = hint(&server, Some(&secret), body).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{accepted}");
        assert_eq!(accepted["tracked"], 1);
        let after = eventually(&server, &path, |b| state(b, "qa") == "deployed").await;
        assert_eq!(
            after["statuses"][0]["environments"]["qa"]["current_version"],
            "1.1.940"
        );
        assert_eq!(state(&after, "prod"), "mismatch");
        assert!(qa.requests().total() > qa_gets_before);

        // A hint is only a hint: a body claiming what Argo CD does not say changes nothing.
        let lie =
            r#"{"app":"billing-prod","revision":"1.1.940","health":"Healthy","sync":"Synced"}"#;
        let (s, _) = hint(&server, Some(&secret), lie).await;
        assert_eq!(s, StatusCode::ACCEPTED);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let (_, after) = server.get("viewer", &path).await;
        assert_eq!(
            state(&after, "prod"),
            "mismatch",
            "read from Argo CD, not from the hint"
        );
        // An app no release tracks is accepted and ignored.
        let (s, unknown) = hint(&server, Some(&secret), r#"{"app":"nobody-qa"}"#).await;
        assert_eq!((s, &unknown["tracked"]), (StatusCode::ACCEPTED, &json!(0)));

        server.stop().await;
        qa.shutdown().await;
        prod.shutdown().await;
    }
);

both_backends!(
    without_argo_cd_nothing_claims_a_deployment_state,
    |backend| async move {
        let server = TestServer::start(backend, |sim| {
            repo_with_changes(sim, "billing", &[commit("feat: pay", "alice")]);
        })
        .await;
        let created = server.create_release().await;
        let id = created["release"]["id"].as_str().unwrap().to_owned();
        assert_eq!(created["deployment_summary"], Value::Null);
        let (s, body) = server
            .get("viewer", &format!("/api/releases/{id}/deployment-status"))
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        assert_eq!(
            body,
            json!({"statuses": [], "environments": [], "deploy_environment": null, "any_pending": false})
        );
        let (_, list) = server.get("viewer", "/api/releases").await;
        assert_eq!(list["releases"][0]["deployment_summary"], Value::Null);
        let ready = readyz(&server).await;
        assert_eq!(ready["argocd"], Value::Null);
        let (s, off) = hint(&server, Some("anything"), r#"{"app":"billing"}"#).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{off}");
        server.stop().await;
    }
);
