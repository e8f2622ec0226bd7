//! GitHub Apps: one App, registered with its public key and installed on the organisation; the
//! JSON web tokens it signs, checked as GitHub checks them; and the installation tokens it is
//! given for them, which expire, can be revoked, and are counted.
//!
//! Routes (both require `Authorization: Bearer <JWT>`):
//! - `GET /orgs/{org}/installation`: the App's installation on the organisation, 404 when it is
//!   not installed there.
//! - `POST /app/installations/{installation_id}/access_tokens`: 201 with a new installation
//!   token and its `expires_at`.
//!
//! A JWT is accepted when it is RS256, signed with the App's key, names the App in `iss` (a
//! number or a string), was issued no later than [`IAT_SKEW_SECS`] from now, has not expired,
//! and lives at most ten minutes (`exp - iat` ≤ 600). Time here is the wall clock moved by
//! [`super::SimGithub::advance_app_clock`], so a test can let tokens age without waiting.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{
    KeyPair as _, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, UnparsedPublicKey,
};
use axum::extract::{Path, State};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http::header::AUTHORIZATION;
use http::{HeaderMap, StatusCode};
use rand::Rng;
use serde_json::{Value, json};

use super::faults::{json_response, now_epoch};
use super::state::iso;
use super::{Inner, lock, payload};

/// How far in the future `iat` may be: clocks drift.
pub(crate) const IAT_SKEW_SECS: u64 = 30;
/// The longest a JWT may live, `exp - iat`.
const JWT_MAX_LIFETIME_SECS: u64 = 600;
/// How long an installation token lives unless a test says otherwise: GitHub's hour.
pub(crate) const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

const APPS_DOCS: &str = "https://docs.github.com/rest/apps/apps";
const UNDECODABLE: &str = "A JSON web token could not be decoded";

/// Permissions the simulated installation was granted: what Shipyard's App asks for.
fn permissions() -> Value {
    json!({
        "actions": "read",
        "contents": "read",
        "metadata": "read",
        "pull_requests": "write",
        "statuses": "write"
    })
}

/// Webhook events the simulated App subscribes to.
const EVENTS: [&str; 4] = ["pull_request", "push", "workflow_job", "workflow_run"];

/// An RSA key pair for a simulated GitHub App, made at run time (2048 bits, like GitHub's).
/// `Debug` prints nothing of it.
pub struct AppKeyPair {
    pair: KeyPair,
}

impl std::fmt::Debug for AppKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AppKeyPair([redacted])")
    }
}

impl AppKeyPair {
    /// A fresh key pair.
    pub fn generate() -> std::io::Result<AppKeyPair> {
        let pair = KeyPair::generate(KeySize::Rsa2048)
            .map_err(|_| std::io::Error::other("RSA key generation failed"))?;
        Ok(AppKeyPair { pair })
    }

    /// The private key as PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`). `openssl rsa -traditional`
    /// turns it into the PKCS#1 form GitHub hands out.
    pub fn private_key_pem(&self) -> String {
        let der = self
            .pair
            .as_der()
            .map(|d| d.as_ref().to_vec())
            .unwrap_or_default();
        let body = STANDARD.encode(der);
        let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
        for line in body.as_bytes().chunks(64) {
            pem.push_str(&String::from_utf8_lossy(line));
            pem.push('\n');
        }
        pem.push_str("-----END PRIVATE KEY-----\n");
        pem
    }

    /// The public key as DER (PKCS#1 `RSAPublicKey`), for [`super::SimGithub::set_app`].
    pub fn public_key_der(&self) -> Vec<u8> {
        self.pair.public_key().as_ref().to_vec()
    }

    /// A compact RS256 JWT over `claims`, for tests that need tokens no client would make.
    pub fn sign_jwt(&self, claims: &Value) -> String {
        let header = json!({"alg": "RS256", "typ": "JWT"});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0u8; self.pair.public_modulus_len()];
        if self
            .pair
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                input.as_bytes(),
                &mut signature,
            )
            .is_err()
        {
            signature.clear();
        }
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }
}

/// The registered App.
#[derive(Debug, Clone)]
pub(crate) struct App {
    pub app_id: u64,
    pub public_key: Vec<u8>,
    pub installation_id: u64,
    pub installed: bool,
}

struct IssuedToken {
    expires_at: u64,
    revoked: bool,
}

/// Apps, their tokens and their counters. `Debug` shows no token.
pub(crate) struct Apps {
    pub app: Option<App>,
    tokens: HashMap<String, IssuedToken>,
    pub token_lifetime: Duration,
    /// Seconds the App clock runs ahead of the wall clock.
    pub clock_offset: u64,
    /// Every installation token is refused while set.
    pub refuse_all: bool,
    pub exchanges: u64,
    pub lookups: u64,
}

impl std::fmt::Debug for Apps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Apps")
            .field("app", &self.app.as_ref().map(|a| a.app_id))
            .field("tokens", &self.tokens.len())
            .field("exchanges", &self.exchanges)
            .finish_non_exhaustive()
    }
}

impl Apps {
    pub fn new() -> Self {
        Apps {
            app: None,
            tokens: HashMap::new(),
            token_lifetime: DEFAULT_TOKEN_LIFETIME,
            clock_offset: 0,
            refuse_all: false,
            exchanges: 0,
            lookups: 0,
        }
    }

    /// Now on the App clock, epoch seconds.
    pub fn now(&self) -> u64 {
        now_epoch() + self.clock_offset
    }

    /// Registers the App, installed on the organisation; forgets earlier tokens.
    pub fn register(&mut self, app_id: u64, public_key: Vec<u8>) -> u64 {
        let installation_id = 40_000_000 + app_id % 10_000_000;
        self.app = Some(App {
            app_id,
            public_key,
            installation_id,
            installed: true,
        });
        self.tokens.clear();
        installation_id
    }

    /// Whether `token` is a live installation token of the registered App.
    pub fn accepts(&self, token: &str) -> bool {
        if self.app.is_none() || self.refuse_all {
            return false;
        }
        let now = self.now();
        self.tokens
            .get(token)
            .is_some_and(|t| !t.revoked && t.expires_at > now)
    }

    /// Whether `token` was ever issued here, live or not.
    pub fn issued(&self, token: &str) -> bool {
        self.tokens.contains_key(token)
    }

    pub fn revoke_all(&mut self) {
        for t in self.tokens.values_mut() {
            t.revoked = true;
        }
    }

    fn issue(&mut self) -> (String, u64) {
        let token: String = {
            let mut rng = rand::rng();
            (0..36)
                .map(|_| char::from(rng.sample(rand::distr::Alphanumeric)))
                .collect()
        };
        let token = format!("ghs_{token}");
        let lifetime = self.token_lifetime.as_secs().max(1);
        let expires_at = self.now() + lifetime;
        self.tokens.insert(
            token.clone(),
            IssuedToken {
                expires_at,
                revoked: false,
            },
        );
        self.exchanges += 1;
        (token, expires_at)
    }
}

/// Whether a path is one of the App routes, which check the JWT themselves.
pub(crate) fn is_app_route(path: &str) -> bool {
    path.starts_with("/app/") || (path.starts_with("/orgs/") && path.ends_with("/installation"))
}

/// The bearer credential of a request, if it has one.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(AUTHORIZATION)?.to_str().ok()?.trim();
    v.strip_prefix("Bearer ")
        .or_else(|| v.strip_prefix("bearer "))
        .or_else(|| v.strip_prefix("token "))
        .or_else(|| v.strip_prefix("Token "))
        .map(str::trim)
}

fn unauthorized(message: &str, doc: &str) -> Response {
    json_response(StatusCode::UNAUTHORIZED, &payload::error(message, doc, 401))
}

fn decode_part(part: &str) -> Option<Value> {
    let bytes = URL_SAFE_NO_PAD.decode(part).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Checks a JWT as GitHub does; the message of the 401 when it is refused.
fn verify_jwt(app: &App, token: Option<&str>, now: u64) -> Result<(), &'static str> {
    let token = token.ok_or(UNDECODABLE)?;
    let mut parts = token.split('.');
    let (Some(header), Some(claims), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(UNDECODABLE);
    };
    let header = decode_part(header).ok_or(UNDECODABLE)?;
    if header["alg"] != "RS256" {
        return Err(UNDECODABLE);
    }
    let claims = decode_part(claims).ok_or(UNDECODABLE)?;
    let iss = match &claims["iss"] {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    };
    if iss != Some(app.app_id) {
        return Err(UNDECODABLE);
    }
    let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| UNDECODABLE)?;
    let signed = token.rsplit_once('.').map_or("", |(input, _)| input);
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &app.public_key)
        .verify(signed.as_bytes(), &signature)
        .map_err(|_| UNDECODABLE)?;
    let Some(iat) = claims["iat"].as_u64() else {
        return Err(
            "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued.",
        );
    };
    let Some(exp) = claims["exp"].as_u64() else {
        return Err(
            "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires.",
        );
    };
    if iat > now + IAT_SKEW_SECS {
        return Err(
            "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued.",
        );
    }
    if exp <= now {
        return Err(
            "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires.",
        );
    }
    if exp.saturating_sub(iat) > JWT_MAX_LIFETIME_SECS {
        return Err("'Expiration time' claim ('exp') is too far in the future");
    }
    Ok(())
}

/// The registered App when the request's JWT is good for it; the message of the 401 otherwise.
fn authenticated(inner: &Inner, headers: &HeaderMap) -> Result<App, &'static str> {
    let apps = lock(&inner.apps);
    let app = apps.app.clone().ok_or(UNDECODABLE)?;
    verify_jwt(&app, bearer(headers), apps.now())?;
    Ok(app)
}

/// The installation object of GitHub's `apps/get-org-installation`.
fn installation(inner: &Inner, app: &App) -> Value {
    let id = app.installation_id;
    json!({
        "id": id,
        "client_id": format!("Iv23li{:014x}", app.app_id),
        "account": payload::org_owner(inner),
        "repository_selection": "all",
        "access_tokens_url": format!("{}/app/installations/{id}/access_tokens", inner.base_url),
        "repositories_url": format!("{}/installation/repositories", inner.base_url),
        "html_url": format!("https://github.com/organizations/{}/settings/installations/{id}", inner.org),
        "app_id": app.app_id,
        "app_slug": "shipyard",
        "target_id": payload::org_id(inner),
        "target_type": "Organization",
        "permissions": permissions(),
        "events": EVENTS,
        "created_at": iso(super::state::CLOCK_START),
        "updated_at": iso(super::state::CLOCK_START),
        "single_file_name": null,
        "has_multiple_single_files": false,
        "single_file_paths": [],
        "suspended_by": null,
        "suspended_at": null
    })
}

/// `GET /orgs/{org}/installation`.
pub(super) async fn org_installation(
    State(inner): State<Arc<Inner>>,
    Path(org): Path<String>,
    headers: HeaderMap,
) -> Response {
    let doc = format!("{APPS_DOCS}#get-an-organization-installation-for-the-authenticated-app");
    let app = match authenticated(&inner, &headers) {
        Ok(app) => app,
        Err(message) => return unauthorized(message, &doc),
    };
    lock(&inner.apps).lookups += 1;
    if !org.eq_ignore_ascii_case(&inner.org) || !app.installed {
        return json_response(
            StatusCode::NOT_FOUND,
            &payload::error("Not Found", &doc, 404),
        );
    }
    super::rest::ok(&installation(&inner, &app))
}

/// `POST /app/installations/{installation_id}/access_tokens`.
pub(super) async fn create_access_token(
    State(inner): State<Arc<Inner>>,
    Path(installation_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let doc = format!("{APPS_DOCS}#create-an-installation-access-token-for-an-app");
    let app = match authenticated(&inner, &headers) {
        Ok(app) => app,
        Err(message) => return unauthorized(message, &doc),
    };
    if installation_id.parse::<u64>().ok() != Some(app.installation_id) || !app.installed {
        return json_response(
            StatusCode::NOT_FOUND,
            &payload::error("Not Found", &doc, 404),
        );
    }
    let (token, expires_at) = lock(&inner.apps).issue();
    json_response(
        StatusCode::CREATED,
        &json!({
            "token": token,
            "expires_at": iso(expires_at),
            "permissions": permissions(),
            "repository_selection": "all"
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(keys: &AppKeyPair) -> App {
        App {
            app_id: 7,
            public_key: keys.public_key_der(),
            installation_id: 1,
            installed: true,
        }
    }

    #[test]
    fn jwts_are_checked_for_key_issuer_and_times() {
        let keys = AppKeyPair::generate().unwrap();
        let other = AppKeyPair::generate().unwrap();
        let app = app(&keys);
        let now = 1_800_000_000u64;
        let good = json!({"iat": now - 60, "exp": now + 540, "iss": "7"});
        assert_eq!(verify_jwt(&app, Some(&keys.sign_jwt(&good)), now), Ok(()));
        let numeric = json!({"iat": now - 60, "exp": now + 540, "iss": 7});
        assert_eq!(
            verify_jwt(&app, Some(&keys.sign_jwt(&numeric)), now),
            Ok(())
        );
        for (what, token) in [
            ("another key", other.sign_jwt(&good)),
            (
                "another app",
                keys.sign_jwt(&json!({"iat": now - 60, "exp": now + 540, "iss": "8"})),
            ),
            (
                "expired",
                keys.sign_jwt(&json!({"iat": now - 700, "exp": now - 100, "iss": "7"})),
            ),
            (
                "issued later",
                keys.sign_jwt(&json!({"iat": now + 120, "exp": now + 600, "iss": "7"})),
            ),
            (
                "too long",
                keys.sign_jwt(&json!({"iat": now - 60, "exp": now + 600, "iss": "7"})),
            ),
            (
                "no iat",
                keys.sign_jwt(&json!({"exp": now + 600, "iss": "7"})),
            ),
            ("not a JWT", "ghs_abc".to_owned()),
        ] {
            assert!(verify_jwt(&app, Some(&token), now).is_err(), "{what}");
        }
        assert!(verify_jwt(&app, None, now).is_err());
        let within_skew = json!({"iat": now + 20, "exp": now + 500, "iss": "7"});
        assert_eq!(
            verify_jwt(&app, Some(&keys.sign_jwt(&within_skew)), now),
            Ok(())
        );
    }

    #[test]
    fn the_private_key_is_pkcs8_pem() {
        let keys = AppKeyPair::generate().unwrap();
        let pem = keys.private_key_pem();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        assert!(pem.ends_with("-----END PRIVATE KEY-----\n"));
        assert!(pem.lines().all(|l| l.len() <= 64));
        assert!(!format!("{keys:?}").contains("PRIVATE"));
    }
}
