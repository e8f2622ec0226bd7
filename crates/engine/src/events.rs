//! Live events: "something about release X changed", fanned out to every subscriber.

use serde::Serialize;
use shipyard_core::ReleaseId;
use tokio::sync::broadcast;

/// What part of a release changed; clients re-read what they need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
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

/// The in-process event bus (one replica; several replicas will relay through the database).
#[derive(Debug, Clone)]
pub struct EventBus {
    tx: broadcast::Sender<ReleaseEvent>,
}

impl Default for EventBus {
    fn default() -> Self {
        let (tx, _) = broadcast::channel(1024);
        EventBus { tx }
    }
}

impl EventBus {
    /// Publishes events; nobody listening is fine.
    pub fn publish(&self, release_id: &ReleaseId, kinds: &[EventKind], at: i64) {
        for kind in kinds {
            let _ = self.tx.send(ReleaseEvent {
                release_id: release_id.clone(),
                kind: *kind,
                at,
            });
        }
    }

    /// A new subscription, receiving events published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<ReleaseEvent> {
        self.tx.subscribe()
    }
}
