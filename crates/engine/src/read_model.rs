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
//! One read per release is in flight at a time: callers that find no view wait for it, and
//! once a view is older than [`VIEW_TTL`] one caller reads it again while the others are served
//! the old one (unchanged, since no event came).
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
    /// One read from the database per release at a time: callers that find no view wait for
    /// the read in flight instead of each making their own.
    loads: Mutex<HashMap<ReleaseId, Arc<tokio::sync::Mutex<()>>>>,
}

impl<V> Default for ReadModel<V> {
    fn default() -> Self {
        ReadModel {
            state: Mutex::new(State {
                epoch: 0,
                slots: HashMap::new(),
                kept: 0,
            }),
            loads: Mutex::new(HashMap::new()),
        }
    }
}

/// What [`ReadModel::get`] found.
pub(crate) enum Lookup<V> {
    /// A view read less than [`VIEW_TTL`] ago, unchanged since.
    Fresh(Arc<V>),
    /// A view unchanged since it was read, but read longer ago than [`VIEW_TTL`]: it may be
    /// served while one caller reads it again with the ticket.
    Expired(Arc<V>, Ticket),
    /// No view: read it with the ticket.
    Missing(Ticket),
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

    /// The kept view of `id`, and whether it is fresh; or the ticket to read it with.
    pub(crate) fn get(&self, id: &ReleaseId) -> Lookup<V> {
        let state = self.lock();
        let Some(slot) = state.slots.get(id) else {
            return Lookup::Missing(Ticket {
                epoch: state.epoch,
                generation: 0,
            });
        };
        let ticket = Ticket {
            epoch: state.epoch,
            generation: slot.generation,
        };
        match &slot.view {
            Some((view, read_at)) if read_at.elapsed() < VIEW_TTL => Lookup::Fresh(view.clone()),
            Some((view, _)) => Lookup::Expired(view.clone(), ticket),
            None => Lookup::Missing(ticket),
        }
    }

    /// The lock a read of `id` from the database holds.
    fn load_lock(&self, id: &ReleaseId) -> Arc<tokio::sync::Mutex<()>> {
        let mut loads = self.loads.lock().unwrap_or_else(PoisonError::into_inner);
        if loads.len() >= MAX_SLOTS && !loads.contains_key(id) {
            // Locks held now stay valid for their holders; later callers get new ones.
            loads.clear();
        }
        loads.entry(id.clone()).or_default().clone()
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
        if slot.generation != ticket.generation {
            return;
        }
        let replaced = slot.view.replace((view, Instant::now())).is_some();
        if !replaced {
            state.kept += 1;
        }
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
        let views = &self.inner.views;
        let kept = |view: Arc<ReleaseView>| {
            metrics::counter!("shipyard_release_reads_total", "from" => "kept").increment(1);
            Ok(view)
        };
        let _reading = match views.get(&parsed) {
            Lookup::Fresh(view) => return kept(view),
            // Old but unchanged: one caller reads it again, the others serve it meanwhile.
            Lookup::Expired(view, _) => match views.load_lock(&parsed).try_lock_owned() {
                Ok(guard) => guard,
                Err(_) => return kept(view),
            },
            // Changed or never read: wait for the read in flight, if there is one.
            Lookup::Missing(_) => views.load_lock(&parsed).lock_owned().await,
        };
        let ticket = match views.get(&parsed) {
            Lookup::Fresh(view) => return kept(view),
            Lookup::Expired(_, ticket) | Lookup::Missing(ticket) => ticket,
        };
        metrics::counter!("shipyard_release_reads_total", "from" => "database").increment(1);
        let view = Arc::new(self.release(id).await?);
        views.keep(&parsed, ticket, view.clone());
        Ok(view)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_expired_view_is_still_offered_until_it_is_read_again() {
        let m = ReadModel::<u32>::default();
        let t = ticket_of(m.get(&id(1)));
        m.keep(&id(1), t, view());
        // Age it past the time to live.
        m.lock()
            .slots
            .get_mut(&id(1))
            .unwrap()
            .view
            .as_mut()
            .unwrap()
            .1 = Instant::now() - VIEW_TTL;
        let Lookup::Expired(old, t) = m.get(&id(1)) else {
            panic!("not offered as expired")
        };
        assert_eq!(*old, 7);
        m.keep(&id(1), t, Arc::new(8));
        assert_eq!(fresh(m.get(&id(1))).as_deref(), Some(&8));
        assert_eq!(m.lock().kept, 1, "replaced, not counted twice");
        // A change takes even an expired view away.
        m.lock()
            .slots
            .get_mut(&id(1))
            .unwrap()
            .view
            .as_mut()
            .unwrap()
            .1 = Instant::now() - VIEW_TTL;
        m.invalidate(&id(1));
        assert!(matches!(m.get(&id(1)), Lookup::Missing(_)));
    }

    fn id(n: u8) -> ReleaseId {
        ReleaseId::from_random([n; 8])
    }

    fn view() -> Arc<u32> {
        Arc::new(7)
    }

    fn ticket_of(l: Lookup<u32>) -> Ticket {
        match l {
            Lookup::Missing(t) | Lookup::Expired(_, t) => t,
            Lookup::Fresh(_) => panic!("fresh"),
        }
    }

    fn fresh(l: Lookup<u32>) -> Option<Arc<u32>> {
        match l {
            Lookup::Fresh(v) => Some(v),
            _ => None,
        }
    }

    #[test]
    fn a_kept_view_is_served_until_its_release_changes() {
        let m = ReadModel::<u32>::default();
        let ticket = ticket_of(m.get(&id(1)));
        let v = view();
        m.keep(&id(1), ticket, v.clone());
        assert!(Arc::ptr_eq(&fresh(m.get(&id(1))).unwrap(), &v));
        m.invalidate(&id(2));
        assert!(
            fresh(m.get(&id(1))).is_some(),
            "another release's change leaves it"
        );
        m.invalidate(&id(1));
        assert!(fresh(m.get(&id(1))).is_none());
    }

    #[test]
    fn a_read_that_raced_with_a_change_is_not_kept() {
        let m = ReadModel::<u32>::default();
        let ticket = ticket_of(m.get(&id(1)));
        m.invalidate(&id(1));
        m.keep(&id(1), ticket, view());
        assert!(fresh(m.get(&id(1))).is_none());
        let ticket = ticket_of(m.get(&id(1)));
        m.invalidate_all();
        m.keep(&id(1), ticket, view());
        assert!(
            fresh(m.get(&id(1))).is_none(),
            "a resync in between voids the read too"
        );
    }

    #[test]
    fn a_full_model_starts_over_without_forgetting_generations() {
        let m = ReadModel::<u32>::default();
        for n in 0..MAX_VIEWS as u8 {
            let t = ticket_of(m.get(&id(n)));
            m.keep(&id(n), t, view());
        }
        let stale = ticket_of(m.get(&id(200)));
        m.invalidate(&id(200));
        let newer = ticket_of(m.get(&id(200)));
        m.keep(&id(200), stale, view());
        assert!(
            fresh(m.get(&id(200))).is_none(),
            "the stale read is still refused"
        );
        m.keep(&id(200), newer, view());
        assert!(fresh(m.get(&id(200))).is_some());
        assert!(
            fresh(m.get(&id(0))).is_none(),
            "older views went to make room"
        );
    }
}
