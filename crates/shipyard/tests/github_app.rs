//! Shipyard authenticated as a GitHub App against the simulated GitHub, end to end: releases
//! are created and CI runs tracked (webhooks, job logs) with installation tokens only; a revoked
//! token is replaced on the way; `/readyz` and `check-config` say which credentials are in use;
//! a key that does not parse, or a token beside the App, is a configuration problem; and the
//! served log holds neither the key, a JWT nor a token.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use shipyard::demo::random_token;
use shipyard_config::{GithubAppConfig, Secret};
use shipyard_sim::github::{AppKeyPair, RequestAuth, SimGithub, timestamped_log};
use shipyard_store::Backend;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

const APP_ID: u64 = 31337;

/// The PKCS#1 form GitHub hands out, from the sim's PKCS#8 key (`openssl rsa -traditional`).
fn pkcs1(keys: &AppKeyPair) -> String {
    let mut child = Command::new("openssl")
        .args(["rsa", "-traditional"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(keys.private_key_pem().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "openssl rsa -traditional failed");
    let pem = String::from_utf8(out.stdout).unwrap();
    assert!(pem.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    pem
}

fn is_app_route(path: &str) -> bool {
    path.starts_with("/app/") || path.ends_with("/installation")
}

/// Every API request carried an installation token (the App routes their JWT): the sim has no
/// plain token to accept.
fn assert_installation_tokens_only(sim: &SimGithub) {
    let requests = sim.requests();
    assert!(!requests.is_empty());
    for r in &requests {
        let wanted = if is_app_route(&r.path) {
            RequestAuth::Jwt
        } else {
            RequestAuth::InstallationToken
        };
        assert_eq!(r.auth, wanted, "{r:?}");
    }
}

async fn readyz(server: &TestServer) -> Value {
    let r = server
        .http
        .get(format!("{}/readyz", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn releases_and_ci_tracking_work_as_a_github_app() {
    let keys = AppKeyPair::generate().unwrap();
    let pem = pkcs1(&keys);
    let secret = random_token("whsec_");
    let hook_secret = secret.clone();
    let server = TestServer::start_with(
        Backend::Sqlite,
        |sim| {
            // Only the App's installation tokens are accepted.
            sim.set_token(None);
            sim.set_app(APP_ID, &keys.public_key_der());
            for name in ["billing", "payments"] {
                repo_with_changes(sim, name, &[commit("feat: x", "alice")]);
                sim.open_pr(name, "uat", "master", "Release");
            }
        },
        |c| {
            let gh = c.github.as_mut().unwrap();
            gh.token = None;
            gh.webhook_secret = Some(Secret::new(hook_secret));
            c.github_app = Some(GithubAppConfig {
                app_id: APP_ID,
                private_key: Secret::new(pem.clone()),
                private_key_file: None,
                installation_id: None,
            });
            c.ci.poll_interval = Duration::from_secs(3600);
        },
    )
    .await;
    let sim = &server.sim;

    let ready = readyz(&server).await;
    assert_eq!(ready["github_auth"]["mode"], "app", "{ready}");
    assert_eq!(ready["github_auth"]["app_id"], APP_ID, "{ready}");
    assert_eq!(ready["github_auth"]["private_key"], "parsed", "{ready}");

    // Creating the release: GraphQL overview, REST compare and pull lookups.
    let detail = server.create_release().await;
    let id = detail["release"]["id"].as_str().unwrap().to_owned();
    assert_eq!(repo_names(&detail), ["billing", "payments"]);
    assert_eq!(sim.installation_lookups(), 1);
    assert_eq!(sim.installation_token_exchanges(), 1);
    assert!(sim.requests().iter().any(|r| r.path == "/graphql"));
    assert_installation_tokens_only(sim);
    let ready = readyz(&server).await;
    let installation = ready["github_auth"]["installation_id"].as_u64().unwrap();
    assert!(installation > 0, "{ready}");
    assert_eq!(ready["github_auth"]["token_exchanges"], 1);
    assert!(ready["github_auth"]["token_expires_at"].is_i64(), "{ready}");

    // The token is revoked on the way: the next call is refused once, then goes on.
    sim.revoke_installation_tokens();
    sim.set_webhook(&format!("{}/webhooks/github", server.base), &secret);
    let sha = sim.merge_pr("billing", 1);
    sim.flush_webhooks().await;
    let ci = ci_of(&server, &id, "billing").await;
    assert_eq!(ci["status"], "pending", "{ci}");
    assert_eq!(ci["merge_commit_sha"], sha.as_str());

    let run = sim.start_run("billing", "general.yaml", "master", &sha);
    sim.set_run_status(run, "in_progress");
    sim.add_job(
        run,
        "Publish Helm chart",
        timestamped_log(&["helm package .", "CHART_VERSION=4.2.0", "pushed"]),
    );
    sim.complete_run(run, "success");
    sim.flush_webhooks().await;
    let ci = ci_of(&server, &id, "billing").await;
    assert_eq!(ci["status"], "success", "{ci}");
    assert_eq!(ci["chart_version"], "4.2.0", "the job log was read: {ci}");
    for d in sim.deliveries() {
        assert_eq!(
            d.status,
            Some(202),
            "{} {:?}: {:?}",
            d.event,
            d.action,
            d.error
        );
    }

    assert_eq!(sim.installation_token_exchanges(), 2, "one renewal");
    let refused = sim.requests().iter().filter(|r| r.status == 401).count();
    assert!(refused >= 1, "the revoked token was refused");
    assert_installation_tokens_only(sim);
    let logs = sim.log_requests();
    assert!(!logs.is_empty());
    assert!(logs.iter().all(|l| !l.had_authorization), "{logs:?}");
    let ready = readyz(&server).await;
    assert_eq!(ready["github_auth"]["token_exchanges"], 2, "{ready}");
    assert_eq!(ready["github_auth"]["error"], Value::Null, "{ready}");
    server.stop().await;
}

fn shipyard() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_shipyard"));
    for (key, _) in std::env::vars() {
        if key.starts_with("SHIPYARD_") || key.starts_with("CI_POLL") {
            cmd.env_remove(key);
        }
    }
    cmd
}

fn check_config(path: &std::path::Path) -> (bool, String, String) {
    let out = shipyard()
        .args(["check-config", "--config"])
        .arg(path)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A configuration on `port` against `sim` with these `github` credential lines.
fn config_yaml(
    dir: &std::path::Path,
    port: u16,
    sim: &SimGithub,
    credentials: &str,
    api_token: &str,
) -> String {
    format!(
        "server:\n  listen: \"127.0.0.1:{port}\"\ndatabase:\n  url: \"sqlite://{db}\"\n\
         github:\n  api_url: \"{api}\"\n  graphql_url: \"{gql}\"\n  org: {ORG}\n{credentials}\
         auth:\n  api_tokens:\n    - {{name: bot, token: \"{api_token}\", roles: [admin]}}\n",
        db = dir.join("s.db").display(),
        api = sim.url(),
        gql = sim.graphql_url(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_config_readyz_and_the_log_as_a_github_app() {
    shipyard::install_crypto_provider();
    let sim = SimGithub::start(ORG).await.unwrap();
    let keys = AppKeyPair::generate().unwrap();
    let installation = sim.set_app(APP_ID, &keys.public_key_der());
    repo_with_changes(&sim, "api-gateway", &[commit("feat: a", "alice")]);

    let dir = tempfile::tempdir().unwrap();
    let pem = pkcs1(&keys);
    let key_file = dir.path().join("app.pem");
    std::fs::write(&key_file, &pem).unwrap();
    let broken_file = dir.path().join("broken.pem");
    std::fs::write(
        &broken_file,
        "-----BEGIN RSA PRIVATE KEY-----\nbm90IGFuIFJTQSBrZXk=\n-----END RSA PRIVATE KEY-----\n",
    )
    .unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let api_token = random_token("sy_");
    let config = dir.path().join("shipyard.yaml");
    let write = |credentials: &str| {
        std::fs::write(
            &config,
            config_yaml(dir.path(), port, &sim, credentials, &api_token),
        )
        .unwrap();
    };

    // A key that does not parse as RSA is a problem at the key that gave it.
    write(&format!(
        "  app:\n    app_id: {APP_ID}\n    private_key_file: \"{}\"\n",
        broken_file.display()
    ));
    let (ok, _, err) = check_config(&config);
    assert!(!ok);
    assert!(
        err.contains(
            "github.app.private_key_file: does not parse as an RSA private key in PKCS#1 PEM form"
        ),
        "{err}"
    );
    // A token beside the App, or neither.
    write(&format!(
        "  token: ghp_also\n  app:\n    app_id: {APP_ID}\n    private_key_file: \"{}\"\n",
        key_file.display()
    ));
    let (ok, _, err) = check_config(&config);
    assert!(!ok);
    assert!(
        err.contains("github.app: give either `github.token`"),
        "{err}"
    );
    write("");
    let (ok, _, err) = check_config(&config);
    assert!(!ok);
    assert!(err.contains("github.token: is required to serve"), "{err}");
    write("  token: ghp_only\n");
    let (ok, out, err) = check_config(&config);
    assert!(ok, "{err}");
    assert!(out.contains("GitHub credentials: token\n"), "{out}");

    // The App with its key file; the installation id given.
    write(&format!(
        "  app:\n    app_id: {APP_ID}\n    private_key_file: \"{}\"\n    installation_id: {installation}\n",
        key_file.display()
    ));
    let (ok, out, err) = check_config(&config);
    assert!(ok, "{err}");
    assert!(
        out.contains(&format!(
            "GitHub credentials: app (app id {APP_ID}, installation id {installation}; private key parses, PKCS#1 PEM)"
        )),
        "{out}"
    );
    // Looked up on the org when not given.
    write(&format!(
        "  app:\n    app_id: {APP_ID}\n    private_key_file: \"{}\"\n",
        key_file.display()
    ));
    let (ok, out, err) = check_config(&config);
    assert!(ok, "{err}");
    assert!(
        out.contains(&format!(
            "GitHub credentials: app (app id {APP_ID}, the installation on {ORG}, looked up when first needed; private key parses, PKCS#1 PEM)"
        )),
        "{out}"
    );

    // Served, with everything logged (into a file: a full pipe would stall the server).
    let log_path = dir.path().join("serve.log");
    let log_file = std::fs::File::create(&log_path).unwrap();
    let mut child = shipyard()
        .args(["serve", "--config"])
        .arg(&config)
        .env("RUST_LOG", "trace")
        .env_remove("SHIPYARD_LOG_FORMAT")
        .stdout(Stdio::from(log_file.try_clone().unwrap()))
        .stderr(Stdio::from(log_file))
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let mut ready = None;
    for _ in 0..400 {
        if let Ok(r) = http.get(format!("{base}/readyz")).send().await
            && r.status().is_success()
        {
            ready = Some(r.json::<Value>().await.unwrap());
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let ready = ready.expect("server did not start");
    assert_eq!(
        ready["github_auth"],
        json!({
            "mode": "app",
            "app_id": APP_ID,
            "installation_id": null,
            "private_key": "parsed",
            "token_expires_at": null,
            "token_exchanges": 0,
            "error": null,
        }),
        "{ready}"
    );

    let created = http
        .post(format!("{base}/api/releases"))
        .bearer_auth(&api_token)
        .json(&json!({"source_branch": "uat", "dest_branch": "master"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let id = created.json::<Value>().await.unwrap()["release"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let refresh = |http: reqwest::Client| {
        let url = format!("{base}/api/releases/{id}/refresh");
        let token = api_token.clone();
        async move { http.post(url).bearer_auth(token).send().await.unwrap() }
    };
    // Revoked: replaced once, the refresh succeeds.
    sim.revoke_installation_tokens();
    assert_eq!(refresh(http.clone()).await.status(), StatusCode::OK);
    assert_eq!(sim.installation_token_exchanges(), 2);
    // Refused for good: one more exchange, then an error that says what to check.
    sim.refuse_installation_tokens(true);
    let failed = refresh(http.clone()).await;
    assert!(failed.status().is_server_error(), "{}", failed.status());
    let body = failed.text().await.unwrap();
    assert!(
        body.contains("installation token") && body.contains(&format!("GitHub App {APP_ID}")),
        "{body}"
    );
    assert_eq!(sim.installation_token_exchanges(), 3);
    let ready: Value = http
        .get(format!("{base}/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        ready["github_auth"]["installation_id"], installation,
        "{ready}"
    );
    assert_eq!(ready["github_auth"]["token_exchanges"], 3, "{ready}");
    let error = ready["github_auth"]["error"].as_str().unwrap_or_default();
    assert!(error.contains("installation token"), "{ready}");
    assert!(
        ready["problems"].as_array().unwrap().iter().any(|p| p
            .as_str()
            .unwrap()
            .starts_with(&format!("GitHub App {APP_ID}: "))),
        "{ready}"
    );
    assert_installation_tokens_only(&sim);

    let _ = Command::new("kill")
        .arg("-INT")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        log.contains("GitHub App installation token obtained"),
        "the log was captured: {}",
        &log[..log.len().min(2000)]
    );
    assert!(log.contains("retrying once with a new one"));
    assert!(log.contains("TRACE"), "everything was logged");
    // Installation tokens start with `ghs_`, JWTs with the base64 of `{"`.
    for marker in ["ghs_", "eyJ", "PRIVATE KEY"] {
        assert!(!log.contains(marker), "{marker} appears in the log");
    }
    for line in pem.lines().filter(|l| !l.starts_with("-----")) {
        assert!(
            !log.contains(line),
            "a line of the private key appears in the log"
        );
    }
    sim.shutdown().await;
}
