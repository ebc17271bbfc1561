//! The Redis backends: [`RedisBus`] on one server (`redis://`), [`RedisClusterBus`] on a
//! Redis Cluster (`redis-cluster://`). (In these files `redis::` is the Redis client crate.)
//!
//! # What they guarantee
//!
//! Both keep the crate's contract with the same keys, and differ only in their pub/sub
//! flavour and in which connection carries which command.
//!
//! * **A subscription is confirmed by Redis.** A session joins a topic's channel first and
//!   enters the topic's subscriber set second, each confirmed by Redis before the next: a
//!   publish in between reaches the session without counting it (harmless); the reverse
//!   could count a session that does not receive.
//! * **Receivers are read with the publish.** One script reads the subscriber set and
//!   publishes in one atomic step on the topic's server or shard. Sessions whose lease key
//!   is gone are left out of the answer and pruned from the set (on a Cluster, by a
//!   second round trip, since lease keys live in other slots).
//! * **A dropped connection loses the session.** Redis pub/sub keeps nothing for a
//!   disconnected subscriber, so the session's connection closing (any shard's, on a
//!   Cluster) ends its incarnation and its owner must flush. The lease key outlives the
//!   connection until its TTL, so a writer waiting for the session's confirmation
//!   (synchronous mode) waits at most one lease; an incarnation that ends cleanly deletes
//!   it at once.
//! * **Leases cost O(1).** A lease is one key with a TTL, renewed with `PEXPIRE`, whatever
//!   the number of subscriptions.
//! * **Unconfirmed publishes go unanswered.** `broadcast` and `send_unconfirmed` (the
//!   application logs, which confirm by acknowledgements of their own) are written on a
//!   connection with `CLIENT REPLY OFF` (single server; the Cluster bus uses its ordinary
//!   publishes for them). The first broadcast on a topic, and one a minute after, also
//!   prunes its subscriber set in the background (a script, as the publish script does),
//!   so a topic only ever broadcast on does not keep the sessions that ended without
//!   leaving.
//! * **Durable topics are streams**, as durable as the server's persistence setting.
//! * **Nothing hangs.** Every command and connection attempt is bounded by
//!   `REDIS_TIMEOUT` (connecting to a Cluster by three times that); past it the bus
//!   answers `Unavailable`.
//!
//! # Layout
//!
//! | file | holds |
//! |---|---|
//! | `keys.rs` | the names of every key and channel (hash-tagged per topic) |
//! | `scripts.rs` | the Lua scripts: publish (server, sharded) and the forward-only cursor |
//! | `connection.rs` | the timeout and retries every connection is opened with |
//! | `incarnation.rs` | a session incarnation on Redis: subscribe, unsubscribe, renew, end, written once over a topology's `Link` |
//! | `durable.rs` | durable topics: streams and consumer cursors |
//! | `unanswered.rs` | a connection Redis does not answer, for unconfirmed publishes |
//! | `server.rs` | [`RedisBus`]: one server, plain pub/sub |
//! | `cluster.rs` | [`RedisClusterBus`]: a Cluster, sharded pub/sub |

mod cluster;
mod connection;
mod durable;
mod incarnation;
mod keys;
mod scripts;
mod server;
mod unanswered;

pub use cluster::RedisClusterBus;
pub use server::RedisBus;
pub use unanswered::CONNECTION_NAME as UNANSWERED_CONNECTION_NAME;

/// The key and channel the rights probe touches: under the bus's prefix, never holding a
/// value or a subscriber.
const RIGHTS_PROBE: &str = "tc:bus:rights-probe";

/// Fails with `Refused` when the connection's user lacks a right the bus uses: reading and
/// deleting its keys, running scripts, publishing on its channels. Only refusals count.
/// Run when the bus connects, so a node with the wrong ACL user refuses to start.
async fn probe_rights<C: redis::aio::ConnectionLike + Send>(
    connection: &mut C,
    address: &str,
    auth: &tiercache_core::RedisAuth,
) -> crate::error::BusResult<()> {
    let probes = [
        redis::cmd("EXISTS").arg(RIGHTS_PROBE).clone(),
        redis::cmd("DEL").arg(RIGHTS_PROBE).clone(),
        redis::cmd("EVAL").arg("return 1").arg(0).clone(),
        redis::cmd("PUBLISH").arg(RIGHTS_PROBE).arg("").clone(),
    ];
    for probe in probes {
        if let Err(error) = probe.query_async::<redis::Value>(connection).await
            && crate::error::is_refusal(&error)
        {
            return Err(crate::error::refused_or_unavailable(address, auth, &error));
        }
    }
    Ok(())
}
