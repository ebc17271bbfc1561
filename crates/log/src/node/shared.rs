//! What a log node's tasks share: its parts, the applications it serves with their
//! readiness, and its counters.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use tiercache_bus::{Bus, Session};
use tokio::sync::Notify;

use crate::storage::LogStorage;
use crate::wire::{CounterValues, NodeRef, PeerSync};

/// What the node's tasks share.
pub(crate) struct Shared {
    pub(crate) id: String,
    pub(crate) url: String,
    pub(crate) storage: Arc<dyn LogStorage>,
    pub(crate) bus: Arc<dyn Bus>,
    pub(crate) session: Session,
    pub(crate) state: Mutex<Assigned>,
    /// Serializes assignments and re-subscriptions (held across bus calls).
    pub(crate) assigning: tokio::sync::Mutex<()>,
    pub(crate) counters: NodeCounters,
    /// Wakes the catch-up task (a new assignment, a restored session).
    pub(crate) wake: Notify,
    pub(crate) sync_interval: Duration,
    /// Bounds each request to another copy.
    pub(crate) peer_timeout: Duration,
}

/// The applications a node serves.
#[derive(Debug, Default)]
pub(crate) struct Assigned {
    /// The epoch of the assignment it follows.
    pub(crate) epoch: u64,
    /// The revision of the assignment it follows.
    pub(crate) revision: u64,
    pub(crate) apps: BTreeMap<String, AppCopy>,
}

/// One application on this node.
#[derive(Debug, Default)]
pub(crate) struct AppCopy {
    /// Its other copies.
    pub(crate) peers: Vec<NodeRef>,
    /// The session generation its subscription was confirmed in.
    pub(crate) subscribed: Option<u64>,
    /// The session generation it caught up in.
    pub(crate) ready: Option<u64>,
    /// How far each other copy was read, by URL.
    pub(crate) synced: BTreeMap<String, PeerSync>,
}

/// What a log node counts.
#[derive(Debug, Default)]
pub struct NodeCounters {
    /// Records stored from appends.
    pub stored: AtomicU64,
    /// Appends of a message already held (acknowledged again when ready, not stored).
    pub duplicates: AtomicU64,
    /// Acknowledgements sent.
    pub acks: AtomicU64,
    /// Appends stored but not acknowledged: the application was catching up.
    pub held_back: AtomicU64,
    /// Appends the storage refused (not acknowledged; the publisher times out).
    pub refused: AtomicU64,
    /// Notices that did not decode, or arrived on a topic that is not a log.
    pub malformed: AtomicU64,
    /// Times the bus session was lost (messages may have been missed).
    pub sessions_lost: AtomicU64,
    /// Records copied from other copies.
    pub pulled: AtomicU64,
}

impl NodeCounters {
    /// The values now.
    pub fn values(&self) -> CounterValues {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        CounterValues {
            stored: get(&self.stored),
            duplicates: get(&self.duplicates),
            acks: get(&self.acks),
            held_back: get(&self.held_back),
            refused: get(&self.refused),
            malformed: get(&self.malformed),
            sessions_lost: get(&self.sessions_lost),
            pulled: get(&self.pulled),
        }
    }
}

impl Shared {
    /// Whether `app` acknowledges appends now: caught up in the current session generation,
    /// whose lease the node can still prove (past it, the bus may already have dropped the
    /// subscription and messages may be passing this node by).
    pub(crate) fn is_ready(&self, app: &str) -> bool {
        let generation = self.session.generation();
        self.session.lease_valid()
            && self
                .state
                .lock()
                .apps
                .get(app)
                .is_some_and(|copy| copy.ready == Some(generation))
    }
}
