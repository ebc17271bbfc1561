//! The read and write path of a processing node (an API node): near cache → shared tier →
//! store.
//!
//! A [`Node`] answers reads from the first tier that holds the object and records which
//! one did ([`Source`]). What it guarantees:
//!
//! * **Single flight.** Concurrent misses on one key on one node cause one trip to the
//!   shared tier and at most one store read; the other callers wait for that answer
//!   (counted as `coalesced`). If the caller running the fill is cancelled, a waiting
//!   caller takes over, so no caller waits on a fill nobody runs.
//! * **Version-checked fills.** An object read from the store is written to the shared tier
//!   with its version, and the tier never replaces a version with an older one (see
//!   `tiercache-tier`). The near cache keeps the same rule, and a delete leaves a short
//!   marker there, so a fill that read an old version before a write finished can never
//!   put it back over the write's version.
//! * **Write-through.** [`Node::put`] and [`Node::delete`] write to the store first (the
//!   store assigns the version), then install the result in the near cache, then replace
//!   the shared tier's copy by a versioned tombstone. The write is acknowledged only when
//!   all three happened; if the tier cannot be reached the caller gets
//!   [`NodeError::TierInvalidation`] with the version the store assigned — the other nodes
//!   are notified all the same, and the tier's tombstone is retried in the background
//!   (backoff to 2 s, for up to 60 s). A read that starts
//!   after a write returned on this node sees that write or a later one.
//! * **Degraded tier.** A shared tier that cannot be reached on a read counts as a miss
//!   (the node reads the store); store errors are returned as they are.
//!
//! * **Coherence across nodes** (with a bus: [`Node::with_bus`]). A node subscribes to
//!   an object's topic, and waits for the bus to confirm, *before* it reads the object for
//!   its near cache; a writer publishes a notice after the store and the shared tier took
//!   the write. A receiver drops (or, in `update` mode, replaces) any older copy and stops
//!   fills in flight from installing anything older. A node serves near-cache hits only
//!   while it can prove its bus session's lease and has flushed for every loss of it, so
//!   a notice it may have missed can never leave a replaced copy in service. With
//!   asynchronous delivery ([`Delivery::Async`]), another node can still answer its older
//!   copy for the time the notice takes to reach it (the invalidation delay). With
//!   synchronous delivery ([`Delivery::Sync`]) a write is acknowledged only once every
//!   session subscribed to its topic confirmed the notice or lost its lease: no node
//!   answers a replaced version after that (a silent node delays the writer by at most
//!   one lease; past two, the write answers [`NodeError::Unconfirmed`]).
//! * **Write-behind** ([`NodeOptions::write_behind`]): writes are answered from memory
//!   (version [`PENDING`]; this node reads its own) and stored in coalesced batches every
//!   flush interval ([`Node::flush_dirty`]). Other nodes read the previous version until
//!   the flush and its notice reach them; a crash loses at most the writes of the last
//!   interval and the flush in progress; [`Node::close`] flushes first.
//! * **Max age** ([`NodeOptions::near_max_age`]): a near copy is served at most that long
//!   after it was installed, which bounds a copy whose invalidation was lost with a writer
//!   that crashed between its commit and its publish.
//! * **Outbox** ([`NodeOptions::outbox`]): the store keeps every write's notice until a node
//!   confirms it published; nodes replay the ones still unconfirmed after
//!   [`OutboxOptions::replay_after`] (checked every [`OutboxOptions::sweep_every`]). A
//!   crashed writer's write then reaches the shared tier and every near cache within about
//!   `replay_after + sweep_every` of its commit, while one node with the outbox runs.
//!
//! Without a bus, other nodes' near caches are not told about writes and can serve their
//! own older copy until it is evicted (or its max age passes).
//!
//! # Layout
//!
//! [`Node`] is one struct; each file below adds to it the part of its behaviour it is
//! named for, so a path through the node reads top to bottom in one file.

/// What a read answers: [`Answer`], [`Source`], [`PENDING`].
mod answer;
/// The bus side: subscriptions, publishing notices, receiving them, a lost session.
mod coherence;
/// The read and write path's counters, read out as [`NodeStats`].
mod counters;
/// [`NodeError`]: why a read or write failed; [`SetupError`]: why a node could not be made.
mod error;
/// Fills and writes in progress, with the floors notices raise.
mod in_flight;
/// Install admission: what a fill or write checks before its copy enters the near cache.
mod install;
/// A lock-free latency histogram, and [`LatencySummary`], the one way it is reported.
mod latency;
/// The near cache: in-process copies with version-checked installs.
mod near;
/// The node: its parts, how it is made and shut down, what it reports.
mod node;
/// [`NodeOptions`]: how a node is set up.
mod options;
/// The outbox: confirming this node's notices, replaying unconfirmed ones.
mod outbox;
/// The read path: near cache, then one fill per key through the shared tier and the store.
mod read;
/// What a node reports (`/v1/stats`), serializable both ways.
mod stats;
/// The write path (write-through).
mod write;
/// Write-behind: writes answered from memory, flushed in coalesced batches.
mod write_behind;

pub use answer::{Answer, PENDING, Source};
pub use coherence::{
    AckRequest, CoherenceOptions, Delivery, Notice, Stamp, TopicGranularity, WriteMode,
};
pub use error::{NodeError, NodeResult, SetupError};
pub use latency::{LatencyHistogram, LatencySnapshot, LatencySummary};
pub use node::Node;
pub use options::NodeOptions;
pub use outbox::{OutboxOptions, OutboxStats};
pub use stats::{
    CoherenceStats, LatencyByKind, NearStats, NodeStats, SharedStats, StatsBody, StoreStats,
    WriteBehindStats,
};
pub use write_behind::WriteBehindOptions;
pub use write_behind::flush::FlushOutcome;
