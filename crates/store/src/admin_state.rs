//! The admin service's state: the [`AdminState`] contract, its [`Lease`] and its
//! [`StateEntry`]s.

use std::time::Duration;

use async_trait::async_trait;

use crate::error::StoreResult;

/// A lease with an epoch, and key/value state whose writes are fenced by that epoch (the
/// `tiercache.v1.AdminState` service): whoever holds the lease writes the state, and a
/// holder that lost it can no longer write, even if it does not know yet.
///
/// Implemented by [`SqlStore`](crate::SqlStore) and [`StoreClient`](crate::StoreClient);
/// both pass the admin-state cases of the conformance suite
/// (`tests/conformance/admin_state.rs`), and guarantee:
///
/// * **Epochs**: a new holder (or a holder whose lease expired) always gets a higher epoch
///   than any before it.
/// * **Expiry** of leases is decided by the store's clock ([`WallClock`](crate::WallClock)).
/// * **Fencing**: `write_state` commits only if the presented epoch is the lease's current
///   epoch and the lease is live, checked in the same transaction; a failed write changes
///   nothing.
/// * **Durability**: a write is acknowledged only after its transaction committed.
///
/// Every method can fail with `Unavailable` when the database (or the store service) cannot
/// be reached; for a write that means it may or may not have committed.
#[async_trait]
pub trait AdminState: Send + Sync + 'static {
    /// Takes lease `name` for `holder` if it is free or expired (at a new, higher epoch), or
    /// extends it if `holder` already holds it live (same epoch). `LeaseHeld` otherwise.
    async fn acquire_lease(&self, name: &str, holder: &str, ttl: Duration) -> StoreResult<Lease>;

    /// Extends a live lease held by `holder` at `epoch`. `StaleEpoch` when the epoch moved
    /// on, `LeaseExpired` when the lease lapsed at that epoch (acquire it again).
    async fn renew_lease(
        &self,
        name: &str,
        holder: &str,
        epoch: u64,
        ttl: Duration,
    ) -> StoreResult<Lease>;

    /// Gives the lease up so another holder can take it at once (no-op if not held); the
    /// releaser's later writes fail with `LeaseExpired`.
    async fn release_lease(&self, name: &str, holder: &str, epoch: u64) -> StoreResult<()>;

    /// One entry of the state kept under lease `lease` (`None` when there is none).
    async fn read_state(&self, lease: &str, key: &str) -> StoreResult<Option<StateEntry>>;

    /// Every entry of the state kept under lease `lease`, ordered by key.
    async fn list_state(&self, lease: &str) -> StoreResult<Vec<StateEntry>>;

    /// Writes one state entry, fenced: rejected with `StaleEpoch` unless `epoch` is the
    /// lease's current epoch (a lease never taken is at epoch 0), or with `LeaseExpired`
    /// when the lease lapsed, checked in the write's transaction.
    async fn write_state(
        &self,
        lease: &str,
        key: &str,
        value: &[u8],
        epoch: u64,
    ) -> StoreResult<()>;
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
