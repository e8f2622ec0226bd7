//! Live events: "something about release X changed", fanned out to every subscriber of every
//! replica.
//!
//! How an event travels:
//! - The use case that changed a release announces it. Inside a transaction
//!   ([`Engine::commit_announcing`]) the announcement is a PostgreSQL `NOTIFY` queued in that
//!   transaction, so a rolled-back change announces nothing; after a change committed on its own
//!   ([`Engine::announce`]) it is sent right after.
//! - This process's subscribers hear it at once from the in-process [`EventBus`].
//! - Every other replica's relay ([`run_relay`]) `LISTEN`s, decodes the small payload (ids and
//!   kinds, see [`Announcement`]) and publishes it on its own bus; its own announcements come
//!   back too and are skipped by replica name.
//! - PostgreSQL drops what is sent while a listener is disconnected, so after the relay
//!   listens again it publishes [`Notice::Resync`]: subscribers re-read what they show. A
//!   subscriber that fell behind its bus (lagged) does the same.
//!
//! SQLite serves one process: the in-process bus is all there is.

use crate::Engine;
use serde::{Deserialize, Serialize};
use shipyard_core::ReleaseId;
use shipyard_store::{Heard, StoreError, Tx};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// The PostgreSQL channel every replica listens on.
pub const CHANNEL: &str = "shipyard_events";

/// What part of a release changed; clients re-read what they need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// Release fields (notes, status, refresh time).
    Updated,
    /// Repo rows (exclusion, dependencies, refresh).
    Repos,
    /// Sign-offs.
    Approvals,
    /// CI tracking.
    Ci,
    /// Deployment tracking.
    Deployment,
    /// A history entry was added.
    History,
}

/// One live event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReleaseEvent {
    /// The release concerned.
    pub release_id: ReleaseId,
    /// What changed.
    pub kind: EventKind,
    /// When, unix seconds.
    pub at: i64,
}

/// What a subscriber hears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A release changed.
    Release(ReleaseEvent),
    /// Changes may have been missed (another replica's, while this one's listener was
    /// disconnected): re-read everything shown.
    Resync,
}

/// The in-process event bus.
#[derive(Debug, Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Notice>,
}

impl Default for EventBus {
    fn default() -> Self {
        let (tx, _) = broadcast::channel(1024);
        EventBus { tx }
    }
}

impl EventBus {
    /// Publishes events to this process's subscribers; nobody listening is fine.
    fn publish(&self, release_id: &ReleaseId, kinds: &[EventKind], at: i64) {
        for kind in kinds {
            let _ = self.tx.send(Notice::Release(ReleaseEvent {
                release_id: release_id.clone(),
                kind: *kind,
                at,
            }));
        }
    }

    fn resync(&self) {
        let _ = self.tx.send(Notice::Resync);
    }

    /// A new subscription, receiving what is published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Notice> {
        self.tx.subscribe()
    }
}

/// What one replica tells the others, as the `NOTIFY` payload: ids and kinds only, far below
/// PostgreSQL's 8000-byte limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Announcement {
    /// The announcing replica (its own announcements come back to it and are skipped).
    #[serde(rename = "r")]
    pub replica: String,
    /// The release.
    #[serde(rename = "id")]
    pub release_id: ReleaseId,
    /// What changed.
    #[serde(rename = "k")]
    pub kinds: Vec<EventKind>,
    /// When, unix seconds.
    pub at: i64,
}

impl Announcement {
    /// The payload text.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads a payload back; `None` for anything that is not one (with a valid release id).
    pub fn decode(payload: &str) -> Option<Announcement> {
        let a: Announcement = serde_json::from_str(payload).ok()?;
        ReleaseId::parse(a.release_id.as_str())?;
        Some(a)
    }
}

/// How the relay is doing, for readiness and metrics.
#[derive(Debug, Default)]
pub struct RelayStatus {
    /// Whether a relay runs at all (PostgreSQL).
    enabled: AtomicBool,
    /// Whether it is listening now.
    connected: AtomicBool,
    /// Times it had to listen again after losing its connection.
    reconnects: AtomicU64,
    /// Announcements of other replicas it published here.
    relayed: AtomicU64,
}

/// A copy of [`RelayStatus`] at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RelaySnapshot {
    /// Whether changes of other replicas are relayed (PostgreSQL).
    pub enabled: bool,
    /// Whether the relay is listening now.
    pub connected: bool,
    /// Times it listened again after losing its connection.
    pub reconnects: u64,
    /// Announcements of other replicas published here.
    pub relayed: u64,
}

impl RelayStatus {
    fn snapshot(&self) -> RelaySnapshot {
        RelaySnapshot {
            enabled: self.enabled.load(Ordering::Relaxed),
            connected: self.connected.load(Ordering::Relaxed),
            reconnects: self.reconnects.load(Ordering::Relaxed),
            relayed: self.relayed.load(Ordering::Relaxed),
        }
    }
}

impl Engine {
    /// The live event bus.
    pub fn events(&self) -> &EventBus {
        &self.inner.events
    }

    /// How the relay of other replicas' events is doing.
    pub fn relay_status(&self) -> RelaySnapshot {
        self.inner.relay.snapshot()
    }

    /// Whether every change to the database is heard here: always on SQLite (one process), on
    /// PostgreSQL while the relay listens. Cached reads are used only then.
    pub(crate) fn hears_every_change(&self) -> bool {
        !self.store().is_shared() || self.inner.relay.connected.load(Ordering::Acquire)
    }

    /// Tells this process's subscribers (and its read model) that `release` changed.
    fn publish_here(&self, release: &ReleaseId, kinds: &[EventKind], at: i64) {
        if kinds.is_empty() {
            return;
        }
        self.inner.views.invalidate(release);
        self.inner.events.publish(release, kinds, at);
    }

    fn resync_here(&self) {
        self.inner.views.invalidate_all();
        self.inner.events.resync();
    }

    fn announcement(&self, release: &ReleaseId, kinds: &[EventKind], at: i64) -> String {
        Announcement {
            replica: self.inner.settings.replica.clone(),
            release_id: release.clone(),
            kinds: kinds.to_vec(),
            at,
        }
        .encode()
    }

    /// Commits `tx`, announcing `kinds` of `release` with it: other replicas hear of it when,
    /// and only if, the transaction commits; this process right after.
    pub(crate) async fn commit_announcing(
        &self,
        mut tx: Tx,
        release: &ReleaseId,
        kinds: &[EventKind],
        at: i64,
    ) -> Result<(), StoreError> {
        if !kinds.is_empty() {
            tx.notify(CHANNEL, &self.announcement(release, kinds, at))
                .await?;
        }
        tx.commit().await?;
        self.publish_here(release, kinds, at);
        Ok(())
    }

    /// Announces a change already committed (by a statement of its own). The change stands
    /// whether or not the announcement reaches the other replicas; if it does not, they catch
    /// up with the release's next event.
    pub(crate) async fn announce(&self, release: &ReleaseId, kinds: &[EventKind], at: i64) {
        if kinds.is_empty() {
            return;
        }
        self.publish_here(release, kinds, at);
        if let Err(e) = self
            .store()
            .notify(CHANNEL, &self.announcement(release, kinds, at))
            .await
        {
            tracing::warn!(release = %release, error = %e, "could not tell the other replicas of a change");
        }
    }
}

/// How long the relay waits before listening again after a failure, at most.
const RELAY_RETRY_MAX: Duration = Duration::from_secs(5);

/// Relays the other replicas' announcements to this process's subscribers until `stop`
/// (PostgreSQL; returns at once on SQLite).
pub async fn run_relay(engine: Engine, stop: CancellationToken) {
    if !engine.store().is_shared() {
        return;
    }
    let status = engine.inner.relay.clone();
    status.enabled.store(true, Ordering::Relaxed);
    let mut retry = Duration::from_millis(100);
    let mut listened_before = false;
    loop {
        let opened = tokio::select! {
            () = stop.cancelled() => return,
            opened = engine.store().listen(CHANNEL) => opened,
        };
        match opened {
            Ok(Some(mut listener)) => {
                status.connected.store(true, Ordering::Release);
                retry = Duration::from_millis(100);
                if listened_before {
                    lost_and_back(&engine, &status);
                }
                listened_before = true;
                tracing::info!("listening for the other replicas' changes");
                loop {
                    let heard = tokio::select! {
                        () = stop.cancelled() => {
                            status.connected.store(false, Ordering::Release);
                            return;
                        }
                        heard = listener.next() => heard,
                    };
                    match heard {
                        Ok(Heard::Payload(p)) => relay_one(&engine, &status, &p),
                        Ok(Heard::Lost) => lost_and_back(&engine, &status),
                        Err(e) => {
                            status.connected.store(false, Ordering::Release);
                            tracing::warn!(error = %e, "lost the connection that hears the other replicas' changes; listening again");
                            break;
                        }
                    }
                }
            }
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, retry_in_ms = retry.as_millis() as u64, "cannot listen for the other replicas' changes");
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(retry) => {}
        }
        retry = (retry * 2).min(RELAY_RETRY_MAX);
    }
}

fn relay_one(engine: &Engine, status: &Arc<RelayStatus>, payload: &str) {
    match Announcement::decode(payload) {
        Some(a) if a.replica == engine.inner.settings.replica => {}
        Some(a) => {
            status.relayed.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("shipyard_events_relayed_total").increment(1);
            engine.publish_here(&a.release_id, &a.kinds, a.at);
        }
        None => {
            tracing::warn!(
                bytes = payload.len(),
                "ignored a notification that is not a Shipyard announcement"
            );
        }
    }
}

/// Listening again after a lost connection: what was sent meanwhile is gone, so everyone
/// re-reads.
fn lost_and_back(engine: &Engine, status: &Arc<RelayStatus>) {
    status.reconnects.fetch_add(1, Ordering::Relaxed);
    metrics::counter!("shipyard_event_listener_reconnects_total").increment(1);
    tracing::info!("listening again for the other replicas' changes; subscribers re-read");
    engine.resync_here();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> ReleaseId {
        ReleaseId::from_random([1, 2, 3, 4, 5, 6, 7, 8])
    }

    #[test]
    fn an_announcement_reads_back_as_sent() {
        let a = Announcement {
            replica: "web-1:42".into(),
            release_id: id(),
            kinds: vec![EventKind::Approvals, EventKind::History],
            at: 1_700_000_000,
        };
        let text = a.encode();
        assert_eq!(Announcement::decode(&text), Some(a));
        assert!(text.len() < 200, "{text}");
    }

    #[test]
    fn anything_else_is_not_an_announcement() {
        for payload in [
            "",
            "hello",
            "{}",
            r#"{"r":"a","id":"not an id","k":["ci"],"at":1}"#,
            r#"{"r":"a","id":"0102030405060708","k":["unheard_of"],"at":1}"#,
            r#"{"r":"a","k":["ci"],"at":1}"#,
        ] {
            assert_eq!(Announcement::decode(payload), None, "{payload}");
        }
    }

    #[test]
    fn the_longest_announcement_fits_in_a_notification() {
        let a = Announcement {
            replica: "x".repeat(255),
            release_id: id(),
            kinds: vec![
                EventKind::Updated,
                EventKind::Repos,
                EventKind::Approvals,
                EventKind::Ci,
                EventKind::Deployment,
                EventKind::History,
            ],
            at: i64::MAX,
        };
        assert!(a.encode().len() < shipyard_store::MAX_NOTIFY_PAYLOAD);
    }
}
