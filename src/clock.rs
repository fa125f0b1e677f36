//! The wall clock, behind a trait so tests can move time by hand.
//!
//! Alert decisions run in event time (the log entries' own times); the wall clock only decides
//! when a pending notification is retried, when a delivery claim expires, and whether a load
//! balancer's logs have stopped arriving.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// Microseconds since the Unix epoch, now.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current time (µs since the epoch).
    fn now_us(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_us(&self) -> i64 {
        chrono::Utc::now().timestamp_micros()
    }
}

/// A clock that only moves when told to (tests, replays). Clones share the time.
#[derive(Debug, Clone, Default)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// A clock showing `now_us`.
    #[must_use]
    pub fn at(now_us: i64) -> Self {
        Self(Arc::new(AtomicI64::new(now_us)))
    }

    /// Moves the clock by `us` (may be negative).
    pub fn advance(&self, us: i64) {
        self.0.fetch_add(us, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_us(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}
