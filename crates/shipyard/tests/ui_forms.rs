//! The pages' forms without JavaScript: plain POST + redirect, guarded by the session's CSRF
//! field and the same-origin rule; errors shown next to the form that caused them; buttons shown
//! only to people who may use them. Plus the security headers of every kind of page.

#![allow(clippy::unwrap_used)]

mod common;
#[path = "common/pages.rs"]
mod pages;

use common::*;
use pages::*;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_SECURITY_POLICY, COOKIE, LOCATION, ORIGIN};
use serde_json::{Value, json};
use shipyard_config::{AuthMode, DevUser};
use shipyard_core::Role;

async fn server() -> TestServer {
    TestServer::start_with(
        shipyard_store::Backend::Sqlite,
        |sim| {
            repo_with_changes(sim, "api-gateway", &[commit("feat: a", "alice")]);
            repo_with_changes(sim, "billing", &[commit("fix: b", "bob")]);
            repo_with_changes(sim, "payments", &[commit("feat: c", "carol")]);
        },
        |c| {
            c.auth.mode = AuthMode::Dev;
            c.auth.dev_users = [
                ("dev-lead", vec![Role::DevApprover]),
                ("qa-lead", vec![Role::QaApprover]),
                ("reader", vec![]),
            ]
            .into_iter()
            .map(|(name, roles)| DevUser {
                name: name.into(),
                roles,
            })
            .collect();
        },
    )
    .await
}

/// A release through the API; returns its id and the detail.
async fn release(server: &TestServer) -> (String, Value) {
    let detail = server.create_release().await;
    let id = detail["release"]["id"].as_str().unwrap().to_owned();
    (id, detail)
}

fn repo_id(detail: &Value, name: &str) -> i64 {
    repo(detail, name)["id"].as_i64().unwrap()
}

async fn detail(server: &TestServer, id: &str) -> Value {
    let (s, body) = server.get("admin", &format!("/api/releases/{id}")).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    body
}

fn location(resp: &reqwest::Response) -> String {
    resp.headers()[LOCATION].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_release_is_created_from_the_form() {
    let server = server().await;
    let cookie = sign_in(&server, "dev-lead").await;
    let html = page_text(&server, &cookie, "/releases").await;
    let csrf = csrf_of(&html);
    assert!(html.contains("id=\"new-release-form\""), "{html}");

    // A malformed branch: the list again, the message under the source field, values kept.
    let resp = post_form(
        &server,
        &cookie,
        "/releases",
        &[
            ("csrf", &csrf),
            ("source_branch", "bad..name"),
            ("dest_branch", "master"),
        ],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let html = resp.text().await.unwrap();
    let field = section(&html, "source_branch-error", "</p>");
    assert!(!field.contains("hidden"), "{field}");
    assert!(field.contains(".."), "{field}");
    assert!(html.contains("value=\"bad..name\""), "{html}");
    assert!(section(&html, "dest_branch-error", "</p>").contains("hidden"));

    // A branch that exists nowhere: the error in words under the form; nothing stored.
    let resp = post_form(
        &server,
        &cookie,
        "/releases",
        &[
            ("csrf", &csrf),
            ("source_branch", "nowhere"),
            ("dest_branch", "master"),
        ],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = resp.text().await.unwrap();
    let error = section(&html, "create-error", "</p>");
    assert!(
        !error.contains(" hidden") && error.contains("nowhere"),
        "{error}"
    );
    let (_, list) = server.get("dev", "/api/releases").await;
    assert_eq!(list["releases"].as_array().unwrap().len(), 0);

    // The real thing: off to the new release's page.
    let resp = post_form(
        &server,
        &cookie,
        "/releases",
        &[
            ("csrf", &csrf),
            ("source_branch", " uat "),
            ("dest_branch", "master"),
        ],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let to = location(&resp);
    let id = to.strip_prefix("/releases/").unwrap();
    let body = detail(&server, id).await;
    assert_eq!(body["release"]["created_by"], "dev-lead");
    assert_eq!(repo_names(&body), ["api-gateway", "billing", "payments"]);
    let html = page_text(&server, &cookie, &to).await;
    assert!(html.contains("<code>payments</code>"), "{html}");
    server.stop().await;
}

#[tokio::test]
async fn forms_need_the_session_csrf_field_and_our_origin() {
    let server = server().await;
    let (id, _) = release(&server).await;
    let cookie = sign_in(&server, "dev-lead").await;
    let html = page_text(&server, &cookie, &format!("/releases/{id}")).await;
    let csrf = csrf_of(&html);
    let path = format!("/releases/{id}/approve/dev");

    // No field, a wrong field, another origin, no origin at all: 403, nothing changes.
    type Case<'a> = (&'a [(&'a str, &'a str)], Option<&'a str>);
    let cases: [Case; 4] = [
        (&[], Some(server.base.as_str())),
        (&[("csrf", "0000")], Some(server.base.as_str())),
        (&[("csrf", csrf.as_str())], Some("https://evil.example")),
        (&[("csrf", csrf.as_str())], None),
    ];
    for (fields, origin) in cases {
        let mut req = no_redirects()
            .post(format!("{}{path}", server.base))
            .header(COOKIE, &cookie)
            .form(fields);
        if let Some(o) = origin {
            req = req.header(ORIGIN, o);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(
            resp.status(),
            StatusCode::FORBIDDEN,
            "{fields:?} {origin:?}"
        );
        let page = resp.text().await.unwrap();
        assert!(page.contains("Not allowed"), "{page}");
    }
    assert!(detail(&server, &id).await["release"]["dev_approved_by"].is_null());

    // Another session's token does not work either.
    let other = sign_in(&server, "dev-lead").await;
    let resp = post_form(&server, &other, &path, &[("csrf", &csrf)]).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);

    // Signed out: to sign-in, nothing changes.
    let resp = no_redirects()
        .post(format!("{}{path}", server.base))
        .header(ORIGIN, &server.base)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert!(location(&resp).starts_with("/auth/login"));
    assert!(detail(&server, &id).await["release"]["dev_approved_by"].is_null());

    // With the field, from our page: done, and back to the sign-offs.
    let resp = post_form(&server, &cookie, &path, &[("csrf", &csrf)]).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&resp), format!("/releases/{id}#signoffs"));
    assert_eq!(
        detail(&server, &id).await["release"]["dev_approved_by"],
        "dev-lead"
    );

    // A body over the limit is refused before anything is read from it.
    let big = "x".repeat(300 * 1024);
    let resp = post_form(
        &server,
        &cookie,
        &format!("/releases/{id}/notes"),
        &[("csrf", &csrf), ("notes", &big)],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(detail(&server, &id).await["release"]["notes"], "");
    server.stop().await;
}

#[tokio::test]
async fn sign_off_buttons_follow_the_roles_and_errors_show_in_place() {
    let server = server().await;
    let (id, _) = release(&server).await;
    let path = format!("/releases/{id}");
    let signoffs = |html: &str| section(html, "signoffs", "</section>").to_owned();

    let reader = sign_in(&server, "reader").await;
    let html = page_text(&server, &reader, &path).await;
    let s = signoffs(&html);
    assert!(
        !s.contains("approve-dev") && !s.contains("approve-qa"),
        "{s}"
    );
    // Without the button, a hand-made post still meets the rule, shown next to the sign-off.
    let resp = post_form(
        &server,
        &reader,
        &format!("{path}/approve/dev"),
        &[("csrf", &csrf_of(&html))],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let html = resp.text().await.unwrap();
    let row = section(&html, "signoff-dev", "</li>");
    assert!(row.contains("dev_approver"), "{row}");
    assert!(section(&html, "signoff-qa", "</li>").contains("data-error hidden"));

    let dev = sign_in(&server, "dev-lead").await;
    let html = page_text(&server, &dev, &path).await;
    let s = signoffs(&html);
    assert!(
        s.contains("id=\"approve-dev\"") && !s.contains("approve-qa"),
        "{s}"
    );
    let resp = post_form(
        &server,
        &dev,
        &format!("{path}/approve/dev"),
        &[("csrf", &csrf_of(&html))],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let html = page_text(&server, &dev, &path).await;
    let s = signoffs(&html);
    assert!(
        s.contains("id=\"revoke-dev\"") && !s.contains("approve-dev"),
        "{s}"
    );

    let qa = sign_in(&server, "qa-lead").await;
    let html = page_text(&server, &qa, &path).await;
    let s = signoffs(&html);
    assert!(
        s.contains("id=\"approve-qa\"") && !s.contains("revoke-dev"),
        "{s}"
    );
    let resp = post_form(
        &server,
        &qa,
        &format!("{path}/approve/qa"),
        &[("csrf", &csrf_of(&html))],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let html = page_text(&server, &qa, &path).await;
    assert!(html.contains("id=\"status\">approved<"), "{html}");
    // Approved: now it may be marked deployed.
    assert!(section(&html, "head", "</section>").contains("id=\"status-deployed\""));

    // Revoke by form: back to pending.
    let resp = post_form(
        &server,
        &qa,
        &format!("{path}/revoke/qa"),
        &[("csrf", &csrf_of(&html))],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(detail(&server, &id).await["release"]["status"], "pending");
    server.stop().await;
}

#[tokio::test]
async fn notes_repos_and_status_change_through_forms() {
    let server = server().await;
    let (id, created) = release(&server).await;
    let path = format!("/releases/{id}");
    let cookie = sign_in(&server, "dev-lead").await;
    let html = page_text(&server, &cookie, &path).await;
    let csrf = csrf_of(&html);

    // The editor: closed by default, open with ?edit=notes.
    assert!(section(&html, "notes-form", ">").contains("hidden"));
    let editing = page_text(&server, &cookie, &format!("{path}?edit=notes")).await;
    assert!(!section(&editing, "notes-form", ">").contains("hidden"));

    // Notes: Markdown rendered, HTML shown as text; line endings as the browser sends them.
    let resp = post_form(
        &server,
        &cookie,
        &format!("{path}/notes"),
        &[
            ("csrf", &csrf),
            ("notes", "**Ship** it\r\n\r\n<script>alert(1)</script>"),
            ("breaking_changes", "- drop `v1`"),
        ],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&resp), format!("{path}#notes-section"));
    let body = detail(&server, &id).await;
    assert_eq!(
        body["release"]["notes"],
        "**Ship** it\n\n<script>alert(1)</script>"
    );
    let html = page_text(&server, &cookie, &path).await;
    let notes = section(&html, "notes", "</div>");
    assert!(notes.contains("<strong>Ship</strong>"), "{notes}");
    assert!(
        notes.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{notes}"
    );
    assert!(section(&html, "breaking", "</div>").contains("<code>v1</code>"));
    assert_only_own_script(&html);

    // Too long: refused, the draft kept in the open editor with the reason.
    let long = "a".repeat(70 * 1024);
    let resp = post_form(
        &server,
        &cookie,
        &format!("{path}/notes"),
        &[("csrf", &csrf), ("notes", &long), ("breaking_changes", "")],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let html = resp.text().await.unwrap();
    let form = section(&html, "notes-form", "</form>");
    assert!(!section(&html, "notes-form", ">").contains("hidden"));
    assert!(form.contains(&long), "the draft is kept");
    assert!(form.contains("Notes: is 71680 characters long"), "{form}");
    assert_eq!(
        detail(&server, &id).await["release"]["notes"],
        "**Ship** it\n\n<script>alert(1)</script>"
    );

    // Exclude: a checked box sends the field, an unchecked one sends nothing.
    let billing = repo_id(&created, "billing");
    let exclude = format!("{path}/repos/{billing}/exclude");
    let resp = post_form(
        &server,
        &cookie,
        &exclude,
        &[("csrf", &csrf), ("excluded", "true")],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&resp), format!("{path}#repo-{billing}"));
    let html = page_text(&server, &cookie, &path).await;
    let row = section(&html, &format!("repo-{billing}"), "</tr>");
    assert!(row.contains("class=\"excluded\""), "{row}");
    assert!(row.contains(" checked"), "{row}");
    assert!(section(&html, "repos-section", "</h2>").contains("2 of 3 included"));
    let resp = post_form(&server, &cookie, &exclude, &[("csrf", &csrf)]).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        repo(&detail(&server, &id).await, "billing")["excluded"],
        false
    );

    // Dependencies: the picker page lists the other repos; several boxes, one post.
    let api = repo_id(&created, "api-gateway");
    let picker = page_text(&server, &cookie, &format!("{path}/repos/{api}")).await;
    assert!(picker.contains("value=\"billing\"") && picker.contains("value=\"payments\""));
    assert!(!picker.contains("value=\"api-gateway\""), "not itself");
    let deps = format!("{path}/repos/{api}/depends-on");
    let resp = post_form(
        &server,
        &cookie,
        &deps,
        &[
            ("csrf", &csrf),
            ("depends_on", "billing"),
            ("depends_on", "payments"),
        ],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let body = detail(&server, &id).await;
    assert_eq!(
        repo(&body, "api-gateway")["depends_on"],
        json!(["billing", "payments"])
    );
    assert_eq!(
        body["deploy_order"]["levels"],
        json!([["billing", "payments"], ["api-gateway"]])
    );
    let html = page_text(&server, &cookie, &path).await;
    let levels = section(&html, "levels", "</ol>");
    assert_eq!(levels.matches("<li>").count(), 2, "{levels}");

    // A cycle: shown as an error naming the repos.
    let resp = post_form(
        &server,
        &cookie,
        &format!("{path}/repos/{billing}/depends-on"),
        &[("csrf", &csrf), ("depends_on", "api-gateway")],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let html = page_text(&server, &cookie, &path).await;
    let cycle = section(&html, "cycle", "</p>");
    assert!(
        cycle.contains("api-gateway → billing → api-gateway"),
        "{cycle}"
    );

    // A name that is not in the release: the picker again with the reason and the choice kept.
    let resp = post_form(
        &server,
        &cookie,
        &deps,
        &[
            ("csrf", &csrf),
            ("depends_on", "payments"),
            ("depends_on", "../etc"),
        ],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    let html = resp.text().await.unwrap();
    assert!(
        html.contains("`../etc` is not a repository of this release"),
        "{html}"
    );
    assert!(html.contains("value=\"payments\" data-type=\"list\" checked"));
    assert_eq!(
        repo(&detail(&server, &id).await, "api-gateway")["depends_on"],
        json!(["billing", "payments"])
    );

    // Unknown repo or release: pages that say so.
    let resp = page(&server, &cookie, &format!("{path}/repos/999999")).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let resp = post_form(
        &server,
        &cookie,
        "/releases/zzzzzzzzzz/refresh",
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);

    // Status: only the allowed actions are offered; cancelling makes everything read-only.
    let html = page_text(&server, &cookie, &path).await;
    let head = section(&html, "head", "</section>");
    assert!(head.contains("id=\"status-cancelled\"") && !head.contains("status-deployed"));
    let resp = post_form(
        &server,
        &cookie,
        &format!("{path}/status"),
        &[("csrf", &csrf), ("status", "deployed")],
    )
    .await;
    assert_eq!(
        resp.status(),
        StatusCode::CONFLICT,
        "pending cannot be deployed"
    );
    let html = resp.text().await.unwrap();
    assert!(!section(&html, "head-error", "</p>").contains("hidden"));
    let resp = post_form(
        &server,
        &cookie,
        &format!("{path}/status"),
        &[("csrf", &csrf), ("status", "cancelled")],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let html = page_text(&server, &cookie, &path).await;
    assert!(html.contains("id=\"status\">cancelled<"));
    for gone in [
        "id=\"refresh\"",
        "id=\"edit-notes\"",
        "id=\"approve-dev\"",
        "data-dialog",
    ] {
        assert!(!html.contains(gone), "{gone} on a cancelled release");
    }
    let resp = post_form(&server, &cookie, &exclude, &[("csrf", &csrf)]).await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    server.stop().await;
}

#[tokio::test]
async fn every_kind_of_page_carries_the_security_headers() {
    let server = server().await;
    let (id, created) = release(&server).await;
    let cookie = sign_in(&server, "dev-lead").await;
    let api = repo_id(&created, "api-gateway");
    let csrf = csrf_of(&page_text(&server, &cookie, "/releases").await);
    let mut answers = Vec::new();
    for path in [
        "/".to_owned(),
        "/releases".to_owned(),
        format!("/releases/{id}"),
        format!("/releases/{id}/repos/{api}"),
        "/releases/zzzzzzzzzz".to_owned(),
    ] {
        answers.push((path.clone(), page(&server, &cookie, &path).await));
    }
    answers.push((
        "/auth/login".into(),
        no_redirects()
            .get(format!("{}/auth/login", server.base))
            .send()
            .await
            .unwrap(),
    ));
    answers.push((
        "refused form".into(),
        post_form(&server, &cookie, "/releases", &[("csrf", "x")]).await,
    ));
    answers.push((
        "form error".into(),
        post_form(
            &server,
            &cookie,
            "/releases",
            &[("csrf", &csrf), ("source_branch", ""), ("dest_branch", "")],
        )
        .await,
    ));
    for (what, resp) in answers {
        let h = resp.headers();
        let csp = h[CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(
            csp.contains("frame-ancestors 'none'")
                && csp.contains("script-src 'self'")
                && !csp.contains("unsafe-inline"),
            "{what}: {csp}"
        );
        assert_eq!(h["x-content-type-options"], "nosniff", "{what}");
        assert_eq!(h["referrer-policy"], "same-origin", "{what}");
        let html = resp.text().await.unwrap();
        assert!(!html.contains("<script>"), "{what}");
    }
    // The script and the stylesheet are files of our own origin, typed so browsers run them.
    let js = reqwest::get(format!("{}/assets/shipyard.js", server.base))
        .await
        .unwrap();
    assert_eq!(
        js.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert_eq!(js.headers()["x-content-type-options"], "nosniff");
    server.stop().await;
}

#[tokio::test]
async fn the_list_follows_every_release_live() {
    let server = server().await;
    let resp = server
        .http
        .get(format!("{}/api/events", server.base))
        .bearer_auth(&server.tokens["viewer"])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let (id, _) = release(&server).await;
    let (s, _) = server
        .post("dev", &format!("/api/releases/{id}/approve/dev"), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK);
    let mut resp = resp;
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !seen.contains("\"kind\":\"approvals\"") {
        let next = tokio::time::timeout_at(deadline, resp.chunk())
            .await
            .expect("an approvals event within 10 s")
            .unwrap()
            .expect("the stream stays open");
        seen.push_str(&String::from_utf8_lossy(&next));
    }
    assert!(seen.contains("event: release"), "{seen}");
    assert!(seen.contains(&format!("\"release_id\":\"{id}\"")), "{seen}");
    server.stop().await;
}
