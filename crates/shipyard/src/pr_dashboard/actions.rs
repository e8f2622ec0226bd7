//! What GitHub Actions gives a step: `GITHUB_*` variables and the event file.

use super::Failure;
use serde_json::Value;
use std::path::PathBuf;

/// The variables `pr-dashboard` reads. The token is kept out of `Debug`.
#[derive(Clone)]
pub struct ActionsEnv {
    token: Option<String>,
    /// `GITHUB_REPOSITORY` (`owner/name`).
    pub repository: Option<String>,
    /// `GITHUB_API_URL`, path kept (GitHub Enterprise serves `https://host/api/v3`).
    pub api_url: String,
    /// `GITHUB_SERVER_URL`.
    pub server_url: String,
    /// `GITHUB_RUN_ID`.
    pub run_id: Option<String>,
    /// `GITHUB_EVENT_NAME`.
    pub event_name: Option<String>,
    /// `GITHUB_EVENT_PATH`.
    pub event_path: Option<PathBuf>,
    /// `GITHUB_WORKSPACE`: where the configuration is looked for and commands run.
    pub workspace: Option<PathBuf>,
    /// `GITHUB_ACTOR`, recorded in the history.
    pub actor: Option<String>,
}

impl std::fmt::Debug for ActionsEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActionsEnv")
            .field("repository", &self.repository)
            .field("api_url", &self.api_url)
            .field("event_name", &self.event_name)
            .finish_non_exhaustive()
    }
}

impl ActionsEnv {
    /// Reads the variables through `var` (empty values count as unset).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Self {
        let get = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        ActionsEnv {
            token: get("GITHUB_TOKEN"),
            repository: get("GITHUB_REPOSITORY"),
            api_url: get("GITHUB_API_URL")
                .unwrap_or_else(|| "https://api.github.com".into())
                .trim_end_matches('/')
                .to_owned(),
            server_url: get("GITHUB_SERVER_URL")
                .unwrap_or_else(|| "https://github.com".into())
                .trim_end_matches('/')
                .to_owned(),
            run_id: get("GITHUB_RUN_ID"),
            event_name: get("GITHUB_EVENT_NAME"),
            event_path: get("GITHUB_EVENT_PATH").map(PathBuf::from),
            workspace: get("GITHUB_WORKSPACE").map(PathBuf::from),
            actor: get("GITHUB_ACTOR"),
        }
    }

    /// The token, or the error naming the variable.
    pub fn token(&self) -> Result<String, Failure> {
        self.token.clone().ok_or_else(|| {
            Failure::Input(
                "GITHUB_TOKEN is not set: pass it to the step (`env: {GITHUB_TOKEN: ${{ \
                 secrets.GITHUB_TOKEN }}}`)"
                    .into(),
            )
        })
    }

    /// `owner/name`, or the error naming the variable.
    pub fn repository(&self) -> Result<String, Failure> {
        let repo = self.repository.clone().ok_or_else(|| {
            Failure::Input("GITHUB_REPOSITORY is not set (owner/name of the repository)".into())
        })?;
        match repo.split_once('/') {
            Some((o, n)) if !o.is_empty() && !n.is_empty() && !n.contains('/') => Ok(repo),
            _ => Err(Failure::Input(format!(
                "GITHUB_REPOSITORY `{repo}` is not of the form owner/name"
            ))),
        }
    }

    /// The link to this workflow run, when the variables name one.
    pub fn run_link(&self) -> Option<String> {
        Some(format!(
            "{}/{}/actions/runs/{}",
            self.server_url,
            self.repository.as_deref()?,
            self.run_id.as_deref()?
        ))
    }

    /// The event payload.
    pub fn event(&self) -> Result<Value, Failure> {
        let path = self.event_path.as_ref().ok_or_else(|| {
            Failure::Input("GITHUB_EVENT_PATH is not set: `run` reads the event file".into())
        })?;
        let text = std::fs::read_to_string(path).map_err(|e| {
            Failure::Input(format!(
                "cannot read the event file {}: {e}",
                path.display()
            ))
        })?;
        serde_json::from_str(&text).map_err(|e| {
            Failure::Input(format!(
                "the event file {} is not JSON: {e}",
                path.display()
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> ActionsEnv {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        ActionsEnv::from_vars(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    #[test]
    fn the_run_link_and_defaults() {
        let e = env(&[
            ("GITHUB_REPOSITORY", "acme/infra"),
            ("GITHUB_RUN_ID", "42"),
            ("GITHUB_API_URL", "https://ghe.example.com/api/v3/"),
        ]);
        assert_eq!(
            e.run_link().as_deref(),
            Some("https://github.com/acme/infra/actions/runs/42")
        );
        assert_eq!(e.api_url, "https://ghe.example.com/api/v3");
        assert!(env(&[]).run_link().is_none());
    }

    #[test]
    fn missing_variables_are_named_and_the_token_is_never_shown() {
        let e = env(&[
            ("GITHUB_TOKEN", "ghs_secretvalue"),
            ("GITHUB_REPOSITORY", "acme"),
        ]);
        assert!(!format!("{e:?}").contains("ghs_secretvalue"));
        let Err(Failure::Input(m)) = e.repository() else {
            panic!("a bad repository is bad input")
        };
        assert!(m.contains("GITHUB_REPOSITORY"), "{m}");
        let Err(Failure::Input(m)) = env(&[("GITHUB_TOKEN", " ")]).token() else {
            panic!("an empty token is missing")
        };
        assert!(m.contains("GITHUB_TOKEN"), "{m}");
    }
}
