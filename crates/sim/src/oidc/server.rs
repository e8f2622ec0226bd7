//! The provider's HTTP endpoints.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Query, State as Extract};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::keys::{self, b64};
use super::{
    AccessGrant, AuthorizeRequest, Client, EndSessionCall, Inner, IssuedTokens, PendingCode, REALM,
    SimUser, TOKEN_LIFETIME_SECS, Tamper, random_id,
};

type Shared = Arc<Inner>;
type Params = HashMap<String, String>;

/// How long an authorization code may wait for its exchange (Keycloak's default).
const CODE_LIFETIME_SECS: u64 = 60;

pub(crate) fn router(inner: Shared) -> Router {
    let realm = Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/protocol/openid-connect/certs", get(jwks))
        .route("/protocol/openid-connect/auth", get(authorize))
        .route("/protocol/openid-connect/token", axum::routing::post(token))
        .route(
            "/protocol/openid-connect/userinfo",
            get(userinfo).post(userinfo),
        )
        .route("/protocol/openid-connect/logout", get(end_session))
        .with_state(inner);
    Router::new().nest(&format!("/realms/{REALM}"), realm)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn no_store(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    resp
}

/// An OAuth error answer: `{"error", "error_description"}`.
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    no_store(
        (
            status,
            axum::Json(json!({"error": error, "error_description": description})),
        )
            .into_response(),
    )
}

/// Keycloak's error page, for requests it cannot send back to the client.
fn error_page(message: &str) -> Response {
    let escaped: String = message
        .chars()
        .map(|c| match c {
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '&' => "&amp;".to_owned(),
            '"' => "&quot;".to_owned(),
            c => c.to_string(),
        })
        .collect();
    (
        StatusCode::BAD_REQUEST,
        Html(format!(
            "<!doctype html><title>Error</title><h1>We are sorry...</h1><p id=\"kc-error-message\">{escaped}</p>"
        )),
    )
        .into_response()
}

/// A 302 to `base` with `params` added to its query.
fn redirect_with(base: &str, params: &[(&str, &str)]) -> Response {
    let Ok(mut url) = url::Url::parse(base) else {
        return error_page("Invalid redirect uri");
    };
    if !params.is_empty() {
        url.query_pairs_mut().extend_pairs(params);
    }
    match HeaderValue::from_str(url.as_str()) {
        Ok(location) => {
            let mut resp = StatusCode::FOUND.into_response();
            resp.headers_mut().insert(header::LOCATION, location);
            resp
        }
        Err(_) => error_page("Invalid redirect uri"),
    }
}

async fn discovery(Extract(inner): Extract<Shared>) -> Response {
    axum::Json(json!({
        "issuer": inner.issuer,
        "authorization_endpoint": inner.endpoint("auth"),
        "token_endpoint": inner.endpoint("token"),
        "userinfo_endpoint": inner.endpoint("userinfo"),
        "jwks_uri": inner.endpoint("certs"),
        "end_session_endpoint": inner.endpoint("logout"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "profile", "email", "roles", "microprofile-jwt"],
        "claims_supported": [
            "iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "name",
            "preferred_username", "email", "email_verified", "realm_access", "resource_access", "groups"
        ],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "authorization_response_iss_parameter_supported": true,
        "frontchannel_logout_supported": false,
    }))
    .into_response()
}

async fn jwks(Extract(inner): Extract<Shared>) -> Response {
    axum::Json(json!({"keys": [inner.key.jwk()]})).into_response()
}

fn param<'a>(q: &'a Params, name: &str) -> Option<&'a str> {
    q.get(name).map(String::as_str).filter(|v| !v.is_empty())
}

/// `S256` challenges and verifiers use the unreserved characters only.
fn pkce_shaped(value: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

async fn authorize(Extract(inner): Extract<Shared>, Query(q): Query<Params>) -> Response {
    let mut st = inner.state();
    let client = st.client.clone();
    if param(&q, "client_id") != Some(client.client_id.as_str()) {
        return error_page("Client not found.");
    }
    let Some(redirect_uri) = param(&q, "redirect_uri").filter(|r| *r == client.redirect_uri) else {
        return error_page("Invalid parameter: redirect_uri");
    };
    let state = param(&q, "state");
    st.authorize_requests.push(AuthorizeRequest {
        scope: param(&q, "scope").map(str::to_owned),
        state: state.map(str::to_owned),
        nonce: param(&q, "nonce").map(str::to_owned),
        code_challenge: param(&q, "code_challenge").map(str::to_owned),
        code_challenge_method: param(&q, "code_challenge_method").map(str::to_owned),
    });
    let back = |extra: &[(&str, &str)]| {
        let mut params: Vec<(&str, &str)> = extra.to_vec();
        if let Some(s) = state {
            params.push(("state", s));
        }
        params.push(("iss", inner.issuer.as_str()));
        redirect_with(redirect_uri, &params)
    };
    let fail = |error: &str, description: &str| {
        back(&[("error", error), ("error_description", description)])
    };
    if param(&q, "response_type") != Some("code") {
        return fail(
            "unsupported_response_type",
            "Client is not allowed to initiate browser login with given response_type.",
        );
    }
    let scope = param(&q, "scope").unwrap_or_default();
    if !scope.split(' ').any(|s| s == "openid") {
        return fail("invalid_scope", "Invalid scopes: openid is required");
    }
    let Some(challenge) = param(&q, "code_challenge") else {
        return fail("invalid_request", "Missing parameter: code_challenge");
    };
    if param(&q, "code_challenge_method") != Some("S256") {
        return fail(
            "invalid_request",
            "Invalid parameter: code challenge method is not matching the configured one",
        );
    }
    if !pkce_shaped(challenge, 43, 43) {
        return fail("invalid_request", "Invalid parameter: code_challenge");
    }
    if let Some((error, description)) = st.deny.clone() {
        return fail(&error, &description);
    }
    let Some(user) = st.user.clone() else {
        return fail(
            "login_required",
            "No user is signed in at the simulated provider.",
        );
    };
    let code = random_id(32);
    let session_id = random_id(16);
    let t = now();
    st.codes.retain(|_, c| c.expires_at > t);
    st.codes.insert(
        code.clone(),
        PendingCode {
            user,
            redirect_uri: redirect_uri.to_owned(),
            nonce: param(&q, "nonce").map(str::to_owned),
            code_challenge: challenge.to_owned(),
            scope: scope.to_owned(),
            session_id: session_id.clone(),
            auth_time: t,
            expires_at: t + CODE_LIFETIME_SECS,
        },
    );
    drop(st);
    back(&[("session_state", &session_id), ("code", &code)])
}

/// `id:secret` from `Authorization: Basic`, each form-urlencoded as RFC 6749 §2.3.1 says.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |s: &str| -> String {
        url::form_urlencoded::parse(format!("v={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Some((unescape(id), unescape(secret)))
}

/// Checks the client's credentials (either method); the answer to send when they fail.
fn authenticate_client(client: &Client, headers: &HeaderMap, form: &Params) -> Option<Response> {
    let basic = basic_credentials(headers);
    let form_id = param(form, "client_id");
    let (id, secret) = match &basic {
        Some((id, secret)) => {
            if form_id.is_some_and(|f| f != id) {
                return Some(oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "client_id in the body and in Authorization differ",
                ));
            }
            (Some(id.as_str()), Some(secret.as_str()))
        }
        None => (form_id, param(form, "client_secret")),
    };
    let unauthorized = || {
        Some(oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Invalid client or Invalid client credentials",
        ))
    };
    if id != Some(client.client_id.as_str()) {
        return unauthorized();
    }
    match (&client.client_secret, secret) {
        (Some(expected), Some(given)) if expected == given => None,
        (None, _) => None,
        _ => unauthorized(),
    }
}

/// The role claims of `user` as Keycloak's mappers write them.
fn role_claims(user: &SimUser, client_id: &str) -> Map<String, Value> {
    let mut claims = Map::new();
    claims.insert(
        "realm_access".into(),
        json!({"roles": user.realm_roles.clone()}),
    );
    let mut resource = Map::new();
    if !user.client_roles.is_empty() {
        resource.insert(
            client_id.to_owned(),
            json!({"roles": user.client_roles.clone()}),
        );
    }
    resource.insert(
        "account".into(),
        json!({"roles": ["manage-account", "view-profile"]}),
    );
    claims.insert("resource_access".into(), Value::Object(resource));
    if !user.groups.is_empty() {
        claims.insert("groups".into(), json!(user.groups.clone()));
    }
    claims
}

/// The profile and email scope claims.
fn profile_claims(user: &SimUser) -> Map<String, Value> {
    let mut claims = Map::new();
    claims.insert("name".into(), json!(user.name));
    claims.insert("preferred_username".into(), json!(user.preferred_username));
    claims.insert("email".into(), json!(user.email));
    claims.insert("email_verified".into(), json!(true));
    claims
}

/// `at_hash`: the left half of the SHA-256 of the access token.
fn at_hash(access_token: &str) -> String {
    let digest = Sha256::digest(access_token.as_bytes());
    b64(&digest[..digest.len() / 2])
}

/// Applies a claim-level defect.
fn tamper_claims(claims: &mut Map<String, Value>, tamper: Tamper, issuer: &str) {
    match tamper {
        Tamper::Expired => {
            let t = now();
            claims.insert("iat".into(), json!(t - 2 * TOKEN_LIFETIME_SECS));
            claims.insert("exp".into(), json!(t - TOKEN_LIFETIME_SECS));
        }
        Tamper::WrongAudience => {
            claims.insert("aud".into(), json!("someone-else"));
            claims.insert("azp".into(), json!("someone-else"));
        }
        Tamper::WrongNonce => {
            claims.insert("nonce".into(), json!(random_id(16)));
        }
        Tamper::WrongIssuer => {
            let other = issuer.replace(&format!("/realms/{REALM}"), "/realms/elsewhere");
            claims.insert("iss".into(), json!(other));
        }
        _ => {}
    }
}

/// Signs `claims`, with a signature-level defect if asked.
fn sign(inner: &Inner, claims: &Value, tamper: Tamper) -> Option<String> {
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": inner.key.kid});
    match tamper {
        Tamper::AlgNone => Some(keys::unsigned(claims)),
        Tamper::SignedWithOtherKey => inner.other_key()?.sign(&header, claims),
        Tamper::BadSignature => inner
            .key
            .sign(&header, claims)
            .map(|t| keys::corrupt_signature(&t)),
        _ => inner.key.sign(&header, claims),
    }
}

async fn token(
    Extract(inner): Extract<Shared>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<Params>,
) -> Response {
    let mut st = inner.state();
    let client = st.client.clone();
    if let Some(refusal) = authenticate_client(&client, &headers, &form) {
        return refusal;
    }
    if param(&form, "grant_type") != Some("authorization_code") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "Unsupported grant_type",
        );
    }
    // A code is spent by its first use, whatever comes of it.
    let t = now();
    let Some(pending) = param(&form, "code")
        .and_then(|c| st.codes.remove(c))
        .filter(|p| p.expires_at > t)
    else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "Code not valid");
    };
    if param(&form, "redirect_uri") != Some(pending.redirect_uri.as_str()) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "Incorrect redirect_uri",
        );
    }
    let Some(verifier) = param(&form, "code_verifier") else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "PKCE code verifier not specified",
        );
    };
    if !pkce_shaped(verifier, 43, 128)
        || b64(&Sha256::digest(verifier.as_bytes())) != pending.code_challenge
    {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "PKCE verification failed: Invalid code verifier",
        );
    }

    let user = &pending.user;
    let exp = t + TOKEN_LIFETIME_SECS;
    let mut access = Map::new();
    access.insert("exp".into(), json!(exp));
    access.insert("iat".into(), json!(t));
    access.insert("auth_time".into(), json!(pending.auth_time));
    access.insert("jti".into(), json!(random_id(16)));
    access.insert("iss".into(), json!(inner.issuer));
    access.insert("aud".into(), json!("account"));
    access.insert("sub".into(), json!(user.sub));
    access.insert("typ".into(), json!("Bearer"));
    access.insert("azp".into(), json!(client.client_id));
    access.insert("sid".into(), json!(pending.session_id));
    access.insert("scope".into(), json!(pending.scope));
    access.extend(profile_claims(user));
    if user.claims_in.access_token {
        access.extend(role_claims(user, &client.client_id));
    }
    tamper_claims(&mut access, st.access_tamper, &inner.issuer);
    let Some(access_token) = sign(&inner, &Value::Object(access), st.access_tamper) else {
        return oauth_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "signing failed",
        );
    };

    let mut id = Map::new();
    id.insert("exp".into(), json!(exp));
    id.insert("iat".into(), json!(t));
    id.insert("auth_time".into(), json!(pending.auth_time));
    id.insert("jti".into(), json!(random_id(16)));
    id.insert("iss".into(), json!(inner.issuer));
    id.insert("aud".into(), json!(client.client_id));
    id.insert("sub".into(), json!(user.sub));
    id.insert("typ".into(), json!("ID"));
    id.insert("azp".into(), json!(client.client_id));
    if let Some(nonce) = &pending.nonce {
        id.insert("nonce".into(), json!(nonce));
    }
    id.insert("sid".into(), json!(pending.session_id));
    id.insert("at_hash".into(), json!(at_hash(&access_token)));
    id.extend(profile_claims(user));
    if user.claims_in.id_token {
        id.extend(role_claims(user, &client.client_id));
    }
    tamper_claims(&mut id, st.tamper, &inner.issuer);
    let Some(id_token) = sign(&inner, &Value::Object(id), st.tamper) else {
        return oauth_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "signing failed",
        );
    };

    st.grants.retain(|_, g| g.expires_at > t);
    st.grants.insert(
        access_token.clone(),
        AccessGrant {
            user: user.clone(),
            expires_at: exp,
        },
    );
    st.issued.push(IssuedTokens {
        access_token: access_token.clone(),
        id_token: id_token.clone(),
    });
    drop(st);
    no_store(
        axum::Json(json!({
            "access_token": access_token,
            "expires_in": TOKEN_LIFETIME_SECS,
            "token_type": "Bearer",
            "id_token": id_token,
            "not-before-policy": 0,
            "session_state": pending.session_id,
            "scope": pending.scope,
        }))
        .into_response(),
    )
}

async fn userinfo(Extract(inner): Extract<Shared>, headers: HeaderMap) -> Response {
    let refuse = || {
        let mut resp = oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "Token verification failed",
        );
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"acme\", error=\"invalid_token\""),
        );
        resp
    };
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim().to_owned())
    else {
        return refuse();
    };
    let st = inner.state();
    let Some(grant) = st.grants.get(&token).filter(|g| g.expires_at > now()) else {
        return refuse();
    };
    let user = &grant.user;
    let mut claims = Map::new();
    let sub = st
        .userinfo_subject
        .clone()
        .unwrap_or_else(|| user.sub.clone());
    claims.insert("sub".into(), json!(sub));
    claims.extend(profile_claims(user));
    if user.claims_in.userinfo {
        claims.extend(role_claims(user, &st.client.client_id));
    }
    axum::Json(Value::Object(claims)).into_response()
}

/// Whether `uri` may be a post-logout redirect: same origin as the registered redirect URI
/// (Keycloak's `+` setting: the valid redirect URIs).
fn same_origin(uri: &str, registered: &str) -> bool {
    match (url::Url::parse(uri), url::Url::parse(registered)) {
        (Ok(a), Ok(b)) => a.origin() == b.origin(),
        _ => false,
    }
}

async fn end_session(Extract(inner): Extract<Shared>, Query(q): Query<Params>) -> Response {
    let mut st = inner.state();
    let call = EndSessionCall {
        id_token_hint: param(&q, "id_token_hint").map(str::to_owned),
        post_logout_redirect_uri: param(&q, "post_logout_redirect_uri").map(str::to_owned),
        client_id: param(&q, "client_id").map(str::to_owned),
    };
    st.end_session_calls.push(call.clone());
    if let Some(hint) = &call.id_token_hint
        && !st.issued.iter().any(|t| &t.id_token == hint)
    {
        return error_page("Invalid IDToken");
    }
    let Some(target) = call.post_logout_redirect_uri else {
        return Html("<!doctype html><title>Signed out</title><p>You are logged out</p>")
            .into_response();
    };
    if call.id_token_hint.is_none() && call.client_id.is_none() {
        return error_page("Missing parameters: id_token_hint");
    }
    if !same_origin(&target, &st.client.redirect_uri) {
        return error_page("Invalid redirect uri");
    }
    let state = param(&q, "state").map(str::to_owned);
    drop(st);
    match &state {
        Some(s) => redirect_with(&target, &[("state", s)]),
        None => redirect_with(&target, &[]),
    }
}
