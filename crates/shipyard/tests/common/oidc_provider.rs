//! A real OpenID provider on loopback that behaves like a Keycloak realm, for end-to-end tests:
//! `e2e/oidc-provider/provider.mjs` (npm `oidc-provider`) run with Node.
//!
//! The provider's issuer is `http://127.0.0.1:<port>/realms/acme`; its endpoints carry Keycloak's
//! paths (`…/protocol/openid-connect/auth`, `/token`, `/userinfo`, `/certs`, `/logout`). Its login
//! page has Keycloak's element ids (`#username`, `#password`, `#kc-login`); any password is
//! accepted for the users in [`ACCOUNTS`]. Consent is granted without a page. Logout with an
//! `id_token_hint` redirects to `post_logout_redirect_uri` without asking.
//!
//! `scripts/setup-e2e` installs what it needs. Without it, [`available`] says so (and panics
//! when `CI` is set).

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::oneshot;

/// How long the provider may take to print `READY`.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The realm in the issuer's path.
pub const REALM: &str = "acme";

/// A user of the realm, as `provider.mjs` defines it.
#[derive(Clone, Copy, Debug)]
pub struct Account {
    /// The login name (`preferred_username`).
    pub username: &'static str,
    /// The subject (`sub`): a fixed UUID, as Keycloak's are, not the username.
    pub sub: &'static str,
    /// `realm_access.roles` (claim left out when empty).
    pub realm_roles: &'static [&'static str],
    /// `resource_access.<client_id>.roles` (entry left out when empty). Every user also has
    /// Keycloak's `resource_access.account.roles` (`manage-account`, `view-profile`).
    pub client_roles: &'static [&'static str],
    /// `groups`, full paths (claim left out when empty).
    pub groups: &'static [&'static str],
}

/// The realm's users.
pub const ACCOUNTS: [Account; 4] = [
    Account {
        username: "dev-lead",
        sub: "0b7f0d2e-4a51-4c8e-9d3a-1f6e2c9b7a01",
        realm_roles: &["dev-lead"],
        client_roles: &[],
        groups: &[],
    },
    Account {
        username: "qa-lead",
        sub: "1c8e1e3f-5b62-4d9f-8e4b-2a7f3d0c8b02",
        realm_roles: &["qa"],
        client_roles: &[],
        groups: &["/release/qa"],
    },
    Account {
        username: "admin",
        sub: "2d9f2f40-6c73-4ea0-9f5c-3b804e1d9c03",
        realm_roles: &[],
        client_roles: &["release-admin"],
        groups: &[],
    },
    Account {
        username: "nobody",
        sub: "3ea03051-7d84-4fb1-a06d-4c915f2ead04",
        realm_roles: &[],
        client_roles: &[],
        groups: &[],
    },
];

/// The account with this username; panics for an unknown one.
pub fn account(username: &str) -> &'static Account {
    ACCOUNTS
        .iter()
        .find(|a| a.username == username)
        .unwrap_or_else(|| panic!("no account {username:?} in the test realm"))
}

/// Where the role claims (`realm_access`, `resource_access`, `groups`) are issued.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RoleClaims {
    /// In the ID token, at userinfo and in the access token.
    #[default]
    Everywhere,
    /// In the access token only: what Keycloak's default role mappers do.
    AccessTokenOnly,
}

/// How to configure the provider's one client.
#[derive(Clone, Debug)]
pub struct OidcOptions {
    pub client_id: String,
    pub client_secret: String,
    /// Registered redirect URIs (at least one).
    pub redirect_uris: Vec<String>,
    /// Registered post-logout redirect URIs.
    pub post_logout_redirect_uris: Vec<String>,
    pub role_claims: RoleClaims,
}

impl OidcOptions {
    /// One client with one redirect URI and one post-logout redirect URI, roles everywhere.
    pub fn new(
        client_id: &str,
        client_secret: &str,
        redirect_uri: &str,
        post_logout_redirect_uri: &str,
    ) -> Self {
        Self {
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            redirect_uris: vec![redirect_uri.to_owned()],
            post_logout_redirect_uris: vec![post_logout_redirect_uri.to_owned()],
            role_claims: RoleClaims::Everywhere,
        }
    }
}

/// The provider's folder: `e2e/oidc-provider` in the workspace.
pub fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../e2e/oidc-provider")
}

fn missing() -> Option<String> {
    let node = std::process::Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !node.is_ok_and(|s| s.success()) {
        return Some("`node` is not on PATH".to_owned());
    }
    let package = dir().join("node_modules/oidc-provider/package.json");
    if !package.is_file() {
        return Some(format!("{} is missing", package.display()));
    }
    None
}

/// Makes sure the provider can run here (Node and the provider's `node_modules`); panics with
/// the reason when it cannot, so that a sign-in test never passes without its provider.
/// `scripts/test` installs what it needs.
pub fn require() {
    if let Some(why) = missing() {
        panic!(
            "the sign-in tests need the OpenID provider: {why}; run scripts/test (or scripts/setup-e2e)"
        );
    }
}

/// A running provider. The Node process is killed when this is dropped.
pub struct OidcProvider {
    /// `http://127.0.0.1:<port>/realms/acme`.
    pub issuer: String,
    /// `http://127.0.0.1:<port>`.
    pub origin: String,
    pub client_id: String,
    pub client_secret: String,
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
    http: reqwest::Client,
}

impl OidcProvider {
    /// See [`require`].
    pub fn require() {
        require()
    }

    /// Starts a provider with one confidential client, roles in every token.
    pub async fn start(
        client_id: &str,
        client_secret: &str,
        redirect_uri: &str,
        post_logout_redirect_uri: &str,
    ) -> OidcProvider {
        Self::start_with(OidcOptions::new(
            client_id,
            client_secret,
            redirect_uri,
            post_logout_redirect_uri,
        ))
        .await
    }

    /// Starts a provider on a free loopback port and waits until it is listening.
    pub async fn start_with(options: OidcOptions) -> OidcProvider {
        shipyard::install_crypto_provider();
        let role_claims = match options.role_claims {
            RoleClaims::Everywhere => "id_token,userinfo,access_token",
            RoleClaims::AccessTokenOnly => "access_token",
        };
        let mut child = Command::new("node")
            .arg("provider.mjs")
            .current_dir(dir())
            .env("OIDC_PORT", "0")
            .env("OIDC_CLIENT_ID", &options.client_id)
            .env("OIDC_CLIENT_SECRET", &options.client_secret)
            .env("OIDC_REDIRECT_URI", options.redirect_uris.join(","))
            .env(
                "OIDC_POST_LOGOUT_REDIRECT_URI",
                options.post_logout_redirect_uris.join(","),
            )
            .env("OIDC_ROLE_CLAIMS", role_claims)
            .env_remove("DEBUG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start node provider.mjs in {}: {e}", dir().display())
            });

        let log = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready_rx) = oneshot::channel();
        if let Some(stdout) = child.stdout.take() {
            tokio::spawn(collect(stdout, Arc::clone(&log), Some(ready_tx)));
        }
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(collect(stderr, Arc::clone(&log), None));
        }

        let issuer = match tokio::time::timeout(START_TIMEOUT, ready_rx).await {
            Ok(Ok(issuer)) => issuer,
            Ok(Err(_)) => {
                let status = child.wait().await;
                panic!(
                    "OpenID provider exited before READY ({status:?}):\n{}",
                    lines(&log).join("\n")
                )
            }
            Err(_) => panic!(
                "OpenID provider not READY within {START_TIMEOUT:?}:\n{}",
                lines(&log).join("\n")
            ),
        };
        let origin = issuer
            .strip_suffix(&format!("/realms/{REALM}"))
            .unwrap_or_else(|| panic!("unexpected issuer {issuer}"))
            .to_owned();
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("reqwest client");
        OidcProvider {
            issuer,
            origin,
            client_id: options.client_id,
            client_secret: options.client_secret,
            child,
            log,
            http,
        }
    }

    /// `{issuer}/.well-known/openid-configuration`.
    pub fn discovery_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.issuer)
    }

    /// The provider's counters: `authorization`, `login`, `login_failed`, `token`, `userinfo`,
    /// `end_session` (requests to the logout endpoint), `end_session_success` (completed logouts).
    pub async fn stats(&self) -> serde_json::Value {
        let url = format!("{}/test/stats", self.origin);
        let response = self
            .http
            .get(&url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        assert!(
            response.status().is_success(),
            "GET {url}: {}",
            response.status()
        );
        response
            .json()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"))
    }

    /// How many requests reached the end-session (logout) endpoint.
    pub async fn end_session_count(&self) -> u64 {
        self.stat("end_session").await
    }

    /// How many logouts the provider completed (session ended, redirect sent).
    pub async fn end_session_success_count(&self) -> u64 {
        self.stat("end_session_success").await
    }

    async fn stat(&self, name: &str) -> u64 {
        let stats = self.stats().await;
        stats[name]
            .as_u64()
            .unwrap_or_else(|| panic!("no counter {name} in {stats}"))
    }

    /// Everything the provider printed so far: one line per request (`METHOD /path STATUS`),
    /// warnings and errors.
    pub fn log(&self) -> Vec<String> {
        lines(&self.log)
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = lines(&self.log);
            let tail = &log[log.len().saturating_sub(200)..];
            eprintln!(
                "--- OpenID provider log ({}) ---\n{}",
                self.issuer,
                tail.join("\n")
            );
        }
        let _ = self.child.start_kill();
    }
}

fn lines(log: &Mutex<Vec<String>>) -> Vec<String> {
    log.lock().map(|l| l.clone()).unwrap_or_default()
}

/// Reads lines into `log`; the first `READY <issuer>` line is sent on `ready`.
async fn collect<R: AsyncRead + Unpin>(
    stream: R,
    log: Arc<Mutex<Vec<String>>>,
    mut ready: Option<oneshot::Sender<String>>,
) {
    let mut reader = BufReader::new(stream).lines();
    while let Ok(Some(line)) = reader.next_line().await {
        if let Some(issuer) = line.strip_prefix("READY ")
            && let Some(tx) = ready.take()
        {
            let _ = tx.send(issuer.trim().to_owned());
        }
        if let Ok(mut log) = log.lock() {
            log.push(line);
        }
    }
}
