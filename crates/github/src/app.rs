//! GitHub App authentication: the App's private key, the JSON web token it signs, and the
//! installation token exchanged for it, kept until shortly before it expires.
//!
//! How a token is obtained (GitHub's "authenticating as a GitHub App installation"):
//! 1. An RS256 JSON web token is signed with the App's private key: `iss` is the App id, `iat` a
//!    minute in the past (for clock drift) and `exp` ten minutes after `iat`. Each exchange signs
//!    a new one.
//! 2. The installation is looked up on the organisation (`GET /orgs/{org}/installation`) unless
//!    its id is configured; an id found is kept.
//! 3. The JWT is exchanged for an installation token (`POST /app/installations/{id}/access_tokens`),
//!    which GitHub lets live for an hour; every request of the client carries it.
//!
//! Renewal: a token is renewed [`GithubApp::refresh_before`] before it expires. One exchange
//! runs at a time (single flight): the first caller that needs a new token fetches it; callers
//! that come meanwhile keep using the old token while it has at least half a minute left, and
//! otherwise wait for that one exchange and use its token, or share its error if it failed. A token GitHub refuses (401) is
//! dropped, so the next caller fetches a new one; the transport retries the refused request once.
//!
//! Neither the key, the JWT nor a token is ever logged: the headers are marked sensitive, and the
//! `Debug` impls here print `[redacted]`.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::header::HeaderValue;
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::GithubError;
use crate::api::enc_path;
use crate::auth::Credential;
use crate::transport::{Answer, GitHub};

/// How long before its expiry an installation token is renewed, unless set otherwise.
pub const DEFAULT_REFRESH_BEFORE: Duration = Duration::from_secs(5 * 60);

/// `iat` is set this far in the past, as GitHub advises, in case this clock runs ahead.
const JWT_BACKDATE_SECS: i64 = 60;
/// `exp - iat`: GitHub accepts at most ten minutes.
const JWT_LIFETIME_SECS: i64 = 600;
/// While another caller fetches a new token, the old one is still used with this much left.
const STILL_USABLE_SECS: i64 = 30;

/// The PEM form a private key was given in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFormat {
    /// `-----BEGIN RSA PRIVATE KEY-----`, what GitHub hands out.
    Pkcs1,
    /// `-----BEGIN PRIVATE KEY-----`, what `openssl pkcs8 -topk8 -nocrypt` makes of it.
    Pkcs8,
}

impl KeyFormat {
    /// `PKCS#1` or `PKCS#8`.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyFormat::Pkcs1 => "PKCS#1",
            KeyFormat::Pkcs8 => "PKCS#8",
        }
    }
}

/// Why a private key cannot be used; never contains any of the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct KeyError(String);

/// A GitHub App's RSA private key, checked to sign. `Debug` prints only its form.
#[derive(Clone)]
pub struct AppKey {
    key: EncodingKey,
    format: KeyFormat,
}

impl fmt::Debug for AppKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppKey")
            .field("format", &self.format)
            .field("key", &"[redacted]")
            .finish()
    }
}

impl AppKey {
    /// Reads a PEM private key in either form. A key written on one line with `\n` escapes (as
    /// an environment variable may hold it) is accepted too.
    pub fn from_pem(pem: &str) -> Result<AppKey, KeyError> {
        let trimmed = pem.trim();
        let unescaped;
        let text = if !trimmed.contains('\n') && trimmed.contains("\\n") {
            unescaped = trimmed.replace("\\n", "\n");
            unescaped.as_str()
        } else {
            trimmed
        };
        let format = if text.contains("-----BEGIN RSA PRIVATE KEY-----") {
            KeyFormat::Pkcs1
        } else if text.contains("-----BEGIN PRIVATE KEY-----") {
            KeyFormat::Pkcs8
        } else if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
            return Err(KeyError(
                "is an encrypted private key: give it unencrypted, as GitHub generated it \
                 (`openssl pkey -in encrypted.pem -out app.pem` decrypts it)"
                    .into(),
            ));
        } else if text.contains("-----BEGIN") {
            return Err(KeyError(
                "is a PEM block but not an RSA private key: give the `.pem` file GitHub \
                 generated for the App (`BEGIN RSA PRIVATE KEY`, or `BEGIN PRIVATE KEY` once \
                 converted to PKCS#8)"
                    .into(),
            ));
        } else {
            return Err(KeyError(
                "is not a PEM private key (there is no `-----BEGIN` line): give the content of \
                 the `.pem` file GitHub generated for the App, or its path as `private_key_file`"
                    .into(),
            ));
        };
        let broken = || {
            KeyError(format!(
                "does not parse as an RSA private key in {} PEM form",
                format.as_str()
            ))
        };
        let key = EncodingKey::from_rsa_pem(text.as_bytes()).map_err(|_| broken())?;
        // The key's numbers are only read when signing: sign once to know that it can.
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &serde_json::json!({}), &key)
            .map_err(|_| broken())?;
        Ok(AppKey { key, format })
    }

    /// The PEM form the key was given in.
    pub fn format(&self) -> KeyFormat {
        self.format
    }
}

/// Which installation of the App the client acts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Installation {
    /// This installation id, as configured.
    Id(u64),
    /// The App's installation on this organisation, looked up on first use.
    OfOrg(String),
}

/// A GitHub App and the installation the client acts as. `Debug` leaves the key out.
#[derive(Clone)]
pub struct GithubApp {
    /// The App id (`iss` of the JWT).
    pub app_id: u64,
    /// The installation whose tokens are used.
    pub installation: Installation,
    /// How long before its expiry a token is renewed (default [`DEFAULT_REFRESH_BEFORE`]).
    pub refresh_before: Duration,
    key: AppKey,
}

impl fmt::Debug for GithubApp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GithubApp")
            .field("app_id", &self.app_id)
            .field("installation", &self.installation)
            .field("refresh_before", &self.refresh_before)
            .field("key", &self.key)
            .finish()
    }
}

impl GithubApp {
    /// The App `app_id` with its private key, acting as `installation`.
    pub fn new(app_id: u64, key: AppKey, installation: Installation) -> Self {
        GithubApp {
            app_id,
            installation,
            refresh_before: DEFAULT_REFRESH_BEFORE,
            key,
        }
    }

    /// The private key.
    pub fn key(&self) -> &AppKey {
        &self.key
    }
}

/// What the client knows of its App credentials, for `/readyz`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppStatus {
    /// The App id.
    pub app_id: u64,
    /// The installation id, configured or found; `None` until found.
    pub installation_id: Option<u64>,
    /// When the current installation token expires (unix seconds), if there is one.
    pub token_expires_at: Option<i64>,
    /// Installation tokens obtained since the client was built.
    pub exchanges: u64,
    /// Why the last exchange failed, or why GitHub refused a token just issued, until an
    /// exchange succeeds.
    pub last_error: Option<String>,
}

#[derive(Serialize)]
struct Claims {
    iat: i64,
    exp: i64,
    iss: String,
}

/// `POST /app/installations/{id}/access_tokens` → 201. No `Debug`: it holds the token.
#[derive(Deserialize)]
struct TokenWire {
    token: String,
    expires_at: String,
}

#[derive(Deserialize)]
struct InstallationWire {
    id: u64,
}

/// An installation token as a header, with its expiry and a number that tells it from the others.
#[derive(Clone)]
struct Issued {
    header: HeaderValue,
    expires_at: i64,
    generation: u64,
}

impl Issued {
    fn credential(&self) -> Credential {
        Credential {
            header: self.header.clone(),
            installation_token: Some(self.generation),
        }
    }
}

#[derive(Default)]
struct State {
    token: Option<Issued>,
    installation_id: Option<u64>,
    generation: u64,
    /// Exchanges finished, and the error of the last one if it failed: callers that waited for
    /// a failed exchange share its error rather than each trying again.
    finished: u64,
    failure: Option<GithubError>,
    last_error: Option<String>,
}

/// The token cache of one client.
pub(crate) struct AppAuth {
    app: GithubApp,
    state: Mutex<State>,
    /// Held by the one caller exchanging a JWT for a token.
    flight: tokio::sync::Mutex<()>,
    exchanges: AtomicU64,
}

impl AppAuth {
    pub(crate) fn new(app: GithubApp) -> Self {
        let installation_id = match app.installation {
            Installation::Id(id) => Some(id),
            Installation::OfOrg(_) => None,
        };
        AppAuth {
            app,
            state: Mutex::new(State {
                installation_id,
                ..State::default()
            }),
            flight: tokio::sync::Mutex::new(()),
            exchanges: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn margin(&self) -> i64 {
        i64::try_from(self.app.refresh_before.as_secs()).unwrap_or(i64::MAX)
    }

    /// The installation token to send now, fetching a new one when the current one is due.
    pub(crate) async fn credential(&self, gh: &GitHub) -> Result<Credential, GithubError> {
        let margin = self.margin();
        let (seen, finished) = {
            let state = self.lock();
            (state.token.clone(), state.finished)
        };
        let now = gh.now_secs();
        if let Some(t) = &seen
            && t.expires_at.saturating_sub(margin) > now
        {
            return Ok(t.credential());
        }
        let _flight = match self.flight.try_lock() {
            Ok(guard) => guard,
            Err(_) => {
                // Another caller is fetching a new token: the old one serves meanwhile if it can.
                if let Some(t) = &seen
                    && t.expires_at - STILL_USABLE_SECS > now
                {
                    return Ok(t.credential());
                }
                self.flight.lock().await
            }
        };
        // The token may have been renewed while this caller waited for the flight, or the
        // exchange it waited for may have failed.
        let now = gh.now_secs();
        {
            let state = self.lock();
            if let Some(t) = &state.token {
                let renewed = seen.as_ref().is_none_or(|s| s.generation != t.generation);
                if t.expires_at.saturating_sub(margin) > now || (renewed && t.expires_at > now) {
                    return Ok(t.credential());
                }
            }
            if state.finished != finished
                && let Some(e) = &state.failure
            {
                return Err(e.clone());
            }
        }
        let fetched = self.fetch(gh).await;
        let mut state = self.lock();
        state.finished += 1;
        match fetched {
            Ok(t) => Ok(t.credential()),
            Err(e) => {
                tracing::warn!(app_id = self.app.app_id, error = %e, "no GitHub App installation token");
                state.failure = Some(e.clone());
                state.last_error = Some(e.to_string());
                Err(e)
            }
        }
    }

    /// GitHub refused the token of `generation`: it is not used again.
    pub(crate) fn rejected(&self, generation: u64) {
        let mut state = self.lock();
        if state
            .token
            .as_ref()
            .is_some_and(|t| t.generation == generation)
        {
            state.token = None;
        }
    }

    /// The error for a request refused again with a freshly issued token (kept for `/readyz`).
    pub(crate) fn token_refused(&self, answer: &Answer) -> GithubError {
        let target = match (&self.app.installation, self.lock().installation_id) {
            (Installation::Id(id), _) => format!("installation {id}"),
            (Installation::OfOrg(org), Some(id)) => {
                format!("the organisation `{org}` (installation {id})")
            }
            (Installation::OfOrg(org), None) => format!("the organisation `{org}`"),
        };
        let error = GithubError::Unauthorized(format!(
            "GitHub refused the App's installation token ({}) even right after issuing a new one: \
             check that the GitHub App {} is still installed on {target} and not suspended, and \
             that the installation may access the repositories",
            answer.message(),
            self.app.app_id
        ));
        self.lock().last_error = Some(error.to_string());
        error
    }

    pub(crate) fn status(&self) -> AppStatus {
        let state = self.lock();
        AppStatus {
            app_id: self.app.app_id,
            installation_id: state.installation_id,
            token_expires_at: state.token.as_ref().map(|t| t.expires_at),
            exchanges: self.exchanges.load(Ordering::Relaxed),
            last_error: state.last_error.clone(),
        }
    }

    /// A JWT as an `Authorization` header, valid from a minute ago for ten minutes.
    fn jwt(&self, now: i64) -> Result<HeaderValue, GithubError> {
        let iat = now - JWT_BACKDATE_SECS;
        let claims = Claims {
            iat,
            exp: iat + JWT_LIFETIME_SECS,
            iss: self.app.app_id.to_string(),
        };
        let jwt = jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.app.key.key)
            .map_err(|_| {
                GithubError::Decode("the GitHub App's private key cannot sign a JWT".into())
            })?;
        sensitive_bearer(&jwt)
    }

    /// Exchanges a new JWT for an installation token, finding the installation first if needed.
    async fn fetch(&self, gh: &GitHub) -> Result<Issued, GithubError> {
        let jwt = self.jwt(gh.now_secs())?;
        let known = self.lock().installation_id;
        let mut id = match known {
            Some(id) => id,
            None => self.discover(gh, &jwt).await?,
        };
        let mut answer = self.access_token(gh, &jwt, id).await?;
        // An installation found earlier may have been removed and the App installed anew.
        if answer.status == StatusCode::NOT_FOUND
            && known.is_some()
            && matches!(self.app.installation, Installation::OfOrg(_))
        {
            self.lock().installation_id = None;
            id = self.discover(gh, &jwt).await?;
            answer = self.access_token(gh, &jwt, id).await?;
        }
        match answer.status {
            StatusCode::CREATED | StatusCode::OK => {}
            StatusCode::UNAUTHORIZED => return Err(self.jwt_refused(&answer)),
            StatusCode::NOT_FOUND => {
                return Err(GithubError::Rejected {
                    status: 404,
                    message: format!(
                        "installation {id} of the GitHub App {} was not found ({}): check \
                         github.app.installation_id, or leave it out to use the organisation's \
                         installation",
                        self.app.app_id,
                        answer.message()
                    ),
                });
            }
            status => {
                return Err(GithubError::Rejected {
                    status: status.as_u16(),
                    message: format!(
                        "GitHub refused an installation token for installation {id} of the \
                         GitHub App {} ({})",
                        self.app.app_id,
                        answer.message()
                    ),
                });
            }
        }
        // Serde's message could quote the token: say only what could not be read.
        let wire: TokenWire = serde_json::from_slice(&answer.body).map_err(|_| {
            GithubError::Decode(
                "the installation token answer has no `token` and `expires_at`".into(),
            )
        })?;
        let expires_at = OffsetDateTime::parse(&wire.expires_at, &Rfc3339)
            .map_err(|_| {
                GithubError::Decode(format!(
                    "the installation token's `expires_at` ({}) is not a time",
                    wire.expires_at
                ))
            })?
            .unix_timestamp();
        let header = sensitive_bearer(&wire.token)?;
        let issued = {
            let mut state = self.lock();
            state.generation += 1;
            let issued = Issued {
                header,
                expires_at,
                generation: state.generation,
            };
            state.token = Some(issued.clone());
            state.installation_id = Some(id);
            state.failure = None;
            state.last_error = None;
            issued
        };
        self.exchanges.fetch_add(1, Ordering::Relaxed);
        tracing::info!(
            app_id = self.app.app_id,
            installation_id = id,
            expires_at = %wire.expires_at,
            "GitHub App installation token obtained"
        );
        Ok(issued)
    }

    async fn access_token(
        &self,
        gh: &GitHub,
        jwt: &HeaderValue,
        id: u64,
    ) -> Result<Answer, GithubError> {
        let url = gh.url(&format!("/app/installations/{id}/access_tokens"));
        gh.exchange_as(Method::POST, &url, jwt).await
    }

    /// The id of the App's installation on the organisation.
    async fn discover(&self, gh: &GitHub, jwt: &HeaderValue) -> Result<u64, GithubError> {
        let org = match &self.app.installation {
            Installation::Id(id) => return Ok(*id),
            Installation::OfOrg(org) => org,
        };
        let url = gh.url(&format!("/orgs/{}/installation", enc_path(org)));
        let answer = gh.exchange_as(Method::GET, &url, jwt).await?;
        match answer.status {
            StatusCode::OK => {
                let wire: InstallationWire = answer.json()?;
                self.lock().installation_id = Some(wire.id);
                tracing::info!(
                    app_id = self.app.app_id,
                    installation_id = wire.id,
                    org = %org,
                    "found the GitHub App's installation on the organisation"
                );
                Ok(wire.id)
            }
            StatusCode::UNAUTHORIZED => Err(self.jwt_refused(&answer)),
            StatusCode::NOT_FOUND => Err(GithubError::Rejected {
                status: 404,
                message: format!(
                    "the GitHub App {} is not installed on the organisation `{org}` ({}): install \
                     it there, or set github.app.installation_id",
                    self.app.app_id,
                    answer.message()
                ),
            }),
            _ => Err(answer.rejected()),
        }
    }

    fn jwt_refused(&self, answer: &Answer) -> GithubError {
        GithubError::Unauthorized(format!(
            "GitHub refused the App's JSON web token ({}): check that github.app.app_id ({}) is \
             the App's id, that github.app.private_key is one of its current private keys, and \
             that this machine's clock is right",
            answer.message(),
            self.app.app_id
        ))
    }
}

/// `Bearer <value>` as a header value marked sensitive (left out of `Debug` and HTTP/2 tables).
fn sensitive_bearer(value: &str) -> Result<HeaderValue, GithubError> {
    let mut header = HeaderValue::from_str(&format!("Bearer {value}")).map_err(|_| {
        GithubError::Decode(
            "a GitHub credential contains characters not allowed in a header".into(),
        )
    })?;
    header.set_sensitive(true);
    Ok(header)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_that_are_not_rsa_pem_say_why_without_quoting_them() {
        let not_pem = AppKey::from_pem("/run/secrets/app.pem").unwrap_err();
        assert!(
            not_pem.to_string().contains("private_key_file"),
            "{not_pem}"
        );
        let cert = AppKey::from_pem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----")
            .unwrap_err();
        assert!(
            cert.to_string().contains("not an RSA private key"),
            "{cert}"
        );
        let garbage =
            "-----BEGIN RSA PRIVATE KEY-----\nbm90IGEga2V5\n-----END RSA PRIVATE KEY-----";
        let broken = AppKey::from_pem(garbage).unwrap_err();
        assert!(broken.to_string().contains("PKCS#1"), "{broken}");
        assert!(!broken.to_string().contains("bm90"), "{broken}");
        let encrypted = AppKey::from_pem(
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----",
        )
        .unwrap_err();
        assert!(encrypted.to_string().contains("encrypted"), "{encrypted}");
    }

    #[test]
    fn a_bearer_header_is_sensitive() {
        let h = sensitive_bearer("ghs_secret").unwrap_or_else(|e| panic!("{e}"));
        assert!(h.is_sensitive());
        assert!(!format!("{h:?}").contains("ghs_secret"));
    }
}
