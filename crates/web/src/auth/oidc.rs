//! Sign-in with an OpenID Connect provider (Keycloak): authorization code with PKCE, `state` and
//! `nonce`, the ID token verified against the provider's keys, and roles read from the ID token,
//! the userinfo answer and the access token (a JWT verified with the same keys).
//!
//! Keycloak's default mappers put roles in the access token only; other providers put them in
//! the ID token or userinfo. Reading all three (each verified) covers both.

use base64::Engine as _;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, Scope, TokenResponse,
};
use serde_json::Value;
use shipyard_config::{OidcConfig, RoleMapping};
use shipyard_core::Role;
use std::collections::BTreeSet;
use tokio::sync::OnceCell;

type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// Why a sign-in failed, for the log and (briefly) for the person.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The provider cannot be reached or its discovery document is unusable.
    #[error("the identity provider is unavailable: {0}")]
    Provider(String),
    /// The provider's answer failed verification.
    #[error("the sign-in answer was refused: {0}")]
    Rejected(String),
}

/// An HTTP failure while talking to the provider.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HttpError(String);

struct Discovered {
    client: Client,
    issuer: String,
    userinfo_endpoint: Option<String>,
    end_session_endpoint: Option<String>,
    jwks: jsonwebtoken::jwk::JwkSet,
}

/// A started sign-in: where to send the browser, and what to keep until it comes back.
#[derive(Debug)]
pub struct Started {
    /// The provider's authorization URL.
    pub url: String,
    /// `state`.
    pub state: String,
    /// `nonce`.
    pub nonce: String,
    /// PKCE code verifier.
    pub pkce_verifier: String,
}

/// A finished sign-in.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The `sub` claim.
    pub subject: String,
    /// `name`, else `preferred_username`, else `sub`.
    pub name: String,
    /// `email`, when given.
    pub email: Option<String>,
    /// Shipyard roles from the claims.
    pub roles: Vec<Role>,
    /// The raw ID token, for `id_token_hint`.
    pub id_token: String,
}

/// The OpenID Connect relying party. Discovery happens at the first sign-in and is kept.
pub struct Oidc {
    config: OidcConfig,
    roles: RoleMapping,
    role_claims: Vec<String>,
    http: reqwest::Client,
    discovered: OnceCell<Discovered>,
}

impl Oidc {
    /// A relying party for `config`, mapping the claims at `role_claims` through `roles`.
    pub fn new(
        config: OidcConfig,
        roles: RoleMapping,
        role_claims: Vec<String>,
    ) -> Result<Self, OidcError> {
        let http = reqwest::Client::builder()
            // Following redirects from the provider's endpoints would let a hostile answer
            // steer Shipyard's requests elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(15))
            .build()
            .map_err(|e| OidcError::Provider(e.to_string()))?;
        Ok(Oidc {
            config,
            roles,
            role_claims,
            http,
            discovered: OnceCell::new(),
        })
    }

    async fn send(
        http: reqwest::Client,
        req: openidconnect::HttpRequest,
    ) -> Result<openidconnect::HttpResponse, HttpError> {
        let (parts, body) = req.into_parts();
        let resp = http
            .request(parts.method, parts.uri.to_string())
            .headers(parts.headers)
            .body(body)
            .send()
            .await
            .map_err(|e| HttpError(e.to_string()))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.map_err(|e| HttpError(e.to_string()))?;
        let mut out = http::Response::builder()
            .status(status)
            .body(bytes.to_vec())
            .map_err(|e| HttpError(e.to_string()))?;
        *out.headers_mut() = headers;
        Ok(out)
    }

    async fn discovered(&self) -> Result<&Discovered, OidcError> {
        self.discovered
            .get_or_try_init(|| async {
                let http = self.http.clone();
                let call = move |req| Self::send(http.clone(), req);
                let issuer = IssuerUrl::new(self.config.issuer.clone())
                    .map_err(|e| OidcError::Provider(e.to_string()))?;
                let metadata = CoreProviderMetadata::discover_async(issuer, &call)
                    .await
                    .map_err(|e| OidcError::Provider(format!("discovery failed: {e}")))?;
                let raw: Value = self
                    .http
                    .get(format!(
                        "{}/.well-known/openid-configuration",
                        self.config.issuer.trim_end_matches('/')
                    ))
                    .send()
                    .await
                    .map_err(|e| OidcError::Provider(e.to_string()))?
                    .json()
                    .await
                    .map_err(|e| OidcError::Provider(e.to_string()))?;
                let jwks: jsonwebtoken::jwk::JwkSet = serde_json::to_value(metadata.jwks())
                    .and_then(serde_json::from_value)
                    .map_err(|e| OidcError::Provider(format!("unusable signing keys: {e}")))?;
                let userinfo_endpoint = metadata.userinfo_endpoint().map(|u| u.to_string());
                let client = CoreClient::from_provider_metadata(
                    metadata,
                    ClientId::new(self.config.client_id.clone()),
                    self.config
                        .client_secret
                        .as_ref()
                        .map(|s| ClientSecret::new(s.expose().to_owned())),
                )
                .set_redirect_uri(
                    RedirectUrl::new(self.config.redirect_url.clone())
                        .map_err(|e| OidcError::Provider(e.to_string()))?,
                );
                Ok(Discovered {
                    client,
                    issuer: self.config.issuer.clone(),
                    userinfo_endpoint,
                    end_session_endpoint: raw
                        .get("end_session_endpoint")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    jwks,
                })
            })
            .await
    }

    /// Starts a sign-in: a fresh `state`, `nonce` and PKCE pair, and the URL to send the browser to.
    pub async fn start(&self) -> Result<Started, OidcError> {
        let d = self.discovered().await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = d.client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for scope in self.config.scopes.iter().filter(|s| s.as_str() != "openid") {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state, nonce) = request.set_pkce_challenge(challenge).url();
        Ok(Started {
            url: url.to_string(),
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        })
    }

    /// Finishes a sign-in: exchanges the code, verifies the ID token (signature, issuer,
    /// audience, expiry, nonce) and reads the roles.
    pub async fn finish(
        &self,
        code: &str,
        nonce: &str,
        pkce_verifier: &str,
    ) -> Result<SignedIn, OidcError> {
        let d = self.discovered().await?;
        let http = self.http.clone();
        let call = move |req| Self::send(http.clone(), req);
        let tokens = d
            .client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| OidcError::Provider(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()))
            .request_async(&call)
            .await
            .map_err(|e| OidcError::Rejected(format!("code exchange failed: {e}")))?;
        let id_token = tokens
            .id_token()
            .ok_or_else(|| OidcError::Rejected("the provider sent no ID token".into()))?;
        let verifier = d.client.id_token_verifier();
        let claims = id_token
            .claims(&verifier, &Nonce::new(nonce.to_owned()))
            .map_err(|e| OidcError::Rejected(e.to_string()))?;
        let raw_id_token = id_token.to_string();
        let id_claims = jwt_payload(&raw_id_token)
            .ok_or_else(|| OidcError::Rejected("unreadable ID token".into()))?;

        let subject = claims.subject().to_string();

        let access_token = tokens.access_token().secret();
        let access_claims = verify_access_token(access_token, &d.jwks, &d.issuer);
        let userinfo = match &d.userinfo_endpoint {
            Some(url) => self.userinfo(url, access_token).await,
            None => None,
        }
        // Userinfo about anyone but the ID token's subject must not be used (OIDC Core 5.3.2).
        .filter(|info| info.get("sub").and_then(Value::as_str) == Some(subject.as_str()));
        let sources: Vec<&Value> = [Some(&id_claims), userinfo.as_ref(), access_claims.as_ref()]
            .into_iter()
            .flatten()
            .collect();
        let roles = roles_from_claims(&sources, &self.role_claims, &self.roles);

        let pick = |key: &str| {
            sources
                .iter()
                .find_map(|c| c.get(key).and_then(Value::as_str).map(str::to_owned))
        };
        let name = pick("name")
            .or_else(|| pick("preferred_username"))
            .unwrap_or_else(|| subject.clone());
        Ok(SignedIn {
            subject,
            name,
            email: pick("email"),
            roles,
            id_token: raw_id_token,
        })
    }

    async fn userinfo(&self, url: &str, access_token: &str) -> Option<Value> {
        let resp = self
            .http
            .get(url)
            .bearer_auth(access_token)
            .send()
            .await
            .ok()?;
        if !resp.status().is_success() {
            tracing::debug!(status = resp.status().as_u16(), "userinfo refused");
            return None;
        }
        resp.json().await.ok()
    }

    /// Where to send the browser to end the provider's session too, if the provider says.
    pub async fn end_session_url(
        &self,
        id_token_hint: Option<&str>,
        post_logout_redirect: &str,
    ) -> Option<String> {
        let d = self.discovered().await.ok()?;
        let mut url = url::Url::parse(d.end_session_endpoint.as_deref()?).ok()?;
        {
            let mut q = url.query_pairs_mut();
            if let Some(hint) = id_token_hint {
                q.append_pair("id_token_hint", hint);
            }
            q.append_pair("post_logout_redirect_uri", post_logout_redirect);
            q.append_pair("client_id", &self.config.client_id);
        }
        Some(url.to_string())
    }
}

/// The payload of a JWT, unverified: only for tokens verified by other means.
fn jwt_payload(token: &str) -> Option<Value> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The claims of an access token that is a JWT signed by the provider, or `None`.
fn verify_access_token(
    token: &str,
    jwks: &jsonwebtoken::jwk::JwkSet,
    issuer: &str,
) -> Option<Value> {
    let header = jsonwebtoken::decode_header(token).ok()?;
    let jwk = match &header.kid {
        Some(kid) => jwks.find(kid)?,
        None => jwks.keys.first()?,
    };
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).ok()?;
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.set_issuer(&[issuer]);
    // Access tokens are meant for resource servers; their audience is not this client.
    validation.validate_aud = false;
    match jsonwebtoken::decode::<Value>(token, &key, &validation) {
        Ok(data) => Some(data.claims),
        Err(e) => {
            tracing::debug!(error = %e, "access token is not a verifiable JWT; its claims are ignored");
            None
        }
    }
}

/// The values at a dotted claim path (`realm_access.roles`), as strings.
fn values_at<'a>(claims: &'a Value, path: &str) -> Vec<&'a str> {
    let mut node = claims;
    for part in path.split('.') {
        match node.get(part) {
            Some(next) => node = next,
            None => return Vec::new(),
        }
    }
    match node {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// Shipyard roles granted by the claims: every value found at any of `paths` in any source,
/// mapped through `mapping` (exact matches).
pub fn roles_from_claims(sources: &[&Value], paths: &[String], mapping: &RoleMapping) -> Vec<Role> {
    let found: BTreeSet<&str> = sources
        .iter()
        .flat_map(|c| paths.iter().flat_map(move |p| values_at(c, p)))
        .collect();
    Role::ALL
        .into_iter()
        .filter(|role| {
            mapping
                .names_for(*role)
                .iter()
                .any(|name| found.contains(name.as_str()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mapping() -> RoleMapping {
        RoleMapping {
            dev_approver: vec!["dev-lead".into()],
            qa_approver: vec!["qa".into(), "/release/qa".into()],
            admin: vec!["release-admin".into()],
        }
    }

    fn paths() -> Vec<String> {
        vec![
            "realm_access.roles".into(),
            "resource_access.shipyard.roles".into(),
            "groups".into(),
        ]
    }

    #[test]
    fn keycloak_shaped_claims_map_to_roles() {
        let id = json!({"sub": "1", "realm_access": {"roles": ["offline_access", "qa"]}});
        assert_eq!(
            roles_from_claims(&[&id], &paths(), &mapping()),
            vec![Role::QaApprover]
        );
        let access = json!({"resource_access": {"shipyard": {"roles": ["release-admin"]}, "other": {"roles": ["dev-lead"]}}});
        assert_eq!(
            roles_from_claims(&[&id, &access], &paths(), &mapping()),
            vec![Role::QaApprover, Role::Admin]
        );
        let groups = json!({"groups": ["/release/qa", "/dev-lead-not-a-role"]});
        assert_eq!(
            roles_from_claims(&[&groups], &paths(), &mapping()),
            vec![Role::QaApprover]
        );
        let nothing = json!({"realm_access": {"roles": "dev-lead-ish"}, "groups": 5});
        assert!(roles_from_claims(&[&nothing], &paths(), &mapping()).is_empty());
        let single = json!({"groups": "dev-lead"});
        assert_eq!(
            roles_from_claims(&[&single], &paths(), &mapping()),
            vec![Role::DevApprover]
        );
    }

    #[test]
    fn jwt_payload_reads_the_middle_part() {
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"sub":"x"}"#);
        assert_eq!(
            jwt_payload(&format!("h.{payload}.s")),
            Some(json!({"sub": "x"}))
        );
        assert_eq!(jwt_payload("garbage"), None);
    }
}
