//! Sign-in end to end: a real OpenID provider (the `oidc-provider` package, Keycloak-shaped
//! claims) on loopback, headless Chromium, and the real server.

#![allow(clippy::unwrap_used)]

#[path = "common/browser.rs"]
mod browser;
mod common;
#[path = "common/oidc_provider.rs"]
mod oidc_provider;

use browser::Browser;
use common::*;
use oidc_provider::{OidcOptions, OidcProvider, RoleClaims};
use reqwest::StatusCode;
use reqwest::header::{COOKIE, ORIGIN};
use serde_json::{Value, json};
use shipyard_config::{AuthMode, OidcConfig, RoleMapping, Secret};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keycloak_style_sign_in_in_a_browser() {
    oidc_provider::require();
    browser::require();
    shipyard::install_crypto_provider();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let secret = shipyard::demo::random_token("");
    let mut options = OidcOptions::new(
        "shipyard",
        &secret,
        &format!("{base}/auth/callback"),
        &format!("{base}/"),
    );
    // Keycloak's default mappers: roles in the access token only.
    options.role_claims = RoleClaims::AccessTokenOnly;
    let provider = OidcProvider::start_with(options).await;

    let issuer = provider.issuer.clone();
    let callback = format!("{base}/auth/callback");
    let server = TestServer::start_on(
        listener,
        shipyard_store::Backend::Sqlite,
        |sim| repo_with_changes(sim, "api-gateway", &[commit("feat: a", "alice")]),
        move |c| {
            c.auth.mode = AuthMode::Oidc;
            c.auth.oidc = Some(OidcConfig {
                issuer,
                client_id: "shipyard".into(),
                client_secret: Some(Secret::new(secret)),
                redirect_url: callback,
                scopes: vec!["openid".into(), "profile".into(), "email".into()],
            });
            c.auth.roles = RoleMapping {
                dev_approver: vec!["dev-lead".into()],
                qa_approver: vec!["qa".into()],
                admin: vec!["release-admin".into()],
            };
        },
    )
    .await;
    let id = server.create_release_id().await;

    let browser = Browser::start().await;
    // Asking for a page while signed out goes through the provider's login form and back.
    browser.goto(&format!("{base}/")).await;
    browser.wait_for("#kc-form-login").await;
    assert!(
        browser.url().await.as_str().starts_with(&provider.issuer),
        "at the provider"
    );
    browser.keycloak_login("qa-lead", "any").await;
    browser
        .wait_for_url("back on the page first asked for", |u| {
            u.as_str() == format!("{base}/")
        })
        .await;
    assert_eq!(browser.text("#roles").await, "qa_approver");

    browser.goto(&format!("{base}/api/me")).await;
    let me: Value = serde_json::from_str(&browser.text("body").await).unwrap();
    assert_eq!(me["name"].as_str().map(|n| !n.is_empty()), Some(true));
    assert_eq!(me["roles"], json!(["qa_approver"]));
    assert_eq!(me["auth"], "sso");
    let csrf = me["csrf_token"].as_str().unwrap().to_owned();

    // The browser's session signs off QA (with its CSRF token, from Shipyard's origin).
    let cookies = browser.client.get_all_cookies().await.unwrap();
    let session = cookies
        .iter()
        .find(|c| c.name() == "shipyard_session")
        .expect("session cookie");
    assert_eq!(session.http_only(), Some(true));
    let cookie = format!("shipyard_session={}", session.value());
    let http = reqwest::Client::new();
    let approve = |with_csrf: bool| {
        let mut req = http
            .post(format!("{base}/api/releases/{id}/approve/qa"))
            .header(COOKIE, &cookie)
            .header(ORIGIN, &base);
        if with_csrf {
            req = req.header("x-csrf-token", &csrf);
        }
        req.send()
    };
    assert_eq!(
        approve(false).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    let resp = approve(true).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let detail: Value = resp.json().await.unwrap();
    assert_eq!(detail["release"]["qa_approved_by"], me["name"]);
    let (_, history) = server
        .get("viewer", &format!("/api/releases/{id}/history"))
        .await;
    assert_eq!(history["history"][1]["actor_subject"], me["subject"]);

    // Signing out ends the session here and at the provider.
    browser.goto(&format!("{base}/auth/logout")).await;
    browser.wait_for("#kc-form-login").await;
    assert_eq!(provider.end_session_success_count().await, 1);
    let resp = http
        .get(format!("{base}/api/me"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);

    browser.close().await;
    server.stop().await;
}
