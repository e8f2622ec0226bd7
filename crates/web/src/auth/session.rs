//! Sessions: a random cookie value whose SHA-256 finds a row in the database.
//!
//! The cookie is `HttpOnly`, `SameSite=Lax`, `Secure` when the server is reached over https,
//! and scoped to the whole site. A session ends at sign-out, `auth.session_ttl` after sign-in,
//! or after [`SessionSettings::idle`] without a request, whichever comes first. Signing in again
//! replaces the session (a new cookie value), so a value seen before sign-in is worth nothing.

use crate::error::ApiError;
use axum::http::{HeaderMap, Method, header};
use rand::Rng as _;
use sha2::{Digest, Sha256};
use shipyard_core::{Actor, Role};
use shipyard_engine::access::SessionLifetime;
use shipyard_engine::{Caller, Engine, SessionRecord};
use std::sync::Arc;
use std::time::Duration;
use subtle::ConstantTimeEq;

/// How sessions behave.
#[derive(Debug, Clone)]
pub struct SessionSettings {
    /// Absolute lifetime (`auth.session_ttl`).
    pub ttl: Duration,
    /// Lifetime without requests.
    pub idle: Duration,
    /// `server.base_url`: its origin is the only one allowed to send cookie-authenticated changes,
    /// and an https URL makes the cookie `Secure`.
    pub base_url: String,
}

impl SessionSettings {
    /// Settings for `base_url` with the given absolute lifetime; idle time is the shorter of
    /// that lifetime and two hours.
    pub fn new(base_url: &str, ttl: Duration) -> Self {
        SessionSettings {
            ttl,
            idle: ttl.min(Duration::from_secs(2 * 3600)),
            base_url: base_url.trim_end_matches('/').to_owned(),
        }
    }

    /// The lifetimes in seconds, as the engine applies them.
    pub fn lifetime(&self) -> SessionLifetime {
        SessionLifetime {
            absolute: self.ttl.as_secs() as i64,
            idle: self.idle.as_secs() as i64,
        }
    }

    fn secure(&self) -> bool {
        self.base_url.starts_with("https://")
    }

    /// `scheme://host[:port]` of the base URL.
    pub fn origin(&self) -> String {
        match url::Url::parse(&self.base_url) {
            Ok(u) => u.origin().ascii_serialization(),
            Err(_) => self.base_url.clone(),
        }
    }

    /// The cookie's name: `__Host-` prefixed when it can be (https), which pins it to this host.
    pub fn cookie_name(&self) -> &'static str {
        if self.secure() {
            "__Host-shipyard_session"
        } else {
            "shipyard_session"
        }
    }
}

/// Who a new session is for.
#[derive(Debug, Clone)]
pub struct Identity {
    /// Stable identity (`sub`, or `dev:<name>`).
    pub subject: String,
    /// Display name.
    pub name: String,
    /// E-mail, when known.
    pub email: Option<String>,
    /// Shipyard roles.
    pub roles: Vec<Role>,
    /// The provider's ID token, for `id_token_hint` at sign-out.
    pub id_token: Option<String>,
    /// `sso` or `dev`.
    pub via: &'static str,
}

/// The session machinery: the cookie and its checks here, what is stored and when it ends in
/// the engine. Cheap to clone.
#[derive(Clone)]
pub struct Sessions {
    engine: Engine,
    settings: Arc<SessionSettings>,
}

/// A request's valid session.
#[derive(Debug, Clone)]
pub struct ActiveSession {
    /// The row.
    pub record: SessionRecord,
}

impl ActiveSession {
    /// The caller this session stands for.
    pub fn caller(&self) -> Caller {
        Caller {
            actor: Actor::named(self.record.subject.clone(), self.record.name.clone()),
            roles: self.record.roles.clone(),
        }
    }
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill(&mut buf[..]);
    hex::encode(buf)
}

fn hash(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

impl Sessions {
    /// Sessions kept by `engine`.
    pub fn new(engine: Engine, settings: SessionSettings) -> Self {
        Sessions {
            engine,
            settings: Arc::new(settings),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &SessionSettings {
        &self.settings
    }

    fn cookie_value(&self, headers: &HeaderMap) -> Option<String> {
        let name = self.settings.cookie_name();
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(cookie::Cookie::split_parse)
            .filter_map(Result::ok)
            .find(|c| c.name() == name)
            .map(|c| c.value().to_owned())
            .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
    }

    /// The valid session of a request, if it has one. Expired sessions are removed on sight.
    pub async fn current(&self, headers: &HeaderMap) -> Result<Option<ActiveSession>, ApiError> {
        let Some(value) = self.cookie_value(headers) else {
            return Ok(None);
        };
        let record = self
            .engine
            .session(&hash(&value), self.settings.lifetime())
            .await?;
        Ok(record.map(|record| ActiveSession { record }))
    }

    /// Starts a session for `who`, replacing the request's current one; returns the `Set-Cookie` value.
    pub async fn start(
        &self,
        who: Identity,
        request_headers: &HeaderMap,
    ) -> Result<String, ApiError> {
        let value = random_hex(32);
        let record = SessionRecord {
            id_hash: hash(&value),
            subject: who.subject,
            name: who.name,
            email: who.email,
            roles: who.roles,
            csrf_token: random_hex(32),
            id_token: who.id_token,
            via: who.via.to_owned(),
            // Set by the engine.
            created_at: 0,
            last_seen_at: 0,
            expires_at: 0,
        };
        let replaces = self.cookie_value(request_headers).map(|v| hash(&v));
        self.engine
            .start_session(record, replaces.as_deref(), self.settings.lifetime())
            .await?;
        Ok(self.cookie(value, Some(self.settings.ttl)))
    }

    /// Ends the request's session; returns it (for the provider's sign-out) and the `Set-Cookie`
    /// value that clears the cookie.
    pub async fn end(
        &self,
        headers: &HeaderMap,
    ) -> Result<(Option<SessionRecord>, String), ApiError> {
        let ended = match self.cookie_value(headers) {
            Some(v) => self.engine.end_session(&hash(&v)).await?,
            None => None,
        };
        Ok((ended, self.cookie(String::new(), Some(Duration::ZERO))))
    }

    fn cookie(&self, value: String, max_age: Option<Duration>) -> String {
        let mut c = cookie::Cookie::build((self.settings.cookie_name(), value))
            .path("/")
            .http_only(true)
            .same_site(cookie::SameSite::Lax)
            .secure(self.settings.secure());
        if let Some(age) = max_age {
            c = c.max_age(cookie::time::Duration::seconds(age.as_secs() as i64));
        }
        c.build().to_string()
    }

    /// Refuses a cookie-authenticated change that lacks the session's CSRF token or comes from
    /// another origin. Safe methods pass.
    pub fn check_csrf(
        &self,
        session: &ActiveSession,
        method: &Method,
        headers: &HeaderMap,
    ) -> Result<(), ApiError> {
        if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
            return Ok(());
        }
        self.check_origin(headers)?;
        let sent = headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !same_token(sent, &session.record.csrf_token) {
            return Err(ApiError::forbidden(
                "this change needs the page's CSRF token (header X-CSRF-Token); reload the page and try again",
            ));
        }
        Ok(())
    }

    /// The form version of [`Sessions::check_csrf`]: a page's form POST must come from our origin
    /// and carry the session's token in its `csrf` field.
    pub fn check_form(
        &self,
        session: &ActiveSession,
        headers: &HeaderMap,
        sent: Option<&str>,
    ) -> Result<(), ApiError> {
        self.check_origin(headers)?;
        if !same_token(sent.unwrap_or(""), &session.record.csrf_token) {
            return Err(ApiError::forbidden(
                "this form is out of date (its CSRF token does not match your session); reload the page and try again",
            ));
        }
        Ok(())
    }

    /// A change must come from Shipyard's own pages: `Origin`, or else `Referer`, names our origin.
    pub fn check_origin(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let ours = self.settings.origin();
        let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
        let same = match origin {
            Some(o) => o == ours,
            None => headers
                .get(header::REFERER)
                .and_then(|v| v.to_str().ok())
                .and_then(|r| url::Url::parse(r).ok())
                .is_some_and(|u| u.origin().ascii_serialization() == ours),
        };
        if same {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "cross-site request refused: changes must come from Shipyard's own pages",
            ))
        }
    }
}

/// Constant-time comparison of a sent token with the session's.
fn same_token(sent: &str, expected: &str) -> bool {
    bool::from(sent.as_bytes().ct_eq(expected.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use shipyard_engine::{EngineSettings, ManualClock};
    use shipyard_store::{Backend, testing};

    fn identity() -> Identity {
        Identity {
            subject: "s".into(),
            name: "Sam".into(),
            email: None,
            roles: vec![Role::QaApprover],
            id_token: None,
            via: "dev",
        }
    }

    fn cookie_header(set_cookie: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            set_cookie.split(';').next().unwrap_or("").parse().unwrap(),
        );
        h
    }

    #[tokio::test]
    async fn sessions_end_when_idle_or_too_old() {
        let (store, url) = testing::fresh_store(Backend::Sqlite).await;
        let clock = Arc::new(ManualClock::new(1_000_000));
        let settings = SessionSettings::new("http://127.0.0.1:1", Duration::from_secs(3 * 3600));
        assert_eq!(settings.idle, Duration::from_secs(2 * 3600));
        let engine = Engine::new(
            store.clone(),
            None,
            EngineSettings::default(),
            clock.clone(),
        );
        let sessions = Sessions::new(engine, settings);

        let set = sessions.start(identity(), &HeaderMap::new()).await.unwrap();
        let headers = cookie_header(&set);
        assert!(sessions.current(&headers).await.unwrap().is_some());

        // Active every hour: survives idle expiry, then ends at the absolute limit.
        for _ in 0..2 {
            clock.advance(3600);
            assert!(sessions.current(&headers).await.unwrap().is_some());
        }
        clock.advance(3600);
        assert!(sessions.current(&headers).await.unwrap().is_none());

        // Idle for two hours: gone, and its row with it.
        let set = sessions.start(identity(), &HeaderMap::new()).await.unwrap();
        let headers = cookie_header(&set);
        clock.advance(2 * 3600);
        assert!(sessions.current(&headers).await.unwrap().is_none());
        let value = set.split(';').next().unwrap().split('=').nth(1).unwrap();
        assert!(store.session(&hash(value)).await.unwrap().is_none());

        // A cookie of the wrong shape is simply not a session.
        let mut junk = HeaderMap::new();
        junk.insert(
            header::COOKIE,
            "shipyard_session=../../etc".parse().unwrap(),
        );
        assert!(sessions.current(&junk).await.unwrap().is_none());
        store.close().await;
        testing::drop_database(&url).await;
    }

    #[test]
    fn https_makes_the_cookie_secure_and_host_bound() {
        let s = SessionSettings::new("https://releases.example.com/", Duration::from_secs(60));
        assert_eq!(s.cookie_name(), "__Host-shipyard_session");
        assert_eq!(s.origin(), "https://releases.example.com");
    }
}
