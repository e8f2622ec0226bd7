//! Sessions of signed-in people, and sign-ins in progress.

use crate::Store;
use crate::error::StoreError;
use crate::rows::{from_json, to_json};
use shipyard_core::{Role, UnixTime};

/// A signed-in session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// SHA-256 (hex) of the cookie value.
    pub id_hash: String,
    /// Identity: the OIDC `sub`, or `dev:<name>`.
    pub subject: String,
    /// Display name.
    pub name: String,
    /// E-mail, when known.
    pub email: Option<String>,
    /// Roles granted at sign-in.
    pub roles: Vec<Role>,
    /// The token every cookie-authenticated change must carry.
    pub csrf_token: String,
    /// The ID token, for the provider's end-session call.
    pub id_token: Option<String>,
    /// `sso` or `dev`.
    pub via: String,
    /// Sign-in time.
    pub created_at: UnixTime,
    /// Last request.
    pub last_seen_at: UnixTime,
    /// Absolute end of the session.
    pub expires_at: UnixTime,
}

/// A sign-in in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginFlowRecord {
    /// The `state` sent to the provider.
    pub state: String,
    /// The nonce the ID token must carry.
    pub nonce: String,
    /// PKCE code verifier.
    pub pkce_verifier: String,
    /// Local path to return to.
    pub next_path: String,
    /// When the sign-in started.
    pub created_at: UnixTime,
}

#[derive(sqlx::FromRow)]
struct RawSession {
    id_hash: String,
    subject: String,
    name: String,
    email: Option<String>,
    roles: String,
    csrf_token: String,
    id_token: Option<String>,
    via: String,
    created_at: i64,
    last_seen_at: i64,
    expires_at: i64,
}

impl RawSession {
    fn into_record(self) -> Result<SessionRecord, StoreError> {
        Ok(SessionRecord {
            roles: from_json("sessions.roles", &self.roles)?,
            id_hash: self.id_hash,
            subject: self.subject,
            name: self.name,
            email: self.email,
            csrf_token: self.csrf_token,
            id_token: self.id_token,
            via: self.via,
            created_at: self.created_at,
            last_seen_at: self.last_seen_at,
            expires_at: self.expires_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct RawFlow {
    state: String,
    nonce: String,
    pkce_verifier: String,
    next_path: String,
    created_at: i64,
}

const SESSION_COLUMNS: &str = "id_hash, subject, name, email, roles, csrf_token, id_token, via, created_at, last_seen_at, expires_at";

impl Store {
    /// Stores a new session; `replaces` (the hash of the session it succeeds) is removed in the
    /// same transaction, so signing in again rotates the session id.
    pub async fn insert_session(
        &self,
        s: &SessionRecord,
        replaces: Option<&str>,
    ) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO sessions ({SESSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        );
        let roles = to_json("roles", &s.roles)?;
        let mut tx = self.begin().await?;
        if let Some(old) = replaces {
            on_tx!(tx, c => sqlx::query("DELETE FROM sessions WHERE id_hash = $1").bind(old).execute(c).await.map(|_| ()))?;
        }
        on_tx!(tx, c => sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .bind(&s.id_hash)
            .bind(&s.subject)
            .bind(&s.name)
            .bind(&s.email)
            .bind(&roles)
            .bind(&s.csrf_token)
            .bind(&s.id_token)
            .bind(&s.via)
            .bind(s.created_at)
            .bind(s.last_seen_at)
            .bind(s.expires_at)
            .execute(c)
            .await
            .map(|_| ()))?;
        tx.commit().await
    }

    /// The session with this hash, if any (expired ones included: the caller decides).
    pub async fn session(&self, id_hash: &str) -> Result<Option<SessionRecord>, StoreError> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id_hash = $1");
        let raw: Option<RawSession> = on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(id_hash).fetch_optional(pool).await)?;
        raw.map(RawSession::into_record).transpose()
    }

    /// Records activity on a session.
    pub async fn touch_session(&self, id_hash: &str, now: UnixTime) -> Result<(), StoreError> {
        on_pool!(self, pool => sqlx::query("UPDATE sessions SET last_seen_at = $2 WHERE id_hash = $1 AND last_seen_at < $2")
            .bind(id_hash)
            .bind(now)
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Removes a session and returns what it was.
    pub async fn delete_session(&self, id_hash: &str) -> Result<Option<SessionRecord>, StoreError> {
        let found = self.session(id_hash).await?;
        on_pool!(self, pool => sqlx::query("DELETE FROM sessions WHERE id_hash = $1").bind(id_hash).execute(pool).await.map(|_| ()))?;
        Ok(found)
    }

    /// Removes sessions past their absolute end or idle since before `idle_before`.
    pub async fn delete_expired_sessions(
        &self,
        now: UnixTime,
        idle_before: UnixTime,
    ) -> Result<u64, StoreError> {
        let done = on_pool!(self, pool => sqlx::query("DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at < $2")
            .bind(now)
            .bind(idle_before)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(done)
    }

    /// Stores a sign-in in progress.
    pub async fn insert_login_flow(&self, f: &LoginFlowRecord) -> Result<(), StoreError> {
        on_pool!(self, pool => sqlx::query("INSERT INTO login_flows (state, nonce, pkce_verifier, next_path, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(&f.state)
            .bind(&f.nonce)
            .bind(&f.pkce_verifier)
            .bind(&f.next_path)
            .bind(f.created_at)
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Takes (reads and removes) the sign-in with this `state`: each can finish once only.
    pub async fn take_login_flow(
        &self,
        state: &str,
    ) -> Result<Option<LoginFlowRecord>, StoreError> {
        let mut tx = self.begin().await?;
        let raw: Option<RawFlow> = on_tx!(tx, c => sqlx::query_as("SELECT state, nonce, pkce_verifier, next_path, created_at FROM login_flows WHERE state = $1")
            .bind(state)
            .fetch_optional(c)
            .await)?;
        if raw.is_some() {
            on_tx!(tx, c => sqlx::query("DELETE FROM login_flows WHERE state = $1").bind(state).execute(c).await.map(|_| ()))?;
        }
        tx.commit().await?;
        Ok(raw.map(|r| LoginFlowRecord {
            state: r.state,
            nonce: r.nonce,
            pkce_verifier: r.pkce_verifier,
            next_path: r.next_path,
            created_at: r.created_at,
        }))
    }

    /// Forgets sign-ins started before `before` and never finished.
    pub async fn delete_stale_login_flows(&self, before: UnixTime) -> Result<u64, StoreError> {
        let done = on_pool!(self, pool => sqlx::query("DELETE FROM login_flows WHERE created_at < $1")
            .bind(before)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(done)
    }
}
