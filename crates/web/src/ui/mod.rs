//! Server-rendered pages: one module per screen, each with its `router()`.
//!
//! Pages are askama templates (checked at compile time, escaped by default) laid out by
//! `templates/base.html`. Every page needs a session; signed-out visitors are sent to sign-in
//! with the address they asked for.

pub mod assets;
mod ci;
mod deploy;
pub mod form;
pub mod markdown;
pub mod release;
pub mod releases;

use crate::AppState;
use crate::auth::session::ActiveSession;
use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

/// The policy of every page: own styles, scripts and images only, nothing inline.
pub const PAGE_CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The page routes and their assets.
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(assets::router())
        .merge(releases::router())
        .merge(release::router())
}

/// Who is looking at a page, as the layout shows it.
pub struct Viewer {
    /// Display name.
    pub name: String,
    /// Role names, comma separated, or "no roles".
    pub roles: String,
}

impl Viewer {
    fn from_session(s: &ActiveSession) -> Viewer {
        let roles: Vec<&str> = s.record.roles.iter().map(|r| r.as_str()).collect();
        Viewer {
            name: s.record.name.clone(),
            roles: if roles.is_empty() {
                "no roles".to_owned()
            } else {
                roles.join(", ")
            },
        }
    }
}

/// What the layout needs besides the page's own content.
pub struct Layout {
    /// The signed-in person.
    pub viewer: Viewer,
    /// Versioned address of the stylesheet.
    pub css_href: String,
    /// Versioned address of the script.
    pub js_href: String,
    /// Which nav entry is current.
    pub nav: &'static str,
    /// The session's CSRF token, for forms (field `csrf`) and the script (header `X-CSRF-Token`).
    pub csrf: String,
}

/// The session behind a page request, or the answer to give instead: a redirect to sign-in
/// that comes back to `uri`.
pub async fn require_session(
    state: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
) -> Result<ActiveSession, Response> {
    let found = match state.auth.sessions() {
        Some(s) => s
            .current(headers)
            .await
            .map_err(IntoResponse::into_response)?,
        None => None,
    };
    found.ok_or_else(|| {
        let back = uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or_else(|| uri.path());
        see_other(&format!("/auth/login?next={}", encode_next(back)))
    })
}

/// The layout fields for a signed-in page.
pub fn layout(session: &ActiveSession, nav: &'static str) -> Layout {
    Layout {
        viewer: Viewer::from_session(session),
        css_href: assets::href("shipyard.css"),
        js_href: assets::href("shipyard.js"),
        nav,
        csrf: session.record.csrf_token.clone(),
    }
}

/// A page that only says what went wrong.
#[derive(askama::Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    /// The layout.
    pub layout: Layout,
    /// Heading.
    pub title: &'static str,
    /// What went wrong, in words.
    pub message: String,
}

/// An error as a page for a signed-in person, with the error's status.
pub fn error_page(
    session: &ActiveSession,
    title: &'static str,
    error: &crate::error::ApiError,
) -> Response {
    use askama::Template;
    let page = ErrorPage {
        layout: layout(session, "releases"),
        title,
        message: sentence(error.message()),
    };
    html(error.status(), page.render())
}

/// An API error message as a sentence: capital first letter, final full stop.
pub fn sentence(message: &str) -> String {
    let mut chars = message.trim().chars();
    let mut out = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect::<String>(),
        None => return String::new(),
    };
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

/// Percent-encodes a local path for a `next=` query value, leaving the readable characters.
fn encode_next(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/?=:@!$'()*,;".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A 303 to `location`, never cached.
pub fn see_other(location: &str) -> Response {
    let mut resp = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// A rendered page with the page policy; pages show private data, so nothing caches them.
pub fn html(status: StatusCode, rendered: Result<String, askama::Error>) -> Response {
    let body = match rendered {
        Ok(b) => b,
        Err(e) => return crate::error::ApiError::internal(&e).into_response(),
    };
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PAGE_CSP),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// `at` as exact UTC text: `2026-11-23 03:49 UTC`.
pub fn utc(at: i64) -> String {
    let days = at.div_euclid(86_400);
    let secs = at.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        secs / 3600,
        (secs % 3600) / 60
    )
}

/// Year, month and day of a count of days since 1970-01-01 (proleptic Gregorian).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// How long ago `at` was, seen from `now`, in rough words.
pub fn ago(at: i64, now: i64) -> String {
    let s = (now - at).max(0);
    let plural = |n: i64, unit: &str| {
        if n == 1 {
            format!("1 {unit} ago")
        } else {
            format!("{n} {unit}s ago")
        }
    };
    match s {
        0..60 => "just now".to_owned(),
        60..3600 => plural(s / 60, "minute"),
        3600..86_400 => plural(s / 3600, "hour"),
        86_400..2_592_000 => plural(s / 86_400, "day"),
        2_592_000..31_536_000 => plural(s / 2_592_000, "month"),
        _ => plural(s / 31_536_000, "year"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_text() {
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc(1_795_405_746), "2026-11-23 03:49 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00 UTC");
    }

    #[test]
    fn relative_time() {
        assert_eq!(ago(100, 100), "just now");
        assert_eq!(ago(0, 61), "1 minute ago");
        assert_eq!(ago(0, 7300), "2 hours ago");
        assert_eq!(ago(0, 86_400 * 3), "3 days ago");
        assert_eq!(ago(50, 0), "just now");
    }

    #[test]
    fn messages_become_sentences() {
        assert_eq!(sentence("notes: too long"), "Notes: too long.");
        assert_eq!(sentence("Done."), "Done.");
        assert_eq!(sentence(""), "");
    }

    #[test]
    fn next_keeps_the_query_readable() {
        assert_eq!(
            encode_next("/releases?status=pending&q=a b"),
            "/releases?status=pending%26q=a%20b"
        );
    }
}
