//! Install admission: what a fill or a write records before it reads (or writes) for the
//! near cache, what it checks under the install lock before it installs, and how a newer
//! version known to be in the store stops every install in progress from putting anything
//! older in place.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use tiercache_core::Version;

use crate::coherence::Admission;
use crate::node::Node;

/// What a fill or a write checks before it installs in the near cache (see
/// [`Node::prepare_install`]); dropping it lets the key's topic go if nothing else needs it.
pub(crate) struct InstallTicket<'a> {
    node: &'a Node,
    key: &'a [u8],
    /// Session generation and flush epoch when it started (`None`: no bus).
    admission: Option<Admission>,
    /// The key's shared floor (`None`: no bus).
    floor: Option<Arc<AtomicU64>>,
}

impl InstallTicket<'_> {
    /// Whether `version` may still be installed: no notice at a newer version arrived, and
    /// no session loss or flush happened since the ticket was taken.
    pub(crate) fn admits(&self, version: Version) -> bool {
        let floor_ok = self
            .floor
            .as_ref()
            .is_none_or(|floor| version.0 >= floor.load(Ordering::Acquire));
        let admission_ok = match (self.admission, &self.node.coherence) {
            (Some(admission), Some(coherence)) => coherence.admission() == admission,
            _ => true,
        };
        floor_ok && admission_ok
    }
}

impl Drop for InstallTicket<'_> {
    fn drop(&mut self) {
        if self.floor.is_none() {
            return;
        }
        let mut installing = self.node.installing.lock();
        if let Some(entry) = installing.get_mut(self.key) {
            entry.holders -= 1;
            if entry.holders == 0 {
                installing.remove(self.key);
            }
        }
        drop(installing);
        // Re-checked by the release task under the topic's lock. A copy that is installed
        // queues its own release when it leaves the near cache.
        if !self
            .node
            .near
            .as_ref()
            .is_some_and(|near| near.contains(self.key))
        {
            self.node.queue_release(self.key);
        }
    }
}

impl Node {
    /// Before reading (or writing) `key` for the near cache: registers the install in
    /// progress, subscribes to the key's topic (confirmed) and returns what to check at
    /// install time. `None`: do not install.
    pub(crate) async fn prepare_install<'a>(&'a self, key: &'a [u8]) -> Option<InstallTicket<'a>> {
        self.near.as_ref()?;
        let Some(coherence) = &self.coherence else {
            return Some(InstallTicket {
                node: self,
                key,
                admission: None,
                floor: None,
            });
        };
        let floor = {
            let mut installing = self.installing.lock();
            let entry = installing.entry(key.to_vec()).or_default();
            entry.holders += 1;
            Arc::clone(&entry.floor)
        };
        let ticket = InstallTicket {
            node: self,
            key,
            admission: Some(coherence.admission()),
            floor: Some(floor),
        };
        // Without a confirmed subscription a later write could not reach this copy: the
        // answer is still served, just not cached.
        coherence.subscribe_for(key).await.ok()?;
        Some(ticket)
    }

    /// Asks the release task to drop `key`'s subscription if nothing uses it.
    fn queue_release(&self, key: &[u8]) {
        if let Some(releases) = &self.releases {
            let _ = releases.send(key.to_vec());
        }
    }

    /// `key` is at `version` in the store: drops (or replaces) any older copy here and keeps
    /// installs in progress from putting anything older in place. `None`: nothing here had
    /// to do with `key`; otherwise whether anything was changed or stopped.
    pub(crate) fn apply_change(
        &self,
        key: &[u8],
        version: Version,
        replacement: Option<Option<Bytes>>,
    ) -> Option<bool> {
        let flight = self.flights.lock().get(key).cloned();
        let installing = self
            .installing
            .lock()
            .get(key)
            .map(|entry| Arc::clone(&entry.floor));
        let near = self.near.as_ref()?;
        if flight.is_none() && installing.is_none() && !near.contains(key) {
            return None;
        }
        let changed = near.apply_notice(key, version, replacement, || {
            if let Some(flight) = &flight {
                flight.floor.fetch_max(version.0, Ordering::AcqRel);
            }
            if let Some(floor) = &installing {
                floor.fetch_max(version.0, Ordering::AcqRel);
            }
        });
        if let Some(flight) = &flight {
            // Readers that start from now on must not join a fill that may be older.
            let mut flights = self.flights.lock();
            if flights.get(key).is_some_and(|f| Arc::ptr_eq(f, flight)) {
                flights.remove(key);
            }
        }
        Some(changed || flight.is_some() || installing.is_some())
    }
}
