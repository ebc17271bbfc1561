//! [`WallClock`]: the clock that decides registry and lease expiry (the store's, never the
//! caller's).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The wall clock the store stamps registry entries and leases with (milliseconds since the
/// Unix epoch). Expiry is decided by the store's clock only, never the caller's, so nodes
/// with skewed clocks still agree on who is live.
#[derive(Debug, Clone, Default)]
pub enum WallClock {
    /// The system clock.
    #[default]
    System,
    /// A clock that moves only when told to (tests).
    Manual(Arc<AtomicI64>),
}

impl WallClock {
    /// A manual clock starting at `start_ms`, and the handle that moves it.
    pub fn manual(start_ms: i64) -> (WallClock, Arc<AtomicI64>) {
        let handle = Arc::new(AtomicI64::new(start_ms));
        (WallClock::Manual(handle.clone()), handle)
    }

    /// Now, in milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> i64 {
        match self {
            WallClock::System => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|elapsed| elapsed.as_millis() as i64)
                .unwrap_or(0),
            WallClock::Manual(now) => now.load(Ordering::SeqCst),
        }
    }
}
