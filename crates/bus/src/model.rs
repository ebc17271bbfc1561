//! The bus's vocabulary and its contract.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use crate::error::{BusError, BusResult};
use crate::session::Session;

/// Identifies one session *incarnation* on a bus. A session that is lost comes back under
/// a new id, so an id never names two different lifetimes of subscriptions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct SessionId(pub u64);

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s{}", self.0)
    }
}

/// What a session hands to its owner, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    /// A message published on a topic the session subscribes to.
    Message {
        /// The topic it was published on.
        topic: String,
        /// The publisher's bytes, unchanged.
        payload: Bytes,
    },
    /// A message sent to this session alone ([`Bus::send_to`]).
    Direct {
        /// The sender's bytes, unchanged.
        payload: Bytes,
    },
    /// The session ended: messages published from now back to some earlier point may never
    /// arrive, and every subscription is gone. Already raised in
    /// [`Session::generation`] before this event is queued.
    Lost {
        /// The generation that ended (see [`Session::generation`]).
        generation: u64,
        /// The generation current when the loss was reported: once its owner flushed for
        /// this event, messages are missed again only if the generation moves past it
        /// (and then another `Lost` follows).
        current: u64,
        /// Why, for logs.
        reason: String,
    },
    /// A new incarnation replaced a lost one. It has no subscriptions yet.
    Restored {
        /// The new incarnation's id.
        id: SessionId,
        /// Its generation.
        generation: u64,
    },
}

/// Lease settings of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionOptions {
    /// How long the bus keeps a session (and its subscriptions) after its last renewal.
    pub lease: Duration,
    /// How often the session renews its lease. Must be well below `lease - safety_margin`.
    pub renew_every: Duration,
    /// How much earlier than the bus the session counts its lease as expired
    /// ([`Session::lease_valid`]): covers the renewal's transit time and clock-rate drift
    /// between the node and the bus.
    pub safety_margin: Duration,
    /// How many undelivered events the session queues before it counts as a slow consumer
    /// and is ended (its owner then gets [`SessionEvent::Lost`]).
    pub queue_limit: usize,
}

/// The default lease: long enough to ride out a scheduler hiccup, short enough that a
/// writer in synchronous mode waits at most this long for a silent node.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(3);

impl Default for SessionOptions {
    fn default() -> SessionOptions {
        SessionOptions::with_lease(DEFAULT_LEASE)
    }
}

impl SessionOptions {
    /// A lease of `lease`, renewed every quarter of it, with a safety margin of a quarter.
    pub fn with_lease(lease: Duration) -> SessionOptions {
        SessionOptions {
            lease,
            renew_every: lease / 4,
            safety_margin: lease / 4,
            queue_limit: 100_000,
        }
    }

    /// Checks the settings hold together.
    pub fn validate(&self) -> BusResult<()> {
        if self.lease < Duration::from_millis(20) {
            return Err(BusError::InvalidArgument(format!(
                "the lease must be at least 20 ms, got {:?}",
                self.lease
            )));
        }
        if self.safety_margin.is_zero() || self.safety_margin >= self.lease {
            return Err(BusError::InvalidArgument(format!(
                "the safety margin ({:?}) must be above zero and below the lease ({:?})",
                self.safety_margin, self.lease
            )));
        }
        if self.renew_every.is_zero() || self.renew_every >= self.lease - self.safety_margin {
            return Err(BusError::InvalidArgument(format!(
                "renewals every {:?} cannot keep a lease of {:?} with a margin of {:?}",
                self.renew_every, self.lease, self.safety_margin
            )));
        }
        if self.queue_limit == 0 {
            return Err(BusError::InvalidArgument(
                "the queue limit must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

/// The sessions subscribed to a topic when a message was published on it, read in the
/// same atomic step as the publish. A session that subscribes later reads the data after
/// its subscription is confirmed, so it needs no message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Receivers {
    /// The subscribed sessions (each once).
    pub sessions: Vec<SessionId>,
}

impl Receivers {
    /// How many sessions the message was for.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// Whether nobody subscribed.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }
}

/// The position of a record in a durable topic. Offsets increase with every append; the
/// in-process bus counts from `0-1`, Redis uses the stream entry id (`ms-seq`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Offset {
    /// The major part (milliseconds for Redis streams, 0 in process).
    pub major: u64,
    /// The minor part (sequence within the millisecond, or the record number).
    pub minor: u64,
}

impl fmt::Display for Offset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.major, self.minor)
    }
}

impl FromStr for Offset {
    type Err = BusError;

    fn from_str(text: &str) -> BusResult<Offset> {
        let bad = || BusError::InvalidArgument(format!("bad offset {text:?}: expected N-M"));
        let (major, minor) = text.split_once('-').ok_or_else(bad)?;
        Ok(Offset {
            major: major.parse().map_err(|_| bad())?,
            minor: minor.parse().map_err(|_| bad())?,
        })
    }
}

/// One record of a durable topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Where it sits.
    pub offset: Offset,
    /// What was appended.
    pub payload: Bytes,
}

/// The longest topic name the bus accepts (bytes).
pub const MAX_TOPIC_BYTES: usize = 1024;

/// Checks a topic name: 1..=[`MAX_TOPIC_BYTES`] bytes, no control characters.
pub fn check_topic(topic: &str) -> BusResult<()> {
    if topic.is_empty() || topic.len() > MAX_TOPIC_BYTES {
        return Err(BusError::InvalidArgument(format!(
            "a topic name has 1 to {MAX_TOPIC_BYTES} bytes, got {}",
            topic.len()
        )));
    }
    if topic.chars().any(char::is_control) {
        return Err(BusError::InvalidArgument(format!(
            "the topic name {topic:?} contains a control character"
        )));
    }
    Ok(())
}

/// Publish/subscribe with dynamically created topics, plus durable topics.
///
/// Delivery: a message published on a topic reaches every session whose subscription was
/// confirmed before the publish, exactly once, unless that session is lost — and a lost
/// session tells its owner ([`SessionEvent::Lost`]). Messages from one publisher on one
/// topic arrive in publish order; messages from different publishers may interleave in
/// any order. A topic exists while somebody subscribes to it; nothing is kept for topics
/// without subscribers.
#[async_trait]
pub trait Bus: Send + Sync + fmt::Debug {
    /// Opens a session: the holder of subscriptions, kept alive by a lease the session
    /// renews in the background. Events arrive on the returned receiver; the session
    /// ends when the [`Session`] is dropped or [`Session::close`]d.
    ///
    /// Fails with `Unavailable` when the bus cannot be reached.
    async fn open_session(
        &self,
        options: SessionOptions,
    ) -> BusResult<(Session, tokio::sync::mpsc::Receiver<SessionEvent>)>;

    /// Publishes `payload` on `topic` and returns the sessions that were subscribed at that
    /// moment (read atomically with the publish). Publishing on a topic without subscribers
    /// is not an error.
    async fn publish(&self, topic: &str, payload: Bytes) -> BusResult<Receivers>;

    /// Sends `payload` to one session (as [`SessionEvent::Direct`]). Returns whether that
    /// session was alive to take it; a lost session's id never comes back.
    async fn send_to(&self, session: SessionId, payload: Bytes) -> BusResult<bool>;

    /// For each session, whether the bus still holds its lease. Once `false`, always `false`.
    async fn alive(&self, sessions: &[SessionId]) -> BusResult<Vec<bool>>;

    /// Appends a record to the durable topic `topic` and returns its offset.
    async fn append(&self, topic: &str, payload: Bytes) -> BusResult<Offset>;

    /// Up to `max` records of `topic` that come after `after` (from the start when `None`),
    /// in offset order.
    async fn read(&self, topic: &str, after: Option<Offset>, max: usize) -> BusResult<Vec<Record>>;

    /// Records that `consumer` has processed `topic` up to `offset` (offsets never move
    /// back: acknowledging an earlier one is a no-op).
    async fn acknowledge(&self, topic: &str, consumer: &str, offset: Offset) -> BusResult<()>;

    /// How far `consumer` acknowledged `topic`, or `None` if it never did.
    async fn acknowledged(&self, topic: &str, consumer: &str) -> BusResult<Option<Offset>>;

    /// A one-line description for logs and reports.
    fn describe(&self) -> String;
}
