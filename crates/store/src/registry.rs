//! The binder: the [`Registry`] contract and its entries ([`Registration`]).

use std::time::Duration;

use async_trait::async_trait;

use crate::error::StoreResult;

/// Where the nodes of each role can be reached (the `tiercache.v1.Registry` service).
/// Entries expire unless renewed.
///
/// Implemented by [`SqlStore`](crate::SqlStore) and [`StoreClient`](crate::StoreClient);
/// both pass the registry cases of the conformance suite (`tests/conformance/registry.rs`),
/// and guarantee:
///
/// * **Expiry** is decided by the store's clock ([`WallClock`](crate::WallClock)), never the
///   caller's: an entry whose time is up is gone for every caller at once.
/// * **Names**: roles, ids and addresses are 1..=128 bytes of printable text (any Unicode,
///   stored verbatim) and a TTL is at least 1 ms; `register`, `heartbeat` and `lookup`
///   refuse anything else with `InvalidArgument`, changing nothing.
///
/// Every method can fail with `Unavailable` when the database (or the store service) cannot
/// be reached.
#[async_trait]
pub trait Registry: Send + Sync + 'static {
    /// Registers (or re-registers, with a new address) a node; the entry lives `ttl` unless
    /// renewed.
    async fn register(
        &self,
        role: &str,
        id: &str,
        address: &str,
        ttl: Duration,
    ) -> StoreResult<Registration>;

    /// Extends a live registration by `ttl` from now. `NotFound` once it expired: register
    /// again.
    async fn heartbeat(&self, role: &str, id: &str, ttl: Duration) -> StoreResult<Registration>;

    /// Removes a registration (no error if it is already gone).
    async fn deregister(&self, role: &str, id: &str) -> StoreResult<()>;

    /// The live registrations of `role`, ordered by id.
    async fn lookup(&self, role: &str) -> StoreResult<Vec<Registration>>;
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
