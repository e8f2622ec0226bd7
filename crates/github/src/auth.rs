//! What the client authenticates with: nothing, a fixed token, or a GitHub App's installation
//! tokens ([`crate::app`]). The transport asks the one [`Auth`] of a client for the
//! `Authorization` header of every request it sends to GitHub (REST and GraphQL alike).

use reqwest::header::HeaderValue;

use crate::GithubError;
use crate::app::{AppAuth, AppStatus, GithubApp};
use crate::transport::GitHub;

/// How a client authenticates, as `/readyz` and `check-config` name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// No credentials: only public data, at the lowest rate limit.
    Anonymous,
    /// A fixed token (`github.token`).
    Token,
    /// A GitHub App's installation tokens (`github.app`).
    App,
}

impl AuthMode {
    /// `none`, `token` or `app`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMode::Anonymous => "none",
            AuthMode::Token => "token",
            AuthMode::App => "app",
        }
    }
}

/// How a client authenticates and, for an App, what it knows of its installation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthStatus {
    /// The mode.
    pub mode: AuthMode,
    /// The App's state, in [`AuthMode::App`].
    pub app: Option<AppStatus>,
}

/// The `Authorization` header of one request.
#[derive(Clone)]
pub(crate) struct Credential {
    pub header: HeaderValue,
    /// Which installation token this is, when it is one: a 401 drops exactly that token.
    pub installation_token: Option<u64>,
}

/// The credentials of one client.
pub(crate) enum Auth {
    Anonymous,
    Token(HeaderValue),
    App(Box<AppAuth>),
}

impl Auth {
    /// From the options: the App when there is one, else the token, else nothing.
    pub(crate) fn new(token: Option<&str>, app: Option<&GithubApp>) -> Result<Auth, GithubError> {
        if let Some(app) = app {
            return Ok(Auth::App(Box::new(AppAuth::new(app.clone()))));
        }
        let Some(token) = token else {
            return Ok(Auth::Anonymous);
        };
        let mut value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
            GithubError::Decode(
                "the GitHub token contains characters not allowed in a header".into(),
            )
        })?;
        value.set_sensitive(true);
        Ok(Auth::Token(value))
    }

    /// The header for the next request; for an App, the current installation token (fetched
    /// first when it is due).
    pub(crate) async fn credential(&self, gh: &GitHub) -> Result<Option<Credential>, GithubError> {
        match self {
            Auth::Anonymous => Ok(None),
            Auth::Token(header) => Ok(Some(Credential {
                header: header.clone(),
                installation_token: None,
            })),
            Auth::App(app) => app.credential(gh).await.map(Some),
        }
    }

    pub(crate) fn status(&self) -> AuthStatus {
        match self {
            Auth::Anonymous => AuthStatus {
                mode: AuthMode::Anonymous,
                app: None,
            },
            Auth::Token(_) => AuthStatus {
                mode: AuthMode::Token,
                app: None,
            },
            Auth::App(app) => AuthStatus {
                mode: AuthMode::App,
                app: Some(app.status()),
            },
        }
    }
}
