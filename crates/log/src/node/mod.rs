//! [`LogNode`]: a log node's work — subscribed to the log topic of every application the
//! admin assigned to it, it appends each [`Append`](crate::Append) it receives to its
//! storage and, once the record is durable *and the application caught up*, answers the
//! publisher's session with an [`Ack`](crate::Ack); it copies what it lacks from the other
//! copies, and answers reads.
//!
//! ```text
//!  admin ──assignment(epoch, apps → nodes)──▶ apply: subscribe (confirmed), then catch up
//!  API node ──Append on log/APP──▶ bus ──▶ receive: append (batched) ──▶ Ack, if ready
//!  other copies ◀──ids since W, records── catch-up: copy what is missing; ready once one
//!                                          peer was read to its end after subscribing
//! ```
//!
//! **Readiness** is per application and per session generation: an application becomes
//! ready when a catch-up pass that started after its subscription was confirmed (in the
//! current generation of the bus session) read at least one other copy to its end, or at
//! once when it has no other copy. Losing the session ends readiness (messages may have
//! been missed); the node subscribes again when the session is restored and catches up
//! again. Appends that arrive meanwhile are stored but not acknowledged, so a publisher
//! never counts a copy that may have a hole.
//!
//! # Files
//!
//! * this one: the node, its assignment, its status;
//! * `shared`: what the node's tasks share, its counters, readiness;
//! * `receive`: the bus events, in batches, and the acknowledgements;
//! * `catchup`: keeping subscriptions current and copying from the other copies.

mod catchup;
mod receive;
mod shared;

pub use shared::NodeCounters;
use shared::{Assigned, Shared};

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use async_trait::async_trait;
use parking_lot::Mutex;
use tiercache_bus::{Bus, BusResult, Session, SessionOptions};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::copy::{CopyPage, LogCopy};
use crate::error::{LogError, LogResult};
use crate::id::MessageId;
use crate::notice::log_topic;
use crate::storage::LogStorage;
use crate::wire::{AppStatus, AssignmentBody, NodeRef, NodeStatus, PeerSync, SessionStatus};

/// How often a node compares its applications with their other copies when nothing wakes
/// it sooner.
pub const DEFAULT_SYNC_INTERVAL: Duration = Duration::from_secs(1);

/// A running log node (its tasks end when it is dropped).
pub struct LogNode {
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
}

impl LogNode {
    /// Opens a bus session for node `id` and starts taking appends into `storage`; the
    /// node has no application until it is assigned some. `url` is where other nodes reach
    /// it (may be empty in process).
    pub async fn start(
        id: impl Into<String>,
        storage: Arc<dyn LogStorage>,
        bus: Arc<dyn Bus>,
        session: SessionOptions,
    ) -> BusResult<LogNode> {
        LogNode::start_with(
            id,
            String::new(),
            storage,
            bus,
            session,
            DEFAULT_SYNC_INTERVAL,
        )
        .await
    }

    /// [`start`](LogNode::start), reachable at `url`, comparing with the other copies every
    /// `sync_interval`.
    pub async fn start_with(
        id: impl Into<String>,
        url: impl Into<String>,
        storage: Arc<dyn LogStorage>,
        bus: Arc<dyn Bus>,
        session: SessionOptions,
        sync_interval: Duration,
    ) -> BusResult<LogNode> {
        let (session, events) = bus.open_session(session).await?;
        let shared = Arc::new(Shared {
            id: id.into(),
            url: url.into(),
            storage,
            bus,
            session,
            state: Mutex::new(Assigned::default()),
            assigning: tokio::sync::Mutex::new(()),
            counters: NodeCounters::default(),
            wake: Notify::new(),
            sync_interval,
            peer_timeout: Duration::from_secs(2),
        });
        let tasks = vec![
            tokio::spawn(receive::run(Arc::clone(&shared), events)),
            tokio::spawn(catchup::run(Arc::downgrade(&shared))),
        ];
        Ok(LogNode { shared, tasks })
    }

    /// Its id.
    pub fn id(&self) -> &str {
        &self.shared.id
    }

    /// Its URL.
    pub fn url(&self) -> &str {
        &self.shared.url
    }

    /// What it counted.
    pub fn counters(&self) -> &NodeCounters {
        &self.shared.counters
    }

    /// Its bus session, for tests and fault injection.
    pub fn session(&self) -> &Session {
        &self.shared.session
    }

    /// The bus it works on.
    pub fn bus(&self) -> &Arc<dyn Bus> {
        &self.shared.bus
    }

    /// Its storage.
    pub fn storage(&self) -> &Arc<dyn LogStorage> {
        &self.shared.storage
    }

    /// Takes the admin's assignment: serves exactly the applications of `body` that list
    /// this node (by id), with the others as their peers. Subscribes to each new
    /// application's topic and returns once the bus confirmed it (every later append
    /// reaches this node), unsubscribes from the applications it lost, and wakes catch-up.
    ///
    /// Refuses ([`StaleAssignment`](LogError::StaleAssignment)) an epoch below the one it
    /// follows, so a former admin can never take back what its successor assigned; within
    /// the epoch, ignores a revision below the one it follows.
    pub async fn apply(&self, body: &AssignmentBody) -> LogResult<()> {
        let shared = &self.shared;
        let _one_at_a_time = shared.assigning.lock().await;
        let (current, revision) = {
            let state = shared.state.lock();
            (state.epoch, state.revision)
        };
        if body.epoch < current {
            return Err(LogError::StaleAssignment {
                got: body.epoch,
                current,
            });
        }
        if body.epoch == current && body.revision < revision {
            return Ok(()); // overtaken by a newer one from the same admin
        }
        let wanted: BTreeMap<&String, Vec<NodeRef>> = body
            .apps
            .iter()
            .filter(|(_, nodes)| nodes.iter().any(|node| node.id == shared.id))
            .map(|(app, nodes)| {
                let peers = nodes.iter().filter(|n| n.id != shared.id).cloned();
                (app, peers.collect())
            })
            .collect();
        let gone: Vec<String> = {
            let mut state = shared.state.lock();
            state.epoch = body.epoch;
            state.revision = body.revision;
            for (app, peers) in &wanted {
                let copy = state.apps.entry((*app).clone()).or_default();
                copy.synced
                    .retain(|url, _| peers.iter().any(|p| &p.url == url));
                copy.peers = peers.clone();
            }
            let gone: Vec<String> = state
                .apps
                .keys()
                .filter(|app| !wanted.contains_key(app))
                .cloned()
                .collect();
            for app in &gone {
                state.apps.remove(app);
            }
            gone
        };
        for app in gone {
            shared
                .session
                .unsubscribe(&log_topic(&app))
                .await
                .map_err(|e| LogError::Bus(e.to_string()))?;
        }
        catchup::subscribe_pending(shared).await?;
        shared.wake.notify_one();
        Ok(())
    }

    /// Makes `apps` the applications this node serves, with no other copies (tests, and a
    /// node used alone): [`apply`](LogNode::apply) at the epoch it follows.
    pub async fn assign(&self, apps: &[String]) -> LogResult<()> {
        let me = NodeRef {
            id: self.shared.id.clone(),
            url: self.shared.url.clone(),
        };
        let (epoch, revision) = {
            let state = self.shared.state.lock();
            (state.epoch, state.revision)
        };
        let body = AssignmentBody {
            epoch,
            revision,
            apps: apps
                .iter()
                .map(|app| (app.clone(), vec![me.clone()]))
                .collect(),
        };
        self.apply(&body).await
    }

    /// The applications it serves.
    pub async fn assigned(&self) -> Vec<String> {
        self.shared.state.lock().apps.keys().cloned().collect()
    }

    /// Whether `app` acknowledges appends now (caught up in the current session).
    pub fn is_ready(&self, app: &str) -> bool {
        self.shared.is_ready(app)
    }

    /// Compares every application with its other copies now (catch-up normally runs on its
    /// own, every sync interval and on every assignment).
    pub async fn sync_now(&self) {
        catchup::pass(&self.shared).await;
    }

    /// Its view: `GET /v1/log`.
    pub async fn status(&self) -> LogResult<NodeStatus> {
        let shared = &self.shared;
        let generation = shared.session.generation();
        let apps: Vec<(String, bool, bool, Vec<PeerSync>)> = {
            let state = shared.state.lock();
            state
                .apps
                .iter()
                .map(|(app, copy)| {
                    let peers = copy
                        .peers
                        .iter()
                        .map(|peer| {
                            copy.synced.get(&peer.url).cloned().unwrap_or(PeerSync {
                                url: peer.url.clone(),
                                synced: 0,
                                len: 0,
                                error: None,
                            })
                        })
                        .collect();
                    let subscribed = copy.subscribed == Some(generation);
                    (
                        app.clone(),
                        copy.ready == Some(generation),
                        subscribed,
                        peers,
                    )
                })
                .collect()
        };
        let mut statuses = BTreeMap::new();
        for (app, ready, subscribed, peers) in apps {
            let len = shared.storage.len(&app).await?;
            statuses.insert(
                app,
                AppStatus {
                    len,
                    ready,
                    subscribed,
                    peers,
                },
            );
        }
        let (epoch, revision) = {
            let state = shared.state.lock();
            (state.epoch, state.revision)
        };
        Ok(NodeStatus {
            id: shared.id.clone(),
            url: shared.url.clone(),
            epoch,
            revision,
            session: SessionStatus {
                generation,
                lost: shared.counters.sessions_lost.load(Ordering::Relaxed),
            },
            apps: statuses,
            counters: shared.counters.values(),
        })
    }

    /// Ends the bus session at once (its subscriptions leave the bus now rather than when
    /// the lease lapses) and stops the node's tasks.
    pub async fn close(&self) {
        self.shared.session.close().await;
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Drop for LogNode {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

#[async_trait]
impl LogCopy for LogNode {
    fn name(&self) -> &str {
        &self.shared.id
    }

    async fn read_after(
        &self,
        app: &str,
        after: Option<MessageId>,
        limit: usize,
    ) -> LogResult<CopyPage> {
        let ready = self.is_ready(app);
        let storage = &self.shared.storage;
        Ok(CopyPage {
            ready,
            len: storage.len(app).await?,
            records: storage.read_after(app, after, limit).await?,
        })
    }

    async fn read(&self, app: &str, from: u64, limit: usize) -> LogResult<CopyPage> {
        let ready = self.is_ready(app);
        let storage = &self.shared.storage;
        Ok(CopyPage {
            ready,
            len: storage.len(app).await?,
            records: storage.read(app, from, limit).await?,
        })
    }

    async fn ids_since(
        &self,
        app: &str,
        from: u64,
        limit: usize,
    ) -> LogResult<(Vec<MessageId>, u64)> {
        let storage = &self.shared.storage;
        let len = storage.len(app).await?;
        Ok((storage.ids_since(app, from, limit).await?, len))
    }
}
