//! From the file as written to the validated [`Config`]: defaults, secret files, checks.
//!
//! Every function here records what is wrong and carries on with a stand-in value, so that one
//! run reports every problem; a config with any problem is never handed out.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use sha2::{Digest, Sha256};
use shipyard_core::Role;

use crate::model::*;
use crate::problem::{Problems, nearest};
use crate::raw::*;
use crate::secret::Secret;

const DEFAULT_GITHUB_API: &str = "https://api.github.com";
const DEFAULT_GITHUB_CONCURRENCY: u64 = 8;
const DEFAULT_INFRA_PATHS: [&str; 6] = [
    "helm/**",
    "charts/**",
    "terraform/**",
    "**/Dockerfile",
    ".github/workflows/**",
    "k8s/**",
];
const DEFAULT_OIDC_SCOPES: [&str; 3] = ["openid", "profile", "email"];
const DEFAULT_DEPLOY_ENVIRONMENT: &str = "prod";
const DEFAULT_ARGOCD_POLL: Duration = Duration::from_secs(30);
const DEFAULT_ARGOCD_CACHE_TTL: Duration = Duration::from_secs(10);

pub(crate) fn config(raw: RawConfig, p: &mut Problems) -> Config {
    let server = server(raw.server.unwrap_or_default(), p);
    let database = database(raw.database.unwrap_or_default(), p);
    let (github, github_app) = match raw.github.map(|g| github(g, p)) {
        Some((github, app)) => (Some(github), app),
        None => (None, None),
    };
    Config {
        server,
        database,
        github,
        github_app,
        auth: auth(raw.auth, p),
        approvals: ApprovalsConfig {
            allow_same_user: raw
                .approvals
                .and_then(|a| a.allow_same_user)
                .unwrap_or_default(),
        },
        ci: ci(raw.ci.unwrap_or_default(), p),
        argocd: raw.argocd.map(|a| argocd(a, p)),
        mattermost: raw.mattermost.map(|m| mattermost(m, p)),
        log: {
            let raw = raw.log.unwrap_or_default();
            LogConfig {
                // The schema walk allowed only `text` and `json`.
                format: if raw.format.as_deref() == Some("json") {
                    LogFormat::Json
                } else {
                    LogFormat::Text
                },
                level: raw.level.filter(|l| !l.trim().is_empty()),
            }
        },
    }
}

fn server(raw: RawServer, p: &mut Problems) -> ServerConfig {
    let default = ServerConfig::default();
    let listen = match raw.listen {
        None => default.listen,
        Some(text) => match text.trim().parse::<SocketAddr>() {
            Ok(addr) => addr,
            Err(_) => {
                p.push(
                    "server.listen",
                    format!(
                        "`{text}` is not a socket address such as `127.0.0.1:8080` or `[::]:8080`"
                    ),
                );
                default.listen
            }
        },
    };
    let base_url = match raw.base_url {
        None => format!("http://{listen}"),
        Some(url) => http_url(&url, "server.base_url", p),
    };
    let replica = raw.replica.map(|r| r.trim().to_owned());
    if let Some(r) = &replica
        && (r.is_empty() || r.len() > 100 || r.chars().any(char::is_control))
    {
        p.push(
            "server.replica",
            "must be 1 to 100 characters without control characters",
        );
    }
    let shutdown_timeout = positive(
        raw.shutdown_timeout,
        default.shutdown_timeout,
        "server.shutdown_timeout",
        p,
    );
    ServerConfig {
        listen,
        base_url,
        replica,
        shutdown_timeout,
    }
}

fn database(raw: RawDatabase, p: &mut Problems) -> DatabaseConfig {
    let default = DatabaseConfig::default();
    let max_connections = match raw.max_connections {
        None => default.max_connections,
        Some(n @ 2..=1000) => n as u32,
        Some(n) => {
            p.push(
                "database.max_connections",
                format!("must be from 2 to 1000, not {n}"),
            );
            default.max_connections
        }
    };
    let Some(url) = raw.url else {
        return DatabaseConfig {
            max_connections,
            ..default
        };
    };
    let url = url.trim().to_owned();
    let known = ["sqlite:", "postgres://", "postgresql://"];
    if !known.iter().any(|prefix| url.starts_with(prefix)) {
        p.push(
            "database.url",
            "must start with `sqlite:`, `postgres://` or `postgresql://`",
        );
    }
    DatabaseConfig {
        url,
        max_connections,
    }
}

/// A duration longer than zero (`default` when not given).
fn positive(value: Option<Duration>, default: Duration, key: &str, p: &mut Problems) -> Duration {
    let d = value.unwrap_or(default);
    if d.is_zero() {
        p.push(key, "must be longer than zero");
    }
    d
}

fn github(raw: RawGithub, p: &mut Problems) -> (GithubConfig, Option<GithubAppConfig>) {
    let org = raw.org.map(|o| o.trim().to_owned()).unwrap_or_default();
    if org.is_empty() && !p.has_problem_under("github.org") {
        p.push(
            "github.org",
            "is required when the `github` section is present",
        );
    }
    let api_url = match raw.api_url {
        Some(url) => http_url(&url, "github.api_url", p),
        None => DEFAULT_GITHUB_API.to_owned(),
    };
    let graphql_url = raw
        .graphql_url
        .map(|url| http_url(&url, "github.graphql_url", p));
    let web_url = raw.web_url.map(|url| http_url(&url, "github.web_url", p));
    let concurrency = raw.concurrency.unwrap_or(DEFAULT_GITHUB_CONCURRENCY);
    if !(1..=64).contains(&concurrency) {
        p.push(
            "github.concurrency",
            format!("must be between 1 and 64, not {concurrency}"),
        );
    }
    let had_token = raw.token.is_some() || raw.token_file.is_some();
    if had_token && raw.app.is_some() {
        p.push(
            "github.app",
            "give either `github.token` (or `github.token_file`) or `github.app`, not both: \
             they are two ways for Shipyard to authenticate to GitHub",
        );
    }
    let app = raw.app.map(|a| github_app(a, p));
    let default_repos = RepoFilter::default();
    let config = GithubConfig {
        api_url,
        graphql_url,
        web_url,
        org,
        token: secret(raw.token, raw.token_file, "github.token", p),
        webhook_secret: secret(
            raw.webhook_secret,
            raw.webhook_secret_file,
            "github.webhook_secret",
            p,
        ),
        repos: RepoFilter {
            include: raw.repos.include.unwrap_or(default_repos.include),
            exclude: raw.repos.exclude.unwrap_or(default_repos.exclude),
            skip_archived: raw
                .repos
                .skip_archived
                .unwrap_or(default_repos.skip_archived),
        },
        infra_paths: raw
            .infra_paths
            .unwrap_or_else(|| DEFAULT_INFRA_PATHS.map(str::to_owned).to_vec()),
        concurrency: usize::try_from(concurrency).unwrap_or(usize::MAX),
        pr_comments: raw.pr_comments.unwrap_or(false),
    };
    (config, app)
}

/// `github.app`. Whether the key really parses as RSA is for the GitHub client to say; here it
/// must at least be a PEM private key, which catches a path given as the key.
fn github_app(raw: RawGithubApp, p: &mut Problems) -> GithubAppConfig {
    let app_id = match raw.app_id {
        Some(0) => {
            p.push(
                "github.app.app_id",
                "must be the App ID shown on the App's settings page, not 0",
            );
            0
        }
        Some(id) => id,
        None => {
            if !p.has_problem_under("github.app.app_id") {
                p.push(
                    "github.app.app_id",
                    "is required: the App ID shown on the App's settings page",
                );
            }
            0
        }
    };
    if raw.installation_id == Some(0) {
        p.push(
            "github.app.installation_id",
            "must be an installation id, not 0 (or leave it out to use the App's installation on github.org)",
        );
    }
    let private_key_file = raw.private_key_file.clone();
    let given = raw.private_key.is_some() || raw.private_key_file.is_some();
    let key = secret(
        raw.private_key,
        raw.private_key_file,
        "github.app.private_key",
        p,
    );
    if !given
        && !p.has_problem_under("github.app.private_key")
        && !p.has_problem_under("github.app.private_key_file")
    {
        p.push(
            "github.app.private_key",
            "is required: the App's private key in PEM form (or give \
             `github.app.private_key_file`, the path of the `.pem` file)",
        );
    }
    if let Some(key) = &key {
        let text = key.expose();
        let pem = [
            "-----BEGIN RSA PRIVATE KEY-----",
            "-----BEGIN PRIVATE KEY-----",
        ]
        .iter()
        .any(|begin| text.contains(begin));
        if !pem {
            let (path, hint) = if private_key_file.is_some() {
                (
                    "github.app.private_key_file",
                    "; give the `.pem` file GitHub generated for the App",
                )
            } else if text.trim_start().starts_with('/') || text.trim_end().ends_with(".pem") {
                (
                    "github.app.private_key",
                    "; this looks like a path, which belongs in `github.app.private_key_file`",
                )
            } else {
                ("github.app.private_key", "")
            };
            p.push(
                path,
                format!(
                    "is not an RSA private key in PEM form (`-----BEGIN RSA PRIVATE KEY-----` or \
                     `-----BEGIN PRIVATE KEY-----`){hint}"
                ),
            );
        }
    }
    GithubAppConfig {
        app_id,
        // A missing key has been reported above, so this stand-in never leaves the crate.
        private_key: key.unwrap_or_else(|| Secret::new("")),
        private_key_file,
        installation_id: raw.installation_id,
    }
}

fn auth(raw: Option<RawAuth>, p: &mut Problems) -> AuthConfig {
    let default = AuthConfig::default();
    // Without an `auth` section there is nothing to check: see the crate docs on sign-in.
    let Some(raw) = raw else {
        return default;
    };
    let mode = raw.mode.unwrap_or(default.mode);
    // A mistyped mode was reported already; judging the rest by the default would only add noise.
    let mode_known = !p.has_problem_under("auth.mode");
    // Without `auth.oidc` nobody signs in to the pages, but the API works with tokens: that is
    // a warning ([`crate::Config::warnings`]). A section with some keys needs all of them.
    let oidc = raw.oidc.map(|o| oidc(o, p));
    let dev_users = dev_users(raw.dev_users, p);
    if mode_known
        && mode == AuthMode::Dev
        && dev_users.is_empty()
        && !p.has_problem_under("auth.dev_users")
    {
        p.push(
            "auth.dev_users",
            "needs at least one user when `auth.mode` is `dev`",
        );
    }
    let session_ttl = raw.session_ttl.unwrap_or(default.session_ttl);
    if session_ttl.is_zero() {
        p.push("auth.session_ttl", "must be longer than zero");
    }
    AuthConfig {
        mode,
        oidc,
        roles: RoleMapping {
            dev_approver: raw.roles.dev_approver,
            qa_approver: raw.roles.qa_approver,
            admin: raw.roles.admin,
        },
        role_claims: raw.role_claims.unwrap_or(default.role_claims),
        api_tokens: api_tokens(raw.api_tokens, p),
        session_ttl,
        dev_users,
    }
}

fn oidc(raw: RawOidc, p: &mut Problems) -> OidcConfig {
    let issuer = required(raw.issuer, "auth.oidc.issuer", p)
        .map(|url| http_url(&url, "auth.oidc.issuer", p))
        .unwrap_or_default();
    let client_id = required(raw.client_id, "auth.oidc.client_id", p).unwrap_or_default();
    let redirect_url = required(raw.redirect_url, "auth.oidc.redirect_url", p)
        .map(|url| http_url(&url, "auth.oidc.redirect_url", p))
        .unwrap_or_default();
    let scopes = raw
        .scopes
        .unwrap_or_else(|| DEFAULT_OIDC_SCOPES.map(str::to_owned).to_vec());
    if !scopes.iter().any(|s| s == "openid") {
        p.push(
            "auth.oidc.scopes",
            "must include `openid` (OpenID Connect needs it)",
        );
    }
    OidcConfig {
        issuer,
        client_id,
        client_secret: secret(
            raw.client_secret,
            raw.client_secret_file,
            "auth.oidc.client_secret",
            p,
        ),
        redirect_url,
        scopes,
    }
}

fn api_tokens(raw: Vec<RawApiToken>, p: &mut Problems) -> Vec<ApiTokenConfig> {
    let mut tokens: Vec<ApiTokenConfig> = Vec::with_capacity(raw.len());
    for (i, token) in raw.into_iter().enumerate() {
        let path = format!("auth.api_tokens[{i}]");
        let name = required(token.name, &format!("{path}.name"), p).unwrap_or_default();
        if let Some(j) = tokens
            .iter()
            .position(|t| !name.is_empty() && t.name == name)
        {
            p.push(
                format!("{path}.name"),
                format!("`{name}` is already the name of auth.api_tokens[{j}]"),
            );
        }

        let given = [
            token.token_sha256.is_some(),
            token.token.is_some(),
            token.token_file.is_some(),
        ]
        .into_iter()
        .filter(|g| *g)
        .count();
        let token_sha256 = if given != 1 {
            let verb = if given == 0 { "needs" } else { "takes only" };
            p.push(
                path.as_str(),
                format!("{verb} one of `token_sha256`, `token` or `token_file`"),
            );
            String::new()
        } else if let Some(hash) = token.token_sha256 {
            let hash = hash.trim().to_ascii_lowercase();
            if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                p.push(
                    format!("{path}.token_sha256"),
                    "must be 64 hexadecimal characters (the SHA-256 of the token)",
                );
            }
            hash
        } else {
            secret(token.token, token.token_file, &format!("{path}.token"), p)
                .map(|s| hex::encode(Sha256::digest(s.expose().as_bytes())))
                .unwrap_or_default()
        };
        if let Some(j) = tokens
            .iter()
            .position(|t| !token_sha256.is_empty() && t.token_sha256 == token_sha256)
        {
            p.push(
                path.as_str(),
                format!("has the same token as auth.api_tokens[{j}]"),
            );
        }

        tokens.push(ApiTokenConfig {
            name,
            token_sha256,
            roles: roles(token.roles, &format!("{path}.roles"), p),
        });
    }
    tokens
}

fn dev_users(raw: Vec<RawDevUser>, p: &mut Problems) -> Vec<DevUser> {
    let mut users: Vec<DevUser> = Vec::with_capacity(raw.len());
    for (i, user) in raw.into_iter().enumerate() {
        let path = format!("auth.dev_users[{i}]");
        let name = required(user.name, &format!("{path}.name"), p).unwrap_or_default();
        if let Some(j) = users
            .iter()
            .position(|u| !name.is_empty() && u.name == name)
        {
            p.push(
                format!("{path}.name"),
                format!("`{name}` is already the name of auth.dev_users[{j}]"),
            );
        }
        users.push(DevUser {
            name,
            roles: roles(user.roles, &format!("{path}.roles"), p),
        });
    }
    users
}

fn roles(raw: Vec<String>, path: &str, p: &mut Problems) -> Vec<Role> {
    let mut roles = Vec::with_capacity(raw.len());
    for (i, name) in raw.iter().enumerate() {
        match name.trim().parse::<Role>() {
            Ok(role) if !roles.contains(&role) => roles.push(role),
            Ok(_) => {}
            Err(_) => p.push_suggest(
                format!("{path}[{i}]"),
                format!(
                    "`{name}` is not a role; roles are {}",
                    Role::ALL.map(Role::as_str).join(", ")
                ),
                nearest(name.trim(), Role::ALL.map(Role::as_str)).map(str::to_owned),
            ),
        }
    }
    roles
}

fn ci(raw: RawCi, p: &mut Problems) -> CiConfig {
    let default = CiConfig::default();
    let chart_version_pattern = raw
        .chart_version_pattern
        .unwrap_or(default.chart_version_pattern);
    match regex::Regex::new(&chart_version_pattern) {
        Ok(re) => {
            let groups = re.captures_len() - 1;
            if groups != 1 {
                p.push(
                    "ci.chart_version_pattern",
                    format!("needs exactly one capture group (the version), it has {groups}"),
                );
            }
        }
        Err(e) => {
            // The regex error spans several lines (pattern, caret, reason); keep the reason.
            let text = e.to_string();
            let reason = text
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .trim()
                .trim_start_matches("error:")
                .trim();
            p.push(
                "ci.chart_version_pattern",
                format!("is not a valid regular expression: {reason}"),
            );
        }
    }
    let poll_interval = raw.poll_interval.unwrap_or(default.poll_interval);
    if poll_interval.is_zero() {
        p.push("ci.poll_interval", "must be longer than zero");
    }
    let poll_timeout = raw.poll_timeout.unwrap_or(default.poll_timeout);
    if poll_timeout.is_zero() {
        p.push("ci.poll_timeout", "must be longer than zero");
    }
    let checks = raw
        .no_workflow_after_checks
        .unwrap_or(u64::from(default.no_workflow_after_checks));
    let no_workflow_after_checks = match u32::try_from(checks) {
        Ok(n) if n >= 1 => n,
        _ => {
            p.push(
                "ci.no_workflow_after_checks",
                format!("must be at least 1 and at most {}, not {checks}", u32::MAX),
            );
            default.no_workflow_after_checks
        }
    };
    let workflow_file = raw.workflow_file.unwrap_or(default.workflow_file);
    if workflow_file.trim().is_empty() || workflow_file.contains('/') {
        p.push(
            "ci.workflow_file",
            "must be a file name under .github/workflows, such as `general.yaml`",
        );
    }
    CiConfig {
        workflow_file,
        helm_job_pattern: raw.helm_job_pattern.unwrap_or(default.helm_job_pattern),
        chart_version_pattern,
        poll_interval,
        poll_timeout,
        rate_limit_backoff: raw.rate_limit_backoff.unwrap_or(default.rate_limit_backoff),
        no_workflow_after_checks,
        claim_lease: positive(raw.claim_lease, default.claim_lease, "ci.claim_lease", p),
    }
}

fn argocd(raw: RawArgocd, p: &mut Problems) -> ArgocdConfig {
    let environments: Vec<(String, ArgocdEnvironment)> = raw
        .environments
        .0
        .into_iter()
        .map(|(name, env)| {
            let path = format!("argocd.environments.{name}");
            if name.trim().is_empty() {
                p.push(path.as_str(), "environment names must not be empty");
            }
            let built = argocd_environment(env, &path, p);
            (name, built)
        })
        .collect();

    let deploy_environment = raw
        .deploy_environment
        .map(|d| d.trim().to_owned())
        .unwrap_or_else(|| DEFAULT_DEPLOY_ENVIRONMENT.to_owned());
    if p.has_problem_under("argocd.environments")
        || p.has_problem_under("argocd.deploy_environment")
    {
        // The list of environments is incomplete; comparing against it would mislead.
    } else if environments.is_empty() {
        p.push(
            "argocd.environments",
            "needs at least one environment when the `argocd` section is present",
        );
    } else if !environments.iter().any(|(n, _)| *n == deploy_environment) {
        let names: Vec<&str> = environments.iter().map(|(n, _)| n.as_str()).collect();
        p.push_suggest(
            "argocd.deploy_environment",
            format!(
                "`{deploy_environment}` is not one of the configured environments ({})",
                names.join(", ")
            ),
            nearest(&deploy_environment, names.iter().copied()).map(str::to_owned),
        );
    }

    let poll_interval = raw.poll_interval.unwrap_or(DEFAULT_ARGOCD_POLL);
    if poll_interval.is_zero() {
        p.push("argocd.poll_interval", "must be longer than zero");
    }
    let overrides: BTreeMap<String, String> = raw.overrides;
    for (repo, app) in &overrides {
        if app.trim().is_empty() {
            p.push(
                format!("argocd.overrides.{repo}"),
                "must name an application",
            );
        }
    }
    ArgocdConfig {
        poll_interval,
        cache_ttl: raw.cache_ttl.unwrap_or(DEFAULT_ARGOCD_CACHE_TTL),
        deploy_environment,
        environments,
        version_source: raw.version_source.unwrap_or_default(),
        overrides,
        webhook_secret: secret(
            raw.webhook_secret,
            raw.webhook_secret_file,
            "argocd.webhook_secret",
            p,
        ),
        selector: raw
            .selector
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty()),
    }
}

fn argocd_environment(
    raw: RawArgocdEnvironment,
    path: &str,
    p: &mut Problems,
) -> ArgocdEnvironment {
    let url = required(raw.url, &format!("{path}.url"), p)
        .map(|url| http_url(&url, &format!("{path}.url"), p))
        .unwrap_or_default();
    let cf_client_secret = secret(
        raw.cf_client_secret,
        raw.cf_client_secret_file,
        &format!("{path}.cf_client_secret"),
        p,
    );
    let cf_client_id = raw.cf_client_id.filter(|id| !id.trim().is_empty());
    if cf_client_id.is_some() != cf_client_secret.is_some() {
        p.push(
            path,
            "`cf_client_id` and `cf_client_secret` go together: give both or neither",
        );
    }
    ArgocdEnvironment {
        url,
        token: secret(raw.token, raw.token_file, &format!("{path}.token"), p),
        cf_client_id,
        cf_client_secret,
        app_suffix: raw.app_suffix.unwrap_or_default(),
        project: raw
            .project
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty()),
        app_namespace: raw
            .app_namespace
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty()),
    }
}

fn mattermost(raw: RawMattermost, p: &mut Problems) -> MattermostConfig {
    let url = required(raw.url, "mattermost.url", p)
        .map(|url| http_url(&url, "mattermost.url", p))
        .unwrap_or_default();
    let had_token = raw.token.is_some() || raw.token_file.is_some();
    let token = secret(raw.token, raw.token_file, "mattermost.token", p);
    if !had_token
        && !p.has_problem_under("mattermost.token")
        && !p.has_problem_under("mattermost.token_file")
    {
        p.push(
            "mattermost.token",
            "is required when the `mattermost` section is present (or give `mattermost.token_file`)",
        );
    }
    let bot_username = required(raw.bot_username, "mattermost.bot_username", p)
        .map(|name| name.trim_start_matches('@').to_owned())
        .unwrap_or_default();
    let default = ChatTiming::default();
    let mut interval = |value: Option<Duration>, default: Duration, key: &str| {
        let d = value.unwrap_or(default);
        if d.is_zero() {
            p.push(format!("mattermost.{key}"), "must be longer than zero");
        }
        d
    };
    let timing = ChatTiming {
        summary_interval: interval(
            raw.summary_interval,
            default.summary_interval,
            "summary_interval",
        ),
        outbox_poll_interval: interval(
            raw.outbox_poll_interval,
            default.outbox_poll_interval,
            "outbox_poll_interval",
        ),
        lead_check_interval: interval(
            raw.lead_check_interval,
            default.lead_check_interval,
            "lead_check_interval",
        ),
        catch_up_retry: interval(raw.catch_up_retry, default.catch_up_retry, "catch_up_retry"),
        outbox_lease: interval(raw.outbox_lease, default.outbox_lease, "outbox_lease"),
    };
    MattermostConfig {
        url,
        // A missing token has been reported above, so this stand-in never leaves the crate.
        token: token.unwrap_or_else(|| Secret::new("")),
        bot_username,
        channels: raw.channels,
        timing,
    }
}

/// A non-empty, trimmed value, or a problem saying it is required.
fn required(value: Option<String>, path: &str, p: &mut Problems) -> Option<String> {
    match value.map(|v| v.trim().to_owned()) {
        Some(v) if !v.is_empty() => Some(v),
        Some(_) => {
            p.push(path, "must not be empty");
            None
        }
        None => {
            if !p.has_problem_under(path) {
                p.push(path, "is required");
            }
            None
        }
    }
}

/// Checks an http(s) URL and returns it without a trailing slash. The value is not echoed in
/// the problem, in case it carries credentials.
fn http_url(value: &str, path: &str, p: &mut Problems) -> String {
    let trimmed = value.trim().trim_end_matches('/').to_owned();
    match url::Url::parse(&trimmed) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {}
        Ok(_) => p.push(path, "must be an http:// or https:// URL"),
        Err(e) => p.push(path, format!("must be an http:// or https:// URL ({e})")),
    }
    trimmed
}

/// A secret given inline as `<key>` or read from the file named by `<key>_file`.
fn secret(
    inline: Option<String>,
    file: Option<String>,
    path: &str,
    p: &mut Problems,
) -> Option<Secret> {
    let file_key = format!("{path}_file");
    match (inline, file) {
        (Some(_), Some(_)) => {
            p.push(
                path,
                format!("give either `{path}` or `{file_key}`, not both"),
            );
            None
        }
        (Some(value), None) => {
            if value.is_empty() {
                p.push(path, "must not be empty");
                return None;
            }
            Some(Secret::new(value))
        }
        (None, Some(name)) => match std::fs::read_to_string(&name) {
            Ok(content) => {
                let value = content.trim_end_matches(['\n', '\r']);
                if value.is_empty() {
                    p.push(file_key, format!("the secret file `{name}` is empty"));
                    return None;
                }
                Some(Secret::new(value))
            }
            Err(e) => {
                p.push(
                    file_key,
                    format!("cannot read the secret file `{name}`: {e}"),
                );
                None
            }
        },
        (None, None) => None,
    }
}
