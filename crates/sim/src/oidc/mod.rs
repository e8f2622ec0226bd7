//! Simulated OpenID provider: a Keycloak-like realm on loopback that tests script while it runs.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use shipyard_sim::oidc::{SimOidc, SimUser, Tamper};
//! let sim = SimOidc::start("shipyard", Some("s3cret"), "http://127.0.0.1:8080/auth/callback").await?;
//! sim.set_user(SimUser::new("5b1c…", "ada").realm_roles(["dev-lead"]));
//! let issuer = sim.issuer(); // point a relying party here
//! sim.set_tamper(Tamper::Expired); // the next ID tokens are expired
//! # let _ = issuer; Ok(()) }
//! ```
//!
//! The issuer is `http://127.0.0.1:PORT/realms/acme` and the endpoints carry Keycloak's paths
//! (`…/protocol/openid-connect/auth`, `/token`, `/userinfo`, `/certs`, `/logout`). One
//! confidential (or public) client is registered, with one exact redirect URI.
//!
//! It is not Keycloak: there is no login form (the authorization endpoint signs in the user set
//! with [`SimOidc::set_user`] at once), no refresh tokens, no consent, and nothing is persisted.
//! PKCE with `S256` is required, as a Keycloak client with "PKCE method: S256" does.

mod keys;
mod server;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use keys::SigningKey;

/// The realm in the issuer's path.
pub const REALM: &str = "acme";

/// How long issued tokens live (Keycloak's default access token lifespan).
pub const TOKEN_LIFETIME_SECS: u64 = 300;

/// Which tokens carry the role claims (`realm_access`, `resource_access`, `groups`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimsIn {
    /// In the ID token.
    pub id_token: bool,
    /// In the userinfo answer.
    pub userinfo: bool,
    /// In the access token.
    pub access_token: bool,
}

impl ClaimsIn {
    /// Keycloak's default role mappers: the access token only.
    pub const KEYCLOAK_DEFAULT: ClaimsIn = ClaimsIn {
        id_token: false,
        userinfo: false,
        access_token: true,
    };
    /// Only the ID token.
    pub const ID_TOKEN_ONLY: ClaimsIn = ClaimsIn {
        id_token: true,
        userinfo: false,
        access_token: false,
    };
    /// Only the userinfo answer.
    pub const USERINFO_ONLY: ClaimsIn = ClaimsIn {
        id_token: false,
        userinfo: true,
        access_token: false,
    };
    /// Everywhere.
    pub const EVERYWHERE: ClaimsIn = ClaimsIn {
        id_token: true,
        userinfo: true,
        access_token: true,
    };
}

impl Default for ClaimsIn {
    fn default() -> Self {
        ClaimsIn::KEYCLOAK_DEFAULT
    }
}

/// The person the provider signs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimUser {
    /// `sub`.
    pub sub: String,
    /// `name`.
    pub name: String,
    /// `preferred_username`.
    pub preferred_username: String,
    /// `email`.
    pub email: String,
    /// `realm_access.roles`.
    pub realm_roles: Vec<String>,
    /// `resource_access.<client_id>.roles`.
    pub client_roles: Vec<String>,
    /// `groups` (full paths such as `/release/qa`).
    pub groups: Vec<String>,
    /// Where the role claims are placed.
    pub claims_in: ClaimsIn,
}

impl SimUser {
    /// A user without roles whose name and e-mail derive from `username`, with role claims
    /// where Keycloak puts them by default.
    pub fn new(sub: &str, username: &str) -> SimUser {
        SimUser {
            sub: sub.to_owned(),
            name: format!("{username} (sim)"),
            preferred_username: username.to_owned(),
            email: format!("{username}@example.com"),
            realm_roles: Vec::new(),
            client_roles: Vec::new(),
            groups: Vec::new(),
            claims_in: ClaimsIn::KEYCLOAK_DEFAULT,
        }
    }

    /// Sets `realm_access.roles`.
    pub fn realm_roles<S: Into<String>>(mut self, roles: impl IntoIterator<Item = S>) -> Self {
        self.realm_roles = roles.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the client roles.
    pub fn client_roles<S: Into<String>>(mut self, roles: impl IntoIterator<Item = S>) -> Self {
        self.client_roles = roles.into_iter().map(Into::into).collect();
        self
    }

    /// Sets `groups`.
    pub fn groups<S: Into<String>>(mut self, groups: impl IntoIterator<Item = S>) -> Self {
        self.groups = groups.into_iter().map(Into::into).collect();
        self
    }

    /// Sets where the role claims go.
    pub fn claims_in(mut self, claims_in: ClaimsIn) -> Self {
        self.claims_in = claims_in;
        self
    }
}

/// A defect deliberately put into issued tokens, to test that a relying party refuses them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tamper {
    /// Tokens are as they should be.
    #[default]
    None,
    /// One bit of the signature is flipped.
    BadSignature,
    /// `exp` (and `iat`) lie in the past.
    Expired,
    /// `aud` and `azp` name another client.
    WrongAudience,
    /// `nonce` is not the one of the authorization request.
    WrongNonce,
    /// `iss` names another realm.
    WrongIssuer,
    /// Signed with a key that is not in the JWKS, under the published key's `kid`.
    SignedWithOtherKey,
    /// `"alg": "none"` and no signature.
    AlgNone,
}

impl Tamper {
    /// Every defect (not [`Tamper::None`]).
    pub const ALL: [Tamper; 7] = [
        Tamper::BadSignature,
        Tamper::Expired,
        Tamper::WrongAudience,
        Tamper::WrongNonce,
        Tamper::WrongIssuer,
        Tamper::SignedWithOtherKey,
        Tamper::AlgNone,
    ];
}

/// One request to the end-session (logout) endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndSessionCall {
    /// `id_token_hint`.
    pub id_token_hint: Option<String>,
    /// `post_logout_redirect_uri`.
    pub post_logout_redirect_uri: Option<String>,
    /// `client_id`.
    pub client_id: Option<String>,
}

/// One request to the authorization endpoint that reached the user (client and redirect URI
/// were valid).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizeRequest {
    /// `scope`.
    pub scope: Option<String>,
    /// `state`.
    pub state: Option<String>,
    /// `nonce`.
    pub nonce: Option<String>,
    /// `code_challenge`.
    pub code_challenge: Option<String>,
    /// `code_challenge_method`.
    pub code_challenge_method: Option<String>,
}

/// Tokens handed out by the token endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedTokens {
    /// The access token (a JWT).
    pub access_token: String,
    /// The ID token, tampered as set at the time.
    pub id_token: String,
}

/// The registered client.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    pub client_id: String,
    pub client_secret: Option<String>,
    pub redirect_uri: String,
}

/// A code waiting to be exchanged.
#[derive(Debug, Clone)]
pub(crate) struct PendingCode {
    pub user: SimUser,
    pub redirect_uri: String,
    pub nonce: Option<String>,
    pub code_challenge: String,
    pub scope: String,
    pub session_id: String,
    pub auth_time: u64,
    pub expires_at: u64,
}

/// What an access token stands for, for userinfo.
#[derive(Debug, Clone)]
pub(crate) struct AccessGrant {
    pub user: SimUser,
    pub expires_at: u64,
}

/// Everything tests change while the server runs.
#[derive(Debug)]
pub(crate) struct State {
    pub client: Client,
    pub user: Option<SimUser>,
    pub tamper: Tamper,
    pub access_tamper: Tamper,
    pub userinfo_subject: Option<String>,
    pub deny: Option<(String, String)>,
    pub codes: HashMap<String, PendingCode>,
    pub grants: HashMap<String, AccessGrant>,
    pub issued: Vec<IssuedTokens>,
    pub authorize_requests: Vec<AuthorizeRequest>,
    pub end_session_calls: Vec<EndSessionCall>,
}

/// Shared state behind the server and the scripting handle.
#[derive(Debug)]
pub(crate) struct Inner {
    pub issuer: String,
    pub key: SigningKey,
    other_key: OnceLock<Option<SigningKey>>,
    pub state: Mutex<State>,
}

impl Inner {
    /// Locks the state, carrying on with the data if a panicking holder poisoned it.
    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A key that is not in the JWKS, made when first needed.
    pub fn other_key(&self) -> Option<&SigningKey> {
        self.other_key
            .get_or_init(|| SigningKey::generate(random_id(12)).ok())
            .as_ref()
    }

    /// `{issuer}/protocol/openid-connect/{name}`.
    pub fn endpoint(&self, name: &str) -> String {
        format!("{}/protocol/openid-connect/{name}", self.issuer)
    }
}

/// A running simulated OpenID provider; the server stops when this is dropped or shut down.
pub struct SimOidc {
    inner: Arc<Inner>,
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for SimOidc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimOidc")
            .field("issuer", &self.inner.issuer)
            .finish_non_exhaustive()
    }
}

pub(crate) fn random_id(bytes: usize) -> String {
    use rand::Rng as _;
    let mut buf = vec![0u8; bytes];
    rand::rng().fill(&mut buf[..]);
    keys::b64(&buf)
}

impl SimOidc {
    /// Binds 127.0.0.1 on a free port and serves a realm with one client: `client_secret`
    /// `None` makes it a public client (PKCE only). `redirect_uri` must be matched exactly.
    pub async fn start(
        client_id: &str,
        client_secret: Option<&str>,
        redirect_uri: &str,
    ) -> std::io::Result<SimOidc> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let key = tokio::task::spawn_blocking(|| SigningKey::generate(random_id(12)))
            .await
            .map_err(std::io::Error::other)??;
        let inner = Arc::new(Inner {
            issuer: format!("http://{addr}/realms/{REALM}"),
            key,
            other_key: OnceLock::new(),
            state: Mutex::new(State {
                client: Client {
                    client_id: client_id.to_owned(),
                    client_secret: client_secret.map(str::to_owned),
                    redirect_uri: redirect_uri.to_owned(),
                },
                user: None,
                tamper: Tamper::None,
                access_tamper: Tamper::None,
                userinfo_subject: None,
                deny: None,
                codes: HashMap::new(),
                grants: HashMap::new(),
                issued: Vec::new(),
                authorize_requests: Vec::new(),
                end_session_calls: Vec::new(),
            }),
        });
        let app = server::router(inner.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = rx.await;
            });
            if let Err(e) = serve.await {
                tracing::warn!(error = %e, "simulated OpenID provider stopped");
            }
        });
        tracing::debug!(issuer = %inner.issuer, "simulated OpenID provider listening");
        Ok(SimOidc {
            inner,
            addr,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// The issuer, `http://127.0.0.1:PORT/realms/acme`; discovery is below it.
    pub fn issuer(&self) -> String {
        self.inner.issuer.clone()
    }

    /// Socket address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The authorization endpoint.
    pub fn authorization_endpoint(&self) -> String {
        self.inner.endpoint("auth")
    }

    /// The token endpoint.
    pub fn token_endpoint(&self) -> String {
        self.inner.endpoint("token")
    }

    /// The userinfo endpoint.
    pub fn userinfo_endpoint(&self) -> String {
        self.inner.endpoint("userinfo")
    }

    /// The JWKS.
    pub fn jwks_uri(&self) -> String {
        self.inner.endpoint("certs")
    }

    /// The end-session (logout) endpoint.
    pub fn end_session_endpoint(&self) -> String {
        self.inner.endpoint("logout")
    }

    /// The key id of the published signing key.
    pub fn kid(&self) -> String {
        self.inner.key.kid.clone()
    }

    /// Replaces the client's only valid redirect URI (for when the relying party's address is
    /// known only after the provider started).
    pub fn set_redirect_uri(&self, redirect_uri: &str) {
        redirect_uri.clone_into(&mut self.inner.state().client.redirect_uri);
    }

    /// Who the authorization endpoint signs in from now on (claims are taken at that moment).
    pub fn set_user(&self, user: SimUser) {
        self.inner.state().user = Some(user);
    }

    /// Signs nobody in: the authorization endpoint answers `error=login_required`.
    pub fn clear_user(&self) {
        self.inner.state().user = None;
    }

    /// The defect put into every ID token issued from now on.
    pub fn set_tamper(&self, tamper: Tamper) {
        self.inner.state().tamper = tamper;
    }

    /// The defect put into every access token issued from now on ([`Tamper::WrongNonce`]
    /// changes nothing there). Userinfo still answers for such a token.
    pub fn set_access_token_tamper(&self, tamper: Tamper) {
        self.inner.state().access_tamper = tamper;
    }

    /// Userinfo answers with this `sub` instead of the user's own (`None` turns this off).
    pub fn set_userinfo_subject(&self, sub: Option<&str>) {
        self.inner.state().userinfo_subject = sub.map(str::to_owned);
    }

    /// The person refuses: the authorization endpoint redirects back with this `error` and
    /// `error_description` (`None` turns this off).
    pub fn set_denial(&self, denial: Option<(&str, &str)>) {
        self.inner.state().deny = denial.map(|(e, d)| (e.to_owned(), d.to_owned()));
    }

    /// Calls of the end-session endpoint, oldest first.
    pub fn end_session_calls(&self) -> Vec<EndSessionCall> {
        self.inner.state().end_session_calls.clone()
    }

    /// Authorization requests with a valid client and redirect URI, oldest first.
    pub fn authorize_requests(&self) -> Vec<AuthorizeRequest> {
        self.inner.state().authorize_requests.clone()
    }

    /// Tokens issued by the token endpoint, oldest first.
    pub fn issued_tokens(&self) -> Vec<IssuedTokens> {
        self.inner.state().issued.clone()
    }

    /// Stops serving and waits (up to five seconds) for the server task to end.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
}

impl Drop for SimOidc {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
