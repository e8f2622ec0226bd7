//! Who may come in, and whether the service can serve: sign-ins in progress, sessions of
//! signed-in people, readiness, and which replica leads a singleton task.
//!
//! The web edge owns the HTTP side (the cookie, its hash, CSRF and origin checks, the provider's
//! redirects); what is stored, for how long and when it ends is decided here.

use crate::{Engine, EngineError};
use shipyard_store::{Leadership, LoginFlowRecord, NotificationRecord, SessionRecord};

/// How long a started sign-in may take before its `state` is refused.
pub const SIGN_IN_LIFETIME_SECS: i64 = 600;

/// Session lifetimes, from `auth.session_ttl`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLifetime {
    /// Seconds from sign-in to the end, whatever happens.
    pub absolute: i64,
    /// Seconds without a request after which a session ends.
    pub idle: i64,
}

/// Whether the service can serve, and what is missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    /// Why the database cannot serve, if it cannot (unreachable, migrations missing).
    pub database_error: Option<String>,
    /// The GitHub organisation, when GitHub is configured.
    pub github_org: Option<String>,
    /// How the GitHub client authenticates (token or App), when GitHub is configured.
    pub github_auth: Option<shipyard_github::AuthStatus>,
    /// The chat bot of this process, when it runs one.
    pub chat: Option<crate::chat::ChatStatus>,
    /// How this process last read each Argo CD environment, when `argocd` is configured.
    pub argocd: Option<Vec<crate::deploy::EnvironmentHealth>>,
    /// This process's name among the replicas.
    pub replica: String,
    /// Who leads each singleton task this process takes part in.
    pub leads: Vec<crate::lead::LeadStatus>,
    /// How other replicas' changes reach this one.
    pub relay: crate::RelaySnapshot,
}

impl Engine {
    /// Starts a sign-in: keeps its `state`, nonce and PKCE verifier until the provider sends the
    /// browser back, and forgets sign-ins that were never finished.
    pub async fn start_sign_in(&self, flow: &LoginFlowRecord) -> Result<(), EngineError> {
        let store = self.store();
        if let Err(e) = store
            .delete_stale_login_flows(self.now() - SIGN_IN_LIFETIME_SECS)
            .await
        {
            tracing::debug!(error = %e, "stale sign-ins not removed");
        }
        store.insert_login_flow(flow).await?;
        Ok(())
    }

    /// Finishes the sign-in with this `state`: its stored flow, once, unless it expired.
    pub async fn finish_sign_in(
        &self,
        state: &str,
    ) -> Result<Option<LoginFlowRecord>, EngineError> {
        let flow = self.store().take_login_flow(state).await?;
        Ok(flow.filter(|f| f.created_at + SIGN_IN_LIFETIME_SECS > self.now()))
    }

    /// Stores a new session (its `created_at`, `last_seen_at` and `expires_at` are set here),
    /// ending the one it replaces, and removes sessions that have ended.
    pub async fn start_session(
        &self,
        mut session: SessionRecord,
        replaces: Option<&str>,
        lifetime: SessionLifetime,
    ) -> Result<SessionRecord, EngineError> {
        let now = self.now();
        session.created_at = now;
        session.last_seen_at = now;
        session.expires_at = now + lifetime.absolute;
        let store = self.store();
        store.insert_session(&session, replaces).await?;
        if let Err(e) = store
            .delete_expired_sessions(now, now - lifetime.idle)
            .await
        {
            tracing::debug!(error = %e, "ended sessions not removed");
        }
        Ok(session)
    }

    /// The live session whose cookie hashes to `id_hash`. An ended one (past its lifetime, or
    /// idle too long) is removed on sight; a live one is marked seen, once a minute at most.
    pub async fn session(
        &self,
        id_hash: &str,
        lifetime: SessionLifetime,
    ) -> Result<Option<SessionRecord>, EngineError> {
        let store = self.store();
        let Some(record) = store.session(id_hash).await? else {
            return Ok(None);
        };
        let now = self.now();
        if record.expires_at <= now || record.last_seen_at + lifetime.idle <= now {
            store.delete_session(id_hash).await?;
            return Ok(None);
        }
        if now - record.last_seen_at >= 60 {
            store.touch_session(id_hash, now).await?;
        }
        Ok(Some(record))
    }

    /// Ends the session whose cookie hashes to `id_hash`; returns it, if there was one.
    pub async fn end_session(&self, id_hash: &str) -> Result<Option<SessionRecord>, EngineError> {
        Ok(self.store().delete_session(id_hash).await?)
    }

    /// Whether the service can serve: the database answers with every migration applied.
    pub async fn readiness(&self) -> Readiness {
        Readiness {
            database_error: self.store().ready().await.err().map(|e| e.to_string()),
            github_org: self.org().map(str::to_owned),
            github_auth: self.github().map(|g| g.client.auth_status()),
            chat: self.chat_progress().status(),
            argocd: self.deploy_health(),
            replica: self.inner.settings.replica.clone(),
            leads: self.leads().await,
            relay: self.relay_status(),
        }
    }

    /// Tries to become the one process running `task` among the replicas sharing the database;
    /// `None` while another one runs it. Dropping the answer gives the lead up.
    pub async fn try_lead(&self, task: &str) -> Result<Option<Leadership>, EngineError> {
        Ok(self.store().try_lead(task).await?)
    }

    /// Claims up to `batch` chat notifications that are due, for `lease_secs`: nobody else sends
    /// them meanwhile. Each claim counts an attempt.
    pub async fn claim_notifications(
        &self,
        lease_secs: i64,
        batch: u32,
    ) -> Result<Vec<NotificationRecord>, EngineError> {
        let rows = self
            .store()
            .claim_due_notifications(self.now(), lease_secs, batch)
            .await?;
        metrics::counter!("shipyard_leases_claimed_total", "queue" => "outbox")
            .increment(rows.len() as u64);
        Ok(rows)
    }

    /// Hands the claim on notification `id` back untried (the sender is stopping).
    pub async fn release_notification(&self, id: i64) -> Result<bool, EngineError> {
        Ok(self.store().release_notification(id).await?)
    }

    /// Notification `id` could not be posted; it is due again at `retry_at`. `false` when it
    /// was marked sent meanwhile (nothing changes then).
    pub async fn notification_failed(
        &self,
        id: i64,
        error: &str,
        retry_at: i64,
    ) -> Result<bool, EngineError> {
        Ok(self
            .store()
            .mark_notification_failed(id, error, retry_at)
            .await?)
    }
}
