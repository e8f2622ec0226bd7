//! The simulated GitHub App: JWTs checked as GitHub checks them, the organisation's
//! installation, installation tokens that expire, are revoked or refused, and are counted, and
//! the plain token still accepted beside them.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use shipyard_sim::github::{AppKeyPair, RequestAuth, SimGithub};

const APP: u64 = 99;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A JWT of App [`APP`] issued a minute ago, valid for ten minutes from then.
fn jwt(keys: &AppKeyPair, at: u64) -> String {
    keys.sign_jwt(&json!({"iat": at - 60, "exp": at + 540, "iss": APP.to_string()}))
}

async fn call(sim: &SimGithub, method: &str, path: &str, bearer: &str) -> (StatusCode, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let resp = client()
        .request(method, format!("{}{path}", sim.url()))
        .header("accept", "application/vnd.github+json")
        .bearer_auth(bearer)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let bytes = resp.bytes().await.unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, body)
}

async fn new_token(sim: &SimGithub, keys: &AppKeyPair, installation: u64, at: u64) -> Value {
    let (status, body) = call(
        sim,
        "POST",
        &format!("/app/installations/{installation}/access_tokens"),
        &jwt(keys, at),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

async fn setup() -> (SimGithub, AppKeyPair, u64) {
    let sim = SimGithub::start("acme").await.unwrap();
    sim.add_repo("svc");
    let keys = AppKeyPair::generate().unwrap();
    let installation = sim.set_app(APP, &keys.public_key_der());
    (sim, keys, installation)
}

#[tokio::test]
async fn the_installation_is_found_and_exchanged_for_an_expiring_token() {
    let (sim, keys, installation) = setup().await;
    let (status, body) = call(&sim, "GET", "/orgs/acme/installation", &jwt(&keys, now())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["id"], installation);
    assert_eq!(body["app_id"], APP);
    assert_eq!(body["account"]["login"], "acme");
    assert_eq!(body["target_type"], "Organization");
    assert_eq!(
        body["access_tokens_url"],
        format!(
            "{}/app/installations/{installation}/access_tokens",
            sim.url()
        )
    );
    assert_eq!(sim.installation_lookups(), 1);

    let issued = new_token(&sim, &keys, installation, now()).await;
    let token = issued["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("ghs_") && token.len() == 40, "{token}");
    assert_eq!(issued["repository_selection"], "all");
    assert_eq!(issued["permissions"]["pull_requests"], "write");
    let expires = issued["expires_at"].as_str().unwrap();
    assert!(expires.ends_with('Z'), "{expires}");
    assert_eq!(sim.installation_token_exchanges(), 1);

    // The token works on the API; the JWT does not, and the token does not work on the App
    // routes.
    let (status, _) = call(&sim, "GET", "/repos/acme/svc", &token).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = call(&sim, "GET", "/repos/acme/svc", &jwt(&keys, now())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["message"], "Bad credentials");
    let (status, body) = call(&sim, "GET", "/orgs/acme/installation", &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["message"], "A JSON web token could not be decoded");
    let (status, _, _) = get(&sim, "/repos/acme/svc").await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "an App requires credentials"
    );

    let auth: Vec<RequestAuth> = sim.requests().iter().map(|r| r.auth).collect();
    assert_eq!(
        auth,
        [
            RequestAuth::Jwt,
            RequestAuth::Jwt,
            RequestAuth::InstallationToken,
            RequestAuth::Jwt,
            RequestAuth::InstallationToken,
            RequestAuth::None,
        ]
    );

    // An hour later it has expired; a shorter lifetime is a setting.
    sim.advance_app_clock(Duration::from_secs(3600));
    let (status, body) = call(&sim, "GET", "/repos/acme/svc", &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["message"], "Bad credentials");
    sim.set_installation_token_lifetime(Duration::from_secs(60));
    let at = now() + 3600;
    let short = new_token(&sim, &keys, installation, at).await;
    let short = short["token"].as_str().unwrap().to_owned();
    assert_eq!(
        call(&sim, "GET", "/repos/acme/svc", &short).await.0,
        StatusCode::OK
    );
    sim.advance_app_clock(Duration::from_secs(61));
    assert_eq!(
        call(&sim, "GET", "/repos/acme/svc", &short).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn jwts_are_refused_for_a_wrong_key_issuer_or_time() {
    let (sim, keys, installation) = setup().await;
    let other = AppKeyPair::generate().unwrap();
    let t = now();
    let path = format!("/app/installations/{installation}/access_tokens");
    for (what, token, message) in [
        (
            "another key",
            jwt(&other, t),
            "A JSON web token could not be decoded",
        ),
        (
            "another App",
            keys.sign_jwt(&json!({"iat": t - 60, "exp": t + 540, "iss": "100"})),
            "A JSON web token could not be decoded",
        ),
        (
            "expired",
            keys.sign_jwt(&json!({"iat": t - 700, "exp": t - 100, "iss": APP})),
            "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires.",
        ),
        (
            "issued in the future",
            keys.sign_jwt(&json!({"iat": t + 300, "exp": t + 600, "iss": APP})),
            "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued.",
        ),
        (
            "longer than ten minutes",
            keys.sign_jwt(&json!({"iat": t - 60, "exp": t + 560, "iss": APP})),
            "'Expiration time' claim ('exp') is too far in the future",
        ),
        (
            "not a JWT",
            "ghs_0123456789".to_owned(),
            "A JSON web token could not be decoded",
        ),
    ] {
        let (status, body) = call(&sim, "POST", &path, &token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {body}");
        assert_eq!(body["message"], message, "{what}");
    }
    assert_eq!(sim.installation_token_exchanges(), 0);

    // Another installation, or the App removed from the organisation: 404.
    let (status, _) = call(
        &sim,
        "POST",
        "/app/installations/1/access_tokens",
        &jwt(&keys, t),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(&sim, "GET", "/orgs/other/installation", &jwt(&keys, t)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    sim.set_app_installed(false);
    let (status, _) = call(&sim, "GET", "/orgs/acme/installation", &jwt(&keys, t)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(&sim, "POST", &path, &jwt(&keys, t)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Installed again, under a new id.
    sim.set_app_installed(true);
    let (status, body) = call(&sim, "GET", "/orgs/acme/installation", &jwt(&keys, t)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["id"], installation + 1);
}

#[tokio::test]
async fn tokens_can_be_revoked_or_refused_and_the_plain_token_still_works() {
    let (sim, keys, installation) = setup().await;
    sim.set_token(Some("plain".into()));
    let first = new_token(&sim, &keys, installation, now()).await;
    let first = first["token"].as_str().unwrap().to_owned();
    assert_eq!(
        call(&sim, "GET", "/repos/acme/svc", &first).await.0,
        StatusCode::OK
    );
    assert_eq!(
        call(&sim, "GET", "/repos/acme/svc", "plain").await.0,
        StatusCode::OK
    );

    sim.revoke_installation_tokens();
    let (status, body) = call(&sim, "GET", "/repos/acme/svc", &first).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["message"], "Bad credentials");
    let second = new_token(&sim, &keys, installation, now()).await;
    let second = second["token"].as_str().unwrap().to_owned();
    assert_eq!(
        call(&sim, "GET", "/repos/acme/svc", &second).await.0,
        StatusCode::OK
    );

    sim.refuse_installation_tokens(true);
    assert_eq!(
        call(&sim, "GET", "/repos/acme/svc", &second).await.0,
        StatusCode::UNAUTHORIZED
    );
    let third = new_token(&sim, &keys, installation, now()).await;
    let third = third["token"].as_str().unwrap().to_owned();
    assert_eq!(
        call(&sim, "POST", "/graphql", &third).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&sim, "GET", "/repos/acme/svc", "plain").await.0,
        StatusCode::OK
    );
    sim.refuse_installation_tokens(false);
    assert_eq!(
        call(&sim, "GET", "/repos/acme/svc", &third).await.0,
        StatusCode::OK
    );
    assert_eq!(sim.installation_token_exchanges(), 3);

    // A read-only token's refusal of writes does not touch the exchange.
    sim.set_read_only_token(true);
    new_token(&sim, &keys, installation, now()).await;
}
