//! The object service: the [`ObjectStore`] contract and the values it exchanges (an
//! [`Object`], what a read finds under a key ([`ObjectRead`]), write [`Precondition`]s and
//! [`ScanPage`]s).

use async_trait::async_trait;
use tiercache_core::Version;

use crate::error::StoreResult;

/// Versioned objects: the source of truth every cache tier fills from and writes through
/// (the `tiercache.v1.ObjectStore` service).
///
/// Implemented by [`SqlStore`](crate::SqlStore) and [`StoreClient`](crate::StoreClient),
/// which pass the object cases of the conformance suite (`tests/conformance/objects.rs`),
/// and by the test wrapper [`GatedStore`](crate::faults::GatedStore), which forwards to one
/// of them. Every implementation guarantees:
///
/// * **Versions**: each write of a key gets a version one above the key's previous one,
///   assigned inside the write's transaction; a delete leaves a tombstone at a new version,
///   and a later write continues above it. Concurrent writers to one key never lose an
///   update and leave no gap in its versions.
/// * **Atomicity**: a write that fails (bad input, failed precondition, lost connection
///   before commit) changes nothing; `batch_put` writes all of its items or none.
/// * **Durability**: a write is acknowledged only after its transaction committed
///   (SQLite: WAL with `synchronous=FULL`; PostgreSQL: its commit).
/// * **Limits**: a key, value or batch over the [`Limits`](crate::Limits) fails with
///   `TooLarge` (an empty key with `InvalidArgument`) before anything is written.
/// * **Outbox**: every committed write (`put`, `delete`, each item of `batch_put`) leaves a
///   [`PendingNotice`] in the same transaction; it stays until
///   [`confirm_published`](ObjectStore::confirm_published) covers it, and
///   [`claim_unpublished`](ObjectStore::claim_unpublished) hands it out once it is old
///   enough, to one caller per claim. So a writer that dies between its commit and its
///   notice leaves the notice for another node to send.
///
/// Every method can fail with `Unavailable` when the database (or the store service) cannot
/// be reached; for a write that means it may or may not have committed.
#[async_trait]
pub trait ObjectStore: Send + Sync + 'static {
    /// What the store knows about `key`: never written, live, or deleted at a version.
    async fn get(&self, key: &[u8]) -> StoreResult<ObjectRead>;

    /// Several keys, read in one snapshot; one answer per key, in order. `TooLarge` when the
    /// values together would not fit in one answer (ask for fewer keys).
    async fn batch_get(&self, keys: &[Vec<u8>]) -> StoreResult<Vec<ObjectRead>>;

    /// Writes `value` under `key` if `precondition` holds; returns the new version.
    /// `VersionConflict` (naming the current version) when it does not.
    async fn put(
        &self,
        key: &[u8],
        value: &[u8],
        precondition: Precondition,
    ) -> StoreResult<Version>;

    /// Deletes the live object under `key` if `precondition` holds, leaving a tombstone;
    /// returns the tombstone's version. `NotFound` when there is no live object,
    /// `VersionConflict` when a version precondition fails, `InvalidArgument` for
    /// [`Precondition::Absent`] (a delete cannot require it).
    async fn delete(&self, key: &[u8], precondition: Precondition) -> StoreResult<Version>;

    /// Writes every item in one transaction; returns each item's version in order. A key
    /// repeated in the batch keeps its last value, and all its items report that version.
    async fn batch_put(&self, items: &[(Vec<u8>, Vec<u8>)]) -> StoreResult<Vec<Version>>;

    /// Live objects whose key starts with `prefix`, after `cursor` (exclusive), in byte
    /// order, at most `limit` (capped by the limits; 0 means the largest page) per page. A
    /// page also ends early when its values would not fit in one answer (it keeps at least
    /// one object).
    async fn scan(
        &self,
        prefix: &[u8],
        cursor: Option<&[u8]>,
        limit: usize,
    ) -> StoreResult<ScanPage>;

    /// Writes committed at least `older_than` ago (by the store's clock) whose notices were
    /// not confirmed published and are not claimed, oldest first, at most `limit`
    /// (capped by the batch limit). Each is claimed for `claim_for`: no caller gets it again
    /// before that, so several nodes sweeping at once share the work. A claim that lapses
    /// (its node died before confirming) hands the write out again.
    async fn claim_unpublished(
        &self,
        older_than: std::time::Duration,
        claim_for: std::time::Duration,
        limit: usize,
    ) -> StoreResult<Vec<PendingNotice>>;

    /// Forgets the outbox entries of these writes, and of older versions of the same keys
    /// (a notice at a version supersedes the older ones): their notices were published.
    /// Entries already gone are no error.
    async fn confirm_published(&self, notices: &[PendingNotice]) -> StoreResult<()>;
}

/// A committed write whose notice may not have been published: the outbox's entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PendingNotice {
    /// The written key.
    pub key: Vec<u8>,
    /// The version the write produced (a tombstone's for a delete).
    pub version: Version,
}

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

/// What a read of one key found in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectRead {
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

impl ObjectRead {
    /// The key's current version, tombstones included (0 when never written).
    pub fn version(&self) -> Version {
        match self {
            ObjectRead::Absent => Version::ZERO,
            ObjectRead::Live { version, .. } | ObjectRead::Deleted { version } => *version,
        }
    }

    /// The live value, if any.
    pub fn value(&self) -> Option<&[u8]> {
        match self {
            ObjectRead::Live { value, .. } => Some(value),
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
