//! Extractors: JSON bodies that fail in the error model's words, and the calling user.

use crate::auth::Authenticator;
use crate::error::ApiError;
use axum::extract::{FromRef, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use bytes::Bytes;
use serde::de::DeserializeOwned;
use shipyard_engine::Caller;

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// A JSON body. Syntax errors are `invalid_json`; a wrong field is `invalid_input` naming the field.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::too_large()
            } else {
                ApiError::invalid_json(format!("could not read the request body: {rejection}"))
            }
        })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Parses a JSON body, which must be an object, with errors that name the offending field.
///
/// serde would read a struct from a JSON array too (`[null, null]` as an empty patch), so
/// anything but an object is refused before it is deserialized.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::invalid_json(
            "the request body is empty; send a JSON object",
        ));
    }
    let starts_object = bytes
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'{');
    if !starts_object {
        return Err(
            match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
                Ok(_) => ApiError::invalid_input("the request body must be a JSON object"),
                Err(e) => ApiError::invalid_json(format!("the body is not valid JSON: {e}")),
            },
        );
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data if path != "." => {
                ApiError::invalid_input(format!("{path}: {inner}"))
            }
            serde_json::error::Category::Data => ApiError::invalid_input(inner.to_string()),
            _ => ApiError::invalid_json(format!("the body is not valid JSON: {inner}")),
        }
    })
}

/// The authenticated caller. Rejects with 401 when there are no valid credentials.
///
/// A request with a bad token is refused outright rather than treated as anonymous, so a typo
/// in a token never silently downgrades a script. A session cookie counts only for safe methods
/// unless the request also carries the session's CSRF token and comes from Shipyard's origin.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    /// Who and with which roles.
    pub caller: Caller,
    /// How they signed in: `token` or `sso` (a session, from the provider or dev sign-in).
    pub via: &'static str,
    /// E-mail, for sessions that know it.
    pub email: Option<String>,
    /// The session's CSRF token, for pages and scripts running in the browser.
    pub csrf_token: Option<String>,
}

impl<S> FromRequestParts<S> for CurrentUser
where
    S: Send + Sync,
    Authenticator: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let auth = Authenticator::from_ref(state);
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if let Some(header) = header {
            let token = header
                .strip_prefix("Bearer ")
                .or_else(|| header.strip_prefix("bearer "))
                .unwrap_or("");
            return auth
                .by_token(token.trim())
                .map(|caller| CurrentUser {
                    caller,
                    via: "token",
                    email: None,
                    csrf_token: None,
                })
                .ok_or_else(ApiError::unauthenticated);
        }
        let Some(sessions) = auth.sessions() else {
            return Err(ApiError::unauthenticated());
        };
        let Some(session) = sessions.current(&parts.headers).await? else {
            return Err(ApiError::unauthenticated());
        };
        sessions.check_csrf(&session, &parts.method, &parts.headers)?;
        Ok(CurrentUser {
            caller: session.caller(),
            via: "sso",
            email: session.record.email.clone(),
            csrf_token: Some(session.record.csrf_token.clone()),
        })
    }
}

/// Query parameters, failing as `invalid_input`.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|q| ApiQuery(q.0))
            .map_err(|e| ApiError::invalid_input(format!("query: {}", e.body_text())))
    }
}
