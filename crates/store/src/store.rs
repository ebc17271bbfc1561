use std::time::Duration;

use async_trait::async_trait;
use tiercache_core::Version;

use crate::error::StoreResult;
use crate::model::{Lease, Lookup, Precondition, Registration, ScanPage, StateEntry};

/// The object store (SA), the registry (binder) and the admin state, as one service.
///
/// Implemented by [`SqlStore`](crate::SqlStore) (SQLite or PostgreSQL) and by
/// [`StoreClient`](crate::StoreClient) (the same operations over gRPC). Every implementation
/// passes the same conformance suite (`tests/conformance.rs`), and guarantees:
///
/// * **Versions**: each write of a key gets a version one above the key's previous one,
///   assigned inside the write's transaction; a delete leaves a tombstone at a new version,
///   and a later write continues above it. Concurrent writers to one key never lose an
///   update and leave no gap in its versions.
/// * **Atomicity**: a write that fails (bad input, failed precondition, lost connection
///   before commit) changes nothing; `batch_put` writes all of its items or none.
/// * **Durability**: a write is acknowledged only after its transaction committed
///   (SQLite: WAL with `synchronous=FULL`; PostgreSQL: its commit).
/// * **Expiry** of registrations and leases is decided by the store's clock.
/// * **Fencing**: `write_state` commits only if the presented epoch is the lease's current
///   epoch, checked in the same transaction.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    // ----- objects -----

    /// What the store knows about `key`.
    async fn get(&self, key: &[u8]) -> StoreResult<Lookup>;

    /// Several keys, read in one snapshot; one answer per key, in order.
    async fn batch_get(&self, keys: &[Vec<u8>]) -> StoreResult<Vec<Lookup>>;

    /// Writes `value` under `key` if `precondition` holds; returns the new version.
    async fn put(
        &self,
        key: &[u8],
        value: &[u8],
        precondition: Precondition,
    ) -> StoreResult<Version>;

    /// Deletes the live object under `key` if `precondition` holds, leaving a tombstone;
    /// returns the tombstone's version. `NotFound` when there is no live object.
    async fn delete(&self, key: &[u8], precondition: Precondition) -> StoreResult<Version>;

    /// Writes every item in one transaction; returns each item's version in order. A key
    /// repeated in the batch keeps its last value, and all its items report that version.
    async fn batch_put(&self, items: &[(Vec<u8>, Vec<u8>)]) -> StoreResult<Vec<Version>>;

    /// Live objects whose key starts with `prefix`, after `cursor` (exclusive), in byte
    /// order, at most `limit` (capped by the limits) per page.
    async fn scan(
        &self,
        prefix: &[u8],
        cursor: Option<&[u8]>,
        limit: usize,
    ) -> StoreResult<ScanPage>;

    // ----- registry (binder) -----

    /// Registers (or re-registers) a node; the entry lives `ttl` unless renewed.
    async fn register(
        &self,
        role: &str,
        id: &str,
        address: &str,
        ttl: Duration,
    ) -> StoreResult<Registration>;

    /// Extends a live registration by `ttl` from now. `NotFound` once it expired.
    async fn heartbeat(&self, role: &str, id: &str, ttl: Duration) -> StoreResult<Registration>;

    /// Removes a registration (no error if it is already gone).
    async fn deregister(&self, role: &str, id: &str) -> StoreResult<()>;

    /// The live registrations of `role`, ordered by id.
    async fn lookup(&self, role: &str) -> StoreResult<Vec<Registration>>;

    // ----- admin state -----

    /// Takes lease `name` for `holder` if it is free or expired (at a new, higher epoch), or
    /// extends it if `holder` already holds it live (same epoch). `LeaseHeld` otherwise.
    async fn acquire_lease(&self, name: &str, holder: &str, ttl: Duration) -> StoreResult<Lease>;

    /// Extends a live lease held by `holder` at `epoch`. `StaleEpoch` when the epoch moved
    /// on or the lease expired (acquire it again).
    async fn renew_lease(
        &self,
        name: &str,
        holder: &str,
        epoch: u64,
        ttl: Duration,
    ) -> StoreResult<Lease>;

    /// Gives the lease up so another holder can take it at once (no-op if not held).
    async fn release_lease(&self, name: &str, holder: &str, epoch: u64) -> StoreResult<()>;

    /// One entry of the state kept under lease `lease`.
    async fn read_state(&self, lease: &str, key: &str) -> StoreResult<Option<StateEntry>>;

    /// Every entry of the state kept under lease `lease`, ordered by key.
    async fn list_state(&self, lease: &str) -> StoreResult<Vec<StateEntry>>;

    /// Writes one state entry, fenced: rejected with `StaleEpoch` unless `epoch` is the
    /// lease's current epoch, checked in the write's transaction.
    async fn write_state(
        &self,
        lease: &str,
        key: &str,
        value: &[u8],
        epoch: u64,
    ) -> StoreResult<()>;
}
