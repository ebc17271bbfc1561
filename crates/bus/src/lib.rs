//! Publish/subscribe with dynamically created topics, leased sessions, and durable topics:
//! the messaging layer under tiercache's coherence protocol and its application logs.
//!
//! # What it guarantees
//!
//! * **Subscriptions are confirmed.** [`Session::subscribe`] returns only once the bus will
//!   deliver every later message of the topic to the session. A reader that subscribes
//!   before it reads can therefore not miss an invalidation of what it read.
//! * **Loss is never silent.** A session is lost when its lease lapses, its connection
//!   drops, or it falls `queue_limit` events behind. Its [`Session::generation`] rises at
//!   once and a [`SessionEvent::Lost`] follows every message it did receive; then a new
//!   incarnation (a new [`SessionId`], no subscriptions) starts and
//!   [`SessionEvent::Restored`] is queued. Between two events of one generation, nothing
//!   published on a subscribed topic was dropped.
//! * **Leases.** A session renews its lease every `renew_every`. The bus keeps a session's
//!   subscriptions until its lease lapses, even if its connection is gone — so a writer
//!   that must hear from every subscriber can wait for the *sessions* returned by
//!   [`Bus::publish`] until they answer or [`Bus::alive`] says they are gone. The session
//!   itself counts its lease as expired `safety_margin` earlier ([`Session::lease_valid`]).
//! * **Order.** One publisher's messages on one topic arrive in order; different
//!   publishers' messages may interleave in any order.
//! * **Durable topics** ([`Bus::append`], [`Bus::read`], [`Bus::acknowledge`]) keep every
//!   record until the bus's storage is lost (Redis: as durable as its persistence setting).
//!
//! # Backends
//!
//! | URL | backend |
//! |---|---|
//! | `memory://` | [`MemoryBus`]: in this process (the embedded default) |
//! | `redis://HOST:PORT` | [`RedisBus`]: Redis pub/sub, a TTL key per session, streams for durable topics |
//! | `redis-cluster://HOST:PORT,…` | [`RedisClusterBus`]: sharded pub/sub (`SSUBSCRIBE`/`SPUBLISH`) on Redis Cluster, the same keys |
//!
//! All pass one conformance suite (`tests/conformance.rs`).
//!
//! # Layout
//! - `model`: the [`Bus`] contract and what it answers with ([`Receivers`], [`Offset`],
//!   [`Record`]).
//! - `session`: [`Session`] and its vocabulary ([`SessionId`], [`SessionEvent`],
//!   [`SessionOptions`]); the lease, its renewal and the replacement of a lost incarnation,
//!   shared by every backend.
//! - `topic`: topic names ([`check_topic`]).
//! - `memory`: [`MemoryBus`]. `redis/*`: [`RedisBus`] and [`RedisClusterBus`] over shared
//!   keys, scripts, incarnations and durable topics, one file per topology.
//! - `url`: [`BusUrl`] and [`open`]. `error`: [`BusError`].

/// Why a bus operation failed: [`BusError`].
mod error;
/// The in-process backend: [`MemoryBus`].
mod memory;
/// The contract: [`Bus`] and its answers.
mod model;
/// The Redis backends: [`RedisBus`], [`RedisClusterBus`].
mod redis;
/// Leased sessions: [`Session`], its events and lease.
mod session;
/// Topic names, checked alike by every backend.
mod topic;
/// Bus URLs and opening a backend by URL.
mod url;

pub use self::redis::{RedisBus, RedisClusterBus, UNANSWERED_CONNECTION_NAME};
pub use error::{BusError, BusResult, REQUIRED_RIGHTS};
pub use memory::MemoryBus;
pub use model::{Bus, Offset, Receivers, Record};
pub use session::{DEFAULT_LEASE, Session, SessionEvent, SessionId, SessionOptions};
pub use topic::{MAX_TOPIC_BYTES, check_topic};
pub use url::{BusUrl, open};
