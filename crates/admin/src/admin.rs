//! [`Admin`]: one admin instance — the lease it holds or waits for, its copy of the state,
//! and the requests it answers.
//!
//! Every change of role or state goes through one lock held across its store calls (one
//! writer at a time); status requests read a copy published after each change, so a slow
//! store never delays them.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tiercache_store::{Store, StoreError};

use crate::assign::{self, Answers};
use crate::error::{AdminError, AdminResult};
use crate::options::AdminOptions;
use crate::peers::{self, Heard, Heartbeat};
use crate::placement::{self, LogNode};
use crate::service::{
    ActivePeer, AdminService, AdminStatus, Assignment, NodeLoad, Role, WriteCounts,
};
use crate::state::{self, LEASE, Snapshot};

/// The role log nodes register under in the binder.
pub const LOG_ROLE: &str = "log";

/// One admin instance. Drive it with [`Admin::run`] (or [`Admin::tick`] step by step in
/// tests) and serve it with [`router`](crate::router).
pub struct Admin {
    store: Arc<dyn Store>,
    options: AdminOptions,
    /// Role and state, changed by one writer at a time.
    writer: tokio::sync::Mutex<Writer>,
    /// A copy of the writer's state for status requests, published after each change.
    view: RwLock<Writer>,
    /// The last heartbeat heard from an active admin.
    heard: Mutex<Option<Heard>>,
    /// The log nodes' answers to the active's assignments.
    answers: Mutex<Answers>,
    counters: Counters,
}

/// An instance's role and state.
#[derive(Debug, Clone, Default)]
struct Writer {
    /// The lease, while this instance holds it.
    held: Option<Held>,
    /// The state: the active's own, a standby's warm copy.
    snapshot: Snapshot,
    /// The live log nodes as last looked up.
    live: Vec<LogNode>,
    /// The lease's holder and epoch as the store last named them to this standby.
    holder: Option<(String, u64)>,
}

/// A lease held, as this instance counts it.
#[derive(Debug, Clone, Copy)]
struct Held {
    epoch: u64,
    /// When it lapses by this instance's clock: the ttl counted from *before* the request
    /// that took or renewed it was sent, so never later than the store's expiry.
    valid_until: Instant,
}

/// What an instance counts, for `/metrics` and the status.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) accepted: AtomicU64,
    pub(crate) fenced: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) takeovers: AtomicU64,
    pub(crate) step_downs: AtomicU64,
    pub(crate) heartbeats_sent: AtomicU64,
    pub(crate) heartbeats_failed: AtomicU64,
    pub(crate) heartbeats_heard: AtomicU64,
    pub(crate) reloads: AtomicU64,
}

fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

impl Admin {
    /// An instance over `store` (its registry is the binder, its admin state the lease and
    /// state), as a standby until its first [`tick`](Self::tick) takes the lease.
    pub fn new(store: Arc<dyn Store>, options: AdminOptions) -> Arc<Admin> {
        Arc::new(Admin {
            store,
            options,
            writer: tokio::sync::Mutex::new(Writer::default()),
            view: RwLock::new(Writer::default()),
            heard: Mutex::new(None),
            answers: Mutex::new(Answers::default()),
            counters: Counters::default(),
        })
    }

    /// The store it keeps its state in (whose registry is the binder).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Its settings.
    pub fn options(&self) -> &AdminOptions {
        &self.options
    }

    pub(crate) fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Ticks every [`AdminOptions::tick`] until `shutdown` completes, then gives the lease up
    /// if it holds it, so a standby takes over at once instead of after a lease.
    pub async fn run(self: Arc<Self>, shutdown: impl Future<Output = ()>) {
        let mut ticks = tokio::time::interval(self.options.tick());
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                _ = ticks.tick() => self.tick().await,
            }
        }
        self.resign().await;
    }

    /// One round. The active repairs the placement (every write fenced by its epoch), renews
    /// the lease and sends its heartbeat to the other admins; a standby tries to take the
    /// lease, and otherwise refreshes its warm copy when the active announced a newer state.
    ///
    /// The active does its work *before* renewing: an instance that was paused past its lease
    /// attempts its writes, and the store's fence refuses them (that is what the fence is
    /// for); the refusal makes it step down.
    pub async fn tick(&self) {
        let mut writer = self.writer.lock().await;
        if let Some(held) = writer.held {
            // A failed write is retried by the next repair; a fenced one ended the lease.
            let _ = self.repair(&mut writer, held.epoch).await;
            if let Some(held) = writer.held {
                self.renew(&mut writer, held).await;
            }
        } else {
            self.take_over_or_follow(&mut writer).await;
        }
        self.publish(&writer);
        let beat = writer.held.map(|held| self.heartbeat(&writer, held));
        let round = writer.held.map(|held| {
            let snapshot = &writer.snapshot;
            (
                snapshot.placement.clone(),
                writer.live.clone(),
                held.epoch,
                snapshot.revision,
            )
        });
        drop(writer);
        if let Some(beat) = beat {
            let sent = peers::announce(self.store.clone(), beat, self.options.tick()).await;
            bump(&self.counters.heartbeats_sent, sent.delivered);
            bump(&self.counters.heartbeats_failed, sent.failed);
        }
        if let Some((placement, live, epoch, revision)) = round {
            let timeout = self.options.tick();
            let answers = assign::send(&placement, &live, epoch, revision, timeout).await;
            let mut kept = self.answers.lock().unwrap();
            kept.retain_live(&live);
            kept.record(answers);
        }
    }

    /// Gives the lease up if held (a clean stop): a standby can take it on its next tick.
    pub async fn resign(&self) {
        let mut writer = self.writer.lock().await;
        if let Some(held) = writer.held.take() {
            if let Err(error) = self
                .store
                .release_lease(LEASE, &self.options.id, held.epoch)
                .await
            {
                tracing::warn!(
                    "admin {}: releasing the lease failed (it lapses within {:?}): {error}",
                    self.options.id,
                    self.options.lease
                );
            }
            self.publish(&writer);
        }
    }

    /// Records a heartbeat from the active admin (`POST /v1/admin/peer`).
    pub fn hear(&self, beat: Heartbeat) {
        bump(&self.counters.heartbeats_heard, 1);
        Heard::update(&mut self.heard.lock().unwrap(), beat);
    }

    /// The active's work: replaces lapsed log nodes in every application that has one.
    /// `Err` when a write was fenced (this instance stepped down) or failed.
    async fn repair(&self, writer: &mut Writer, epoch: u64) -> AdminResult<()> {
        let Some(live) = self.live_log_nodes(writer).await else {
            return Ok(()); // the binder is unreachable: nothing can be decided this tick
        };
        for (app, nodes) in
            placement::repair(&writer.snapshot.placement, &live, self.options.replicas)
        {
            self.write(writer, epoch, &app, nodes).await?;
        }
        Ok(())
    }

    /// Looks up the live log nodes, keeping them for the status; `None` if the binder cannot
    /// be reached.
    async fn live_log_nodes(&self, writer: &mut Writer) -> Option<Vec<LogNode>> {
        match self.store.lookup(LOG_ROLE).await {
            Ok(entries) => {
                writer.live = entries
                    .into_iter()
                    .map(|entry| LogNode {
                        id: entry.id,
                        url: entry.address,
                    })
                    .collect();
                Some(writer.live.clone())
            }
            Err(error) => {
                tracing::warn!(
                    "admin {}: looking up the log nodes failed: {error}",
                    self.options.id
                );
                None
            }
        }
    }

    /// One fenced state write; on success the state in memory follows.
    async fn write(
        &self,
        writer: &mut Writer,
        epoch: u64,
        app: &str,
        nodes: Vec<LogNode>,
    ) -> AdminResult<()> {
        let revision = writer.snapshot.revision + 1;
        match state::write_app(&*self.store, epoch, app, &nodes, revision).await {
            Ok(()) => {
                bump(&self.counters.accepted, 1);
                writer.snapshot.placement.insert(app.to_owned(), nodes);
                writer.snapshot.revision = revision;
                Ok(())
            }
            Err(error) if AdminError::is_fenced(&error) => {
                bump(&self.counters.fenced, 1);
                tracing::warn!(
                    admin = %self.options.id,
                    epoch,
                    app,
                    %error,
                    "a state write was refused by the store's fence"
                );
                self.step_down(writer, &error);
                Err(self.not_active(writer))
            }
            Err(error) => {
                bump(&self.counters.failed, 1);
                Err(error.into())
            }
        }
    }

    /// Renews the held lease; steps down when the store says it moved on, or when it could not
    /// be renewed before it ran out by this instance's clock.
    async fn renew(&self, writer: &mut Writer, held: Held) {
        let sent_at = Instant::now();
        let renewed = self
            .store
            .renew_lease(LEASE, &self.options.id, held.epoch, self.options.lease)
            .await;
        match renewed {
            Ok(_) => {
                writer.held = Some(Held {
                    valid_until: sent_at + self.options.lease,
                    ..held
                })
            }
            Err(error) if AdminError::is_fenced(&error) => self.step_down(writer, &error),
            Err(error) if Instant::now() >= held.valid_until => self.step_down(writer, &error),
            Err(error) => tracing::warn!(
                "admin {}: renewing the lease failed (retrying next tick): {error}",
                self.options.id
            ),
        }
    }

    /// A standby's round: take the lease if it is free or lapsed (reloading the state from the
    /// store before acting), else keep the warm copy fresh.
    async fn take_over_or_follow(&self, writer: &mut Writer) {
        let sent_at = Instant::now();
        match self
            .store
            .acquire_lease(LEASE, &self.options.id, self.options.lease)
            .await
        {
            Ok(lease) => match state::load(&*self.store).await {
                Ok(snapshot) => {
                    writer.snapshot = snapshot;
                    writer.holder = None;
                    writer.held = Some(Held {
                        epoch: lease.epoch,
                        valid_until: sent_at + self.options.lease,
                    });
                    bump(&self.counters.takeovers, 1);
                    tracing::info!(
                        "admin {}: active at epoch {} ({} applications, revision {})",
                        self.options.id,
                        lease.epoch,
                        writer.snapshot.placement.len(),
                        writer.snapshot.revision
                    );
                    let _ = self.live_log_nodes(writer).await;
                }
                Err(error) => {
                    // Never act on a state it could not read: hand the lease back.
                    tracing::warn!(
                        "admin {}: took the lease but could not load the state: {error}",
                        self.options.id
                    );
                    let _ = self
                        .store
                        .release_lease(LEASE, &self.options.id, lease.epoch)
                        .await;
                }
            },
            Err(StoreError::LeaseHeld { holder, epoch, .. }) => {
                writer.holder = Some((holder, epoch));
                self.follow(writer).await;
            }
            Err(error) => tracing::warn!(
                "admin {}: the store did not answer about the lease: {error}",
                self.options.id
            ),
        }
    }

    /// Reloads the warm copy when the active announced a state other than the copy's, or when
    /// nothing was loaded yet.
    async fn follow(&self, writer: &mut Writer) {
        let announced = self
            .heard
            .lock()
            .unwrap()
            .as_ref()
            .map(|heard| heard.beat.revision);
        let stale = match announced {
            Some(revision) => revision != writer.snapshot.revision,
            None => writer.snapshot.revision == 0,
        };
        if !stale {
            return;
        }
        match state::load(&*self.store).await {
            Ok(snapshot) => {
                writer.snapshot = snapshot;
                bump(&self.counters.reloads, 1);
            }
            Err(error) => tracing::warn!(
                "admin {}: reloading the state failed: {error}",
                self.options.id
            ),
        }
        let _ = self.live_log_nodes(writer).await;
    }

    fn step_down(&self, writer: &mut Writer, why: &StoreError) {
        if let Some(held) = writer.held.take() {
            bump(&self.counters.step_downs, 1);
            tracing::warn!(
                "admin {}: standby again, the lease at epoch {} is lost: {why}",
                self.options.id,
                held.epoch
            );
        }
    }

    fn heartbeat(&self, writer: &Writer, held: Held) -> Heartbeat {
        Heartbeat {
            id: self.options.id.clone(),
            url: self.options.url.clone(),
            epoch: held.epoch,
            revision: writer.snapshot.revision,
            lease_expires_in_ms: millis(held.valid_until.saturating_duration_since(Instant::now())),
        }
    }

    fn publish(&self, writer: &Writer) {
        *self.view.write().unwrap() = writer.clone();
    }

    /// The lease as held now: `None` once it ran out by this instance's clock, even before
    /// the next tick notices.
    fn held_now(writer: &Writer) -> Option<Held> {
        writer.held.filter(|held| Instant::now() < held.valid_until)
    }

    /// `NotActive`, naming the active as last heard.
    fn not_active(&self, writer: &Writer) -> AdminError {
        let heard = self.heard.lock().unwrap();
        let active = heard
            .as_ref()
            .filter(|heard| {
                writer
                    .holder
                    .as_ref()
                    .is_none_or(|(id, _)| *id == heard.beat.id)
            })
            .map(|heard| heard.beat.url.clone());
        AdminError::NotActive { active }
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[async_trait]
impl AdminService for Admin {
    async fn status(&self) -> AdminResult<AdminStatus> {
        let view = self.view.read().unwrap().clone();
        let heard = self.heard.lock().unwrap().clone();
        let held = Admin::held_now(&view);
        let (role, epoch, lease_left, active) = match (held, &heard) {
            (Some(held), _) => (
                Role::Active,
                held.epoch,
                held.valid_until.saturating_duration_since(Instant::now()),
                Some(ActivePeer {
                    id: self.options.id.clone(),
                    url: self.options.url.clone(),
                    heard_ms_ago: 0,
                }),
            ),
            (None, Some(heard))
                if view
                    .holder
                    .as_ref()
                    .is_none_or(|(id, _)| *id == heard.beat.id) =>
            {
                (
                    Role::Standby,
                    heard.beat.epoch,
                    Duration::from_millis(heard.beat.lease_expires_in_ms)
                        .saturating_sub(heard.at.elapsed()),
                    Some(ActivePeer {
                        id: heard.beat.id.clone(),
                        url: heard.beat.url.clone(),
                        heard_ms_ago: millis(heard.at.elapsed()),
                    }),
                )
            }
            (None, _) => (
                Role::Standby,
                view.holder.as_ref().map_or(0, |(_, epoch)| *epoch),
                Duration::ZERO,
                view.holder.as_ref().map(|(id, _)| ActivePeer {
                    id: id.clone(),
                    url: String::new(),
                    heard_ms_ago: 0,
                }),
            ),
        };
        let loads = placement::loads(&view.snapshot.placement);
        let logs = match role {
            Role::Active => self
                .answers
                .lock()
                .unwrap()
                .progress(&view.snapshot.placement),
            Role::Standby => BTreeMap::new(),
        };
        let counters = &self.counters;
        Ok(AdminStatus {
            id: self.options.id.clone(),
            role,
            epoch,
            lease_expires_in_ms: millis(lease_left),
            revision: view.snapshot.revision,
            apps: view
                .snapshot
                .placement
                .iter()
                .map(|(app, nodes)| {
                    (
                        app.clone(),
                        nodes.iter().map(|node| node.url.clone()).collect(),
                    )
                })
                .collect::<BTreeMap<_, _>>(),
            nodes: view
                .live
                .iter()
                .map(|node| NodeLoad {
                    id: node.id.clone(),
                    url: node.url.clone(),
                    apps: loads.get(&node.id).copied().unwrap_or(0),
                })
                .collect(),
            logs,
            active,
            writes: WriteCounts {
                accepted: counters.accepted.load(Ordering::Relaxed),
                fenced: counters.fenced.load(Ordering::Relaxed),
                failed: counters.failed.load(Ordering::Relaxed),
            },
        })
    }

    async fn activate_log(&self, app: &str) -> AdminResult<Assignment> {
        tiercache_log::check_app(app).map_err(AdminError::InvalidApp)?;
        let mut writer = self.writer.lock().await;
        let Some(held) = Admin::held_now(&writer) else {
            return Err(self.not_active(&writer));
        };
        if let Some(nodes) = writer.snapshot.placement.get(app) {
            return Ok(Assignment {
                app: app.to_owned(),
                nodes: nodes.clone(),
            });
        }
        let Some(live) = self.live_log_nodes(&mut writer).await else {
            return Err(StoreError::Unavailable("the binder could not be read".to_owned()).into());
        };
        if live.is_empty() {
            return Err(AdminError::NoLogNodes);
        }
        let loads = placement::loads(&writer.snapshot.placement);
        let nodes = placement::place(&[], &live, &loads, self.options.replicas);
        self.write(&mut writer, held.epoch, app, nodes.clone())
            .await
            .inspect_err(|_| self.publish(&writer))?;
        self.publish(&writer);
        // Tell the chosen nodes now rather than at the next tick, and wait for them to
        // subscribe: the first append is then not published to nobody.
        let placement = writer.snapshot.placement.clone();
        let revision = writer.snapshot.revision;
        drop(writer);
        let timeout = self.options.tick();
        let answers = assign::send(&placement, &nodes, held.epoch, revision, timeout).await;
        self.answers.lock().unwrap().record(answers);
        Ok(Assignment {
            app: app.to_owned(),
            nodes,
        })
    }

    async fn assignment(&self, app: &str) -> AdminResult<Option<Assignment>> {
        tiercache_log::check_app(app).map_err(AdminError::InvalidApp)?;
        let view = self.view.read().unwrap();
        Ok(view.snapshot.placement.get(app).map(|nodes| Assignment {
            app: app.to_owned(),
            nodes: nodes.clone(),
        }))
    }
}
