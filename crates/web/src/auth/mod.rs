//! Who is calling: API tokens, and sessions from sign-in (OpenID Connect, or one-click dev users).
//!
//! - [`tokens`]: bearer tokens, stored as SHA-256 and compared in constant time.
//! - [`session`]: the session cookie, its rows in the database, expiry and CSRF rules.
//! - [`oidc`]: the authorization-code flow with PKCE against the configured provider, and the
//!   mapping of token claims to Shipyard roles.

pub mod oidc;
pub mod session;
pub mod tokens;

pub use session::{SessionSettings, Sessions};
pub use tokens::{TokenEntry, token_sha256_hex};

use shipyard_config::DevUser;
use shipyard_engine::Caller;
use std::sync::Arc;

/// Checks credentials of every kind. Cheap to clone.
#[derive(Clone, Default)]
pub struct Authenticator {
    tokens: Arc<Vec<TokenEntry>>,
    sessions: Option<Sessions>,
    oidc: Option<Arc<oidc::Oidc>>,
    dev_users: Arc<Vec<DevUser>>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("tokens", &self.tokens.len())
            .field("sessions", &self.sessions.is_some())
            .field("oidc", &self.oidc.is_some())
            .field("dev_users", &self.dev_users.len())
            .finish()
    }
}

impl Authenticator {
    /// An authenticator that accepts these API tokens (and no sessions).
    pub fn new(tokens: Vec<TokenEntry>) -> Self {
        Authenticator {
            tokens: Arc::new(tokens),
            ..Default::default()
        }
    }

    /// Accepts session cookies as well.
    pub fn with_sessions(mut self, sessions: Sessions) -> Self {
        self.sessions = Some(sessions);
        self
    }

    /// Signs people in through an OpenID Connect provider.
    pub fn with_oidc(mut self, oidc: oidc::Oidc) -> Self {
        self.oidc = Some(Arc::new(oidc));
        self
    }

    /// Signs people in with one click as one of these users (dev mode, loopback only).
    pub fn with_dev_users(mut self, users: Vec<DevUser>) -> Self {
        self.dev_users = Arc::new(users);
        self
    }

    /// The caller a bearer token stands for.
    pub fn by_token(&self, token: &str) -> Option<Caller> {
        tokens::by_token(&self.tokens, token)
    }

    /// Session handling, when enabled.
    pub fn sessions(&self) -> Option<&Sessions> {
        self.sessions.as_ref()
    }

    /// The OpenID Connect client, when configured.
    pub fn oidc(&self) -> Option<&oidc::Oidc> {
        self.oidc.as_deref()
    }

    /// How people sign in to the pages: `oidc`, `dev` or `none`.
    pub fn sign_in(&self) -> &'static str {
        if self.oidc.is_some() {
            "oidc"
        } else if !self.dev_users.is_empty() {
            "dev"
        } else {
            "none"
        }
    }

    /// The one-click users of dev mode (empty otherwise).
    pub fn dev_users(&self) -> &[DevUser] {
        &self.dev_users
    }
}
