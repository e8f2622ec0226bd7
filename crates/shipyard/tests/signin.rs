//! Sessions through dev-mode sign-in: cookies, CSRF, rotation, sign-out, and attribution.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, ORIGIN, SET_COOKIE};
use serde_json::{Value, json};
use shipyard_config::{AuthMode, DevUser};
use shipyard_core::Role;

async fn dev_server(backend: shipyard_store::Backend) -> TestServer {
    TestServer::start_with(
        backend,
        |sim| repo_with_changes(sim, "api-gateway", &[commit("feat: a", "alice")]),
        |c| {
            c.auth.mode = AuthMode::Dev;
            c.auth.dev_users = vec![
                DevUser {
                    name: "dev-lead".into(),
                    roles: vec![Role::DevApprover],
                },
                DevUser {
                    name: "qa-lead".into(),
                    roles: vec![Role::QaApprover],
                },
            ];
        },
    )
    .await
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Signs in as `user` through the login form; returns the `name=value` cookie pair.
async fn sign_in(server: &TestServer, user: &str, previous: Option<&str>) -> String {
    let mut req = no_redirects()
        .post(format!("{}/auth/dev-login", server.base))
        .header(ORIGIN, &server.base)
        .form(&[("user", user), ("next", "/releases/abc")]);
    if let Some(c) = previous {
        req = req.header(COOKIE, c);
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()[LOCATION], "/releases/abc");
    let set = resp.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Lax") && set.contains("Path=/"),
        "{set}"
    );
    assert!(
        !set.contains("Secure"),
        "plain http: no Secure flag ({set})"
    );
    set.split(';').next().unwrap().to_owned()
}

async fn with_cookie(
    server: &TestServer,
    method: reqwest::Method,
    path: &str,
    cookie: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut req = no_redirects()
        .request(method, format!("{}{path}", server.base))
        .header(COOKIE, cookie);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

both_backends!(dev_sign_in_sessions_and_csrf, |backend| async move {
    let server = dev_server(backend).await;

    // Signed out: pages go to sign-in, the API says 401.
    let resp = no_redirects()
        .get(format!("{}/", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()[LOCATION], "/auth/login?next=/");
    let page = reqwest::get(format!("{}/auth/login?next=/releases", server.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Sign in as <strong>dev-lead</strong>") && page.contains("qa_approver"),
        "{page}"
    );

    let cookie = sign_in(&server, "qa-lead", None).await;
    let (status, me) = with_cookie(&server, reqwest::Method::GET, "/api/me", &cookie, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["subject"], "dev:qa-lead");
    assert_eq!(me["roles"], json!(["qa_approver"]));
    assert_eq!(me["auth"], "sso");
    let csrf = me["csrf_token"].as_str().unwrap().to_owned();

    let id = server.create_release_id().await;
    let approve = format!("/api/releases/{id}/approve/qa");
    // Without the CSRF token, or from another origin: refused, nothing changes.
    let (s, e) = with_cookie(
        &server,
        reqwest::Method::POST,
        &approve,
        &cookie,
        &[("origin", &server.base)],
    )
    .await;
    assert_eq!((s, code(&e)), (StatusCode::FORBIDDEN, "forbidden"));
    let (s, e) = with_cookie(
        &server,
        reqwest::Method::POST,
        &approve,
        &cookie,
        &[("origin", "https://evil.example"), ("x-csrf-token", &csrf)],
    )
    .await;
    assert_eq!((s, code(&e)), (StatusCode::FORBIDDEN, "forbidden"));
    let (s, _) = with_cookie(
        &server,
        reqwest::Method::POST,
        &approve,
        &cookie,
        &[("x-csrf-token", &csrf)],
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "neither Origin nor Referer");
    assert_eq!(server.history_actions(&id).await, vec!["created"]);

    let referer = format!("{}/releases/{id}", server.base);
    let (s, d) = with_cookie(
        &server,
        reqwest::Method::POST,
        &approve,
        &cookie,
        &[("referer", &referer), ("x-csrf-token", &csrf)],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{d}");
    assert_eq!(d["release"]["qa_approved_by"], "qa-lead");
    let (_, history) = server
        .get("viewer", &format!("/api/releases/{id}/history"))
        .await;
    assert_eq!(history["history"][1]["actor"], "qa-lead");
    assert_eq!(history["history"][1]["actor_subject"], "dev:qa-lead");

    // The wrong role through a session is still 403 naming the role.
    let (s, e) = with_cookie(
        &server,
        reqwest::Method::POST,
        &format!("/api/releases/{id}/approve/dev"),
        &cookie,
        &[("origin", &server.base), ("x-csrf-token", &csrf)],
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("dev_approver")
    );

    // Signing in again rotates the session: the old cookie is worthless.
    let rotated = sign_in(&server, "dev-lead", Some(&cookie)).await;
    assert_ne!(rotated, cookie);
    let (s, _) = with_cookie(&server, reqwest::Method::GET, "/api/me", &cookie, &[]).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, me) = with_cookie(&server, reqwest::Method::GET, "/api/me", &rotated, &[]).await;
    assert_eq!(
        (s, me["subject"].as_str()),
        (StatusCode::OK, Some("dev:dev-lead"))
    );

    // Sign-out ends the session.
    let resp = no_redirects()
        .get(format!("{}/auth/logout", server.base))
        .header(COOKIE, &rotated)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert!(
        resp.headers()[SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let (s, _) = with_cookie(&server, reqwest::Method::GET, "/api/me", &rotated, &[]).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // Dev sign-in refuses strangers and other sites.
    let resp = no_redirects()
        .post(format!("{}/auth/dev-login", server.base))
        .header(ORIGIN, &server.base)
        .form(&[("user", "root")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let resp = no_redirects()
        .post(format!("{}/auth/dev-login", server.base))
        .header(ORIGIN, "https://evil.example")
        .form(&[("user", "dev-lead")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(resp.headers().get(SET_COOKIE).is_none());
    server.stop().await;
});

#[tokio::test]
async fn sign_in_never_redirects_off_site() {
    let server = dev_server(shipyard_store::Backend::Sqlite).await;
    let resp = no_redirects()
        .post(format!("{}/auth/dev-login", server.base))
        .header(ORIGIN, &server.base)
        .form(&[("user", "dev-lead"), ("next", "//evil.example/x")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()[LOCATION], "/");
    server.stop().await;
}

both_backends!(
    a_database_failure_during_sign_in_is_a_page_in_words,
    |backend| async move {
        let server = dev_server(backend).await;
        shipyard_store::testing::break_table(&server.db_url, "sessions").await;
        let resp = no_redirects()
            .post(format!("{}/auth/dev-login", server.base))
            .header(ORIGIN, &server.base)
            .form(&[("user", "dev-lead"), ("next", "/")])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(resp.headers().get(SET_COOKIE).is_none());
        let kind = resp.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(kind.starts_with("text/html"), "{kind}");
        let html = resp.text().await.unwrap();
        assert!(html.contains("Sign-in unavailable"), "{html}");
        assert!(html.contains("Something went wrong on our side"), "{html}");
        assert!(!html.contains("sessions"), "no internals: {html}");

        // A refused origin is a page too, with its reason.
        let resp = no_redirects()
            .post(format!("{}/auth/dev-login", server.base))
            .header(ORIGIN, "https://evil.example")
            .form(&[("user", "dev-lead"), ("next", "/")])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        let html = resp.text().await.unwrap();
        assert!(html.contains("Sign-in refused"), "{html}");
        assert!(html.contains("ross-site request refused"), "{html}");
        server.stop().await;
    }
);
