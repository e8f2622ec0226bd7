//! The read model: each release's view as last read, kept until an event says it changed.
//!
//! A view is assembled from four reads (the release, its repos, CI and deployment rows); a
//! release page followed by many people, or polled by scripts, would repeat them for every
//! request. Every change to a release is announced (see [`events`](crate::events)), and the
//! announcement drops the release's kept view here before any subscriber hears of it.
//!
//! A read that raced with a change must not keep what it read: each release has a generation,
//! bumped by every invalidation, and a read keeps its view only if the generation it started
//! with is still current. A resync (events may have been missed) drops everything.
//!
//! Views are used only while this process hears every change
//! ([`Engine::hears_every_change`]): always on SQLite, on PostgreSQL while the relay listens.

use crate::{Engine, EngineError, ReleaseView};
use shipyard_core::ReleaseId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Views kept at most; past that everything is dropped (old releases are rarely read twice).
const MAX_VIEWS: usize = 64;
/// Releases whose generation is remembered at most; past that a resync starts over.
const MAX_SLOTS: usize = 10_000;
/// How long a view is kept even without an event. Polls that find nothing new announce nothing
/// (a page would otherwise re-read at every poll), but they move `last_checked_at`: this bounds
/// how old that time may look.
const VIEW_TTL: Duration = Duration::from_secs(5);

/// Kept views of type `V` (a [`ReleaseView`] in the engine).
pub(crate) struct ReadModel<V = ReleaseView> {
    state: Mutex<State<V>>,
}

impl<V> Default for ReadModel<V> {
    fn default() -> Self {
        ReadModel {
            state: Mutex::new(State {
                epoch: 0,
                slots: HashMap::new(),
                kept: 0,
            }),
        }
    }
}

struct State<V> {
    /// Bumped by a resync.
    epoch: u64,
    /// Per release: its generation, and its view while current.
    slots: HashMap<ReleaseId, Slot<V>>,
    /// Slots holding a view.
    kept: usize,
}

struct Slot<V> {
    generation: u64,
    /// The view and when it was read.
    view: Option<(Arc<V>, Instant)>,
}

impl<V> Default for Slot<V> {
    fn default() -> Self {
        Slot {
            generation: 0,
            view: None,
        }
    }
}

/// Where a read started: keep its result only if nothing changed since.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ticket {
    epoch: u64,
    generation: u64,
}

impl<V> ReadModel<V> {
    fn lock(&self) -> std::sync::MutexGuard<'_, State<V>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The kept view of `id` (read less than [`VIEW_TTL`] ago), or the ticket to read it with.
    pub(crate) fn get(&self, id: &ReleaseId) -> Result<Arc<V>, Ticket> {
        let mut state = self.lock();
        let epoch = state.epoch;
        let Some(slot) = state.slots.get_mut(id) else {
            return Err(Ticket {
                epoch,
                generation: 0,
            });
        };
        match &slot.view {
            Some((view, read_at)) if read_at.elapsed() < VIEW_TTL => Ok(view.clone()),
            _ => {
                // Expired: a new read replaces it, unless a change comes first.
                let expired = slot.view.take().is_some();
                let ticket = Ticket {
                    epoch,
                    generation: slot.generation,
                };
                if expired {
                    state.kept -= 1;
                }
                Err(ticket)
            }
        }
    }

    /// Keeps `view` of `id`, read with `ticket`, unless something changed since.
    pub(crate) fn keep(&self, id: &ReleaseId, ticket: Ticket, view: Arc<V>) {
        let mut state = self.lock();
        if state.epoch != ticket.epoch {
            return;
        }
        if state.kept >= MAX_VIEWS {
            // Generations must keep counting up: only the views go.
            for slot in state.slots.values_mut() {
                slot.view = None;
            }
            state.kept = 0;
        }
        let slot = state.slots.entry(id.clone()).or_default();
        if slot.generation != ticket.generation || slot.view.is_some() {
            return;
        }
        slot.view = Some((view, Instant::now()));
        state.kept += 1;
    }

    /// `id` changed: its kept view goes, and reads started before cannot keep theirs.
    pub(crate) fn invalidate(&self, id: &ReleaseId) {
        let mut state = self.lock();
        if state.slots.len() >= MAX_SLOTS && !state.slots.contains_key(id) {
            drop(state);
            self.invalidate_all();
            return;
        }
        let slot = state.slots.entry(id.clone()).or_default();
        slot.generation += 1;
        if slot.view.take().is_some() {
            state.kept -= 1;
        }
    }

    /// Anything may have changed: every view goes.
    pub(crate) fn invalidate_all(&self) {
        let mut state = self.lock();
        state.epoch += 1;
        state.slots.clear();
        state.kept = 0;
    }
}

impl Engine {
    /// The release `id` as it stands, shared: the kept view when nothing changed since it was
    /// read, else a fresh read (kept for the next caller). For read-only answers; a use case
    /// that changes the release reads it in its transaction instead.
    pub async fn release_shared(&self, id: &str) -> Result<Arc<ReleaseView>, EngineError> {
        let parsed = crate::releases::parse_id(id)?;
        if !self.hears_every_change() {
            return Ok(Arc::new(self.release(id).await?));
        }
        match self.inner.views.get(&parsed) {
            Ok(view) => {
                metrics::counter!("shipyard_release_reads_total", "from" => "kept").increment(1);
                Ok(view)
            }
            Err(ticket) => {
                metrics::counter!("shipyard_release_reads_total", "from" => "database")
                    .increment(1);
                let view = Arc::new(self.release(id).await?);
                self.inner.views.keep(&parsed, ticket, view.clone());
                Ok(view)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> ReleaseId {
        ReleaseId::from_random([n; 8])
    }

    fn view() -> Arc<u32> {
        Arc::new(7)
    }

    #[test]
    fn a_kept_view_is_served_until_its_release_changes() {
        let m = ReadModel::<u32>::default();
        let ticket = m.get(&id(1)).unwrap_err();
        let v = view();
        m.keep(&id(1), ticket, v.clone());
        assert!(Arc::ptr_eq(&m.get(&id(1)).unwrap(), &v));
        m.invalidate(&id(2));
        assert!(m.get(&id(1)).is_ok(), "another release's change leaves it");
        m.invalidate(&id(1));
        assert!(m.get(&id(1)).is_err());
    }

    #[test]
    fn a_read_that_raced_with_a_change_is_not_kept() {
        let m = ReadModel::<u32>::default();
        let ticket = m.get(&id(1)).unwrap_err();
        m.invalidate(&id(1));
        m.keep(&id(1), ticket, view());
        assert!(m.get(&id(1)).is_err());
        let ticket = m.get(&id(1)).unwrap_err();
        m.invalidate_all();
        m.keep(&id(1), ticket, view());
        assert!(
            m.get(&id(1)).is_err(),
            "a resync in between voids the read too"
        );
    }

    #[test]
    fn a_full_model_starts_over_without_forgetting_generations() {
        let m = ReadModel::<u32>::default();
        for n in 0..MAX_VIEWS as u8 {
            let t = m.get(&id(n)).unwrap_err();
            m.keep(&id(n), t, view());
        }
        let stale = m.get(&id(200)).unwrap_err();
        m.invalidate(&id(200));
        let fresh = m.get(&id(200)).unwrap_err();
        m.keep(&id(200), stale, view());
        assert!(m.get(&id(200)).is_err(), "the stale read is still refused");
        m.keep(&id(200), fresh, view());
        assert!(m.get(&id(200)).is_ok());
        assert!(m.get(&id(0)).is_err(), "older views went to make room");
    }
}
