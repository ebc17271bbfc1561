use std::time::Duration;

use tiercache_core::Version;

/// A live object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    /// Its key (any bytes, 1..=`max_key_bytes`).
    pub key: Vec<u8>,
    /// Its value (any bytes, possibly empty).
    pub value: Vec<u8>,
    /// The version of the write that produced it.
    pub version: Version,
}

/// What the store knows about one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Never written.
    Absent,
    /// Live, with its value and version.
    Live {
        /// The value.
        value: Vec<u8>,
        /// The version of the write that produced it.
        version: Version,
    },
    /// Deleted; a later write continues above the tombstone's version.
    Deleted {
        /// The tombstone's version.
        version: Version,
    },
}

impl Lookup {
    /// The key's current version, tombstones included (0 when never written).
    pub fn version(&self) -> Version {
        match self {
            Lookup::Absent => Version::ZERO,
            Lookup::Live { version, .. } | Lookup::Deleted { version } => *version,
        }
    }

    /// The live value, if any.
    pub fn value(&self) -> Option<&[u8]> {
        match self {
            Lookup::Live { value, .. } => Some(value),
            _ => None,
        }
    }
}

/// A condition a single write is checked against inside its transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precondition {
    /// Write unconditionally.
    #[default]
    None,
    /// The key's current version (live or tombstone) must be this one; `Version::ZERO`
    /// means the key was never written. Compare-and-set on the version.
    Version(Version),
    /// The key must hold no live object (never written, or deleted).
    Absent,
}

/// One page of a prefix scan.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScanPage {
    /// Live objects in byte order of their keys.
    pub objects: Vec<Object>,
    /// Where the next page starts; `None` when the scan is complete.
    pub next_cursor: Option<Vec<u8>>,
}

/// A live entry of the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// The role ("store", "admin", "lognode", "api", ...).
    pub role: String,
    /// The node's id, unique within its role.
    pub id: String,
    /// Where the node can be reached.
    pub address: String,
    /// When the entry expires unless renewed (ms since the Unix epoch, store clock).
    pub expires_at_ms: i64,
}

/// A held lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The lease's name (one per group of admin nodes).
    pub name: String,
    /// Its holder.
    pub holder: String,
    /// The holder's epoch: a new holder always gets a higher one.
    pub epoch: u64,
    /// When the lease lapses unless renewed (ms since the Unix epoch, store clock).
    pub expires_at_ms: i64,
}

/// One entry of the admin state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateEntry {
    /// Its key within the lease's state.
    pub key: String,
    /// Its value.
    pub value: Vec<u8>,
    /// The epoch of the write that produced it.
    pub epoch: u64,
}

pub(crate) fn ttl_ms(ttl: Duration) -> crate::StoreResult<i64> {
    let ms = ttl.as_millis();
    if ms == 0 || ms > i64::MAX as u128 / 2 {
        return Err(crate::StoreError::invalid(format!(
            "a TTL must be at least 1 ms and finite, got {ttl:?}"
        )));
    }
    Ok(ms as i64)
}
