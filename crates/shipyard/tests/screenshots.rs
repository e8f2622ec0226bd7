//! Pictures of the pages for `docs/` and the README, taken from a real `shipyard demo` in headless
//! Chromium. Not part of the test run: `scripts/screenshots` runs it and writes
//! `docs/screenshots/*.png` (or the directory in `SHIPYARD_SCREENSHOTS_DIR`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/browser.rs"]
mod browser;

use browser::Browser;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

fn out_dir() -> PathBuf {
    match std::env::var_os("SHIPYARD_SCREENSHOTS_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots"),
    }
}

/// Starts `shipyard demo`; returns the process, its base URL, the first release's page and the
/// simulated Mattermost channel's page.
async fn start_demo(data: &std::path::Path) -> (tokio::process::Child, String, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_shipyard"))
        .args(["demo", "--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start shipyard demo");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut base, mut release, mut chat) = (None, None, None);
    let read = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(url) = line.split("running at ").nth(1) {
                base = Some(url.trim().to_owned());
            }
            if let Some(url) = line.split("was created: ").nth(1) {
                release = Some(url.trim().to_owned());
            }
            if let Some(url) = line.split("with the bot @pusheen: ").nth(1) {
                chat = Some(url.trim().to_owned());
            }
            if line.contains("Press Ctrl-C") {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .expect("the demo did not start within a minute");
    (
        child,
        base.expect("demo base URL"),
        release.expect("demo release"),
        chat.expect("demo chat page"),
    )
}

#[tokio::test]
#[ignore = "writes docs/screenshots; run by scripts/screenshots"]
async fn screenshots_of_the_demo() {
    Browser::require();
    let dir = out_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let data = tempfile::tempdir().unwrap();
    let (mut demo, base, release, chat) = start_demo(data.path()).await;

    let browser = Browser::start().await;
    browser.goto(&format!("{base}/")).await;
    browser.click("button[data-user=\"dev-lead\"]").await;
    browser.wait_for("#releases").await;
    browser.client.set_window_size(1280, 760).await.unwrap();
    browser.screenshot(&dir.join("releases.png")).await;

    browser.client.set_window_size(1280, 2300).await.unwrap();
    browser.goto(&release).await;
    browser.wait_for("#repos").await;
    // The demo plays its builds for about half a minute, then rolls the charts out qa → uat →
    // prod; the page follows both live.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(180);
    while browser
        .find("#ci tr[data-repo=\"payments\"][data-ci=\"success\"]")
        .await
        .is_none()
        || browser
            .find("#repos [data-env=\"prod\"][data-deploy=\"deployed\"]")
            .await
            .is_none()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the demo's builds and rollouts did not get to prod"
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    browser.screenshot(&dir.join("release.png")).await;

    browser.client.set_window_size(400, 900).await.unwrap();
    browser.goto(&release).await;
    browser.wait_for("#repos").await;
    browser.screenshot(&dir.join("release-phone.png")).await;

    // The demo's chat: someone asks the bot, which answers in the thread.
    browser.client.set_window_size(1100, 1000).await.unwrap();
    browser.goto(&chat).await;
    browser.wait_for("textarea[name=message]").await;
    browser
        .fill("textarea[name=message]", "@pusheen releases")
        .await;
    browser.click("form.compose button[type=submit]").await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    // The summary post follows the builds a few seconds behind (its edits are debounced).
    while !(browser.source().await.contains("Active releases")
        && browser.source().await.contains("2 ✓"))
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the bot did not answer in the demo's chat"
        );
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    browser.screenshot(&dir.join("chat.png")).await;

    browser.close().await;
    let _ = demo.kill().await;
    println!("screenshots written to {}", dir.display());
}
