//! [`LogNode`]: a log node's work on the bus — subscribed to the log topic of every
//! application assigned to it, it appends each [`Append`] it receives to its storage and,
//! once the record is durable, answers the publisher's session with an [`Ack`].
//!
//! Events are taken in batches: everything queued when the node gets to them is grouped by
//! application (keeping arrival order) and appended in one call, so concurrent publishers
//! share the storage's group commit. A notice that does not decode is counted and reported,
//! never guessed at; a lost session is counted (catch-up from the other copies comes with
//! the log API).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tiercache_bus::{Bus, BusResult, Session, SessionEvent, SessionOptions};
use tokio::sync::{Mutex, mpsc};
use tokio::task::JoinHandle;

use crate::notice::{Ack, Append, LogNotice, app_of_topic, log_topic};
use crate::storage::LogStorage;

/// The most events taken in one batch.
const BATCH: usize = 512;

/// A running log node (its receive loop ends when it is dropped).
pub struct LogNode {
    id: String,
    bus: Arc<dyn Bus>,
    session: Arc<Session>,
    /// The applications whose topics this node subscribes to.
    assigned: Mutex<BTreeSet<String>>,
    counters: Arc<NodeCounters>,
    receiver: JoinHandle<()>,
}

/// What a log node counts.
#[derive(Debug, Default)]
pub struct NodeCounters {
    /// Records stored.
    pub stored: AtomicU64,
    /// Appends of a message already held (acknowledged again, not stored).
    pub duplicates: AtomicU64,
    /// Acknowledgements sent.
    pub acks: AtomicU64,
    /// Appends the storage refused (not acknowledged; the publisher times out).
    pub refused: AtomicU64,
    /// Notices that did not decode, or arrived on a topic that is not a log.
    pub malformed: AtomicU64,
    /// Times the bus session was lost (messages may have been missed).
    pub sessions_lost: AtomicU64,
}

impl LogNode {
    /// Opens a bus session for node `id` and starts taking appends into `storage`.
    pub async fn start(
        id: impl Into<String>,
        storage: Arc<dyn LogStorage>,
        bus: Arc<dyn Bus>,
        session: SessionOptions,
    ) -> BusResult<LogNode> {
        let id = id.into();
        let (session, events) = bus.open_session(session).await?;
        let session = Arc::new(session);
        let counters = Arc::new(NodeCounters::default());
        let receiver = tokio::spawn(receive(
            id.clone(),
            storage,
            Arc::clone(&bus),
            events,
            Arc::clone(&counters),
        ));
        Ok(LogNode {
            id,
            bus,
            session,
            assigned: Mutex::new(BTreeSet::new()),
            counters,
            receiver,
        })
    }

    /// Its id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// What it counted.
    pub fn counters(&self) -> &NodeCounters {
        &self.counters
    }

    /// Its session, for tests and the status.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The bus it works on.
    pub fn bus(&self) -> &Arc<dyn Bus> {
        &self.bus
    }

    /// Makes `apps` the applications this node serves: subscribes to the topic of each new
    /// one (returning once the bus confirmed it, so every later append reaches this node)
    /// and unsubscribes from the others.
    pub async fn assign(&self, apps: &[String]) -> BusResult<()> {
        let mut assigned = self.assigned.lock().await;
        let wanted: BTreeSet<String> = apps.iter().cloned().collect();
        for app in wanted.difference(&assigned) {
            self.session.subscribe(&log_topic(app)).await?;
        }
        for app in assigned.difference(&wanted) {
            self.session.unsubscribe(&log_topic(app)).await?;
        }
        *assigned = wanted;
        Ok(())
    }

    /// The applications it serves.
    pub async fn assigned(&self) -> Vec<String> {
        self.assigned.lock().await.iter().cloned().collect()
    }
}

impl Drop for LogNode {
    fn drop(&mut self) {
        self.receiver.abort();
    }
}

/// Takes events in batches until the session's channel closes.
async fn receive(
    node: String,
    storage: Arc<dyn LogStorage>,
    bus: Arc<dyn Bus>,
    mut events: mpsc::Receiver<SessionEvent>,
    counters: Arc<NodeCounters>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    while events.recv_many(&mut batch, BATCH).await > 0 {
        let mut by_app: BTreeMap<String, Vec<Append>> = BTreeMap::new();
        for event in batch.drain(..) {
            match event {
                SessionEvent::Message { topic, payload } => {
                    let decoded = LogNotice::decode(&payload);
                    match (app_of_topic(&topic), decoded) {
                        (Some(app), Ok(LogNotice::Append(append))) => {
                            by_app.entry(app.to_owned()).or_default().push(append)
                        }
                        (_, Err(error)) => {
                            counters.malformed.fetch_add(1, Ordering::Relaxed);
                            eprintln!(
                                "log node {node}: a notice on {topic} does not decode: {error}"
                            );
                        }
                        _ => {
                            counters.malformed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                SessionEvent::Lost { reason, .. } => {
                    counters.sessions_lost.fetch_add(1, Ordering::Relaxed);
                    eprintln!(
                        "log node {node}: bus session lost ({reason}); messages may be missing"
                    );
                }
                _ => {}
            }
        }
        for (app, appends) in by_app {
            append_and_ack(&node, &*storage, &bus, &counters, &app, appends).await;
        }
    }
}

/// Appends one application's batch, then acknowledges each message to its publisher.
async fn append_and_ack(
    node: &str,
    storage: &dyn LogStorage,
    bus: &Arc<dyn Bus>,
    counters: &NodeCounters,
    app: &str,
    appends: Vec<Append>,
) {
    let replies: Vec<_> = appends.iter().map(|a| (a.reply_to, a.record.id)).collect();
    let records = appends.into_iter().map(|a| a.record).collect();
    let appended = match storage.append(app, records).await {
        Ok(appended) => appended,
        Err(error) => {
            counters
                .refused
                .fetch_add(replies.len() as u64, Ordering::Relaxed);
            eprintln!(
                "log node {node}: appending {} records to {app} failed: {error}",
                replies.len()
            );
            return;
        }
    };
    let mut next_new = appended.first;
    let mut duplicates = appended.duplicates.iter().peekable();
    for (index, (reply_to, id)) in replies.into_iter().enumerate() {
        let (position, duplicate) = match duplicates.next_if(|d| d.index == index) {
            Some(duplicate) => (duplicate.position, true),
            None => {
                next_new += 1;
                (next_new - 1, false)
            }
        };
        let counter = if duplicate {
            &counters.duplicates
        } else {
            &counters.stored
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let ack = LogNotice::Ack(Ack {
            id,
            position,
            duplicate,
            node: node.to_owned(),
        });
        match bus.send_to(reply_to, ack.encode()).await {
            Ok(_) => {
                counters.acks.fetch_add(1, Ordering::Relaxed);
            }
            Err(error) => eprintln!("log node {node}: acknowledging to {reply_to} failed: {error}"),
        }
    }
}
