//! Plain HTML form posts: the pages' fallback when JavaScript is off, and the shared checks
//! every one of them goes through (session, same origin, CSRF field, body size).

use super::{error_page, require_session};
use crate::AppState;
use crate::auth::session::ActiveSession;
use crate::error::ApiError;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

/// The fields of an `application/x-www-form-urlencoded` body, in order. Repeated names (a group
/// of checkboxes) keep every value.
#[derive(Debug, Default, Clone)]
pub struct FormFields(Vec<(String, String)>);

impl FormFields {
    /// Parses a form body; malformed percent escapes decode leniently, as browsers send them.
    pub fn parse(body: &[u8]) -> FormFields {
        FormFields(
            url::form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Whether the form sent `name` at all (a checked checkbox).
    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }
}

/// A signed-in person's form post, checked: the session, the same-origin rule and the form's
/// `csrf` field. Anything else is answered here: sign-in redirect, 413 or 403 page.
pub async fn signed_post(
    state: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
    body: Result<Bytes, BytesRejection>,
) -> Result<(ActiveSession, FormFields), Response> {
    let session = require_session(state, headers, uri).await?;
    let body = match body {
        Ok(b) => b,
        Err(BytesRejection::FailedToBufferBody(_)) => {
            return Err(error_page(&session, "Too large", &ApiError::too_large()));
        }
        Err(e) => return Err(ApiError::invalid_input(e.body_text()).into_response()),
    };
    let fields = FormFields::parse(&body);
    let Some(sessions) = state.auth.sessions() else {
        return Err(ApiError::unauthenticated().into_response());
    };
    if let Err(e) = sessions.check_form(&session, headers, fields.get("csrf")) {
        return Err(error_page(&session, "Not allowed", &e));
    }
    Ok((session, fields))
}

/// A checked form post as an extractor (last argument of a handler): the signed-in session and
/// the fields. Rejections are finished answers (sign-in redirect, 403 or 413 page).
pub struct SignedForm {
    /// Who posted.
    pub session: ActiveSession,
    /// What they sent.
    pub fields: FormFields,
}

impl FromRequest<AppState> for SignedForm {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (parts, body) = req.into_parts();
        let (headers, uri) = (parts.headers.clone(), parts.uri.clone());
        let body = Bytes::from_request(Request::from_parts(parts, body), state).await;
        let (session, fields) = signed_post(state, &headers, &uri, body).await?;
        Ok(SignedForm { session, fields })
    }
}

#[cfg(test)]
mod tests {
    use super::FormFields;

    #[test]
    fn repeated_fields_and_escapes() {
        let f = FormFields::parse(b"csrf=abc&depends_on=a&depends_on=b%2Dc&notes=x+y%3Cz&flag");
        assert_eq!(f.get("csrf"), Some("abc"));
        assert_eq!(f.all("depends_on"), ["a", "b-c"]);
        assert_eq!(f.get("notes"), Some("x y<z"));
        assert!(f.has("flag"));
        assert!(!f.has("excluded"));
        assert_eq!(FormFields::parse(b"").all("x"), Vec::<String>::new());
    }
}
