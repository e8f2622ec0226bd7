//! The simulated OpenID provider: discovery, the code flow with PKCE, tokens and their defects.

#![allow(clippy::unwrap_used)]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::JwkSet};
use reqwest::StatusCode;
use reqwest::header::LOCATION;
use serde_json::Value;
use sha2::{Digest, Sha256};
use shipyard_sim::oidc::{ClaimsIn, EndSessionCall, SimOidc, SimUser, Tamper};
use std::collections::HashMap;
use std::time::Instant;

const CLIENT: &str = "shipyard";
const REDIRECT: &str = "http://127.0.0.1:9/auth/callback";

fn secret() -> String {
    let bytes: [u8; 24] = rand::random();
    URL_SAFE_NO_PAD.encode(bytes)
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A PKCE verifier and its S256 challenge.
fn pkce() -> (String, String) {
    let bytes: [u8; 32] = rand::random();
    let verifier = URL_SAFE_NO_PAD.encode(bytes);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

fn query(location: &str) -> HashMap<String, String> {
    url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

fn authorize_url(sim: &SimOidc, params: &[(&str, &str)]) -> String {
    let mut url = url::Url::parse(&sim.authorization_endpoint()).unwrap();
    url.query_pairs_mut().extend_pairs(params);
    url.to_string()
}

/// A valid authorization request's parameters, with `over` replacing or adding some.
fn params<'a>(challenge: &'a str, over: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut p: Vec<(&str, &str)> = vec![
        ("client_id", CLIENT),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("scope", "openid profile email"),
        ("state", "st-1"),
        ("nonce", "n-1"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ];
    for (k, v) in over {
        p.retain(|(name, _)| name != k);
        p.push((k, v));
    }
    p
}

/// Runs the authorization endpoint; returns the redirect's query.
async fn authorize(sim: &SimOidc, challenge: &str) -> HashMap<String, String> {
    let resp = http()
        .get(authorize_url(sim, &params(challenge, &[])))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND);
    let location = resp.headers()[LOCATION].to_str().unwrap().to_owned();
    assert!(location.starts_with(REDIRECT), "{location}");
    query(&location)
}

/// Exchanges a code with client_secret_basic.
async fn exchange(sim: &SimOidc, secret: &str, code: &str, verifier: &str) -> (StatusCode, Value) {
    let resp = http()
        .post(sim.token_endpoint())
        .basic_auth(CLIENT, Some(secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .unwrap();
    (resp.status(), resp.json().await.unwrap())
}

/// Signs the current user in and returns the token answer.
async fn sign_in(sim: &SimOidc, secret: &str) -> Value {
    let (verifier, challenge) = pkce();
    let back = authorize(sim, &challenge).await;
    let (status, tokens) = exchange(sim, secret, &back["code"], &verifier).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    tokens
}

async fn jwks(sim: &SimOidc) -> JwkSet {
    http()
        .get(sim.jwks_uri())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Verifies a token the way a relying party should: signature against the JWKS, RS256 only,
/// issuer, audience (when given), expiry.
fn verify(token: &str, keys: &JwkSet, issuer: &str, aud: Option<&str>) -> Result<Value, String> {
    let header = jsonwebtoken::decode_header(token).map_err(|e| format!("header: {e}"))?;
    if header.alg != Algorithm::RS256 {
        return Err(format!("alg {:?}", header.alg));
    }
    let kid = header.kid.ok_or("no kid")?;
    let jwk = keys.find(&kid).ok_or("unknown kid")?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    let mut v = Validation::new(Algorithm::RS256);
    v.leeway = 0;
    v.set_issuer(&[issuer]);
    match aud {
        Some(a) => v.set_audience(&[a]),
        None => v.validate_aud = false,
    }
    jsonwebtoken::decode::<Value>(token, &key, &v)
        .map(|d| d.claims)
        .map_err(|e| format!("{:?}", e.kind()))
}

fn payload(token: &str) -> Value {
    let part = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

fn user() -> SimUser {
    SimUser::new("6f1d2c0a-1111-4a5e-9c3b-000000000001", "ada")
        .realm_roles(["dev-lead", "offline_access"])
        .client_roles(["release-admin"])
        .groups(["/release/qa"])
}

async fn started() -> (SimOidc, String) {
    let secret = secret();
    let t = Instant::now();
    let sim = SimOidc::start(CLIENT, Some(&secret), REDIRECT)
        .await
        .unwrap();
    eprintln!("provider with an RSA-2048 key started in {:?}", t.elapsed());
    (sim, secret)
}

#[tokio::test]
async fn discovery_and_jwks_have_keycloaks_shape() {
    let (sim, _) = started().await;
    let issuer = sim.issuer();
    assert!(issuer.starts_with("http://127.0.0.1:") && issuer.ends_with("/realms/acme"));
    let doc: Value = http()
        .get(format!("{issuer}/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["issuer"], issuer);
    for (field, path) in [
        ("authorization_endpoint", "auth"),
        ("token_endpoint", "token"),
        ("userinfo_endpoint", "userinfo"),
        ("jwks_uri", "certs"),
        ("end_session_endpoint", "logout"),
    ] {
        assert_eq!(
            doc[field],
            format!("{issuer}/protocol/openid-connect/{path}"),
            "{field}"
        );
    }
    assert_eq!(doc["response_types_supported"], serde_json::json!(["code"]));
    assert_eq!(
        doc["subject_types_supported"],
        serde_json::json!(["public"])
    );
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        serde_json::json!(["RS256"])
    );
    assert_eq!(
        doc["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    let scopes = doc["scopes_supported"].as_array().unwrap();
    assert!(scopes.contains(&"openid".into()) && scopes.contains(&"email".into()));
    let auth = doc["token_endpoint_auth_methods_supported"]
        .as_array()
        .unwrap();
    assert!(auth.contains(&"client_secret_basic".into()));
    assert!(auth.contains(&"client_secret_post".into()));

    let keys = jwks(&sim).await;
    assert_eq!(keys.keys.len(), 1);
    let raw: Value = http()
        .get(sim.jwks_uri())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = &raw["keys"][0];
    assert_eq!(key["kty"], "RSA");
    assert_eq!(key["alg"], "RS256");
    assert_eq!(key["use"], "sig");
    assert_eq!(key["kid"], sim.kid());
    assert_eq!(key["e"], "AQAB");
    let n = URL_SAFE_NO_PAD.decode(key["n"].as_str().unwrap()).unwrap();
    assert_eq!(n.len(), 256, "a 2048-bit modulus");
    sim.shutdown().await;
}

#[tokio::test]
async fn every_start_makes_a_new_key() {
    let (a, _) = started().await;
    let (b, _) = started().await;
    let (ka, kb) = (jwks(&a).await, jwks(&b).await);
    assert_ne!(
        serde_json::to_value(&ka).unwrap()["keys"][0]["n"],
        serde_json::to_value(&kb).unwrap()["keys"][0]["n"]
    );
}

#[tokio::test]
async fn code_flow_issues_keycloak_shaped_tokens() {
    let (sim, secret) = started().await;
    sim.set_user(user());
    let (verifier, challenge) = pkce();
    let back = authorize(&sim, &challenge).await;
    assert_eq!(back["state"], "st-1");
    assert_eq!(back["iss"], sim.issuer());
    let recorded = sim.authorize_requests();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].nonce.as_deref(), Some("n-1"));
    assert_eq!(
        recorded[0].code_challenge.as_deref(),
        Some(challenge.as_str())
    );

    let (status, tokens) = exchange(&sim, &secret, &back["code"], &verifier).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 300);
    let keys = jwks(&sim).await;
    let id_token = tokens["id_token"].as_str().unwrap();
    let access_token = tokens["access_token"].as_str().unwrap();

    let id = verify(id_token, &keys, &sim.issuer(), Some(CLIENT)).unwrap();
    assert_eq!(id["sub"], user().sub);
    assert_eq!(id["nonce"], "n-1");
    assert_eq!(id["azp"], CLIENT);
    assert_eq!(id["name"], "ada (sim)");
    assert_eq!(id["preferred_username"], "ada");
    assert_eq!(id["email"], "ada@example.com");
    let digest = Sha256::digest(access_token.as_bytes());
    assert_eq!(id["at_hash"], URL_SAFE_NO_PAD.encode(&digest[..16]));
    // Keycloak's default: no roles in the ID token…
    assert!(id.get("realm_access").is_none() && id.get("groups").is_none());

    // …but in the access token, signed with the same key.
    let access = verify(access_token, &keys, &sim.issuer(), None).unwrap();
    assert_eq!(access["typ"], "Bearer");
    assert_eq!(access["azp"], CLIENT);
    assert_eq!(
        access["realm_access"]["roles"],
        serde_json::json!(["dev-lead", "offline_access"])
    );
    assert_eq!(
        access["resource_access"][CLIENT]["roles"],
        serde_json::json!(["release-admin"])
    );
    assert_eq!(access["groups"], serde_json::json!(["/release/qa"]));

    // Userinfo answers for the access token, without roles by default.
    let info: Value = http()
        .get(sim.userinfo_endpoint())
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["sub"], user().sub);
    assert_eq!(info["email"], "ada@example.com");
    assert!(info.get("realm_access").is_none());
    let refused = http()
        .get(sim.userinfo_endpoint())
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert!(refused.headers().contains_key("www-authenticate"));

    assert_eq!(sim.issued_tokens().len(), 1);
    assert_eq!(sim.issued_tokens()[0].id_token, id_token);
    sim.shutdown().await;
}

#[tokio::test]
async fn claims_go_where_the_user_says() {
    let (sim, secret) = started().await;
    let keys = jwks(&sim).await;
    for (placement, in_id, in_info, in_access) in [
        (ClaimsIn::ID_TOKEN_ONLY, true, false, false),
        (ClaimsIn::USERINFO_ONLY, false, true, false),
        (ClaimsIn::EVERYWHERE, true, true, true),
    ] {
        sim.set_user(user().claims_in(placement));
        let tokens = sign_in(&sim, &secret).await;
        let access_token = tokens["access_token"].as_str().unwrap();
        let id = verify(
            tokens["id_token"].as_str().unwrap(),
            &keys,
            &sim.issuer(),
            Some(CLIENT),
        )
        .unwrap();
        let access = verify(access_token, &keys, &sim.issuer(), None).unwrap();
        let info: Value = http()
            .get(sim.userinfo_endpoint())
            .bearer_auth(access_token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for (claims, expected) in [(&id, in_id), (&info, in_info), (&access, in_access)] {
            assert_eq!(
                claims["realm_access"]["roles"][0] == "dev-lead",
                expected,
                "{placement:?}: {claims}"
            );
            assert_eq!(claims.get("groups").is_some(), expected, "{placement:?}");
        }
    }
}

#[tokio::test]
async fn authorization_requests_are_checked() {
    let (sim, _) = started().await;
    sim.set_user(user());
    let (_, challenge) = pkce();
    // Unknown client or a redirect URI not registered exactly: an error page, never a redirect.
    for over in [
        vec![("client_id", "other")],
        vec![("redirect_uri", "http://127.0.0.1:9/auth/callback/")],
        vec![("redirect_uri", "http://evil.example/auth/callback")],
    ] {
        let resp = http()
            .get(authorize_url(&sim, &params(&challenge, &over)))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{over:?}");
        assert!(resp.headers().get(LOCATION).is_none());
    }
    // Other mistakes go back to the client as OAuth errors, with the state.
    for (over, error) in [
        (
            vec![("response_type", "token")],
            "unsupported_response_type",
        ),
        (vec![("code_challenge_method", "plain")], "invalid_request"),
        (vec![("code_challenge", "short")], "invalid_request"),
        (vec![("scope", "profile")], "invalid_scope"),
    ] {
        let resp = http()
            .get(authorize_url(&sim, &params(&challenge, &over)))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::FOUND, "{over:?}");
        let back = query(resp.headers()[LOCATION].to_str().unwrap());
        assert_eq!(back["error"], error, "{over:?}");
        assert_eq!(back["state"], "st-1");
        assert!(!back.contains_key("code"));
    }
    let mut p = params(&challenge, &[]);
    p.retain(|(k, _)| *k != "code_challenge");
    let resp = http().get(authorize_url(&sim, &p)).send().await.unwrap();
    let back = query(resp.headers()[LOCATION].to_str().unwrap());
    assert_eq!(back["error"], "invalid_request");

    sim.set_denial(Some(("access_denied", "The user said no")));
    let resp = http()
        .get(authorize_url(&sim, &params(&challenge, &[])))
        .send()
        .await
        .unwrap();
    let back = query(resp.headers()[LOCATION].to_str().unwrap());
    assert_eq!(back["error"], "access_denied");
    assert_eq!(back["error_description"], "The user said no");
    sim.set_denial(None);

    sim.clear_user();
    let resp = http()
        .get(authorize_url(&sim, &params(&challenge, &[])))
        .send()
        .await
        .unwrap();
    let back = query(resp.headers()[LOCATION].to_str().unwrap());
    assert_eq!(back["error"], "login_required");
}

#[tokio::test]
async fn token_endpoint_checks_pkce_client_and_single_use() {
    let (sim, secret) = started().await;
    sim.set_user(user());

    // A wrong verifier: invalid_grant, and the code is spent.
    let (verifier, challenge) = pkce();
    let back = authorize(&sim, &challenge).await;
    let (other_verifier, _) = pkce();
    let (status, body) = exchange(&sim, &secret, &back["code"], &other_verifier).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    let (status, body) = exchange(&sim, &secret, &back["code"], &verifier).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );

    // A missing verifier.
    let back = authorize(&sim, &challenge).await;
    let resp = http()
        .post(sim.token_endpoint())
        .basic_auth(CLIENT, Some(&secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", back["code"].as_str()),
            ("redirect_uri", REDIRECT),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);

    // Codes are single-use.
    let back = authorize(&sim, &challenge).await;
    let (status, _) = exchange(&sim, &secret, &back["code"], &verifier).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = exchange(&sim, &secret, &back["code"], &verifier).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");

    // A wrong secret: invalid_client; client_secret_post works too.
    let back = authorize(&sim, &challenge).await;
    let (status, body) = exchange(&sim, "wrong", &back["code"], &verifier).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_client");
    let back = authorize(&sim, &challenge).await;
    let resp = http()
        .post(sim.token_endpoint())
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", back["code"].as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier.as_str()),
            ("client_id", CLIENT),
            ("client_secret", secret.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);

    // The redirect URI must be the authorization request's.
    let back = authorize(&sim, &challenge).await;
    let resp = http()
        .post(sim.token_endpoint())
        .basic_auth(CLIENT, Some(&secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", back["code"].as_str()),
            ("redirect_uri", "http://127.0.0.1:9/other"),
            ("code_verifier", verifier.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn each_tamper_makes_a_token_a_careful_client_refuses() {
    let (sim, secret) = started().await;
    sim.set_user(user());
    let keys = jwks(&sim).await;
    let issuer = sim.issuer();
    let tokens = sign_in(&sim, &secret).await;
    let good = verify(
        tokens["id_token"].as_str().unwrap(),
        &keys,
        &issuer,
        Some(CLIENT),
    )
    .unwrap();
    assert_eq!(good["nonce"], "n-1");

    for tamper in Tamper::ALL {
        sim.set_tamper(tamper);
        let tokens = sign_in(&sim, &secret).await;
        let id_token = tokens["id_token"].as_str().unwrap();
        let verdict = verify(id_token, &keys, &issuer, Some(CLIENT));
        match tamper {
            Tamper::WrongNonce => {
                // Well signed: only the nonce check catches it.
                let claims = verdict.unwrap();
                assert_ne!(claims["nonce"], "n-1");
            }
            Tamper::BadSignature | Tamper::SignedWithOtherKey => {
                assert_eq!(verdict.unwrap_err(), "InvalidSignature", "{tamper:?}");
                // Everything but the signature is right.
                assert_eq!(payload(id_token)["iss"], issuer);
                assert_eq!(
                    jsonwebtoken::decode_header(id_token).unwrap().kid,
                    Some(sim.kid())
                );
            }
            Tamper::Expired => assert_eq!(verdict.unwrap_err(), "ExpiredSignature"),
            Tamper::WrongAudience => assert_eq!(verdict.unwrap_err(), "InvalidAudience"),
            Tamper::WrongIssuer => assert_eq!(verdict.unwrap_err(), "InvalidIssuer"),
            Tamper::AlgNone => {
                assert!(verdict.unwrap_err().starts_with("header"), "{tamper:?}");
                assert!(id_token.ends_with('.'));
                assert_eq!(payload(id_token)["sub"], user().sub);
            }
            Tamper::None => unreachable!(),
        }
        // The access token is untouched.
        verify(
            tokens["access_token"].as_str().unwrap(),
            &keys,
            &issuer,
            None,
        )
        .unwrap();
    }

    sim.set_tamper(Tamper::None);
    sim.set_access_token_tamper(Tamper::SignedWithOtherKey);
    let tokens = sign_in(&sim, &secret).await;
    verify(
        tokens["id_token"].as_str().unwrap(),
        &keys,
        &issuer,
        Some(CLIENT),
    )
    .unwrap();
    assert_eq!(
        verify(
            tokens["access_token"].as_str().unwrap(),
            &keys,
            &issuer,
            None
        )
        .unwrap_err(),
        "InvalidSignature"
    );
}

#[tokio::test]
async fn userinfo_subject_can_be_made_to_differ() {
    let (sim, secret) = started().await;
    sim.set_user(user());
    sim.set_userinfo_subject(Some("someone-else"));
    let tokens = sign_in(&sim, &secret).await;
    let info: Value = http()
        .get(sim.userinfo_endpoint())
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["sub"], "someone-else");
    assert_eq!(
        payload(tokens["id_token"].as_str().unwrap())["sub"],
        user().sub
    );
}

#[tokio::test]
async fn end_session_records_and_redirects_back() {
    let (sim, secret) = started().await;
    sim.set_user(user());
    let tokens = sign_in(&sim, &secret).await;
    let id_token = tokens["id_token"].as_str().unwrap();
    let mut url = url::Url::parse(&sim.end_session_endpoint()).unwrap();
    url.query_pairs_mut()
        .append_pair("id_token_hint", id_token)
        .append_pair("post_logout_redirect_uri", "http://127.0.0.1:9/")
        .append_pair("client_id", CLIENT);
    let resp = http().get(url.as_str()).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND);
    assert_eq!(resp.headers()[LOCATION], "http://127.0.0.1:9/");
    assert_eq!(
        sim.end_session_calls(),
        vec![EndSessionCall {
            id_token_hint: Some(id_token.to_owned()),
            post_logout_redirect_uri: Some("http://127.0.0.1:9/".into()),
            client_id: Some(CLIENT.into()),
        }]
    );

    // Somewhere else, or with a token this provider never issued: an error page.
    for (hint, target) in [
        (id_token, "http://evil.example/"),
        ("made.up.token", "http://127.0.0.1:9/"),
    ] {
        let mut url = url::Url::parse(&sim.end_session_endpoint()).unwrap();
        url.query_pairs_mut()
            .append_pair("id_token_hint", hint)
            .append_pair("post_logout_redirect_uri", target);
        let resp = http().get(url.as_str()).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        assert!(resp.headers().get(LOCATION).is_none());
    }
    assert_eq!(sim.end_session_calls().len(), 3);

    // Without a redirect: a plain page.
    let resp = http().get(sim.end_session_endpoint()).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_redirect_uri_can_be_registered_later() {
    let secret = secret();
    let sim = SimOidc::start(CLIENT, Some(&secret), "http://placeholder.invalid/cb")
        .await
        .unwrap();
    sim.set_redirect_uri(REDIRECT);
    sim.set_user(user());
    sign_in(&sim, &secret).await;
}

#[tokio::test]
async fn public_clients_need_only_pkce() {
    let sim = SimOidc::start(CLIENT, None, REDIRECT).await.unwrap();
    sim.set_user(user());
    let (verifier, challenge) = pkce();
    let back = authorize(&sim, &challenge).await;
    let resp = http()
        .post(sim.token_endpoint())
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", back["code"].as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier.as_str()),
            ("client_id", CLIENT),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}
