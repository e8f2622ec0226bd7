//! Shipyard's configuration: one YAML file, overridden by environment variables, with secrets
//! optionally read from files, checked all at once into a typed [`Config`].
//!
//! This crate reads and validates; it is not where configuration is *used*. It opens no
//! connections, does not probe URLs or tokens, does not find the file on disk (the binary
//! decides which path to pass, e.g. [`DEFAULT_FILE`]) and never reads the process environment
//! itself: callers pass the variables in, so tests stay hermetic.
//!
//! # Layout
//! - `env.rs`: lays `SHIPYARD_<PATH>` variables (and the `CI_POLL_*` aliases) over the file's tree.
//! - `schema.rs`: the table of every valid key and the walk that reports unknown keys, wrong
//!   types and bad durations, all of them, before serde sees the tree.
//! - `raw.rs`: the file as written (everything optional), read section by section.
//! - `build.rs`: defaults, `_file` secrets and the checks that need more than one key.
//! - `model.rs`: the public, validated types; `secret.rs`: [`Secret`]; `problem.rs`: errors.
//!
//! # Rules
//! - Environment: `SHIPYARD_GITHUB__TOKEN` sets `github.token`; names are case-insensitive and
//!   become lowercase keys (so environment names and repo names set this way are lowercase).
//!   Only variables with `__` after the prefix are configuration. Lists may be comma-separated
//!   (`a,b`) or YAML/JSON (`[a, b]`); sections and lists of mappings take YAML/JSON
//!   (`SHIPYARD_AUTH__API_TOKENS='[{name: ci, token: x}]'`). Variables win over the file.
//! - Secrets: `x_file` names a file whose content (trailing newline trimmed) is the secret;
//!   relative names are relative to the working directory. Giving both `x` and `x_file` is an
//!   error. No problem message ever contains a secret value, nor `database.url` (it may hold a
//!   password), nor any URL (it may carry credentials).
//! - Optional sections: a missing `github`, `argocd` or `mattermost` is `None`; a `null` section
//!   counts as missing.
//! - Sign-in: `auth.oidc` is optional. Without it (in the default `oidc` mode) nobody can sign
//!   in to the pages, but the API works with `auth.api_tokens`: a bot-and-API deployment, or a
//!   first start before single sign-on is set up. [`Config::warnings`] says so. An `auth.oidc`
//!   section with some keys must have all the required ones (each missing key is an error).
//!   `mode: dev` requires `auth.dev_users`. Before serving, call [`Config::validate_for_serve`],
//!   which requires a loopback `server.listen` in `dev` mode.
//! - Environment names under `argocd.environments` keep the order of the file.
//! - GitHub credentials: `github.token` (or `token_file`) or a GitHub App in `github.app`
//!   (`app_id`, `private_key` or `private_key_file`, optional `installation_id`), not both; a
//!   key that is not an RSA private key in PEM form is a problem at the key that gave it. Serving
//!   needs one of the two ([`Config::validate_for_serve`]). Whether the key really parses is
//!   checked where it is used (the GitHub client, and so `check-config`).

mod build;
mod env;
mod model;
pub mod pr_dashboard;
mod problem;
mod raw;
mod schema;
mod secret;

use std::path::Path;

use serde_yaml_ng::Value;

pub use model::{
    ApiTokenConfig, ApprovalsConfig, ArgocdConfig, ArgocdEnvironment, AuthConfig, AuthMode,
    ChatTiming, CiConfig, Config, DatabaseConfig, DevUser, GithubAppConfig, GithubConfig,
    LogConfig, LogFormat, MattermostConfig, OidcConfig, RepoFilter, RoleMapping, ServerConfig,
    VersionSource,
};
pub use pr_dashboard::{
    DASHBOARD_CONFIG_FILE, DashboardConfigError, load_dashboard_config, parse_dashboard_config,
};
pub use problem::{ConfigErrors, ConfigProblem};
pub use secret::Secret;

/// The file `shipyard` looks for in the working directory when no `--config` is given.
pub const DEFAULT_FILE: &str = "shipyard.yaml";

/// A complete, commented example configuration that loads without problems.
pub fn example_yaml() -> &'static str {
    include_str!("example.yaml")
}

impl Config {
    /// Loads from an optional YAML file plus environment variables (pass `std::env::vars()`).
    pub fn load(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigErrors> {
        let Some(path) = path else {
            return from_tree(Value::Null, env);
        };
        match std::fs::read_to_string(path) {
            Ok(text) => Config::from_yaml_str(&text, env),
            Err(e) => Err(ConfigErrors(vec![ConfigProblem {
                path: String::new(),
                message: format!("cannot read the configuration file {}: {e}", path.display()),
                suggestion: None,
            }])),
        }
    }

    /// Parses YAML text plus environment variables, with the same rules as [`Config::load`].
    pub fn from_yaml_str(
        yaml: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigErrors> {
        match serde_yaml_ng::from_str::<Value>(yaml) {
            Ok(tree) => from_tree(tree, env),
            Err(e) => Err(ConfigErrors(vec![ConfigProblem {
                path: String::new(),
                message: format!("the configuration is not valid YAML: {e}"),
                suggestion: None,
            }])),
        }
    }

    /// Settings that let Shipyard run but leave something out, for `check-config` and the log
    /// at start: single sign-on not configured, GitHub not configured.
    pub fn warnings(&self) -> Vec<ConfigProblem> {
        let mut warnings = Vec::new();
        if self.auth.mode == AuthMode::Oidc && self.auth.oidc.is_none() {
            warnings.push(ConfigProblem {
                path: "auth.oidc".into(),
                message: format!(
                    "is not set: single sign-on is off, so nobody can sign in to the web pages \
                     ({} API token(s) work); set auth.oidc.issuer, auth.oidc.client_id, \
                     auth.oidc.client_secret and auth.oidc.redirect_url to turn it on",
                    self.auth.api_tokens.len()
                ),
                suggestion: None,
            });
        }
        if self.github.is_none() {
            warnings.push(ConfigProblem {
                path: "github".into(),
                message: "is not set: releases cannot be created until github.org and \
                          github.token (or github.app) are configured"
                    .into(),
                suggestion: None,
            });
        }
        warnings
    }

    /// The extra checks `serve` needs: in `dev` mode a `server.listen` on a loopback address;
    /// GitHub credentials (`github.token` or `github.app`) when `github` is set; a token for
    /// every Argo CD environment.
    pub fn validate_for_serve(&self) -> Result<(), ConfigErrors> {
        let mut problems = problem::Problems::default();
        match self.auth.mode {
            AuthMode::Dev if !self.server.listen.ip().is_loopback() => problems.push(
                "auth.mode",
                format!(
                    "`dev` signs anyone in with one click, so it is only allowed when `server.listen` is a loopback address, not {}",
                    self.server.listen
                ),
            ),
            _ => {}
        }
        if let Some(github) = &self.github
            && github.token.is_none()
            && self.github_app.is_none()
        {
            problems.push(
                "github.token",
                "is required to serve, or a GitHub App instead: give `github.token` (or \
                 `github.token_file`), or `github.app` with `app_id` and `private_key` (or \
                 `private_key_file`)",
            );
        }
        if let Some(argocd) = &self.argocd {
            for (name, env) in &argocd.environments {
                if env.token.is_none() {
                    problems.push(
                        format!("argocd.environments.{name}.token"),
                        "is required to serve: an Argo CD API token of an account allowed \
                         `applications, get` (or give `token_file`)",
                    );
                }
            }
        }
        problems.into_result(())
    }
}

fn from_tree(
    mut tree: Value,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Config, ConfigErrors> {
    let mut problems = problem::Problems::default();
    env::apply(&mut tree, env, &mut problems);
    let checked = schema::check_root(tree, &mut problems);
    let raw = raw::read_sections(checked, &mut problems);
    let config = build::config(raw, &mut problems);
    problems.into_result(config)
}
