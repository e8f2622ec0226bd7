//! The validated configuration: defaults applied, secrets read, every value checked.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use shipyard_core::Role;

use crate::secret::Secret;

/// The whole configuration of a Shipyard server.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Config {
    /// Where the HTTP server listens and how it is reached from outside.
    pub server: ServerConfig,
    /// Where releases, approvals and tracking state are stored.
    pub database: DatabaseConfig,
    /// The GitHub organisation; `None` until configured (the UI and `/readyz` say so).
    pub github: Option<GithubConfig>,
    /// `github.app`, set only with `github`: the GitHub App Shipyard authenticates as instead
    /// of `github.token` (exactly one of the two is needed to serve).
    pub github_app: Option<GithubAppConfig>,
    /// Sign-in, roles and API tokens.
    pub auth: AuthConfig,
    /// Rules for sign-offs.
    pub approvals: ApprovalsConfig,
    /// How CI runs are found and followed.
    pub ci: CiConfig,
    /// Argo CD environments; `None` turns deployment tracking off.
    pub argocd: Option<ArgocdConfig>,
    /// The chat bot; `None` turns it off.
    pub mattermost: Option<MattermostConfig>,
    /// How the server logs.
    pub log: LogConfig,
}

/// The `log` section.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogConfig {
    /// `text` (default) or `json`: one JSON object per line.
    pub format: LogFormat,
    /// A `tracing` filter such as `info` or `shipyard=debug`; `RUST_LOG` wins when set.
    pub level: Option<String>,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// For people reading a terminal.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// The `server` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// The socket address to bind (default `127.0.0.1:8080`).
    pub listen: SocketAddr,
    /// The public base URL, without a trailing slash, for links in chat posts and PR comments
    /// (default `http://{listen}`).
    pub base_url: String,
    /// This process's name among the replicas sharing the database (default: the host name and
    /// process id), shown in `/readyz` as who leads what.
    pub replica: Option<String>,
    /// How long a stopping server waits for requests, event streams and background work to
    /// end before it exits anyway (default 20 s).
    pub shutdown_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        let listen = SocketAddr::from((Ipv4Addr::LOCALHOST, 8080));
        ServerConfig {
            listen,
            base_url: format!("http://{listen}"),
            replica: None,
            shutdown_timeout: Duration::from_secs(20),
        }
    }
}

/// The `database` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseConfig {
    /// `sqlite:…` or `postgres://…` (default `sqlite://./shipyard.db`). It may hold a password,
    /// so it is never printed in problems; do not log it either.
    pub url: String,
    /// The most pooled connections this process opens (default 10); see `docs/operations.md`
    /// for what else it holds.
    pub max_connections: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: "sqlite://./shipyard.db".to_owned(),
            max_connections: 10,
        }
    }
}

/// The `github` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GithubConfig {
    /// REST base URL without a trailing slash (default `https://api.github.com`).
    pub api_url: String,
    /// GraphQL endpoint when given explicitly; see [`GithubConfig::graphql_url`].
    pub graphql_url: Option<String>,
    /// GitHub's web address when given explicitly; see [`GithubConfig::web_url`].
    pub web_url: Option<String>,
    /// The organisation whose repositories are released.
    pub org: String,
    /// Token for the REST and GraphQL APIs; see also [`Config::github_app`].
    pub token: Option<Secret>,
    /// Shared secret for `POST /webhooks/github`; webhooks are off without it.
    pub webhook_secret: Option<Secret>,
    /// Which repositories of the organisation take part.
    pub repos: RepoFilter,
    /// Glob patterns of paths whose changes count as infrastructure changes.
    pub infra_paths: Vec<String>,
    /// Parallel requests to GitHub, 1 to 64 (default 8).
    pub concurrency: usize,
    /// Keep a status comment on each release pull request (default off).
    pub pr_comments: bool,
}

impl GithubConfig {
    /// The GraphQL endpoint: the explicit `graphql_url`, else derived from `api_url`
    /// (GitHub Enterprise's `…/api/v3` becomes `…/api/graphql`, any other base gets `/graphql`).
    pub fn graphql_url(&self) -> String {
        if let Some(url) = &self.graphql_url {
            return url.clone();
        }
        match self.api_url.strip_suffix("/api/v3") {
            Some(host) => format!("{host}/api/graphql"),
            None => format!("{}/graphql", self.api_url),
        }
    }

    /// Where people open repositories, compare views and pull requests: the explicit `web_url`,
    /// else `https://github.com` for `api.github.com`, the host of GitHub Enterprise's `…/api/v3`,
    /// or `api_url` itself.
    pub fn web_url(&self) -> String {
        if let Some(url) = &self.web_url {
            return url.trim_end_matches('/').to_owned();
        }
        if self.api_url == "https://api.github.com" {
            return "https://github.com".to_owned();
        }
        match self.api_url.strip_suffix("/api/v3") {
            Some(host) => host.to_owned(),
            None => self.api_url.clone(),
        }
    }
}

/// `github.app`: a GitHub App, whose installation tokens authenticate every GitHub call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GithubAppConfig {
    /// The App ID shown on the App's settings page (the `iss` of its JWTs).
    pub app_id: u64,
    /// The App's private key in PEM form: PKCS#1 (`BEGIN RSA PRIVATE KEY`, as GitHub hands it
    /// out) or PKCS#8 (`BEGIN PRIVATE KEY`).
    pub private_key: Secret,
    /// The file the key was read from, when it was given as `private_key_file`.
    pub private_key_file: Option<String>,
    /// The installation to act as; `None`: the App's installation on `github.org`, looked up.
    pub installation_id: Option<u64>,
}

impl GithubAppConfig {
    /// The key that gave [`GithubAppConfig::private_key`], for problems about it:
    /// `github.app.private_key` or `github.app.private_key_file`.
    pub fn private_key_path(&self) -> &'static str {
        if self.private_key_file.is_some() {
            "github.app.private_key_file"
        } else {
            "github.app.private_key"
        }
    }
}

/// `github.repos`: which repositories take part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoFilter {
    /// Glob patterns on repository names (default `["*"]`).
    pub include: Vec<String>,
    /// Glob patterns of repositories left out even when included.
    pub exclude: Vec<String>,
    /// Leave archived repositories out (default true).
    pub skip_archived: bool,
}

impl Default for RepoFilter {
    fn default() -> Self {
        RepoFilter {
            include: vec!["*".to_owned()],
            exclude: Vec::new(),
            skip_archived: true,
        }
    }
}

/// How people sign in to the web UI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// OpenID Connect (Keycloak or any other provider).
    #[default]
    Oidc,
    /// A one-click login page listing `auth.dev_users`; for the demo and tests, loopback only.
    Dev,
}

impl AuthMode {
    /// The name used in the configuration file.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMode::Oidc => "oidc",
            AuthMode::Dev => "dev",
        }
    }
}

/// The `auth` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthConfig {
    /// How people sign in (default `oidc`).
    pub mode: AuthMode,
    /// The OpenID Connect provider; see the crate docs for when it is required.
    pub oidc: Option<OidcConfig>,
    /// Which provider roles or groups grant which Shipyard role.
    pub roles: RoleMapping,
    /// Dotted paths of the ID-token claims that hold role or group names.
    pub role_claims: Vec<String>,
    /// Bearer tokens for the bot, CI jobs and scripts; they work in every mode.
    pub api_tokens: Vec<ApiTokenConfig>,
    /// How long a browser session lasts (default 12 h).
    pub session_ttl: Duration,
    /// Who can be signed in as in `dev` mode.
    pub dev_users: Vec<DevUser>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            mode: AuthMode::Oidc,
            oidc: None,
            roles: RoleMapping::default(),
            role_claims: [
                "realm_access.roles",
                "resource_access.shipyard.roles",
                "groups",
            ]
            .map(str::to_owned)
            .to_vec(),
            api_tokens: Vec::new(),
            session_ttl: Duration::from_secs(12 * 60 * 60),
            dev_users: Vec::new(),
        }
    }
}

/// `auth.oidc`: the OpenID Connect provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcConfig {
    /// Issuer URL; discovery is at `{issuer}/.well-known/openid-configuration`.
    pub issuer: String,
    /// The client id registered with the provider.
    pub client_id: String,
    /// The client secret, for confidential clients.
    pub client_secret: Option<Secret>,
    /// Where the provider sends the browser back (`…/auth/callback`).
    pub redirect_url: String,
    /// Scopes to ask for (default `openid profile email`).
    pub scopes: Vec<String>,
}

/// `auth.roles`: provider role or group names that grant each Shipyard role.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RoleMapping {
    /// Names that grant [`Role::DevApprover`].
    pub dev_approver: Vec<String>,
    /// Names that grant [`Role::QaApprover`].
    pub qa_approver: Vec<String>,
    /// Names that grant [`Role::Admin`].
    pub admin: Vec<String>,
}

impl RoleMapping {
    /// The provider names that grant `role`.
    pub fn names_for(&self, role: Role) -> &[String] {
        match role {
            Role::DevApprover => &self.dev_approver,
            Role::QaApprover => &self.qa_approver,
            Role::Admin => &self.admin,
        }
    }
}

/// One entry of `auth.api_tokens`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiTokenConfig {
    /// Who uses the token; the caller is recorded as `token:<name>`.
    pub name: String,
    /// Lowercase hex SHA-256 of the token, computed here when the token itself was given.
    pub token_sha256: String,
    /// Roles the token grants.
    pub roles: Vec<Role>,
}

/// One entry of `auth.dev_users`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevUser {
    /// The name shown on the dev login page and recorded as `dev:<name>`.
    pub name: String,
    /// Roles this user has.
    pub roles: Vec<Role>,
}

/// The `approvals` section.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ApprovalsConfig {
    /// Whether one person may give both sign-offs (default false).
    pub allow_same_user: bool,
}

/// The `ci` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CiConfig {
    /// Only runs of `.github/workflows/<this>` count (default `general.yaml`).
    pub workflow_file: String,
    /// The job whose name contains this, case-insensitively, has the chart version in its log.
    pub helm_job_pattern: String,
    /// A regular expression with one capture group: the chart version in the job log.
    pub chart_version_pattern: String,
    /// How often a run is polled (default 30 s).
    pub poll_interval: Duration,
    /// When a run still incomplete becomes `timeout` (default 24 h).
    pub poll_timeout: Duration,
    /// The least time to back off after a GitHub rate limit (default 5 min).
    pub rate_limit_backoff: Duration,
    /// Checks without a matching run before the status becomes `no_workflow` (default 3).
    pub no_workflow_after_checks: u32,
    /// How long a replica keeps the runs it claimed for a check before another may take them
    /// (default 2 min, and at least four poll intervals): after a crash, how long its checks wait.
    pub claim_lease: Duration,
}

impl Default for CiConfig {
    fn default() -> Self {
        CiConfig {
            workflow_file: "general.yaml".to_owned(),
            helm_job_pattern: "helm".to_owned(),
            chart_version_pattern: r"CHART_VERSION=(\S+)".to_owned(),
            poll_interval: Duration::from_secs(30),
            poll_timeout: Duration::from_secs(24 * 60 * 60),
            rate_limit_backoff: Duration::from_secs(5 * 60),
            no_workflow_after_checks: 3,
            claim_lease: Duration::from_secs(120),
        }
    }
}

/// Where the deployed version of an Argo CD application is read from.
pub use shipyard_core::deploy::VersionSource;

/// The `argocd` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgocdConfig {
    /// How often applications are read (default 30 s).
    pub poll_interval: Duration,
    /// How old a cached answer to the API may be (default 10 s).
    pub cache_ttl: Duration,
    /// The environment where "deployed" is judged (default `prod`); always one of `environments`.
    pub deploy_environment: String,
    /// The environments in the order of the file, which is the order the UI shows.
    pub environments: Vec<(String, ArgocdEnvironment)>,
    /// Where versions are read from (default `auto`).
    pub version_source: VersionSource,
    /// Repository name → Argo CD application name, where they differ.
    pub overrides: BTreeMap<String, String>,
    /// Shared secret of `POST /webhooks/argocd` (header `X-Shipyard-Secret`); the endpoint
    /// answers 404 while unset.
    pub webhook_secret: Option<Secret>,
    /// A label selector narrowing the list call (e.g. `team=payments`).
    pub selector: Option<String>,
}

impl ArgocdConfig {
    /// The environment called `name`.
    pub fn environment(&self, name: &str) -> Option<&ArgocdEnvironment> {
        self.environments
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, env)| env)
    }

    /// Environment names, in order.
    pub fn environment_names(&self) -> impl Iterator<Item = &str> {
        self.environments.iter().map(|(name, _)| name.as_str())
    }

    /// The application for `repo` in `environment`: the override or the repo name, plus the suffix.
    pub fn app_name(&self, repo: &str, environment: &ArgocdEnvironment) -> String {
        let base = self.overrides.get(repo).map_or(repo, String::as_str);
        format!("{base}{}", environment.app_suffix)
    }
}

/// One entry of `argocd.environments`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgocdEnvironment {
    /// The Argo CD server, without a trailing slash.
    pub url: String,
    /// Bearer token for the Argo CD API.
    pub token: Option<Secret>,
    /// Cloudflare Access client id, sent as `CF-Access-Client-Id`.
    pub cf_client_id: Option<String>,
    /// Cloudflare Access client secret, sent as `CF-Access-Client-Secret`.
    pub cf_client_secret: Option<Secret>,
    /// Appended to the application name (e.g. `-qa`); empty by default.
    pub app_suffix: String,
    /// The Argo CD project of the apps: sent as `?project=`, so a missing app answers 404
    /// rather than the 403 of a forbidden one.
    pub project: Option<String>,
    /// The namespace of the Application objects, for apps outside Argo CD's own namespace.
    pub app_namespace: Option<String>,
}

/// The `mattermost` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MattermostConfig {
    /// The Mattermost server, without a trailing slash.
    pub url: String,
    /// The bot account's access token.
    pub token: Secret,
    /// The bot's username, without `@`.
    pub bot_username: String,
    /// Channel ids that may drive the bot; empty means any.
    pub channels: Vec<String>,
    /// How often the bot looks again at things (defaults suit production).
    pub timing: ChatTiming,
}

/// The bot's intervals (`mattermost.summary_interval`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChatTiming {
    /// Least time between two edits of one release's summary post (default 3 s).
    pub summary_interval: Duration,
    /// How often the outbox is looked at when nothing wakes the sender (default 2 s).
    pub outbox_poll_interval: Duration,
    /// How often a replica asks for the bot's lead, and the leader checks it still holds it
    /// (default 10 s).
    pub lead_check_interval: Duration,
    /// Pause before a failed read-back of a channel after a reconnect is tried again (5 s).
    pub catch_up_retry: Duration,
    /// How long the sender keeps the notifications it claimed before another may take them
    /// (default 60 s): after a crash, how long they wait.
    pub outbox_lease: Duration,
}

impl Default for ChatTiming {
    fn default() -> Self {
        ChatTiming {
            summary_interval: Duration::from_secs(3),
            outbox_poll_interval: Duration::from_secs(2),
            lead_check_interval: Duration::from_secs(10),
            catch_up_retry: Duration::from_secs(5),
            outbox_lease: Duration::from_secs(60),
        }
    }
}
