//! Signing in and out: `/auth/login`, `/auth/callback`, `/auth/dev-login`, `/auth/logout`.
//! The landing page `/` is the release list ([`crate::ui::releases`]).

use crate::AppState;
use crate::auth::session::Identity;
use crate::error::ApiError;
use askama::Template;
use axum::Form;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use shipyard_engine::LoginFlowRecord;

/// What the sign-in page says while no way of signing in is configured.
pub const NO_SSO: &str = "Single sign-on is not configured on this Shipyard, so nobody can sign in \
     to the web pages yet. An administrator turns it on by setting auth.oidc.issuer, \
     auth.oidc.client_id, auth.oidc.client_secret and auth.oidc.redirect_url in the \
     configuration (see the README's Sign-in section). Meanwhile the API works with the tokens \
     of auth.api_tokens.";

/// The sign-in routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/login", get(login))
        .route("/auth/dev-login", post(dev_login))
        .route("/auth/callback", get(callback))
        .route("/auth/logout", get(logout))
}

/// `next` if it is a path on this site, else `/`: a sign-in never sends anyone elsewhere.
pub fn local_path(next: Option<&str>) -> String {
    match next {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && !p.starts_with("/\\")
                && p.len() <= 2048
                && !p.chars().any(|c| c.is_control()) =>
        {
            p.to_owned()
        }
        _ => "/".to_owned(),
    }
}

/// A sign-in user of dev mode, as the page lists it.
struct DevChoice {
    name: String,
    roles: String,
}

/// The sign-in page: the dev-mode user list, or a message.
#[derive(Template)]
#[template(path = "signin.html")]
struct SignInPage<'a> {
    title: &'a str,
    css_href: String,
    message: Option<&'a str>,
    users: Vec<DevChoice>,
    next: String,
    retry: bool,
}

impl<'a> SignInPage<'a> {
    fn new(title: &'a str) -> Self {
        SignInPage {
            title,
            css_href: crate::ui::assets::href("shipyard.css"),
            message: None,
            users: Vec::new(),
            next: "/".to_owned(),
            retry: false,
        }
    }
}

fn redirect(location: &str, cookie: Option<String>) -> Response {
    let mut resp = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    if let Some(c) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        resp.headers_mut().insert(header::SET_COOKIE, c);
    }
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    let page = SignInPage {
        message: Some(message),
        retry: true,
        ..SignInPage::new(title)
    };
    crate::ui::html(status, page.render())
}

/// An error of the error model as a sign-in page: the same status, the message in words (an
/// internal error says only that something went wrong; the cause is in the log).
fn failure_page(e: ApiError) -> Response {
    let title = match e.status() {
        StatusCode::FORBIDDEN => "Sign-in refused",
        s if s.is_server_error() => "Sign-in unavailable",
        _ => "Sign-in failed",
    };
    let mut message = crate::ui::sentence(e.message());
    if e.status().is_server_error() {
        message.push_str(" Try again in a minute.");
    }
    error_page(e.status(), title, &message)
}

#[derive(Deserialize)]
struct LoginQuery {
    next: Option<String>,
}

/// Starts a sign-in: off to the identity provider, or (dev mode) the list of users.
async fn login(State(state): State<AppState>, Query(q): Query<LoginQuery>) -> Response {
    let next = local_path(q.next.as_deref());
    if let Some(oidc) = state.auth.oidc() {
        let started = match oidc.start().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "sign-in could not start");
                return error_page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Sign-in unavailable",
                    "The identity provider cannot be reached right now. Try again in a minute.",
                );
            }
        };
        let flow = LoginFlowRecord {
            state: started.state,
            nonce: started.nonce,
            pkce_verifier: started.pkce_verifier,
            next_path: next,
            created_at: state.engine.now(),
        };
        if let Err(e) = state.engine.start_sign_in(&flow).await {
            return failure_page(e.into());
        }
        return redirect(&started.url, None);
    }
    if !state.auth.dev_users().is_empty() {
        let page = SignInPage {
            users: state
                .auth
                .dev_users()
                .iter()
                .map(|u| DevChoice {
                    name: u.name.clone(),
                    roles: if u.roles.is_empty() {
                        "no roles".to_owned()
                    } else {
                        u.roles
                            .iter()
                            .map(|r| r.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    },
                })
                .collect(),
            next,
            ..SignInPage::new("Sign in")
        };
        return crate::ui::html(StatusCode::OK, page.render());
    }
    // Nothing to try again: the page says what an administrator has to set.
    let page = SignInPage {
        message: Some(NO_SSO),
        ..SignInPage::new("Single sign-on is not configured")
    };
    crate::ui::html(StatusCode::SERVICE_UNAVAILABLE, page.render())
}

#[derive(Deserialize)]
struct DevLoginForm {
    user: String,
    next: Option<String>,
}

/// Dev mode: signs in as one of `auth.dev_users`, through the ordinary session machinery.
async fn dev_login(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<DevLoginForm>,
) -> Response {
    let Some(sessions) = state.auth.sessions() else {
        return error_page(
            StatusCode::NOT_FOUND,
            "Not found",
            "Development sign-in is not enabled.",
        );
    };
    let Some(user) = state.auth.dev_users().iter().find(|u| u.name == form.user) else {
        return error_page(
            StatusCode::NOT_FOUND,
            "Not found",
            "Development sign-in is not enabled for that user.",
        );
    };
    if let Err(e) = sessions.check_origin(&headers) {
        return failure_page(e);
    }
    let identity = Identity {
        subject: format!("dev:{}", user.name),
        name: user.name.clone(),
        email: None,
        roles: user.roles.clone(),
        id_token: None,
        via: "dev",
    };
    match sessions.start(identity, &headers).await {
        Ok(cookie) => {
            tracing::info!(user = %user.name, "signed in (dev mode)");
            redirect(&local_path(form.next.as_deref()), Some(cookie))
        }
        Err(e) => failure_page(e),
    }
}

#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// The provider sends the browser back here with a code (or an error).
async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Response {
    let (Some(oidc), Some(sessions)) = (state.auth.oidc(), state.auth.sessions()) else {
        return error_page(
            StatusCode::NOT_FOUND,
            "Not found",
            "Sign-in with an identity provider is not configured.",
        );
    };
    if let Some(error) = q.error {
        // Only a sign-in this server started may report an error; it is spent either way, and
        // a crafted link cannot put words on this page.
        let known = match q.state.as_deref() {
            Some(st) => match state.engine.finish_sign_in(st).await {
                Ok(flow) => flow.is_some(),
                Err(e) => return failure_page(e.into()),
            },
            None => false,
        };
        if !known {
            return error_page(
                StatusCode::BAD_REQUEST,
                "Sign-in expired",
                "This sign-in has expired or was already used.",
            );
        }
        let detail = q.error_description.unwrap_or_default();
        return error_page(
            StatusCode::BAD_REQUEST,
            "Sign-in failed",
            &format!("The identity provider said: {error} {detail}"),
        );
    }
    let (Some(code), Some(flow_state)) = (q.code, q.state) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Sign-in failed",
            "The identity provider's answer is incomplete.",
        );
    };
    let flow = match state.engine.finish_sign_in(&flow_state).await {
        Ok(Some(f)) => f,
        Ok(None) => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "Sign-in expired",
                "This sign-in has expired or was already used.",
            );
        }
        Err(e) => return failure_page(e.into()),
    };
    let signed_in = match oidc.finish(&code, &flow.nonce, &flow.pkce_verifier).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "sign-in refused");
            return error_page(
                StatusCode::BAD_REQUEST,
                "Sign-in failed",
                "The identity provider's answer could not be verified.",
            );
        }
    };
    let roles: Vec<&str> = signed_in.roles.iter().map(|r| r.as_str()).collect();
    tracing::info!(subject = %signed_in.subject, roles = ?roles, "signed in");
    let identity = Identity {
        subject: signed_in.subject,
        name: signed_in.name,
        email: signed_in.email,
        roles: signed_in.roles,
        id_token: Some(signed_in.id_token),
        via: "sso",
    };
    match sessions.start(identity, &headers).await {
        Ok(cookie) => redirect(&flow.next_path, Some(cookie)),
        Err(e) => failure_page(e),
    }
}

/// Ends the session here, then at the provider when it offers that.
async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(sessions) = state.auth.sessions() else {
        return redirect("/", None);
    };
    let (ended, clear) = match sessions.end(&headers).await {
        Ok(x) => x,
        Err(e) => return failure_page(e),
    };
    let after = format!("{}/", sessions.settings().base_url);
    if let (Some(oidc), Some(record)) = (state.auth.oidc(), ended.as_ref())
        && let Some(url) = oidc
            .end_session_url(record.id_token.as_deref(), &after)
            .await
    {
        return redirect(&url, Some(clear));
    }
    redirect("/auth/login", Some(clear))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_must_stay_on_this_site() {
        assert_eq!(local_path(Some("/releases/abc?x=1")), "/releases/abc?x=1");
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/\\evil",
            "javascript:alert(1)",
            "",
            "/a\nb",
        ] {
            assert_eq!(local_path(Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(local_path(None), "/");
    }
}
