//! The web pages: sign-in redirects, the release list, escaping, headers and assets.

#![allow(clippy::unwrap_used)]

mod common;
#[path = "common/pages.rs"]
mod pages;

use common::*;
use pages::*;
use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, LOCATION};
use serde_json::json;
use shipyard_config::{AuthMode, DevUser};
use shipyard_core::Role;

const EVIL: &str = "<script>alert(1)</script>";

async fn dev_server() -> TestServer {
    TestServer::start_with(
        shipyard_store::Backend::Sqlite,
        |sim| {
            repo_with_changes(sim, "api-gateway", &[commit("feat: a", "alice")]);
            repo_with_changes(
                sim,
                "billing",
                &[commit("fix: b", "bob"), commit("feat: c", "alice")],
            );
        },
        |c| {
            c.auth.mode = AuthMode::Dev;
            c.auth.dev_users = vec![
                DevUser {
                    name: "dev-lead".into(),
                    roles: vec![Role::DevApprover, Role::QaApprover],
                },
                DevUser {
                    name: EVIL.into(),
                    roles: vec![],
                },
            ];
        },
    )
    .await
}

/// Table rows of the list page (the `<tr data-id=…>` count).
fn row_count(html: &str) -> usize {
    html.matches("<tr data-id=").count()
}

#[tokio::test]
async fn signed_out_visitors_go_to_sign_in_and_come_back() {
    let server = dev_server().await;
    for (path, next) in [
        ("/releases", "/releases"),
        (
            "/releases?status=pending&q=a%20b",
            "/releases?status=pending%26q=a%2520b",
        ),
        ("/", "/"),
    ] {
        let resp = no_redirects()
            .get(format!("{}{path}", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(
            resp.headers()[LOCATION],
            format!("/auth/login?next={next}").as_str(),
            "{path}"
        );
    }
    // Following the redirect lands on the sign-in form that carries the whole address back.
    let login = reqwest::get(format!("{}/releases?status=pending&q=x", server.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        login.contains("value=\"/releases?status=pending&amp;q=x\"")
            || login.contains("value=\"/releases?status=pending&#38;q=x\""),
        "{login}"
    );
    // Signed in, the landing page is the list.
    let cookie = sign_in(&server, "dev-lead").await;
    let home = page_text(&server, &cookie, "/").await;
    assert!(
        home.contains("<table class=\"list\" id=\"releases\">")
            || home.contains("No releases yet.")
    );
    assert!(home.contains("id=\"who\">dev-lead<"), "{home}");
    server.stop().await;
}

#[tokio::test]
async fn the_list_shows_releases_with_their_fields() {
    let server = dev_server().await;
    let cookie = sign_in(&server, "dev-lead").await;
    let empty = page_text(&server, &cookie, "/releases").await;
    assert!(empty.contains("No releases yet."), "{empty}");
    assert!(empty.contains("dev-lead") && empty.contains("Sign out"));

    let id = server.create_release_id().await;
    let (s, body) = server
        .post("dev", &format!("/api/releases/{id}/approve/dev"), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");

    let html = page_text(&server, &cookie, "/releases").await;
    assert_eq!(row_count(&html), 1, "{html}");
    assert!(html.contains(&format!("<a href=\"/releases/{id}\"><code>{id}</code></a>")));
    assert!(html.contains("<code>uat</code>") && html.contains("<code>master</code>"));
    assert!(html.contains("<span class=\"badge badge-pending\">pending</span>"));
    assert!(html.contains("data-label=\"Repos\">2</td>"), "{html}");
    assert!(html.contains("data-label=\"Commits\">3</td>"), "{html}");
    assert!(
        html.contains("just now") && html.contains(" UTC\">"),
        "{html}"
    );
    assert!(
        html.contains("data-label=\"Created by\">dev</td>"),
        "{html}"
    );
    assert!(
        html.contains(
            "Dev <span aria-hidden=\"true\">☑</span> <span class=\"signoff-by\">dev</span>"
        )
    );
    assert!(html.contains("QA <span aria-hidden=\"true\">☐</span>"));
    // The stylesheet is linked by a versioned address.
    assert!(html.contains("href=\"/assets/shipyard.css?v="), "{html}");
    assert!(!html.contains("style="));
    assert_only_own_script(&html);
    server.stop().await;
}

#[tokio::test]
async fn filters_narrow_the_list_and_stay_in_the_form() {
    let server = dev_server().await;
    let cookie = sign_in(&server, "dev-lead").await;
    let id = server.create_release_id().await;
    for (query, rows) in [
        ("?status=pending", 1),
        ("?status=deployed", 0),
        ("?source=uat", 1),
        ("?source=develop", 0),
        ("?dest=master", 1),
        ("?dest=main", 0),
        (&format!("?q={}", &id[..id.len().min(6)]) as &str, 1),
        ("?q=no-such-thing", 0),
        ("?status=&source=&dest=&q=", 1),
    ] {
        let html = page_text(&server, &cookie, &format!("/releases{query}")).await;
        assert_eq!(row_count(&html), rows, "{query}");
    }
    let html = page_text(&server, &cookie, "/releases?status=deployed&source=uat").await;
    assert!(
        html.contains("<option value=\"deployed\" selected>"),
        "{html}"
    );
    assert!(html.contains("name=\"source\" value=\"uat\""));
    assert!(html.contains("No releases match these filters."));
    // An unknown status is said, not fatal; a forged cursor falls back to the first page.
    let html = page_text(&server, &cookie, "/releases?status=bogus").await;
    assert!(html.contains("Unknown status") && row_count(&html) == 1);
    let resp = page(&server, &cookie, "/releases?cursor=forged").await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let html = resp.text().await.unwrap();
    assert!(html.contains("out of date") && row_count(&html) == 1);
    server.stop().await;
}

#[tokio::test]
async fn paging_follows_the_cursor() {
    let server = dev_server().await;
    let cookie = sign_in(&server, "dev-lead").await;
    // One page holds 50; closing each release lets the next one open on the same branches.
    let mut ids = Vec::new();
    for _ in 0..51 {
        let id = server.create_release_id().await;
        let (s, body) = server
            .patch(
                "admin",
                &format!("/api/releases/{id}"),
                json!({"status": "cancelled"}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        ids.push(id);
    }
    let first = page_text(&server, &cookie, "/releases?status=cancelled").await;
    assert_eq!(row_count(&first), 50);
    assert!(!first.contains("← Newest"));
    let start = first.find("href=\"/releases?").unwrap() + 6;
    let older = first[start..start + first[start..].find('"').unwrap()]
        .replace("&#38;", "&")
        .replace("&amp;", "&");
    assert!(
        older.contains("status=cancelled") && older.contains("cursor="),
        "{older}"
    );
    assert!(first[start..].contains("Older →"));

    let second = page_text(&server, &cookie, &older).await;
    assert_eq!(row_count(&second), 1, "{second}");
    assert!(
        second.contains(&format!("data-id=\"{}\"", ids[0])),
        "the oldest comes last"
    );
    assert!(!second.contains("Older →") && second.contains("← Newest"));
    server.stop().await;
}

#[tokio::test]
async fn text_from_people_is_escaped() {
    let server = dev_server().await;
    let cookie = sign_in(&server, EVIL).await;
    let html = page_text(
        &server,
        &cookie,
        "/releases?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E&source=%22%3E%3Cscript%3E",
    )
    .await;
    assert!(!html.contains("<script>"), "{html}");
    assert_only_own_script(&html);
    assert!(
        html.contains("&#60;script&#62;alert(1)&#60;/script&#62;")
            || html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    server.stop().await;
}

#[tokio::test]
async fn pages_carry_the_security_headers() {
    let server = dev_server().await;
    let cookie = sign_in(&server, "dev-lead").await;
    let resp = page(&server, &cookie, "/releases").await;
    assert_eq!(resp.status(), StatusCode::OK);
    let h = resp.headers();
    assert_eq!(h[CONTENT_TYPE], "text/html; charset=utf-8");
    let csp = h[CONTENT_SECURITY_POLICY].to_str().unwrap();
    for part in [
        "default-src 'none'",
        "style-src 'self'",
        "script-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ] {
        assert!(csp.contains(part), "{csp}");
    }
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "same-origin");
    assert_eq!(h[CACHE_CONTROL], "no-store");
    server.stop().await;
}

#[tokio::test]
async fn assets_are_served_with_type_and_long_cache() {
    let server = dev_server().await;
    let cookie = sign_in(&server, "dev-lead").await;
    let html = page_text(&server, &cookie, "/releases").await;
    let start = html.find("/assets/shipyard.css?v=").unwrap();
    let href = &html[start..start + html[start..].find('"').unwrap()];

    let resp = reqwest::get(format!("{}{href}", server.base))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()[CONTENT_TYPE], "text/css; charset=utf-8");
    let cache = resp.headers()[CACHE_CONTROL].to_str().unwrap().to_owned();
    assert!(
        cache.contains("max-age=31536000") && cache.contains("immutable"),
        "{cache}"
    );
    assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
    let css = resp.text().await.unwrap();
    assert!(css.contains("prefers-color-scheme: dark"));

    // Without the current version the file is still served, but revalidated.
    let resp = reqwest::get(format!("{}/assets/shipyard.css?v=old", server.base))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()[CACHE_CONTROL], "no-cache");
    let resp = reqwest::get(format!("{}/assets/nope.css", server.base))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    server.stop().await;
}

#[tokio::test]
async fn the_release_page_shows_one_release_and_escapes_its_text() {
    let server = dev_server().await;
    let cookie = sign_in(&server, "dev-lead").await;
    let id = server.create_release_id().await;
    let (s, body) = server
        .patch(
            "admin",
            &format!("/api/releases/{id}"),
            json!({"notes": format!("Ship it.\n{EVIL}"), "breaking_changes": "\"><img src=x onerror=alert(1)>"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (s, body) = server
        .post("qa", &format!("/api/releases/{id}/approve/qa"), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");

    let resp = page(&server, &cookie, &format!("/releases/{id}")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let csp = resp.headers()[CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"));
    let html = resp.text().await.unwrap();
    assert!(!html.contains("<img"), "{html}");
    assert_only_own_script(&html);
    // Notes are Markdown; the HTML typed into them is shown as text.
    assert!(
        html.contains("<p>Ship it.</p>\n&lt;script&gt;alert(1)&lt;/script&gt;</div>"),
        "{html}"
    );
    assert!(html.contains("<span class=\"badge badge-pending\" id=\"status\">pending</span>"));
    assert!(html.contains("<code>uat</code>") && html.contains("<code>master</code>"));
    assert!(html.contains("<code>api-gateway</code>") && html.contains("<code>billing</code>"));
    let signoff = |kind: &str| {
        let from = &html[html.find(&format!("id=\"signoff-{kind}\"")).unwrap()..];
        from[..from.find("</li>").unwrap()].to_owned()
    };
    assert!(
        signoff("qa").contains("signed off by <strong class=\"signoff-by\">qa</strong>"),
        "{}",
        signoff("qa")
    );
    assert!(signoff("dev").contains("not signed off yet"));
    // dev-lead holds both roles: the Dev button is there; QA is given, so it may be revoked.
    assert!(signoff("dev").contains("id=\"approve-dev\""));
    assert!(signoff("qa").contains("id=\"revoke-qa\"") && !signoff("qa").contains("approve-qa"));
    // Deploy order: both repos are independent, so one level.
    let levels = &html[html.find("id=\"levels\"").unwrap()..];
    let levels = &levels[..levels.find("</ol>").unwrap()];
    assert_eq!(levels.matches("<li>").count(), 1, "{levels}");
    // History, newest first, in words.
    let history = &html[html.find("id=\"history\"").unwrap()..];
    let created = history.find("created the release: 2 repositories").unwrap();
    let notes = history
        .find("edited the notes and breaking changes")
        .unwrap();
    let approved = history.find("signed off as QA").unwrap();
    assert!(approved < notes && notes < created, "{history}");

    // Unknown releases: a page that says so.
    let resp = page(&server, &cookie, "/releases/zzzzzzzzzz").await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert!(resp.text().await.unwrap().contains("Release not found"));
    // Signed out: to sign-in, and back here afterwards.
    let resp = no_redirects()
        .get(format!("{}/releases/{id}", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        resp.headers()[LOCATION],
        format!("/auth/login?next=/releases/{id}").as_str()
    );
    server.stop().await;
}
