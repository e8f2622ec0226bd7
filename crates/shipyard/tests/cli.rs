//! The `shipyard` binary as people use it: commands against a running server, configuration
//! checks, and refusals.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use std::process::Command;

fn shipyard() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_shipyard"));
    // Keep the developer's own settings out of the test.
    for (key, _) in std::env::vars() {
        if key.starts_with("SHIPYARD_") || key.starts_with("CI_POLL") {
            cmd.env_remove(key);
        }
    }
    cmd
}

fn run(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd.output().expect("runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_commands_talk_to_a_running_server() {
    let server = TestServer::start(shipyard_store::Backend::Sqlite, |sim| {
        repo_with_changes(sim, "api-gateway", &[commit("feat: a", "alice")]);
        repo_with_changes(sim, "billing", &[commit("feat!: b", "bob")]);
    })
    .await;
    let base = server.base.clone();
    let dev = server.tokens["dev"].clone();
    let qa = server.tokens["qa"].clone();

    let (ok, out, err) = tokio::task::spawn_blocking({
        let (base, dev) = (base.clone(), dev.clone());
        move || {
            run(shipyard()
                .args([
                    "release", "create", "--source", "uat", "--dest", "master", "--server", &base,
                ])
                .env("SHIPYARD_TOKEN", dev))
        }
    })
    .await
    .unwrap();
    assert!(ok, "{err}");
    assert!(
        out.contains("uat → master") && out.contains("api-gateway") && out.contains("breaking"),
        "{out}"
    );
    let id = out.split_whitespace().nth(1).unwrap().to_owned();

    let (ok, out, err) = tokio::task::spawn_blocking({
        let (base, qa, id) = (base.clone(), qa.clone(), id.clone());
        move || {
            run(shipyard().args([
                "release", "approve", &id, "--as", "qa", "--server", &base, "--token", &qa,
            ]))
        }
    })
    .await
    .unwrap();
    assert!(ok, "{err}");
    assert!(out.contains("QA ☑ qa"), "{out}");

    // Errors come back as one line with the API's words, and a failure exit code.
    let (ok, _, err) = tokio::task::spawn_blocking({
        let (base, qa, id) = (base.clone(), qa.clone(), id.clone());
        move || {
            run(shipyard().args([
                "release", "approve", &id, "--as", "dev", "--server", &base, "--token", &qa,
            ]))
        }
    })
    .await
    .unwrap();
    assert!(!ok);
    assert_eq!(
        err.trim(),
        "error: 403 forbidden: this needs the dev_approver role (or admin)"
    );

    let (ok, out, _) = tokio::task::spawn_blocking({
        let (base, dev) = (base.clone(), dev.clone());
        move || {
            run(shipyard().args([
                "release", "list", "--json", "--server", &base, "--token", &dev,
            ]))
        }
    })
    .await
    .unwrap();
    assert!(ok);
    let list: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(list["releases"][0]["id"], id.as_str());
    assert_eq!(list["releases"][0]["qa_approved_by"], "qa");
    server.stop().await;
}

#[test]
fn check_config_lists_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shipyard.yaml");
    std::fs::write(
        &path,
        "server:\n  listen: \"127.0.0.1:8080\"\ngithub:\n  org: acme\n  tokn: abc\n  concurrency: 0\nci:\n  poll_interval: soon\nauth:\n  mode: dev\n  dev_users: []\n",
    )
    .unwrap();
    let (ok, _, err) = run(shipyard().args(["check-config", "--config"]).arg(&path));
    assert!(!ok);
    assert!(err.contains("github.tokn"), "{err}");
    assert!(err.contains("did you mean `github.token`?"), "{err}");
    assert!(err.contains("github.concurrency"), "{err}");
    assert!(err.contains("ci.poll_interval"), "{err}");
    assert!(err.contains("auth.dev_users"), "{err}");

    let (ok, out, err) = run(shipyard().args(["check-config", "--example"]));
    assert!(ok, "{err}");
    std::fs::write(&path, out).unwrap();
    let (ok, out, err) = run(shipyard().args(["check-config", "--config"]).arg(&path));
    assert!(ok, "the printed example is valid: {err}");
    assert!(out.starts_with("configuration OK"), "{out}");
}

#[test]
fn serve_refuses_dev_mode_off_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shipyard.yaml");
    std::fs::write(
        &path,
        format!(
            "server:\n  listen: \"0.0.0.0:0\"\ndatabase:\n  url: \"sqlite://{}/s.db\"\nauth:\n  mode: dev\n  dev_users:\n    - {{name: dev-lead, roles: [dev_approver]}}\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let (ok, _, err) = run(shipyard().args(["serve", "--config"]).arg(&path));
    assert!(!ok);
    assert!(err.contains("loopback"), "{err}");
    assert!(
        !dir.path().join("s.db").exists(),
        "refused before touching the database"
    );
}

#[test]
fn migrate_creates_the_database_and_token_hash_prints_sha256() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("fresh.db");
    let (ok, out, err) = run(shipyard()
        .arg("migrate")
        .env(
            "SHIPYARD_DATABASE__URL",
            format!("sqlite://{}", db.display()),
        )
        .current_dir(dir.path()));
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "migrations applied");
    assert!(db.exists());

    use std::io::Write;
    let mut child = shipyard()
        .args(["token", "hash"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"s3cret\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        shipyard_web::token_sha256_hex("s3cret")
    );
}

/// Kills the server when the test ends, however it ends.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_starts_with_api_tokens_only_and_says_single_sign_on_is_off() {
    shipyard::install_crypto_provider();
    let sim = shipyard_sim::github::SimGithub::start(ORG).await.unwrap();
    repo_with_changes(&sim, "billing", &[commit("feat: a", "alice")]);
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let token = shipyard::demo::random_token("sy_");
    let path = dir.path().join("shipyard.yaml");
    // Only server, database, github and API tokens: a bot-and-API deployment.
    std::fs::write(
        &path,
        format!(
            "server:\n  listen: \"127.0.0.1:{port}\"\n  base_url: \"http://127.0.0.1:{port}\"\n\
             database:\n  url: \"sqlite://{db}\"\n\
             github:\n  api_url: \"{api}\"\n  org: {ORG}\n  token: anything\n\
             auth:\n  api_tokens:\n    - {{name: bot, token: \"{token}\", roles: [admin]}}\n",
            db = dir.path().join("s.db").display(),
            api = sim.url(),
        ),
    )
    .unwrap();

    let (ok, out, err) = run(shipyard().args(["check-config", "--config"]).arg(&path));
    assert!(ok, "{err}");
    assert!(out.contains("warning: auth.oidc"), "{out}");
    assert!(out.contains("configuration OK"), "{out}");

    let child = shipyard()
        .args(["serve", "--config"])
        .arg(&path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = Running(child);
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let ready = loop {
        if let Ok(r) = http.get(format!("{base}/readyz")).send().await {
            break r;
        }
        if let Some(status) = child.0.try_wait().unwrap() {
            let mut err = String::new();
            use std::io::Read;
            child
                .0
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            panic!("serve exited with {status}: {err}");
        }
        assert!(std::time::Instant::now() < deadline, "serve did not start");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(ready.status(), reqwest::StatusCode::OK);
    let ready: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(ready["status"], "ready", "{ready}");
    assert_eq!(ready["sign_in"], "none", "{ready}");
    assert!(
        ready["problems"].as_array().unwrap().iter().any(|p| p
            .as_str()
            .unwrap()
            .contains("single sign-on is not configured")),
        "{ready}"
    );

    // The API serves with the token.
    let me = http
        .get(format!("{base}/api/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), reqwest::StatusCode::OK);
    let me: serde_json::Value = me.json().await.unwrap();
    assert_eq!(me["auth"], "token", "{me}");
    let created = http
        .post(format!("{base}/api/releases"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"source_branch": "uat", "dest_branch": "master"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), reqwest::StatusCode::CREATED);

    // A person opening a page is sent to sign in, where the page says what is missing.
    let page = http.get(format!("{base}/releases")).send().await.unwrap();
    assert_eq!(page.status(), reqwest::StatusCode::SEE_OTHER);
    let login = http.get(format!("{base}/auth/login")).send().await.unwrap();
    assert_eq!(login.status(), reqwest::StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        login.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = login.text().await.unwrap();
    assert!(html.contains("Single sign-on is not configured"), "{html}");
    assert!(html.contains("auth.oidc.issuer"), "{html}");
    assert!(!html.contains("Sign in again"), "nothing to retry: {html}");
    drop(child);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_format_json_writes_one_json_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let config = dir.path().join("shipyard.yaml");
    std::fs::write(
        &config,
        format!(
            "server:\n  listen: \"127.0.0.1:{port}\"\ndatabase:\n  url: \"sqlite://{}\"\nlog:\n  format: json\n  level: info\n",
            dir.path().join("s.db").display()
        ),
    )
    .unwrap();
    let child = shipyard()
        .args(["serve", "--config"])
        .arg(&config)
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let mut ready = false;
    for _ in 0..400 {
        if reqwest::get(format!("{base}/healthz"))
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let _ = Command::new("kill")
        .arg("-INT")
        .arg(child.id().to_string())
        .status();
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(ready, "server did not start: {log}");
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(
        lines.iter().any(|l| l.contains("Shipyard is serving")),
        "{log}"
    );
    for line in lines {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not one JSON object per line ({e}): {line}"));
        assert!(v["level"].is_string() && v["fields"].is_object(), "{line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_exits_zero_only_while_the_server_is_ready() {
    let dir = tempfile::tempdir().unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/readyz");
    // Nobody listens yet: 1, saying so.
    let out = shipyard()
        .args(["healthcheck", "--url", &url, "--timeout", "1s"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("did not answer"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let config = dir.path().join("shipyard.yaml");
    std::fs::write(
        &config,
        format!(
            "server:\n  listen: \"127.0.0.1:{port}\"\ndatabase:\n  url: \"sqlite://{}\"\n",
            dir.path().join("s.db").display()
        ),
    )
    .unwrap();
    let mut child = shipyard()
        .args(["serve", "--config"])
        .arg(&config)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut healthy = false;
    for _ in 0..400 {
        let status = shipyard()
            .args(["healthcheck", "--url", &url])
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        if status.success() {
            healthy = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    // A path that answers 404 is not healthy either.
    let not_found = shipyard()
        .args([
            "healthcheck",
            "--url",
            &format!("http://127.0.0.1:{port}/nowhere"),
        ])
        .output()
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(healthy, "the server never became healthy");
    assert_eq!(not_found.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&not_found.stderr).contains("404"));
}
