//! Secrets stay secret: the real `shipyard serve` process, its log captured at debug level,
//! driven through the API, never prints a token, and no answer carries one.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use reqwest::StatusCode;
use shipyard::demo::random_token;
use shipyard_sim::github::SimGithub;
use std::io::Read;
use std::process::{Command, Stdio};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_never_reach_logs_or_answers() {
    shipyard::install_crypto_provider();
    let sim = SimGithub::start(ORG).await.unwrap();
    let github_token = random_token("ghs_");
    sim.set_token(Some(github_token.clone()));
    repo_with_changes(&sim, "api-gateway", &[commit("feat: a", "alice")]);

    let dir = tempfile::tempdir().unwrap();
    let api_token = random_token("sy_");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let base = format!("http://127.0.0.1:{port}");
    let token_file = dir.path().join("github-token");
    std::fs::write(&token_file, format!("{github_token}\n")).unwrap();
    let config = format!(
        "server:\n  listen: \"127.0.0.1:{port}\"\ndatabase:\n  url: \"sqlite://{db}\"\ngithub:\n  api_url: \"{api}\"\n  graphql_url: \"{gql}\"\n  org: {ORG}\n  token_file: \"{tf}\"\nauth:\n  mode: dev\n  dev_users:\n    - {{name: qa-lead, roles: [qa_approver]}}\n  api_tokens:\n    - name: ci\n      token_sha256: \"{hash}\"\n      roles: [qa_approver]\n",
        db = dir.path().join("s.db").display(),
        api = sim.url(),
        gql = sim.graphql_url(),
        tf = token_file.display(),
        hash = shipyard_web::token_sha256_hex(&api_token),
    );
    let config_path = dir.path().join("shipyard.yaml");
    std::fs::write(&config_path, config).unwrap();

    let mut child = Command::new(env!("CARGO_BIN_EXE_shipyard"))
        .args(["serve", "--config"])
        .arg(&config_path)
        .env("RUST_LOG", "debug")
        .env_remove("SHIPYARD_LOG_FORMAT")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut ready = false;
    for _ in 0..200 {
        if http
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(ready, "server did not start");

    let mut answers = String::new();
    let created = http
        .post(format!("{base}/api/releases"))
        .bearer_auth(&api_token)
        .json(&serde_json::json!({"source_branch": "uat", "dest_branch": "master"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    answers.push_str(&format!("{:?}", created.headers()));
    answers.push_str(&created.text().await.unwrap());
    for (token, path) in [
        (api_token.as_str(), "/api/me"),
        ("sy_wrong", "/api/me"),
        (api_token.as_str(), "/api/releases"),
    ] {
        let r = http
            .get(format!("{base}{path}"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        answers.push_str(&format!("{:?}", r.headers()));
        answers.push_str(&r.text().await.unwrap());
    }
    // A session too: its cookie value is a secret as well.
    let r = http
        .post(format!("{base}/auth/dev-login"))
        .header("origin", &base)
        .form(&[("user", "qa-lead")])
        .send()
        .await
        .unwrap();
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let session_value = cookie.split('=').nth(1).unwrap().to_owned();
    let r = http
        .get(format!("{base}/api/me"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    answers.push_str(&r.text().await.unwrap());

    let _ = Command::new("kill")
        .arg("-INT")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();

    assert!(
        log.contains("release created"),
        "the log was captured: {log}"
    );
    for (what, secret) in [
        ("API token", api_token.as_str()),
        ("GitHub token", github_token.as_str()),
        ("session cookie", session_value.as_str()),
    ] {
        assert!(!log.contains(secret), "the {what} appears in the log");
        assert!(!answers.contains(secret), "the {what} appears in an answer");
    }
    sim.shutdown().await;
}
