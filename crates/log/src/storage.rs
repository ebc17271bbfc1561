//! The storage contract: the [`LogStorage`] trait every backend answers, and what an append
//! reports ([`Appended`]).

use async_trait::async_trait;

use crate::error::LogResult;
use crate::id::MessageId;
use crate::record::Record;

/// Why a record of an append was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DuplicateOf {
    /// A record with the same id is in the log.
    Id,
    /// A record with the same idempotency key (under another id) is in the log.
    IdempotencyKey,
}

/// A record of an append that the log already held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Duplicate {
    /// Its index in the append's records.
    pub index: usize,
    /// The position of the original (which may be earlier in the same append).
    pub position: u64,
    /// What matched.
    pub by: DuplicateOf,
}

/// What an append did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Appended {
    /// The position of the first new record; the new records hold `first..first +
    /// appended`, in the order of the append. When nothing was new, the log's length.
    pub first: u64,
    /// How many records were new (and stored).
    pub appended: usize,
    /// The records that were not stored, in the order of the append.
    pub duplicates: Vec<Duplicate>,
}

impl Appended {
    /// The position of the append's record `index`: where it was stored, or where its
    /// original is.
    pub fn position(&self, index: usize) -> u64 {
        let mut before = 0;
        for duplicate in &self.duplicates {
            if duplicate.index == index {
                return duplicate.position;
            }
            if duplicate.index < index {
                before += 1;
            }
        }
        self.first + (index - before) as u64
    }
}

/// The durable storage of a log node: per application, an append-only sequence of
/// [`Record`]s at positions 0, 1, 2, …
///
/// # Rules every backend keeps
///
/// * **Positions are dense and never change.** An append stores its new records at the
///   next positions, contiguously and in the order given; nothing is ever inserted before
///   or between them, and a record keeps its position for as long as it is stored. (The
///   same message may hold different positions on different log nodes: positions are per
///   copy, ids are global.)
/// * **Each message is stored once.** A record whose id, or whose idempotency key, is
///   already in that application's log (including earlier in the same append) is not
///   stored again; the append reports it as a [`Duplicate`] with the original's position.
/// * **Acknowledged means durable.** `append` returns only once the new records are as
///   durable as the storage's fsync policy promises (see each backend), and from then on
///   every read sees them. Records of an append that has not returned are never visible.
/// * **Limits are checked first.** An append that exceeds the [`Limits`](crate::Limits)
///   stores nothing.
/// * **Applications are isolated**: ids, keys and positions are per application. An
///   application that was never appended to reads as empty.
///
/// **Cancellation**: dropping an `append` future after it started may still store its
/// records (it is then as if the caller had not waited); a retry with the same ids or
/// idempotency keys is reported as a duplicate. Every other method only reads.
#[async_trait]
pub trait LogStorage: Send + Sync {
    /// Appends `records` to `app`'s log, skipping duplicates (see the rules). An empty
    /// append stores nothing and reports the log's length as `first`. On an error nothing
    /// of the append is visible (with an I/O error during the write, some of it may be
    /// found on disk after a reopen; the ids make a retry safe).
    async fn append(&self, app: &str, records: Vec<Record>) -> LogResult<Appended>;

    /// Up to `limit` records of `app` from position `from` on, in position order, with
    /// their positions. Past the end: an empty list.
    async fn read(&self, app: &str, from: u64, limit: usize) -> LogResult<Vec<(u64, Record)>>;

    /// Up to `limit` records of `app` whose ids come after `after` (from the smallest when
    /// `None`), **in id order**, with their positions: how readers page through a log
    /// across copies, whose positions differ but whose ids do not.
    async fn read_after(
        &self,
        app: &str,
        after: Option<MessageId>,
        limit: usize,
    ) -> LogResult<Vec<(u64, Record)>>;

    /// How many records `app`'s log holds (the next position).
    async fn len(&self, app: &str) -> LogResult<u64>;

    /// The applications holding at least one record, sorted by name.
    async fn apps(&self) -> LogResult<Vec<String>>;

    /// The position of the record with id `id` in `app`'s log, if it holds one.
    async fn position_of(&self, app: &str, id: MessageId) -> LogResult<Option<u64>>;

    /// Whether `app`'s log holds a record with id `id`.
    async fn has(&self, app: &str, id: MessageId) -> LogResult<bool> {
        Ok(self.position_of(app, id).await?.is_some())
    }

    /// The ids of up to `limit` records of `app` from position `from` on, in position
    /// order (answered from memory: catch-up compares these between copies, then reads
    /// only the records it lacks).
    async fn ids_since(&self, app: &str, from: u64, limit: usize) -> LogResult<Vec<MessageId>>;
}
