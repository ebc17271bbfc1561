//! [`LogCopy`]: one copy of the applications' logs as readers see it — a log node in this
//! process ([`LogNode`](crate::LogNode)) or another one over HTTP
//! ([`RemoteCopy`](crate::RemoteCopy)). Catch-up reads other copies through it, and so do
//! an API node's merged reads.

use async_trait::async_trait;

use crate::error::LogResult;
use crate::id::MessageId;
use crate::record::Record;

/// Records of one copy of an application's log.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CopyPage {
    /// Whether the copy has caught up: it holds every message acknowledged before it
    /// subscribed (see [`LogCopy`]).
    pub ready: bool,
    /// How many records the copy holds.
    pub len: u64,
    /// The records asked for, each with its position in this copy.
    pub records: Vec<(u64, Record)>,
}

/// One copy of the applications' logs (a log node), read-only.
///
/// Implemented by [`LogNode`](crate::LogNode) and [`RemoteCopy`](crate::RemoteCopy); both
/// pass the same suite (`tests/copies.rs`) and answer alike:
///
/// * the storage's rules hold ([`LogStorage`](crate::LogStorage)): positions are dense and
///   fixed per copy, ids are global, `read_after` is in id order;
/// * **`ready`** says whether the copy caught up since it was assigned the application (or
///   last lost its bus session): a ready copy holds every message that was acknowledged
///   before its subscription was confirmed — with `--log-acks 2` of three copies, at least
///   one reachable ready copy holds each acknowledged message only when two answer; see
///   ARCHITECTURE;
/// * an application the copy never held reads as empty; a `limit` is cut to
///   [`MAX_PAGE`](crate::wire::MAX_PAGE) over HTTP;
/// * a copy that cannot be reached fails with
///   [`Unreachable`](crate::LogError::Unreachable), never with an empty answer.
#[async_trait]
pub trait LogCopy: Send + Sync {
    /// Where the copy is, for reports (a URL, or the node's id in process).
    fn name(&self) -> &str;

    /// Up to `limit` records of `app` whose ids come after `after`, in id order.
    async fn read_after(
        &self,
        app: &str,
        after: Option<MessageId>,
        limit: usize,
    ) -> LogResult<CopyPage>;

    /// Up to `limit` records of `app` from position `from` on, in position order.
    async fn read(&self, app: &str, from: u64, limit: usize) -> LogResult<CopyPage>;

    /// The ids of up to `limit` records of `app` from position `from` on, and the copy's
    /// length.
    async fn ids_since(
        &self,
        app: &str,
        from: u64,
        limit: usize,
    ) -> LogResult<(Vec<MessageId>, u64)>;
}
