//! How a node is set up: near-cache budget and policy, limits, max age, write mode.

use tiercache_cache::PolicySpec;
use tiercache_store::Limits;

use crate::outbox::OutboxOptions;
use crate::write_behind::WriteBehindOptions;

/// How a node is set up.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    /// The near cache's budget in bytes (keys + values + per-entry overhead); 0 disables
    /// the near cache. Default 64 MiB.
    pub near_capacity_bytes: u64,
    /// The near cache's eviction policy (default `allkeys-lru`).
    pub near_policy: PolicySpec,
    /// Key and value limits, checked before anything is sent anywhere (default: the
    /// store's defaults, 512-byte keys and 1 MiB values).
    pub limits: Limits,
    /// The longest a value stays in the near cache after it was installed (default
    /// `None`: until evicted, replaced or invalidated). Bounds how long a copy can be
    /// served when its invalidation never comes — a writer that crashed between its store
    /// commit and its publish.
    pub near_max_age: Option<std::time::Duration>,
    /// Fault injection: abort the whole process right after a write's store commit, before
    /// the shared tier and the other nodes hear of it (default `false`).
    pub crash_after_commit: bool,
    /// Write-behind instead of write-through (default `None`: write-through). Needs a
    /// node made by [`Node::start`](crate::Node::start) or
    /// [`Node::with_bus`](crate::Node::with_bus), which run its flusher.
    pub write_behind: Option<WriteBehindOptions>,
    /// The outbox (default `None`: off): confirm this node's published notices, and replay
    /// the ones no writer confirmed, so a writer that crashed between its commit and its
    /// publish leaves copies stale for seconds, not the max age. Needs a node made by
    /// [`Node::start`](crate::Node::start) or [`Node::with_bus`](crate::Node::with_bus).
    pub outbox: Option<OutboxOptions>,
}

impl Default for NodeOptions {
    fn default() -> NodeOptions {
        NodeOptions {
            near_capacity_bytes: 64 << 20,
            near_policy: "allkeys-lru".parse().expect("a built-in policy name"),
            limits: Limits::default(),
            near_max_age: None,
            crash_after_commit: false,
            write_behind: None,
            outbox: None,
        }
    }
}
