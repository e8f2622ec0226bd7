//! Proves the end-to-end fixtures work together: the loopback OpenID provider
//! (`common/oidc_provider.rs`) and headless Chromium (`common/browser.rs`) run an authorization
//! code flow with PKCE to a callback served here, then a logout.

#![allow(clippy::unwrap_used)]

#[path = "common/browser.rs"]
mod browser;
#[path = "common/oidc_provider.rs"]
mod oidc_provider;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use browser::Browser;
use oidc_provider::{OidcProvider, account};
use reqwest::Url;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

const CLIENT_ID: &str = "shipyard";
const CLIENT_SECRET: &str = "e2e-client-secret";

/// A tiny HTTP server standing in for the relying party: answers every request with a small
/// page and sends each request target (path and query) on the channel.
async fn callback_server() -> (u16, mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 64 * 1024 {
                    match socket.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&buf);
                let target = head
                    .lines()
                    .next()
                    .and_then(|l| l.split(' ').nth(1))
                    .unwrap_or("")
                    .to_owned();
                let body = "<!DOCTYPE html><html><body><p id=\"rp-done\">callback received</p></body></html>";
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
                let _ = socket.shutdown().await;
                let _ = tx.send(target);
            });
        }
    });
    (port, rx)
}

/// The next request to `path` (others, such as `/favicon.ico`, are skipped), parsed. Panics
/// with the browser's page when none comes in time.
async fn next_request(
    rx: &mut mpsc::UnboundedReceiver<String>,
    port: u16,
    path: &str,
    browser: &Browser,
) -> Url {
    let deadline = tokio::time::Instant::now() + browser::WAIT;
    loop {
        let Ok(target) = tokio::time::timeout_at(deadline, rx.recv()).await else {
            let url = browser.client.current_url().await.map(|u| u.to_string());
            panic!(
                "no request to {path} within {:?}; browser at {url:?}:\n{}",
                browser::WAIT,
                browser.source().await
            )
        };
        let target = target.unwrap();
        let url = Url::parse(&format!("http://127.0.0.1:{port}{target}")).unwrap();
        if url.path() == path {
            return url;
        }
    }
}

fn query(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn random_b64(bytes: usize) -> String {
    let data: Vec<u8> = (0..bytes).map(|_| rand::random::<u8>()).collect();
    URL_SAFE_NO_PAD.encode(data)
}

fn jwt_part(jwt: &str, index: usize) -> Value {
    let part = jwt.split('.').nth(index).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_signs_in_and_out_at_the_loopback_provider() {
    oidc_provider::require();
    browser::require();
    shipyard::install_crypto_provider();
    let started = std::time::Instant::now();

    let (port, mut requests) = callback_server().await;
    let redirect_uri = format!("http://127.0.0.1:{port}/cb");
    let post_logout_redirect_uri = format!("http://127.0.0.1:{port}/logged-out");
    let (provider, browser) = tokio::join!(
        OidcProvider::start(
            CLIENT_ID,
            CLIENT_SECRET,
            &redirect_uri,
            &post_logout_redirect_uri
        ),
        Browser::start()
    );
    assert!(
        provider.issuer.ends_with("/realms/acme"),
        "{}",
        provider.issuer
    );

    // Discovery.
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let discovery: Value = http
        .get(provider.discovery_url())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["issuer"], provider.issuer.as_str());
    let endpoint = |name: &str| -> String {
        let url = discovery[name]
            .as_str()
            .unwrap_or_else(|| panic!("{name} missing from discovery: {discovery}"));
        assert!(url.starts_with(&provider.issuer), "{name}: {url}");
        url.to_owned()
    };
    let authorization_endpoint = endpoint("authorization_endpoint");
    let token_endpoint = endpoint("token_endpoint");
    let userinfo_endpoint = endpoint("userinfo_endpoint");
    let end_session_endpoint = endpoint("end_session_endpoint");
    let jwks_uri = endpoint("jwks_uri");
    assert_eq!(
        discovery["code_challenge_methods_supported"],
        json!(["S256"])
    );
    let jwks: Value = http
        .get(&jwks_uri)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"][0]["kty"], "RSA", "{jwks}");

    // Authorization request, built by hand.
    let state = random_b64(16);
    let nonce = random_b64(16);
    let verifier = random_b64(32);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let authorize = Url::parse_with_params(
        &authorization_endpoint,
        [
            ("response_type", "code"),
            ("client_id", CLIENT_ID),
            ("redirect_uri", redirect_uri.as_str()),
            ("scope", "openid profile email"),
            ("state", state.as_str()),
            ("nonce", nonce.as_str()),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ],
    )
    .unwrap();

    // The login page; an unknown user is refused as Keycloak does.
    browser.goto(authorize.as_str()).await;
    browser.keycloak_login("mallory", "whatever").await;
    assert_eq!(
        browser.text("#input-error").await,
        "Invalid username or password."
    );
    browser.keycloak_login("qa-lead", "any password").await;

    // Consent is granted without a page: the browser lands on the callback.
    let callback = next_request(&mut requests, port, "/cb", &browser).await;
    assert_eq!(query(&callback, "state").as_deref(), Some(state.as_str()));
    assert_eq!(
        query(&callback, "iss").as_deref(),
        Some(provider.issuer.as_str())
    );
    let code = query(&callback, "code").unwrap_or_else(|| panic!("no code in {callback}"));
    browser.wait_for("#rp-done").await;

    // Code exchange with client_secret_basic and the PKCE verifier.
    let response = http
        .post(&token_endpoint)
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", redirect_uri.as_str()),
            ("code_verifier", verifier.as_str()),
        ])
        .send()
        .await
        .unwrap();
    let status = response.status();
    let tokens: Value = response.json().await.unwrap();
    assert!(status.is_success(), "token endpoint: {status} {tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    let id_token = tokens["id_token"].as_str().unwrap();
    let access_token = tokens["access_token"].as_str().unwrap();

    // The ID token: Keycloak-style claims, unverified here.
    let qa = account("qa-lead");
    let header = jwt_part(id_token, 0);
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["kid"], jwks["keys"][0]["kid"]);
    let claims = jwt_part(id_token, 1);
    assert_eq!(claims["iss"], provider.issuer.as_str());
    assert_eq!(claims["aud"], CLIENT_ID);
    assert_eq!(claims["sub"], qa.sub);
    assert_eq!(claims["nonce"], nonce.as_str());
    assert_eq!(claims["preferred_username"], "qa-lead");
    assert_eq!(claims["realm_access"]["roles"], json!(["qa"]));
    assert_eq!(claims["groups"], json!(["/release/qa"]));
    assert_eq!(claims["email"], "qa-lead@acme.example");
    assert!(claims["name"].is_string(), "{claims}");

    // The access token is a JWT with the same claims; userinfo accepts it.
    let at = jwt_part(access_token, 1);
    assert_eq!(at["iss"], provider.issuer.as_str());
    assert_eq!(at["azp"], CLIENT_ID);
    assert_eq!(at["realm_access"]["roles"], json!(["qa"]));
    assert_eq!(at["groups"], json!(["/release/qa"]));
    let userinfo: Value = http
        .get(&userinfo_endpoint)
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(userinfo["sub"], qa.sub, "{userinfo}");
    assert_eq!(userinfo["preferred_username"], "qa-lead");
    assert_eq!(userinfo["realm_access"]["roles"], json!(["qa"]));
    assert_eq!(userinfo["groups"], json!(["/release/qa"]));

    // Logout with id_token_hint: no confirmation, back to post_logout_redirect_uri with state.
    assert_eq!(provider.end_session_count().await, 0);
    let logout = Url::parse_with_params(
        &end_session_endpoint,
        [
            ("id_token_hint", id_token),
            (
                "post_logout_redirect_uri",
                post_logout_redirect_uri.as_str(),
            ),
            ("state", "bye"),
        ],
    )
    .unwrap();
    browser.goto(logout.as_str()).await;
    let back = next_request(&mut requests, port, "/logged-out", &browser).await;
    assert_eq!(query(&back, "state").as_deref(), Some("bye"));
    assert_eq!(provider.end_session_count().await, 1);
    assert_eq!(provider.end_session_success_count().await, 1);

    // The logout revoked the grant: the access token no longer works at userinfo.
    let after = http
        .get(&userinfo_endpoint)
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), reqwest::StatusCode::UNAUTHORIZED);

    // The provider's session is gone: a new authorization asks for the login again.
    browser.goto(authorize.as_str()).await;
    browser.wait_for("#kc-form-login").await;

    browser.close().await;
    eprintln!("e2e fixtures probe took {:?}", started.elapsed());
}
