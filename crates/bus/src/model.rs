//! The bus's contract: the [`Bus`] trait every backend implements, and what it answers
//! with (the receivers of a publish, the records and offsets of durable topics). Sessions
//! have their own file (`session.rs`), topic names theirs (`topic.rs`).

use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;
use bytes::Bytes;

use crate::error::{BusError, BusResult};
use crate::session::{Session, SessionEvent, SessionId, SessionOptions};

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

    /// Publishes `payload` on `topic` with [`publish`](Bus::publish)'s delivery, for a
    /// publisher that learns the outcome another way (the application logs: the log nodes'
    /// acknowledgements). `Ok` may mean only that the message was handed to the bus: a
    /// message lost with a connection may go unreported. A backend may make this cheaper
    /// than `publish`: the single-server Redis bus writes one `PUBLISH` on a connection
    /// Redis does not answer, instead of a script that also reads the subscribers. One publisher's
    /// broadcasts on a topic arrive in order; between its broadcasts and its `publish`es
    /// there is no order (they may travel different connections).
    async fn broadcast(&self, topic: &str, payload: Bytes) -> BusResult<()> {
        self.publish(topic, payload).await.map(|_| ())
    }

    /// Sends `payload` to one session as [`send_to`](Bus::send_to) does, for a sender that
    /// learns the outcome another way; `Ok` may mean only handed to the bus (see
    /// [`broadcast`](Bus::broadcast)).
    async fn send_unconfirmed(&self, session: SessionId, payload: Bytes) -> BusResult<()> {
        self.send_to(session, payload).await.map(|_| ())
    }

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
