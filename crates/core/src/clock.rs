//! Time, as a trait so that trackers, upstream clients and tests can move it by hand.

use std::sync::atomic::{AtomicI64, Ordering};

/// A source of the current time in unix seconds.
pub trait Clock: Send + Sync + std::fmt::Debug + 'static {
    /// Now, in unix seconds.
    fn now(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    }
}

/// A clock that only moves when told to.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// A clock standing at `at`.
    pub fn new(at: i64) -> Self {
        ManualClock(AtomicI64::new(at))
    }

    /// Moves the clock forward.
    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}
