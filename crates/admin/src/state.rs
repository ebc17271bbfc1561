//! The admin's state as the store keeps it: one entry per application under the lease
//! [`LEASE`], each written fenced by the writer's epoch.
//!
//! | key          | value (JSON)                                         |
//! |--------------|------------------------------------------------------|
//! | `app/{APP}`  | `{"nodes":[{"id":…,"url":…},…],"revision":N}`        |
//!
//! `revision` numbers the admin's writes: each write gets one more than the highest in the
//! store when its writer became active, so the highest revision is the state's version (what
//! the active announces to the standbys, and what a standby compares to decide to reload).

use serde::{Deserialize, Serialize};
use tiercache_log::MAX_APP_BYTES;
use tiercache_store::{AdminState, StateEntry, StoreError, StoreResult};

use crate::placement::{LogNode, Placement};

/// The lease the admins compete for; their state is kept under it.
pub const LEASE: &str = "admin";

/// The prefix of an application's key (the store's keys are at most 128 bytes: a name of
/// [`MAX_APP_BYTES`] fits).
const APP_PREFIX: &str = "app/";
const _: () = assert!(APP_PREFIX.len() + MAX_APP_BYTES <= 128);

/// The admin's state loaded from the store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// The log nodes of every application.
    pub placement: Placement,
    /// The highest revision written (0 for an empty state).
    pub revision: u64,
}

/// One application's entry.
#[derive(Debug, Serialize, Deserialize)]
struct AppEntry {
    nodes: Vec<LogNode>,
    revision: u64,
}

/// Reads the whole state.
pub async fn load(store: &dyn AdminState) -> StoreResult<Snapshot> {
    let mut snapshot = Snapshot::default();
    for StateEntry { key, value, .. } in store.list_state(LEASE).await? {
        let Some(app) = key.strip_prefix(APP_PREFIX) else {
            continue; // a key of a later version: not ours to interpret
        };
        let entry: AppEntry = serde_json::from_slice(&value).map_err(|error| {
            StoreError::Internal(format!("admin state entry {key:?} is not valid: {error}"))
        })?;
        snapshot.revision = snapshot.revision.max(entry.revision);
        snapshot.placement.insert(app.to_owned(), entry.nodes);
    }
    Ok(snapshot)
}

/// Writes one application's nodes at `revision`, fenced by `epoch`.
pub async fn write_app(
    store: &dyn AdminState,
    epoch: u64,
    app: &str,
    nodes: &[LogNode],
    revision: u64,
) -> StoreResult<()> {
    let entry = AppEntry {
        nodes: nodes.to_vec(),
        revision,
    };
    let value = serde_json::to_vec(&entry).expect("an app entry always serializes");
    store
        .write_state(LEASE, &format!("{APP_PREFIX}{app}"), &value, epoch)
        .await
}
