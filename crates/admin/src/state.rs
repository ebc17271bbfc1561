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
use tiercache_store::{AdminState, StateEntry, StoreError, StoreResult};

use crate::placement::{LogNode, Placement};

/// The lease the admins compete for; their state is kept under it.
pub const LEASE: &str = "admin";

/// The prefix of an application's key.
const APP_PREFIX: &str = "app/";

/// The longest application name, in bytes (the store's keys are at most 128 bytes, prefix
/// included).
pub const MAX_APP_BYTES: usize = 128 - APP_PREFIX.len();

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

/// Checks an application name: 1..=[`MAX_APP_BYTES`] bytes of ASCII letters, digits, `.`,
/// `_` and `-`, and neither `.` nor `..` (it names a store key here, and a bus topic and a
/// directory for the log).
pub fn check_app(app: &str) -> Result<(), String> {
    if app.is_empty() || app.len() > MAX_APP_BYTES {
        return Err(format!(
            "an application name is 1 to {MAX_APP_BYTES} bytes, got {}",
            app.len()
        ));
    }
    if app == "." || app == ".." {
        // It names a directory on the log nodes: never one that leaves their data directory.
        return Err(format!("an application cannot be named {app:?}"));
    }
    match app
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        Some(c) => Err(format!(
            "an application name holds only letters, digits, '.', '_' and '-', not {c:?}"
        )),
        None => Ok(()),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn application_names_are_checked() {
        for good in ["a", "shop-1", "A.b_c", &"x".repeat(MAX_APP_BYTES)] {
            assert_eq!(check_app(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "a b",
            "é",
            &"x".repeat(MAX_APP_BYTES + 1),
            "a\n",
        ] {
            assert!(check_app(bad).is_err(), "{bad:?}");
        }
    }
}
