//! [`LogPublisher`]: an API node's side of a log append. It publishes the message on the
//! application's log topic without knowing which log nodes hold the log, and counts the
//! acknowledgements that come back to its own bus session.
//!
//! ```text
//!  append(app, value, key) ── id = ids.next ─┬─ nothing else publishing: Append{reply_to,
//!        ▲                                   │  [record]} on log/APP, from the append itself
//!        │                                   └─ else queue ── sender: Append{reply_to,
//!        │                                      records} on log/APP, one notice for all the
//!        │                                      records queued meanwhile (and again for
//!        │                                      each republish)
//!        └─ Ok once `acks` distinct nodes confirmed ◀── Ack{node, [id…]} ── log nodes (ready)
//!           Unconfirmed{id} when the timeout passes first
//! ```
//!
//! Batching without waiting: while one publish is on its way to the bus, the appends that
//! arrive queue up and leave together in the next notice. A lone append leaves at once, from
//! its own task (no hand-over to the sender and back); under concurrency the bus carries one
//! message per round trip instead of one per append. Publishes go out with
//! [`Bus::broadcast`]: whether a message arrived is what the acknowledgements say.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use tiercache_bus::{Bus, BusError, BusResult, Session, SessionEvent, SessionOptions};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::id::{MessageId, MessageIds};
use crate::notice::{Append, LogNotice, log_topic};
use crate::record::{Limits, Record};

/// How a publisher appends.
#[derive(Debug, Clone, Copy)]
pub struct PublisherOptions {
    /// How many distinct log nodes must confirm a message (of the three that hold a log).
    pub acks: usize,
    /// How long an append waits for them.
    pub timeout: Duration,
    /// How often a message not yet confirmed enough is published again.
    pub republish: Duration,
    /// The publisher's bus session.
    pub session: SessionOptions,
    /// What one message may hold.
    pub limits: Limits,
}

impl Default for PublisherOptions {
    fn default() -> PublisherOptions {
        PublisherOptions {
            acks: 2,
            timeout: Duration::from_secs(5),
            republish: Duration::from_millis(500),
            session: SessionOptions::default(),
            limits: Limits::default(),
        }
    }
}

/// A message confirmed durable by enough log nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acknowledged {
    /// Its id.
    pub id: MessageId,
    /// The nodes that confirmed it by the time the append answered (at least `acks`).
    pub nodes: Vec<String>,
    /// Whether a node already held the message (a retry with the same idempotency key).
    pub duplicate: bool,
}

/// Why an append did not answer [`Acknowledged`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// Fewer nodes than needed confirmed within the timeout. The message may still land (a
    /// retry with the same idempotency key is stored once).
    #[error(
        "message {id} was confirmed by {acks} of the {needed} log nodes needed within the timeout"
    )]
    Unconfirmed {
        /// Its id.
        id: MessageId,
        /// How many distinct nodes confirmed it.
        acks: usize,
        /// How many were needed.
        needed: usize,
    },
    /// The message exceeds a limit, or the application name is invalid; nothing was sent.
    #[error("{0}")]
    InvalidArgument(String),
    /// The bus refused the publish (it may be unreachable); the message was not sent.
    #[error("bus: {0}")]
    Bus(#[from] BusError),
}

/// What a publisher counts.
#[derive(Debug, Default)]
pub struct PublisherCounters {
    /// Appends started.
    pub appends: AtomicU64,
    /// Appends confirmed by enough nodes.
    pub acknowledged: AtomicU64,
    /// Appends that timed out short of confirmations.
    pub unconfirmed: AtomicU64,
    /// Acknowledgements received.
    pub acks: AtomicU64,
    /// Acknowledgements for no append in flight (late, or repeated).
    pub stray_acks: AtomicU64,
    /// Publishes of a message again (not yet confirmed enough, or the session was replaced).
    pub republished: AtomicU64,
}

/// An append in flight: the nodes that confirmed it so far.
#[derive(Default)]
struct Waiter {
    nodes: Mutex<(BTreeSet<String>, bool)>,
    arrived: Notify,
}

/// An append's entry among those waiting for acknowledgements, removed when dropped.
struct InFlight<'a> {
    shared: &'a Shared,
    id: MessageId,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.shared.pending.lock().remove(&self.id);
    }
}

/// The most records, and the most value bytes (unless one record alone is larger), the
/// sender puts in one notice.
const BATCH_RECORDS: usize = 256;
const BATCH_BYTES: usize = 1 << 20;

/// A record on its way to the sender, and where to say whether it went out.
struct Outgoing {
    topic: String,
    record: Record,
    /// `None`: there was no session to reply to at that moment (it is being replaced);
    /// the append publishes again once it is restored.
    sent: oneshot::Sender<Option<BusResult<()>>>,
}

struct Shared {
    bus: Arc<dyn Bus>,
    session: Session,
    /// Held by whoever publishes: the sender, or an append publishing by itself.
    publishing: tokio::sync::Mutex<()>,
    /// Records handed to the sender and not yet taken by it.
    queued: AtomicUsize,
    pending: Mutex<HashMap<MessageId, Arc<Waiter>>>,
    counters: PublisherCounters,
    /// Wakes appends waiting across a session replacement (they publish again at once).
    restored: Notify,
}

/// Appends messages to application logs over the bus, for an API node.
///
/// # Rules
///
/// * **An id first.** Each message gets its id before anything is sent, and both outcomes
///   carry it: an [`Unconfirmed`](PublishError::Unconfirmed) message may still land.
/// * **Counted per node.** A message is confirmed when `acks` *distinct* log nodes said
///   they hold it durably (a node's repeated or duplicate acknowledgement counts once; an
///   acknowledgement of a message the node already held counts: it holds it).
/// * **Published until confirmed.** The waiter is registered before the first publish (an
///   acknowledgement may arrive before `publish` returns); while short of `acks`, the same
///   record (same id, same idempotency key) is published again every `republish`, and at
///   once when the session is replaced (acknowledgements addressed to the lost one never
///   arrive). Log nodes store it once; one that subscribed late still gets it.
/// * **One publisher's order.** Ids of one publisher increase in the order `append` was
///   called, and readers see a log in id order. Republishing may place a message after a
///   later one in a copy's *positions*, never in id order.
/// * **Bounded.** Only appends in flight are remembered; a late acknowledgement is counted
///   as stray, not an error.
pub struct LogPublisher {
    shared: Arc<Shared>,
    ids: Mutex<MessageIds>,
    options: PublisherOptions,
    outgoing: mpsc::UnboundedSender<Outgoing>,
    receiver: JoinHandle<()>,
    sender: JoinHandle<()>,
}

impl LogPublisher {
    /// Opens the publisher's own bus session (fails if the bus cannot be reached).
    pub async fn start(bus: Arc<dyn Bus>, options: PublisherOptions) -> BusResult<LogPublisher> {
        let (session, events) = bus.open_session(options.session).await?;
        let shared = Arc::new(Shared {
            bus,
            session,
            publishing: tokio::sync::Mutex::new(()),
            queued: AtomicUsize::new(0),
            pending: Mutex::new(HashMap::new()),
            counters: PublisherCounters::default(),
            restored: Notify::new(),
        });
        let receiver = tokio::spawn(receive(Arc::downgrade(&shared), events));
        let (outgoing, queued) = mpsc::unbounded_channel();
        let sender = tokio::spawn(send(Arc::downgrade(&shared), queued));
        Ok(LogPublisher {
            shared,
            ids: Mutex::new(MessageIds::random()),
            options,
            outgoing,
            receiver,
            sender,
        })
    }

    /// What it counted.
    pub fn counters(&self) -> &PublisherCounters {
        &self.shared.counters
    }

    /// Its settings.
    pub fn options(&self) -> &PublisherOptions {
        &self.options
    }

    /// Appends `value` to `app`'s log; answers once `acks` distinct log nodes confirmed it
    /// (see the type's rules).
    pub async fn append(
        &self,
        app: &str,
        value: Vec<u8>,
        idempotency_key: Option<Vec<u8>>,
    ) -> Result<Acknowledged, PublishError> {
        crate::app_name::check_app(app).map_err(PublishError::InvalidArgument)?;
        let record = Record {
            id: self.ids.lock().next_now(),
            idempotency_key,
            value,
        };
        self.options
            .limits
            .check(std::slice::from_ref(&record))
            .map_err(|error| PublishError::InvalidArgument(error.to_string()))?;
        let shared = &self.shared;
        let counters = &shared.counters;
        counters.appends.fetch_add(1, Ordering::Relaxed);
        let id = record.id;
        let waiter = Arc::new(Waiter::default());
        shared.pending.lock().insert(id, Arc::clone(&waiter));
        // Removed however the append ends, also when its caller gives up on it (a client
        // that hung up drops the request's future): else the entry would stay for good.
        let _in_flight = InFlight { shared, id };
        let outcome = self.publish_until_confirmed(app, record, &waiter).await;
        drop(_in_flight);
        let (nodes, duplicate) = waiter.nodes.lock().clone();
        match outcome {
            Ok(()) => {
                counters.acknowledged.fetch_add(1, Ordering::Relaxed);
                Ok(Acknowledged {
                    id,
                    nodes: nodes.into_iter().collect(),
                    duplicate,
                })
            }
            Err(PublishError::Unconfirmed { .. }) => {
                counters.unconfirmed.fetch_add(1, Ordering::Relaxed);
                Err(PublishError::Unconfirmed {
                    id,
                    acks: nodes.len(),
                    needed: self.options.acks,
                })
            }
            Err(other) => Err(other),
        }
    }

    async fn publish_until_confirmed(
        &self,
        app: &str,
        record: Record,
        waiter: &Waiter,
    ) -> Result<(), PublishError> {
        let shared = &self.shared;
        let deadline = tokio::time::Instant::now() + self.options.timeout;
        let topic = log_topic(app);
        let confirmed = || waiter.nodes.lock().0.len() >= self.options.acks;
        let mut first = true;
        loop {
            let outcome = match publish_alone(shared, &topic, &record).await {
                Some(outcome) => outcome,
                None => self.queue(&topic, &record).await,
            };
            match outcome {
                Some(Ok(())) => {
                    if !first {
                        shared.counters.republished.fetch_add(1, Ordering::Relaxed);
                    }
                    first = false;
                }
                Some(Err(error)) if first => return Err(error.into()),
                Some(Err(_)) => {} // the message is already out; keep waiting
                None => {}         // no session now: published again once it is restored
            }
            let next = (tokio::time::Instant::now() + self.options.republish).min(deadline);
            loop {
                if confirmed() {
                    return Ok(());
                }
                let arrived = waiter.arrived.notified();
                let restored = shared.restored.notified();
                if confirmed() {
                    return Ok(());
                }
                tokio::select! {
                    _ = arrived => {}
                    _ = restored => break,
                    _ = tokio::time::sleep_until(next) => break,
                }
            }
            if confirmed() {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(PublishError::Unconfirmed {
                    id: record.id,
                    acks: 0,
                    needed: self.options.acks,
                });
            }
        }
    }

    /// Hands `record` to the sender; answers what became of its publish (`None`: there was
    /// no session to reply to; it is published again once one is restored).
    async fn queue(&self, topic: &str, record: &Record) -> Option<BusResult<()>> {
        let (sent, outcome) = oneshot::channel();
        self.shared.queued.fetch_add(1, Ordering::AcqRel);
        let queued = self.outgoing.send(Outgoing {
            topic: topic.to_owned(),
            record: record.clone(),
            sent,
        });
        // The sender ends only with the publisher; without it nothing can be sent.
        let stopped = || {
            Some(Err(BusError::Internal(
                "the publisher's sender stopped".into(),
            )))
        };
        match queued {
            Ok(()) => outcome.await.unwrap_or_else(|_| stopped()),
            Err(_) => {
                self.shared.queued.fetch_sub(1, Ordering::AcqRel);
                stopped()
            }
        }
    }

    /// How many appends are waiting for their acknowledgements now.
    pub fn in_flight(&self) -> usize {
        self.shared.pending.lock().len()
    }

    /// Ends the session at once.
    pub async fn close(&self) {
        self.shared.session.close().await;
    }
}

impl Drop for LogPublisher {
    fn drop(&mut self) {
        self.receiver.abort();
        self.sender.abort();
    }
}

/// Publishes `record` by itself when nothing else is being published or waits to be: a
/// lone append then skips the hand-over to the sender task and back (a thread wake-up each
/// on a busy runtime). `None` when it must queue instead, behind the others — they leave
/// together as soon as the publish under way ends.
async fn publish_alone(
    shared: &Shared,
    topic: &str,
    record: &Record,
) -> Option<Option<BusResult<()>>> {
    if shared.queued.load(Ordering::Acquire) > 0 {
        return None;
    }
    let _publishing = shared.publishing.try_lock().ok()?;
    let Some(reply_to) = shared.session.id() else {
        return Some(None);
    };
    let notice = LogNotice::Append(Append {
        reply_to,
        records: vec![record.clone()],
    });
    Some(Some(shared.bus.broadcast(topic, notice.encode()).await))
}

/// Publishes what the appends queued, as few notices as it can: everything queued when it
/// gets to the queue, one notice per topic (in queue order) up to [`BATCH_RECORDS`] records
/// and [`BATCH_BYTES`], to the session's current incarnation.
async fn send(shared: Weak<Shared>, mut queued: mpsc::UnboundedReceiver<Outgoing>) {
    let mut taken = Vec::with_capacity(BATCH_RECORDS);
    while queued.recv_many(&mut taken, BATCH_RECORDS).await > 0 {
        let Some(shared) = shared.upgrade() else {
            return;
        };
        shared.queued.fetch_sub(taken.len(), Ordering::AcqRel);
        let _publishing = shared.publishing.lock().await;
        let Some(reply_to) = shared.session.id() else {
            for outgoing in taken.drain(..) {
                let _ = outgoing.sent.send(None);
            }
            continue;
        };
        while !taken.is_empty() {
            let batch = take_batch(&mut taken, |o| &o.topic, |o| o.record.value.len());
            let topic = batch[0].topic.clone();
            let (records, replies): (Vec<_>, Vec<_>) = batch
                .into_iter()
                .map(|outgoing| (outgoing.record, outgoing.sent))
                .unzip();
            let notice = LogNotice::Append(Append { reply_to, records });
            let outcome = shared.bus.broadcast(&topic, notice.encode()).await;
            for reply in replies {
                let _ = reply.send(Some(outcome.clone()));
            }
        }
    }
}

/// Takes the next notice's worth off the front of `queue`: the first entry, and every later
/// one of the same topic (in queue order) while the batch stays within [`BATCH_RECORDS`]
/// entries and [`BATCH_BYTES`] (a first entry larger than that goes alone). The others stay
/// queued, in order.
fn take_batch<T>(
    queue: &mut Vec<T>,
    topic: impl Fn(&T) -> &str,
    size: impl Fn(&T) -> usize,
) -> Vec<T> {
    // One pass: each entry goes to the batch or stays, in order (no shifting per removal).
    let mut entries = std::mem::take(queue).into_iter();
    let Some(first) = entries.next() else {
        return Vec::new();
    };
    let mut bytes = size(&first);
    let mut batch = vec![first];
    for entry in entries {
        let fits = batch.len() < BATCH_RECORDS
            && topic(&entry) == topic(&batch[0])
            && bytes + size(&entry) <= BATCH_BYTES;
        if fits {
            bytes += size(&entry);
            batch.push(entry);
        } else {
            queue.push(entry);
        }
    }
    batch
}

/// Takes the acknowledgements addressed to the session until it ends.
async fn receive(shared: Weak<Shared>, mut events: mpsc::Receiver<SessionEvent>) {
    while let Some(event) = events.recv().await {
        let Some(shared) = shared.upgrade() else {
            return;
        };
        match event {
            SessionEvent::Direct { payload } => {
                let Ok(LogNotice::Ack(ack)) = LogNotice::decode(&payload) else {
                    continue;
                };
                shared
                    .counters
                    .acks
                    .fetch_add(ack.confirmed.len() as u64, Ordering::Relaxed);
                for message in ack.confirmed {
                    let waiter = shared.pending.lock().get(&message.id).cloned();
                    match waiter {
                        Some(waiter) => {
                            let mut nodes = waiter.nodes.lock();
                            nodes.0.insert(ack.node.clone());
                            nodes.1 |= message.duplicate;
                            drop(nodes);
                            waiter.arrived.notify_one();
                        }
                        None => {
                            shared.counters.stray_acks.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
            SessionEvent::Restored { .. } => shared.restored.notify_waiters(),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Batches of (topic, size) entries, as the sender would publish them.
    fn batches(mut queue: Vec<(&'static str, usize)>) -> Vec<Vec<(&'static str, usize)>> {
        let mut out = Vec::new();
        while !queue.is_empty() {
            out.push(take_batch(&mut queue, |e| e.0, |e| e.1));
        }
        out
    }

    #[test]
    fn one_notice_per_topic_in_queue_order() {
        let queue = vec![
            ("log/a", 1),
            ("log/b", 2),
            ("log/a", 3),
            ("log/b", 4),
            ("log/a", 5),
        ];
        assert_eq!(
            batches(queue),
            vec![
                vec![("log/a", 1), ("log/a", 3), ("log/a", 5)],
                vec![("log/b", 2), ("log/b", 4)],
            ]
        );
    }

    #[test]
    fn a_batch_stays_within_its_record_and_byte_limits() {
        let many = vec![("log/a", 1); BATCH_RECORDS + 3];
        let sizes: Vec<usize> = batches(many).iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![BATCH_RECORDS, 3]);

        let half = BATCH_BYTES / 2;
        let queue = vec![("log/a", half), ("log/a", half), ("log/a", 1), ("log/a", 2)];
        assert_eq!(
            batches(queue),
            vec![
                vec![("log/a", half), ("log/a", half)],
                vec![("log/a", 1), ("log/a", 2)]
            ]
        );
        // A record over the byte limit leaves alone; smaller ones after it are not skipped.
        let queue = vec![("log/a", BATCH_BYTES + 1), ("log/a", 1)];
        assert_eq!(
            batches(queue),
            vec![vec![("log/a", BATCH_BYTES + 1)], vec![("log/a", 1)]]
        );
    }
}
