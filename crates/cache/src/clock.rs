//! Time as the engine sees it: nanoseconds on a monotonic timeline, injectable for tests.
//!
//! TTLs are stored as deadlines on this timeline. The engine reads the clock only when it
//! must (an entry with a TTL is read, a TTL is set, expired entries are purged, Redis's LFU
//! decays), so entries without a TTL cost no clock read at all.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A monotonic source of time in nanoseconds since an arbitrary origin.
///
/// Implementations must never go backwards; two calls from different threads may observe
/// the same value.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Nanoseconds since this clock's origin.
    fn now_nanos(&self) -> u64;
}

/// The real clock: [`Instant`] measured from the moment the clock was created.
#[derive(Debug, Clone, Copy)]
pub struct SystemClock {
    origin: Instant,
}

impl SystemClock {
    /// A clock whose origin is now.
    pub fn new() -> Self {
        SystemClock {
            origin: Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock::new()
    }
}

impl Clock for SystemClock {
    fn now_nanos(&self) -> u64 {
        // Starts near zero: u64 nanoseconds last 584 years from the origin.
        self.origin.elapsed().as_nanos() as u64
    }
}

/// A clock that moves only when told to: TTL and decay tests become deterministic, and the
/// simulator runs on logical time.
///
/// Cloning shares the same time.
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    nanos: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock standing at zero.
    pub fn new() -> Self {
        ManualClock::default()
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.nanos.fetch_add(by.as_nanos() as u64, Ordering::SeqCst);
    }

    /// Sets the clock to `nanos` if that is later than now (a clock never goes back).
    pub fn set_nanos(&self, nanos: u64) {
        self.nanos.fetch_max(nanos, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_nanos(&self) -> u64 {
        self.nanos.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_forward_and_is_shared_by_clones() {
        let clock = ManualClock::new();
        let other = clock.clone();
        clock.advance(Duration::from_millis(5));
        assert_eq!(other.now_nanos(), 5_000_000);
        other.set_nanos(1);
        assert_eq!(clock.now_nanos(), 5_000_000);
    }

    #[test]
    fn system_clock_is_monotonic() {
        let clock = SystemClock::new();
        let a = clock.now_nanos();
        let b = clock.now_nanos();
        assert!(b >= a);
    }
}
