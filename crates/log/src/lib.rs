//! The durable storage of a log node: per application, an append-only log of records, each
//! stored once however often it is delivered.
//!
//! # Guarantees
//!
//! * **Positions are dense and fixed**: an application's records sit at positions 0, 1, 2,
//!   … in the order this node appended them; nothing is inserted or moved. Positions are
//!   per copy; [`MessageId`]s are global.
//! * **Each message once**: a record whose id or idempotency key the log already holds is
//!   reported as a duplicate of the original, not stored again.
//! * **Acknowledged means durable** under the [`FsyncPolicy`] (segment files), and visible
//!   to every later read; [`MemoryStorage`] keeps nothing past the process.
//! * **Damage is reported, never skipped**: every record carries a CRC32C of its header and
//!   of its body; a torn tail is truncated on open and reported, a corrupt record in the
//!   middle is reported by file and offset and the log refuses appends until repaired.
//!
//! # Layout
//!
//! * [`MessageId`], [`MessageIds`]: message identity and the per-publisher generator;
//! * [`Record`], [`Limits`]: what is stored, and what one append may hold;
//! * [`LogStorage`]: the contract every backend keeps, with [`Appended`];
//! * `index`: one application's ids and keys in memory (dedup, positions); `registry`: the
//!   applications of a storage and what their indexes answer;
//! * [`MemoryStorage`]: in process, not durable;
//! * [`SegmentStorage`]: segment files, group commit, recovery ([`segment`]);
//! * [`LogNotice`]: the protocol's messages on the bus ([`Append`] on [`log_topic`], [`Ack`]
//!   to the publisher), their wire format as a table;
//! * [`LogNode`]: a log node on the bus: subscribed to its applications' log topics,
//!   appending what arrives in batches and acknowledging each message once durable;
//! * [`LogError`]: what can go wrong, classified once.

mod error;
mod id;
mod index;
mod memory;
mod node;
mod notice;
mod record;
mod registry;
pub mod segment;
mod storage;

pub use error::{LogError, LogResult};
pub use id::{ID_TEXT_LEN, MessageId, MessageIds, ParseIdError};
pub use memory::MemoryStorage;
pub use node::{LogNode, NodeCounters};
pub use notice::{Ack, Append, LogNotice, NoticeError, app_of_topic, log_topic};
pub use record::{
    DEFAULT_MAX_BATCH, DEFAULT_MAX_KEY, DEFAULT_MAX_VALUE, FORMAT_MAX_KEY, Limits, Record,
};
pub use segment::{FsyncPolicy, ParseFsyncError, Recovery, SegmentOptions, SegmentStorage};
pub use storage::{Appended, Duplicate, DuplicateOf, LogStorage};
