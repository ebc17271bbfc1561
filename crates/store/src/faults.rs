//! Fault injection for tests: an object-store wrapper that can hold the replies of reads and of
//! writes, so a test can order an answer after other events deterministically (no sleeps).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use tiercache_core::Version;
use tokio::sync::watch;

use crate::admin_state::{AdminState, Lease, StateEntry};
use crate::error::StoreResult;
use crate::object_store::{ObjectRead, ObjectStore, PendingNotice, Precondition, ScanPage};
use crate::registry::{Registration, Registry};

/// Holds replies while closed.
struct Gate {
    /// `true` while replies are held.
    held: watch::Sender<bool>,
    /// Replies waiting right now.
    waiting: AtomicU64,
}

impl Gate {
    fn new() -> Gate {
        Gate {
            held: watch::Sender::new(false),
            waiting: AtomicU64::new(0),
        }
    }

    /// Returns at once when open; otherwise once opened.
    async fn pass(&self) {
        let mut held = self.held.subscribe();
        if *held.borrow_and_update() {
            self.waiting.fetch_add(1, Ordering::AcqRel);
            let _ = held.wait_for(|held| !held).await;
            self.waiting.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// Wraps an object store; while reads (writes) are held, `get` (`put`, `delete`) runs
/// against the store at once but keeps its answer until released — a write is committed
/// while its reply waits. Everything else passes straight through. Only the object service
/// is wrapped: the registry and the admin state have no test that needs a held reply.
pub struct GatedStore {
    inner: Arc<dyn ObjectStore>,
    reads: Gate,
    writes: Gate,
    /// Writes held before they reach the store (not yet committed).
    uncommitted: Gate,
    /// While `true`, every write fails with `Unavailable` without reaching the store.
    failing_writes: std::sync::atomic::AtomicBool,
}

impl GatedStore {
    /// A pass-through wrapper around `inner`.
    pub fn new(inner: Arc<dyn ObjectStore>) -> GatedStore {
        GatedStore {
            inner,
            reads: Gate::new(),
            writes: Gate::new(),
            uncommitted: Gate::new(),
            failing_writes: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// From now on, `get` replies wait (after the store answered) until released.
    pub fn hold_reads(&self) {
        self.reads.held.send_replace(true);
    }

    /// Lets every held read reply go, and stops holding new ones.
    pub fn release_reads(&self) {
        self.reads.held.send_replace(false);
    }

    /// How many read replies are waiting.
    pub fn waiting_reads(&self) -> u64 {
        self.reads.waiting.load(Ordering::Acquire)
    }

    /// From now on, `put` and `delete` replies wait (after the commit) until released.
    pub fn hold_writes(&self) {
        self.writes.held.send_replace(true);
    }

    /// Lets every held write reply go, and stops holding new ones.
    pub fn release_writes(&self) {
        self.writes.held.send_replace(false);
    }

    /// From now on, `put` and `delete` wait *before* reaching the store (nothing committed)
    /// until released.
    pub fn hold_writes_before_commit(&self) {
        self.uncommitted.held.send_replace(true);
    }

    /// Lets every write held before its commit go on.
    pub fn release_writes_before_commit(&self) {
        self.uncommitted.held.send_replace(false);
    }

    /// How many writes wait before their commit.
    pub fn waiting_before_commit(&self) -> u64 {
        self.uncommitted.waiting.load(Ordering::Acquire)
    }

    /// Makes every write (`put`, `delete`, `batch_put`) fail as if the store were down,
    /// without reaching it — or stops doing so.
    pub fn fail_writes(&self, failing: bool) {
        self.failing_writes.store(failing, Ordering::Release);
    }

    fn check_writes(&self) -> StoreResult<()> {
        if self.failing_writes.load(Ordering::Acquire) {
            return Err(crate::error::StoreError::Unavailable(
                "injected fault: the store refuses writes".into(),
            ));
        }
        Ok(())
    }

    /// How many write replies are waiting.
    pub fn waiting_writes(&self) -> u64 {
        self.writes.waiting.load(Ordering::Acquire)
    }
}

#[async_trait]
impl ObjectStore for GatedStore {
    async fn get(&self, key: &[u8]) -> StoreResult<ObjectRead> {
        let answer = self.inner.get(key).await;
        self.reads.pass().await;
        answer
    }

    async fn batch_get(&self, keys: &[Vec<u8>]) -> StoreResult<Vec<ObjectRead>> {
        self.inner.batch_get(keys).await
    }

    async fn put(
        &self,
        key: &[u8],
        value: &[u8],
        precondition: Precondition,
    ) -> StoreResult<Version> {
        self.check_writes()?;
        self.uncommitted.pass().await;
        let answer = self.inner.put(key, value, precondition).await;
        self.writes.pass().await;
        answer
    }

    async fn delete(&self, key: &[u8], precondition: Precondition) -> StoreResult<Version> {
        self.check_writes()?;
        self.uncommitted.pass().await;
        let answer = self.inner.delete(key, precondition).await;
        self.writes.pass().await;
        answer
    }

    async fn batch_put(&self, items: &[(Vec<u8>, Vec<u8>)]) -> StoreResult<Vec<Version>> {
        self.check_writes()?;
        self.inner.batch_put(items).await
    }

    async fn scan(
        &self,
        prefix: &[u8],
        cursor: Option<&[u8]>,
        limit: usize,
    ) -> StoreResult<ScanPage> {
        self.inner.scan(prefix, cursor, limit).await
    }

    async fn claim_unpublished(
        &self,
        older_than: Duration,
        claim_for: Duration,
        limit: usize,
    ) -> StoreResult<Vec<PendingNotice>> {
        self.inner
            .claim_unpublished(older_than, claim_for, limit)
            .await
    }

    async fn confirm_published(&self, notices: &[PendingNotice]) -> StoreResult<()> {
        self.inner.confirm_published(notices).await
    }
}

/// A whole store (objects, registry, admin state) whose object service is a [`GatedStore`]:
/// what a test serves over gRPC to hold an object call while it checks the server's limits.
pub struct GatedService {
    /// The object service, gated.
    pub objects: Arc<GatedStore>,
    rest: Arc<dyn crate::Store>,
}

impl GatedService {
    /// `store`, with its object calls through a [`GatedStore`] (open until told otherwise).
    pub fn new(store: Arc<dyn crate::Store>) -> GatedService {
        let objects: Arc<dyn ObjectStore> = store.clone();
        GatedService {
            objects: Arc::new(GatedStore::new(objects)),
            rest: store,
        }
    }
}

#[async_trait]
impl ObjectStore for GatedService {
    async fn get(&self, key: &[u8]) -> StoreResult<ObjectRead> {
        self.objects.get(key).await
    }

    async fn batch_get(&self, keys: &[Vec<u8>]) -> StoreResult<Vec<ObjectRead>> {
        self.objects.batch_get(keys).await
    }

    async fn put(
        &self,
        key: &[u8],
        value: &[u8],
        precondition: Precondition,
    ) -> StoreResult<Version> {
        self.objects.put(key, value, precondition).await
    }

    async fn delete(&self, key: &[u8], precondition: Precondition) -> StoreResult<Version> {
        self.objects.delete(key, precondition).await
    }

    async fn batch_put(&self, items: &[(Vec<u8>, Vec<u8>)]) -> StoreResult<Vec<Version>> {
        self.objects.batch_put(items).await
    }

    async fn scan(
        &self,
        prefix: &[u8],
        cursor: Option<&[u8]>,
        limit: usize,
    ) -> StoreResult<ScanPage> {
        self.objects.scan(prefix, cursor, limit).await
    }

    async fn claim_unpublished(
        &self,
        older_than: Duration,
        claim_for: Duration,
        limit: usize,
    ) -> StoreResult<Vec<PendingNotice>> {
        self.objects
            .claim_unpublished(older_than, claim_for, limit)
            .await
    }

    async fn confirm_published(&self, notices: &[PendingNotice]) -> StoreResult<()> {
        self.objects.confirm_published(notices).await
    }
}

#[async_trait]
impl Registry for GatedService {
    async fn register(
        &self,
        role: &str,
        id: &str,
        address: &str,
        ttl: Duration,
    ) -> StoreResult<Registration> {
        self.rest.register(role, id, address, ttl).await
    }

    async fn heartbeat(&self, role: &str, id: &str, ttl: Duration) -> StoreResult<Registration> {
        self.rest.heartbeat(role, id, ttl).await
    }

    async fn deregister(&self, role: &str, id: &str) -> StoreResult<()> {
        self.rest.deregister(role, id).await
    }

    async fn lookup(&self, role: &str) -> StoreResult<Vec<Registration>> {
        self.rest.lookup(role).await
    }
}

#[async_trait]
impl AdminState for GatedService {
    async fn acquire_lease(&self, name: &str, holder: &str, ttl: Duration) -> StoreResult<Lease> {
        self.rest.acquire_lease(name, holder, ttl).await
    }

    async fn renew_lease(
        &self,
        name: &str,
        holder: &str,
        epoch: u64,
        ttl: Duration,
    ) -> StoreResult<Lease> {
        self.rest.renew_lease(name, holder, epoch, ttl).await
    }

    async fn release_lease(&self, name: &str, holder: &str, epoch: u64) -> StoreResult<()> {
        self.rest.release_lease(name, holder, epoch).await
    }

    async fn read_state(&self, lease: &str, key: &str) -> StoreResult<Option<StateEntry>> {
        self.rest.read_state(lease, key).await
    }

    async fn list_state(&self, lease: &str) -> StoreResult<Vec<StateEntry>> {
        self.rest.list_state(lease).await
    }

    async fn write_state(
        &self,
        lease: &str,
        key: &str,
        value: &[u8],
        epoch: u64,
    ) -> StoreResult<()> {
        self.rest.write_state(lease, key, value, epoch).await
    }
}
