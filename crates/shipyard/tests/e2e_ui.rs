//! The web dashboard end to end: headless Chromium (through ChromeDriver and fantoccini) against
//! the real server and the simulated GitHub over loopback, with `shipyard.js` running.
//!
//! The story: a release is created from the list's form (and refused, in words, when the branches
//! are wrong); repos are excluded and given dependencies on its page, which changes the sign-offs
//! and the deploy order; two people holding the two roles sign it off; the release page and the
//! list follow changes made by others without a reload, without wiping what is being typed;
//! HTML typed into the notes stays text; the CI badges follow GitHub's webhooks live; and the
//! environment columns follow a rollout in a simulated Argo CD.
//!
//! People sign in through dev-mode auth ([`DEV_USERS`]); "other clients" are either a second
//! browser or the API tokens of `common::USERS`. Waits poll the page up to [`WAIT`]; nothing is
//! asserted after a fixed sleep.
//!
//! Live updates reach a page through `EventSource`; a change made before its stream is open would
//! be missed, so before making one the tests wait until every stream of the page is open
//! ([`wait_live`]). They see the streams through a small wrapper of `EventSource` that records
//! its instances, installed for every new document through the DevTools protocol
//! ([`record_event_sources`]); it changes nothing else but counting `resync` events.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/browser.rs"]
mod browser;
mod common;

use browser::{Browser, WAIT};
use common::*;
use fantoccini::wd::WebDriverCompatibleCommand;
use reqwest::StatusCode;
use serde_json::{Value, json};
use shipyard_config::{AuthMode, DevUser};
use shipyard_core::Role;
use std::time::Duration;

// ------------------------------------------------------------------------------------- setup

/// Who can sign in to the browser: a Dev approver, a QA approver and someone without roles.
const DEV_USERS: [(&str, &[Role]); 3] = [
    ("dev-lead", &[Role::DevApprover]),
    ("qa-lead", &[Role::QaApprover]),
    ("onlooker", &[]),
];

/// The changed repos of the seed, sorted by name.
const REPOS: [&str; 3] = ["api-gateway", "billing", "payments"];

/// The server on SQLite, dev-mode sign-in for [`DEV_USERS`], and an org with the three changed
/// [`REPOS`] plus one (`docs`) that has nothing to release.
async fn start_server() -> TestServer {
    start_server_with(|_| {}).await
}

/// [`start_server`] with a last say on the configuration.
async fn start_server_with(adjust: impl FnOnce(&mut shipyard_config::Config)) -> TestServer {
    start_server_on(shipyard_store::Backend::Sqlite, adjust).await
}

/// [`start_server_with`] on the given database backend.
async fn start_server_on(
    backend: shipyard_store::Backend,
    adjust: impl FnOnce(&mut shipyard_config::Config),
) -> TestServer {
    TestServer::start_with(
        backend,
        |sim| {
            repo_with_changes(sim, "api-gateway", &[commit("feat: a", "alice")]);
            repo_with_changes(
                sim,
                "billing",
                &[commit("fix: b", "bob"), commit("feat: c", "alice")],
            );
            repo_with_changes(sim, "payments", &[commit("feat: d", "carol")]);
            repo_unchanged(sim, "docs");
        },
        |c| {
            c.auth.mode = AuthMode::Dev;
            c.auth.dev_users = DEV_USERS
                .iter()
                .map(|(name, roles)| DevUser {
                    name: (*name).to_owned(),
                    roles: roles.to_vec(),
                })
                .collect();
            adjust(c);
        },
    )
    .await
}

/// A fresh browser whose pages record their event streams (see [`record_event_sources`]).
async fn start_browser() -> Browser {
    let browser = Browser::start().await;
    record_event_sources(&browser).await;
    browser
}

/// Creates `uat → master` through the API; returns its id.
async fn create_release(server: &TestServer) -> String {
    server.create_release_id().await
}

/// A server with a fresh release, and a browser signed in as `user` on the release's page.
async fn release_page_as(user: &str) -> (TestServer, String, Browser) {
    let server = start_server().await;
    let id = create_release(&server).await;
    let browser = start_browser().await;
    sign_in(&browser, &server.base, user).await;
    browser
        .goto(&format!("{}/releases/{id}", server.base))
        .await;
    (server, id, browser)
}

/// The release detail, from the API.
async fn detail(server: &TestServer, id: &str) -> Value {
    let (status, body) = server.get("viewer", &format!("/api/releases/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// The row id of repo `name` in release `id`, from the API.
async fn repo_id(server: &TestServer, id: &str, name: &str) -> i64 {
    repo(&detail(server, id).await, name)["id"]
        .as_i64()
        .unwrap()
}

/// Ids of every release, newest first, from the API.
async fn release_ids(server: &TestServer) -> Vec<String> {
    let (status, body) = server.get("viewer", "/api/releases").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["releases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Signs the browser in as `user` through the dev sign-in page; ends on the release list.
async fn sign_in(browser: &Browser, base: &str, user: &str) {
    browser.goto(&format!("{base}/")).await;
    browser
        .wait_for_url("the sign-in page", |u| u.path() == "/auth/login")
        .await;
    browser
        .click(&format!("button[data-user=\"{user}\"]"))
        .await;
    browser
        .wait_for_url("the release list", |u| u.path() == "/")
        .await;
    wait_value(
        browser,
        &format!("signed in as {user}"),
        "return text('#who');",
        json!(user),
    )
    .await;
}

/// Signs out with the header's link; ends on the sign-in page.
async fn sign_out(browser: &Browser) {
    browser.click("#logout").await;
    browser
        .wait_for_url("the sign-in page", |u| u.path() == "/auth/login")
        .await;
}

// ----------------------------------------------------------------------- reading the page

/// Functions the page scripts below may use: `text(css)` (trimmed text with runs of white space
/// as one space, or null when nothing matches) and `shown(css)` (it exists and neither it nor an
/// ancestor is `hidden`).
const PRELUDE: &str = r#"
var text = function (css) {
  var el = document.querySelector(css);
  return el ? el.textContent.replace(/\s+/g, " ").trim() : null;
};
var shown = function (css) {
  var el = document.querySelector(css);
  return !!el && el.closest("[hidden]") === null;
};
"#;

/// Runs `script` (a function body that may use [`PRELUDE`]) in the page; returns its value.
/// Reading the page in one script avoids holding elements that a live update replaces.
async fn js(browser: &Browser, script: &str) -> Value {
    browser
        .client
        .execute(&format!("{PRELUDE}\n{script}"), vec![])
        .await
        .unwrap_or_else(|e| panic!("script failed ({e}):\n{script}"))
}

/// Polls the page script `script` until it returns `want`, up to [`WAIT`]; on timeout panics
/// with the last value and the page's source.
async fn wait_value(browser: &Browser, what: &str, script: &str, want: Value) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let got = js(browser, script).await;
        if got == want {
            return;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!(
                "timed out after {WAIT:?} waiting for: {what}\n  want {want}\n   got {got}\n\
                 at {}:\n{}",
                browser.url().await,
                browser.source().await
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls until the page script `script` returns true.
async fn wait_true(browser: &Browser, what: &str, script: &str) {
    wait_value(browser, what, script, json!(true)).await;
}

/// The deploy order as the page shows it: the names of each level of `#levels`.
const LEVELS: &str = r##"
return Array.from(document.querySelectorAll("#levels > li")).map(function (li) {
  return Array.from(li.querySelectorAll("code")).map(function (c) { return c.textContent; });
});
"##;

/// Names of the repos in the `#repos` table, in page order.
const REPO_ROWS: &str = r##"
return Array.from(document.querySelectorAll("#repos tr[data-repo]")).map(function (tr) {
  return tr.getAttribute("data-repo");
});
"##;

/// Sets `window.__marker`, which only survives as long as the document does: a reload (or any
/// navigation) loses it.
async fn set_marker(browser: &Browser) {
    assert_eq!(
        browser
            .client
            .execute("window.__marker = 1; return 1;", vec![])
            .await
            .unwrap(),
        json!(1)
    );
}

/// Asserts that the document of [`set_marker`] is still the one shown.
async fn assert_not_reloaded(browser: &Browser) {
    assert_eq!(
        js(
            browser,
            "return window.__marker === undefined ? null : window.__marker;"
        )
        .await,
        json!(1),
        "the page was reloaded"
    );
}

// --------------------------------------------------------------------- the event streams

/// A ChromeDriver extension command: one call of the Chrome DevTools protocol.
#[derive(Debug)]
struct Cdp {
    method: &'static str,
    params: Value,
}

impl WebDriverCompatibleCommand for Cdp {
    // `url::ParseError`, named through `reqwest::Url` (this crate does not depend on `url`).
    fn endpoint(
        &self,
        base_url: &reqwest::Url,
        session_id: Option<&str>,
    ) -> Result<reqwest::Url, <reqwest::Url as std::str::FromStr>::Err> {
        base_url.join(&format!(
            "session/{}/goog/cdp/execute",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _url: &reqwest::Url) -> (reqwest::Method, Option<String>) {
        let body = json!({"cmd": self.method, "params": self.params});
        (reqwest::Method::POST, Some(body.to_string()))
    }
}

/// Makes every document of the browser's tab keep its `EventSource`s in
/// `window.__eventSources`, so that [`wait_live`] can tell when they are open.
async fn record_event_sources(browser: &Browser) {
    let source = r#"
(function () {
  var Native = window.EventSource;
  if (typeof Native !== "function") return;
  window.__eventSources = [];
  window.__resyncs = 0;
  window.EventSource = class extends Native {
    constructor(url, init) {
      super(url, init);
      window.__eventSources.push(this);
      this.addEventListener("resync", function () { window.__resyncs += 1; });
    }
  };
})();
"#;
    browser
        .client
        .issue_cmd(Cdp {
            method: "Page.addScriptToEvaluateOnNewDocument",
            params: json!({ "source": source }),
        })
        .await
        .expect("DevTools: Page.addScriptToEvaluateOnNewDocument");
}

/// Waits until the page follows its event stream: at least one `EventSource`, all open. From
/// then on, the server delivers every change to the page.
async fn wait_live(browser: &Browser) {
    wait_true(
        browser,
        "the page's event stream to be open",
        "var s = window.__eventSources || [];
         return s.length > 0 && s.every(function (e) { return e.readyState === 1; });",
    )
    .await;
}

// ------------------------------------------------------------------------------------ tests

/// 1. The "New release" form: a malformed branch is refused next to its field and a branch
///    that exists nowhere under the form, both without leaving the page and without creating
///    anything; good branches show the progress, create the release and go to its page, which
///    lists the repos that change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_is_created_from_the_form() {
    Browser::require();
    let server = start_server().await;
    let base = server.base.clone();
    let browser = start_browser().await;
    sign_in(&browser, &base, "dev-lead").await;
    assert_eq!(js(&browser, "return shown('.empty');").await, json!(true));
    assert!(browser.find("#releases").await.is_none());
    set_marker(&browser).await;

    // A malformed source branch: said next to the field.
    browser.fill("#source_branch", "bad..name").await;
    browser.fill("#dest_branch", "master").await;
    browser.click("#create-release").await;
    wait_true(
        &browser,
        "the error next to the source field",
        "return shown('#source_branch-error');",
    )
    .await;
    let error = js(&browser, "return text('#source_branch-error');").await;
    let error = error.as_str().unwrap();
    assert!(
        error.contains("bad..name") && error.contains("not a valid branch name"),
        "{error}"
    );
    assert_eq!(
        js(
            &browser,
            "return [shown('#create-error'), shown('#dest_branch-error'),
                     document.getElementById('source_branch').getAttribute('aria-invalid'),
                     document.activeElement.id];"
        )
        .await,
        json!([false, false, "true", "source_branch"])
    );
    assert_eq!(browser.url().await.path(), "/");
    assert_not_reloaded(&browser).await;

    // A branch that exists in no repository: said in words under the form.
    browser.fill("#source_branch", "no-such-branch").await;
    browser.click("#create-release").await;
    wait_true(
        &browser,
        "the error under the form",
        "return shown('#create-error');",
    )
    .await;
    let error = js(&browser, "return text('#create-error');").await;
    let error = error.as_str().unwrap();
    assert!(
        error.starts_with("Branch `no-such-branch` does not exist in any repository of acme"),
        "{error}"
    );
    assert_eq!(
        js(
            &browser,
            "return [shown('#source_branch-error'), shown('#create-progress'),
                     document.getElementById('create-release').disabled];"
        )
        .await,
        json!([false, false, false]),
        "the field error is cleared, the progress gone, the button usable again"
    );
    assert_eq!(browser.url().await.path(), "/");
    assert_not_reloaded(&browser).await;
    assert_eq!(release_ids(&server).await, Vec::<String>::new());

    // Good branches. GitHub answers slowly, so that the progress can be seen.
    server.sim.set_latency(Duration::from_millis(300));
    browser.fill("#source_branch", "uat").await;
    browser.click("#create-release").await;
    wait_true(
        &browser,
        "the progress while GitHub is asked",
        "return shown('#create-progress') && document.getElementById('create-release').disabled;",
    )
    .await;
    let url = browser
        .wait_for_url("the new release's page", |u| {
            u.path().starts_with("/releases/") && u.path().len() > "/releases/".len()
        })
        .await;
    server.sim.set_latency(Duration::ZERO);
    let id = url.path().trim_start_matches("/releases/").to_owned();
    assert_eq!(release_ids(&server).await, vec![id.clone()]);
    browser.wait_for("#repos").await;
    let mut shown = js(&browser, REPO_ROWS).await;
    shown.as_array_mut().unwrap().sort_by_key(|v| v.to_string());
    assert_eq!(shown, json!(REPOS), "the repos that change, not `docs`");
    assert_eq!(
        js(&browser, "return [text('h1'), text('#status')];").await,
        json!(["uat → master", "pending"])
    );
    let created = detail(&server, &id).await;
    assert_eq!(created["release"]["created_by"], "dev-lead");
    assert_eq!(created["release"]["source_branch"], "uat");

    browser.close().await;
    server.stop().await;
}

/// 2. Excluding a repo with its checkbox: the row is marked excluded, the API agrees, the repo
///    leaves the deploy order, and the sign-offs given for the old selection are reset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn excluding_a_repo_resets_the_sign_offs() {
    Browser::require();
    let server = start_server().await;
    let base = server.base.clone();
    let id = create_release(&server).await;
    let path = format!("/releases/{id}");
    for kind in ["dev", "qa"] {
        let (status, body) = server
            .post(
                kind,
                &format!("/api/releases/{id}/approve/{kind}"),
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    assert_eq!(detail(&server, &id).await["release"]["status"], "approved");
    let billing = repo_id(&server, &id, "billing").await;

    let browser = start_browser().await;
    sign_in(&browser, &base, "dev-lead").await;
    browser.goto(&format!("{base}{path}")).await;
    assert_eq!(
        js(
            &browser,
            "return [text('#status'), text('#signoff-dev .signoff-by'),
                     text('#signoff-qa .signoff-by')];"
        )
        .await,
        json!(["approved", "dev", "qa"])
    );
    assert_eq!(
        js(&browser, LEVELS).await,
        json!([["api-gateway", "billing", "payments"]])
    );
    set_marker(&browser).await;

    browser.click(&format!("#exclude-{billing}")).await;
    wait_true(
        &browser,
        "billing's row to be marked excluded",
        &format!(
            "var tr = document.getElementById('repo-{billing}');
                  return !!tr && tr.classList.contains('excluded');"
        ),
    )
    .await;
    // The API: excluded, and both sign-offs gone with the old snapshot.
    let after = detail(&server, &id).await;
    assert_eq!(repo(&after, "billing")["excluded"], true);
    assert_eq!(repo(&after, "api-gateway")["excluded"], false);
    assert_eq!(after["release"]["status"], "pending", "{after}");
    assert_eq!(after["release"]["dev_approved_by"], Value::Null);
    assert_eq!(after["release"]["qa_approved_by"], Value::Null);
    // The page says the same.
    wait_value(
        &browser,
        "the page to show the reset",
        "return [text('#status'), document.querySelectorAll('#signoffs .signoff-by').length,
                 shown('#approve-dev'), document.getElementById('exclude-BILLING').checked,
                 text('#repos-h .count')];"
            .replace("BILLING", &billing.to_string())
            .as_str(),
        json!(["pending", 0, true, true, "2 of 3 included"]),
    )
    .await;
    assert_eq!(
        js(&browser, LEVELS).await,
        json!([["api-gateway", "payments"]])
    );
    let history = js(&browser, "return text('#history');").await;
    let history = history.as_str().unwrap();
    assert!(
        history.contains("excluded billing") && history.contains("sign-offs reset"),
        "{history}"
    );
    assert_not_reloaded(&browser).await;

    browser.close().await;
    server.stop().await;
}

/// 3. Dependencies picked in the dialog: one dependency splits the deploy order into two
///    levels, dependency first; the reverse dependency is a cycle, named on the page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dependencies_from_the_dialog_order_the_deploy() {
    Browser::require();
    let (server, id, browser) = release_page_as("dev-lead").await;
    let gateway = repo_id(&server, &id, "api-gateway").await;
    let billing = repo_id(&server, &id, "billing").await;
    assert_eq!(
        js(&browser, LEVELS).await,
        json!([["api-gateway", "billing", "payments"]])
    );
    assert!(browser.find("#cycle").await.is_none());
    set_marker(&browser).await;

    // api-gateway depends on billing.
    pick_dependency(&browser, gateway, "billing").await;
    wait_value(
        &browser,
        "two levels, billing first",
        LEVELS,
        json!([["billing", "payments"], ["api-gateway"]]),
    )
    .await;
    assert_eq!(
        js(
            &browser,
            &format!("return text('#repo-{gateway} td.deps code');")
        )
        .await,
        json!("billing")
    );
    assert_eq!(
        repo(&detail(&server, &id).await, "api-gateway")["depends_on"],
        json!(["billing"])
    );
    assert!(browser.find("#cycle").await.is_none());

    // billing depends on api-gateway: a cycle.
    pick_dependency(&browser, billing, "api-gateway").await;
    wait_true(&browser, "the cycle to be shown", "return shown('#cycle');").await;
    let cycle = js(&browser, "return text('#cycle');").await;
    let cycle = cycle.as_str().unwrap();
    assert!(
        cycle.contains("api-gateway → billing → api-gateway"),
        "{cycle}"
    );
    assert_eq!(js(&browser, LEVELS).await, json!([["payments"]]));
    let order = &detail(&server, &id).await["deploy_order"];
    assert_eq!(order["cycle"], json!(["api-gateway", "billing"]), "{order}");
    assert_not_reloaded(&browser).await;

    browser.close().await;
    server.stop().await;
}

/// Opens the dependency dialog of repo `repo`, ticks `on` and saves; waits for the dialog to
/// close.
async fn pick_dependency(browser: &Browser, repo: i64, on: &str) {
    browser.click(&format!("#deps-{repo}")).await;
    wait_true(
        browser,
        "the dependency dialog",
        "var d = document.getElementById('dialog');
         return d.open && !!d.querySelector('#repo-form');",
    )
    .await;
    let checkbox = format!("#dialog input[name=depends_on][value=\"{on}\"]");
    assert_eq!(
        js(
            browser,
            &format!("return document.querySelector('{checkbox}').checked;")
        )
        .await,
        json!(false),
        "{on} is not a dependency yet"
    );
    browser.click(&checkbox).await;
    browser.click("#dialog #save-deps").await;
    wait_true(
        browser,
        "the dialog to close after saving",
        "return !document.getElementById('dialog').open;",
    )
    .await;
    let errors = js(
        browser,
        "return Array.from(document.querySelectorAll('[data-error]'))
                    .map(function (e) { return e.textContent.trim(); })
                    .filter(function (t) { return t !== ''; });",
    )
    .await;
    assert_eq!(errors, json!([]), "no error anywhere");
}

/// 4. Sign-offs by the people holding the roles, in two browsers: someone without roles sees no
///    approve button, a Dev approver only the Dev one; the Dev and QA approvals make the
///    release approved (and the first browser sees it, live).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_people_sign_off_and_the_release_is_approved() {
    Browser::require();
    let server = start_server().await;
    let base = server.base.clone();
    let id = create_release(&server).await;
    let page = format!("{base}/releases/{id}");
    const BUTTONS: &str = "return ['approve-dev', 'approve-qa', 'revoke-dev', 'revoke-qa']
        .filter(function (b) { return document.getElementById(b) !== null; });";

    // Without roles: nothing to press.
    let first = start_browser().await;
    sign_in(&first, &base, "onlooker").await;
    first.goto(&page).await;
    first.wait_for("#signoffs").await;
    assert_eq!(js(&first, BUTTONS).await, json!([]));

    // The same browser, signed in again as a Dev approver.
    sign_out(&first).await;
    sign_in(&first, &base, "dev-lead").await;
    first.goto(&page).await;
    assert_eq!(js(&first, BUTTONS).await, json!(["approve-dev"]));
    first.click("#approve-dev").await;
    wait_value(
        &first,
        "the Dev sign-off",
        "return [text('#signoff-dev .signoff-by'), text('#status'),
                 document.getElementById('approve-dev') === null];",
        json!(["dev-lead", "pending", true]),
    )
    .await;
    assert_eq!(js(&first, BUTTONS).await, json!(["revoke-dev"]));
    wait_live(&first).await;

    // A second browser, a QA approver.
    let second = start_browser().await;
    sign_in(&second, &base, "qa-lead").await;
    second.goto(&page).await;
    assert_eq!(js(&second, BUTTONS).await, json!(["approve-qa"]));
    assert_eq!(
        js(&second, "return text('#signoff-dev .signoff-by');").await,
        json!("dev-lead")
    );
    second.click("#approve-qa").await;
    wait_value(
        &second,
        "the QA sign-off and the approved release",
        "return [text('#signoff-qa .signoff-by'), text('#status')];",
        json!(["qa-lead", "approved"]),
    )
    .await;
    assert_eq!(js(&second, BUTTONS).await, json!(["revoke-qa"]));
    // The first browser follows.
    wait_value(
        &first,
        "the first browser to see the approval",
        "return [text('#signoff-qa .signoff-by'), text('#status')];",
        json!(["qa-lead", "approved"]),
    )
    .await;

    let release = &detail(&server, &id).await["release"];
    assert_eq!(release["status"], "approved");
    assert_eq!(release["dev_approved_by"], "dev-lead");
    assert_eq!(release["qa_approved_by"], "qa-lead");

    second.close().await;
    first.close().await;
    server.stop().await;
}

/// 5. The release page follows changes made elsewhere without reloading, and a live update
///    leaves the notes being typed alone (applying them once the editor closes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_release_page_follows_other_clients_without_losing_typing() {
    Browser::require();
    let (server, id, browser) = release_page_as("dev-lead").await;
    assert_eq!(
        js(&browser, "return text('#signoff-qa');").await,
        json!("QA ☐ not signed off yet")
    );
    wait_live(&browser).await;
    set_marker(&browser).await;

    // Another client signs off QA.
    let (status, body) = server
        .post("qa", &format!("/api/releases/{id}/approve/qa"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    wait_value(
        &browser,
        "the QA sign-off by the other client",
        "return text('#signoff-qa .signoff-by');",
        json!("qa"),
    )
    .await;
    let history = js(&browser, "return text('#history li');").await;
    assert!(
        history.as_str().unwrap().starts_with("qa signed off as QA"),
        "{history}"
    );
    assert_not_reloaded(&browser).await;

    // Typing notes while others change the release: the notes someone else saved, then a Dev
    // sign-off that shows the update has arrived.
    browser.click("#edit-notes").await;
    wait_true(&browser, "the notes editor", "return shown('#notes-form');").await;
    let draft = "Draft: not saved yet";
    browser.fill("#notes-input", draft).await;
    let (status, body) = server
        .patch(
            "admin",
            &format!("/api/releases/{id}"),
            json!({"notes": "Saved elsewhere."}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = server
        .post("dev", &format!("/api/releases/{id}/approve/dev"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    wait_value(
        &browser,
        "the Dev sign-off by the other client",
        "return [text('#signoff-dev .signoff-by'), text('#status')];",
        json!(["dev", "approved"]),
    )
    .await;
    assert_eq!(
        js(
            &browser,
            "return [document.getElementById('notes-input').value, shown('#notes-form'),
                     document.activeElement.id];"
        )
        .await,
        json!([draft, true, "notes-input"]),
        "the typed text, the open editor and the focus stay"
    );
    assert_not_reloaded(&browser).await;

    // Closing the editor without saving shows the notes as they are now.
    browser.click("#notes-form a[data-cancel]").await;
    wait_value(
        &browser,
        "the notes saved elsewhere",
        "return [text('#notes'), shown('#notes-form')];",
        json!(["Saved elsewhere.", false]),
    )
    .await;
    assert_not_reloaded(&browser).await;

    browser.close().await;
    server.stop().await;
}

/// 6. HTML typed into the notes is shown as text (and never runs), while Markdown is rendered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn html_typed_into_the_notes_is_shown_as_text() {
    Browser::require();
    let (server, id, browser) = release_page_as("dev-lead").await;
    assert_eq!(
        js(&browser, "return text('#notes');").await,
        json!("No notes.")
    );
    set_marker(&browser).await;

    // A line that starts with `<script>` is an HTML block in Markdown (all of it, `**bold**`
    // included, stays literal); inside a paragraph the tag is inline HTML, so `**bold**` is
    // rendered around it.
    let block = "<script>window.__pwned=1</script> **bold**";
    let inline = "Inline <script>window.__pwned=2</script> **bold**";
    let typed = format!("{block}\n\n{inline}");
    browser.click("#edit-notes").await;
    browser.fill("#notes-input", &typed).await;
    browser.click("#save-notes").await;
    wait_true(
        &browser,
        "the saved notes, rendered",
        "return !shown('#notes-form') && document.querySelector('#notes strong') !== null;",
    )
    .await;
    assert_eq!(
        js(
            &browser,
            "var notes = document.getElementById('notes');
             return [notes.querySelectorAll('script').length,
                     Array.from(notes.querySelectorAll('strong'))
                       .map(function (s) { return s.textContent; }),
                     typeof window.__pwned];"
        )
        .await,
        json!([0, ["bold"], "undefined"])
    );
    let shown = js(
        &browser,
        "return document.getElementById('notes').textContent;",
    )
    .await;
    let shown = shown.as_str().unwrap();
    assert!(shown.contains(block), "{shown}");
    assert!(
        shown.contains("Inline <script>window.__pwned=2</script> bold"),
        "{shown}"
    );
    assert_eq!(detail(&server, &id).await["release"]["notes"], json!(typed));
    assert_not_reloaded(&browser).await;

    // The same after a full load of the page.
    browser
        .goto(&format!("{}/releases/{id}", server.base))
        .await;
    assert_eq!(
        js(
            &browser,
            "var notes = document.getElementById('notes');
             return [notes.querySelectorAll('script').length,
                     notes.querySelectorAll('strong').length,
                     notes.textContent.indexOf('<script>window.__pwned=1</script>') >= 0,
                     typeof window.__pwned];"
        )
        .await,
        json!([0, 1, true, "undefined"])
    );

    browser.close().await;
    server.stop().await;
}

/// 7. The list refreshes itself: a release created (then signed off) through the API by
///    someone else appears in the open list without a reload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_list_shows_releases_created_elsewhere() {
    Browser::require();
    let server = start_server().await;
    let base = server.base.clone();
    let browser = start_browser().await;
    sign_in(&browser, &base, "onlooker").await;
    assert_eq!(
        js(&browser, "return text('#list-live .empty');").await,
        json!("No releases yet.")
    );
    wait_live(&browser).await;
    set_marker(&browser).await;

    let id = create_release(&server).await;
    wait_value(
        &browser,
        "the new release in the list",
        "return Array.from(document.querySelectorAll('#releases tr[data-id]'))
                    .map(function (tr) { return tr.getAttribute('data-id'); });",
        json!([id]),
    )
    .await;
    let row = format!("#releases tr[data-id=\"{id}\"]");
    assert_eq!(
        js(
            &browser,
            &format!(
                "return [text('{row} .branches'), text('{row} [data-label=Repos]'),
                         text('{row} .person'), shown('#list-live .empty')];"
            )
        )
        .await,
        json!(["uat → master", "3", "dev", false])
    );

    // A sign-off given elsewhere shows in the row too.
    let (status, body) = server
        .post("qa", &format!("/api/releases/{id}/approve/qa"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    wait_value(
        &browser,
        "the QA sign-off in the row",
        &format!("return text('{row} .signoffs .signoff-by');"),
        json!("qa"),
    )
    .await;
    assert_not_reloaded(&browser).await;

    browser.close().await;
    server.stop().await;
}

/// 8. CI badges follow GitHub's webhooks live: a merge, then its build queued, running and
///    successful with its chart version, each shown in the repo row and the "CI/CD" table
///    without a reload (polls are an hour apart, so only webhooks can bring the changes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ci_badges_follow_webhooks_live() {
    Browser::require();
    let secret = shipyard::demo::random_token("whsec_");
    let s = secret.clone();
    let server = start_server_with(move |c| {
        c.github.as_mut().unwrap().webhook_secret = Some(shipyard_config::Secret::new(s));
        c.ci.poll_interval = Duration::from_secs(3600);
    })
    .await;
    let pr = server.sim.open_pr("billing", "uat", "master", "Release");
    server
        .sim
        .set_webhook(&format!("{}/webhooks/github", server.base), &secret);
    let id = create_release(&server).await;
    let browser = start_browser().await;
    sign_in(&browser, &server.base, "onlooker").await;
    browser
        .goto(&format!("{}/releases/{id}", server.base))
        .await;
    const BADGE: &str = "return text('#repos tr[data-repo=\"billing\"] td[data-label=\"CI\"]');";
    assert_eq!(
        js(&browser, BADGE).await,
        json!("—"),
        "not merged: no badge"
    );
    assert!(
        js(&browser, "return shown('#ci-empty');").await == json!(true),
        "the CI/CD section says there are no builds yet"
    );
    wait_live(&browser).await;
    set_marker(&browser).await;

    let sha = server.sim.merge_pr("billing", pr);
    wait_value(&browser, "the merge", BADGE, json!("… waiting for a run")).await;

    let run = server
        .sim
        .start_run("billing", "general.yaml", "master", &sha);
    // The run number, once the delivery of the queued run has been answered (and applied).
    server.sim.flush_webhooks().await;
    let (_, ci) = server
        .get("viewer", &format!("/api/releases/{id}/ci-status"))
        .await;
    let number = ci["statuses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["repo_name"] == "billing")
        .unwrap()["run_number"]
        .clone();
    wait_value(
        &browser,
        "the queued run",
        BADGE,
        json!(format!("⏳ #{number} queued")),
    )
    .await;
    server.sim.set_run_status(run, "in_progress");
    wait_value(
        &browser,
        "the running build",
        BADGE,
        json!(format!("⏳ #{number} in progress")),
    )
    .await;
    server.sim.add_job(
        run,
        "helm-publish",
        shipyard_sim::github::timestamped_log(&["CHART_VERSION=1.1.937"]),
    );
    server.sim.complete_run(run, "success");
    wait_value(
        &browser,
        "the successful build",
        BADGE,
        json!(format!("✓ #{number} → v1.1.937")),
    )
    .await;
    assert_eq!(
        js(
            &browser,
            "var tr = document.querySelector('#ci tr[data-repo=\"billing\"]');
             var a = tr.querySelector('td[data-label=\"Run\"] a');
             return [tr.getAttribute('data-ci'), text('#ci tr[data-repo=\"billing\"] td[data-label=\"Chart version\"]'),
                     a.textContent, a.href.indexOf('/actions/runs/') > 0];"
        )
        .await,
        json!(["success", "1.1.937", format!("#{number}"), true])
    );
    let history = js(&browser, "return text('#history li');").await;
    assert!(
        history.as_str().unwrap().contains(&format!(
            "build #{number} of billing succeeded: chart 1.1.937"
        )),
        "{history}"
    );
    assert_not_reloaded(&browser).await;
    browser.close().await;
    server.stop().await;
}

/// 9. Deployment columns follow a rollout in the simulated Argo CD live: once CI published the
///    chart, the qa and prod cells of the repo show the version that runs; a rollout in qa turns
///    the qa cell to rolling out and then deployed, and the head's count with it, without a
///    reload; a cell's details show on focus.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployment_columns_follow_a_rollout_live() {
    use shipyard_sim::argocd::{ArgoCdOptions, ArgoCdSim, SimApp};
    Browser::require();
    let token = shipyard_sim::argocd::random_api_token();
    let mut sims = Vec::new();
    for env in ["qa", "prod"] {
        let sim = ArgoCdSim::start(ArgoCdOptions::new(env, &token))
            .await
            .unwrap();
        sim.add_app(SimApp::new(
            &format!("billing-{env}"),
            "payments",
            "billing",
            "1.1.939",
        ));
        sims.push((env, sim));
    }
    let environments = sims
        .iter()
        .map(|(env, sim)| {
            (
                (*env).to_owned(),
                shipyard_config::ArgocdEnvironment {
                    url: sim.url(),
                    token: Some(shipyard_config::Secret::new(token.clone())),
                    cf_client_id: None,
                    cf_client_secret: None,
                    app_suffix: format!("-{env}"),
                    project: None,
                    app_namespace: None,
                },
            )
        })
        .collect();
    let server = start_server_with(move |c| {
        c.ci.poll_interval = Duration::from_secs(1);
        c.argocd = Some(shipyard_config::ArgocdConfig {
            poll_interval: Duration::from_secs(1),
            cache_ttl: Duration::from_secs(0),
            deploy_environment: "prod".into(),
            environments,
            version_source: shipyard_config::VersionSource::Auto,
            overrides: Default::default(),
            webhook_secret: None,
            selector: None,
        });
    })
    .await;
    let pr = server.sim.open_pr("billing", "uat", "master", "Release");
    let id = create_release(&server).await;
    let browser = start_browser().await;
    sign_in(&browser, &server.base, "onlooker").await;
    browser
        .goto(&format!("{}/releases/{id}", server.base))
        .await;
    const QA: &str = "var el = document.querySelector('#repos tr[data-repo=\"billing\"] [data-deploy][data-env=\"qa\"]');
                      return el ? [el.getAttribute('data-deploy'), el.getAttribute('aria-label')] : null;";
    assert_eq!(
        js(&browser, QA).await,
        json!(["waiting", "qa: ⏳ waiting"]),
        "no chart yet"
    );
    wait_live(&browser).await;
    set_marker(&browser).await;

    let sha = server.sim.merge_pr("billing", pr);
    server
        .sim
        .successful_build("billing", "general.yaml", "master", &sha, "1.1.940");
    let (status, body) = server
        .post("dev", &format!("/api/releases/{id}/refresh"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    wait_value(
        &browser,
        "the version running in qa",
        QA,
        json!(["mismatch", "qa: ⚠️ 1.1.939"]),
    )
    .await;
    wait_value(
        &browser,
        "the head's count",
        "return text('#deploy-counts [data-env=\"qa\"]');",
        json!("qa 0/3 deployed (1 mismatch)"),
    )
    .await;

    let qa = &sims[0].1;
    let rollout = qa.roll_out("billing-qa", "1.1.940", Duration::from_millis(1500));
    wait_true(
        &browser,
        "the rollout under way",
        "var el = document.querySelector('#repos tr[data-repo=\"billing\"] [data-deploy][data-env=\"qa\"]');
         return !!el && el.getAttribute('data-deploy') === 'rolling_out';",
    )
    .await;
    rollout.await.unwrap();
    wait_value(
        &browser,
        "qa runs the new version",
        QA,
        json!(["deployed", "qa: ✅ 1.1.940"]),
    )
    .await;
    wait_value(
        &browser,
        "the head's count",
        "return text('#deploy-counts [data-env=\"qa\"]');",
        json!("qa 1/3 deployed"),
    )
    .await;
    // The trace row shows the same, after the chart version.
    assert_eq!(
        js(
            &browser,
            "return [text('#ci tr[data-repo=\"billing\"] td[data-label=\"Chart version\"]'),
                     document.querySelector('#ci tr[data-repo=\"billing\"] [data-trace=\"qa\"] [data-deploy]').getAttribute('data-deploy')];"
        )
        .await,
        json!(["1.1.940", "deployed"])
    );
    // Details on focus: sync, health and when it was read.
    let details = js(
        &browser,
        "var el = document.querySelector('#repos tr[data-repo=\"billing\"] [data-deploy][data-env=\"qa\"]');
         el.focus();
         var d = el.querySelector('.dep-details');
         return [getComputedStyle(d).display, d.textContent.indexOf('Synced') >= 0,
                 d.textContent.indexOf('Healthy') >= 0, d.textContent.indexOf('Checked') >= 0];",
    )
    .await;
    assert_eq!(details, json!(["block", true, true, true]));
    assert_not_reloaded(&browser).await;
    browser.close().await;
    server.stop().await;
    for (_, sim) in sims {
        sim.shutdown().await;
    }
}

/// 11. Two replicas on one PostgreSQL database: a page served by one follows a change made
///     through the other, even when that replica's link to the others' changes drops at that
///     very moment: it listens again and tells the page to re-read (`resync`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_on_another_replica_catches_up_when_its_listener_drops() {
    Browser::require();
    let server = start_server_on(shipyard_store::Backend::Postgres, |_| {}).await;
    let id = create_release(&server).await;
    let (other, stop_other, other_task) = server.replica().await;
    let other_name = format!("shipyard replica-{}", other.rsplit(':').next().unwrap());
    let browser = start_browser().await;
    // Signed in through the first replica (the configured public address); the session lives
    // in the database, and cookies do not depend on the port, so the other replica knows it.
    sign_in(&browser, &server.base, "dev-lead").await;
    browser.goto(&format!("{other}/releases/{id}")).await;
    wait_live(&browser).await;
    set_marker(&browser).await;

    // The database ends the other replica's LISTEN session again and again while QA signs
    // off through the first one: its announcement may well never reach the other replica.
    let admin = sqlx::PgPool::connect(&server.db_url).await.unwrap();
    let terminate = "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
        WHERE datname = current_database() AND application_name = $1 AND query ILIKE 'LISTEN%'";
    let ended: i64 = sqlx::query_scalar(terminate)
        .bind(&other_name)
        .fetch_one(&admin)
        .await
        .unwrap();
    assert_eq!(ended, 1, "the other replica listens on one session");
    let keep_ending = {
        let (admin, name) = (admin.clone(), other_name.clone());
        tokio::spawn(async move {
            let until = std::time::Instant::now() + Duration::from_millis(800);
            while std::time::Instant::now() < until {
                let _: Result<i64, _> = sqlx::query_scalar(terminate)
                    .bind(&name)
                    .fetch_one(&admin)
                    .await;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let (status, body) = server
        .post("qa", &format!("/api/releases/{id}/approve/qa"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    keep_ending.await.unwrap();

    // The page shows the sign-off by itself, without a reload, and was told to re-read.
    wait_value(
        &browser,
        "the QA sign-off made through the first replica",
        "return text('#signoff-qa .signoff-by');",
        json!("qa"),
    )
    .await;
    wait_true(
        &browser,
        "the page to hear `resync`",
        "return window.__resyncs > 0;",
    )
    .await;
    assert_not_reloaded(&browser).await;

    admin.close().await;
    browser.close().await;
    let _ = stop_other.send(());
    let _ = other_task.await;
    server.stop().await;
}
