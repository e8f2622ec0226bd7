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
