//! Redis topologies beyond one server: Redis Cluster, a primary with read replicas, and a
//! Sentinel-managed primary. They share the single-server code path (`redis_tier.rs`): the
//! same key layout and the same version-checked scripts.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use tiercache_core::Version;
use tokio::sync::RwLock;

use crate::error::{TierError, TierResult};
use crate::model::{Entry, SetOutcome, TierOptions, Topology};
use crate::redis_tier::{RedisNode, Scripts, namespaced, read, write};
use crate::slot::key_slot;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};

/// `redis-cluster://A,B,C`: Redis Cluster. The server assigns slots; the client learns the
/// slot map from any seed node, follows MOVED/ASK redirections and refreshes the map when
/// the cluster changes (a failover promotes a replica).
///
/// A failover can lose writes the old primary acknowledged but had not yet replicated; a
/// lost invalidation would leave an old version readable. So when the cluster has replicas,
/// every write is followed by `WAIT 1` on the key's primary and counts only once a replica
/// holds it: the replica that gets promoted has it. The wait lasts up to
/// [`TierOptions::replica_wait`] (5 s), in rounds; only then does the write fail with
/// `Unavailable` — a healthy but loaded replica lags by far less, so it does not fail writes.
pub(crate) struct ClusterRedisTier {
    connection: ClusterConnection,
    scripts: Scripts,
    seeds: Vec<String>,
    /// Replicas that must hold a write before it counts (0 without replicas, else 1).
    wait_replicas: u64,
    /// One WAIT's timeout: below the response timeout, so WAIT answers before the client
    /// gives up on it.
    wait_round: Duration,
    /// How long a write waits for a replica in all.
    replica_wait: Duration,
    /// Slots whose primary was found without a replica (a promoted replica whose old
    /// primary is dead), until when: no failover can lose their writes, so no WAIT.
    unreplicated: parking_lot::Mutex<std::collections::HashMap<u16, std::time::Instant>>,
}

impl ClusterRedisTier {
    pub(crate) async fn connect(
        seeds: &[String],
        options: &TierOptions,
    ) -> TierResult<ClusterRedisTier> {
        let builder = ClusterClient::builder(
            seeds
                .iter()
                .map(|seed| options.redis_auth.client_url(seed, "")),
        )
        .connection_timeout(options.redis_timeout)
        .response_timeout(options.redis_timeout)
        .retries(3);
        let client = tiercache_tls::redis_client::cluster_settings(builder, &options.redis_auth)
            .map_err(TierError::InvalidUrl)?
            .build()
            .map_err(|error| TierError::InvalidUrl(format!("redis-cluster://: {error}")))?;
        // Bounded: connection set-up can otherwise wait on an unresponsive seed.
        let connection =
            tokio::time::timeout(options.redis_timeout * 3, client.get_async_connection())
                .await
                .map_err(|_| {
                    TierError::Unavailable(format!("no Redis Cluster answered at {seeds:?}"))
                })?
                .map_err(|error| {
                    crate::error::refused_or_unavailable(
                        &format!("{seeds:?}"),
                        &options.redis_auth,
                        &error,
                    )
                })?;
        crate::redis_tier::probe_rights(
            &mut connection.clone(),
            &format!("{seeds:?}"),
            &options.redis_auth,
        )
        .await?;
        let mut tier = ClusterRedisTier {
            connection,
            scripts: Scripts::new(options),
            seeds: seeds.to_vec(),
            wait_replicas: 0,
            wait_round: options.redis_timeout / 2,
            replica_wait: options.replica_wait,
            unreplicated: Default::default(),
        };
        let nodes: String = redis::cmd("CLUSTER")
            .arg("NODES")
            .query_async(&mut tier.connection)
            .await?;
        let has_replicas = nodes.lines().any(|line| {
            line.contains(" slave ") || line.contains(",slave ") || line.contains("replica")
        });
        tier.wait_replicas = u64::from(has_replicas);
        Ok(tier)
    }

    /// Waits until a replica of `key`'s primary holds the writes sent before.
    async fn wait_for_replica(&self, key: &[u8]) -> TierResult<()> {
        if self.wait_replicas == 0 {
            return Ok(());
        }
        let slot = key_slot(&namespaced(key));
        let route = RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(Route::new(
            slot,
            SlotAddr::Master,
        )));
        if self
            .unreplicated
            .lock()
            .get(&slot)
            .is_some_and(|until| *until > std::time::Instant::now())
        {
            return Ok(());
        }
        let started = std::time::Instant::now();
        let acked = loop {
            let left = self.replica_wait.saturating_sub(started.elapsed());
            let round = self.wait_round.min(left).max(Duration::from_millis(1));
            let mut wait = redis::cmd("WAIT");
            wait.arg(self.wait_replicas).arg(round.as_millis() as u64);
            let acked = self
                .connection
                .clone()
                .route_command(wait, route.clone())
                .await?;
            if matches!(acked, redis::Value::Int(n) if n as u64 >= self.wait_replicas) {
                return Ok(());
            }
            if started.elapsed() >= self.replica_wait {
                break acked;
            }
        };
        // No replica acknowledged: fine if the primary has none (nothing could be promoted
        // over it), remembered for a while so its writes do not each wait the timeout.
        let info = self
            .connection
            .clone()
            .route_command(redis::cmd("INFO").arg("replication").clone(), route)
            .await?;
        let info: String = redis::from_redis_value(info)
            .map_err(|error| TierError::Internal(format!("INFO replication: {error}")))?;
        if info.contains("connected_slaves:0") {
            self.unreplicated
                .lock()
                .insert(slot, std::time::Instant::now() + Duration::from_secs(2));
            return Ok(());
        }
        Err(TierError::Unavailable(format!(
            "the write reached no replica within {:?} (WAIT answered {acked:?})",
            self.replica_wait
        )))
    }
}

#[async_trait]
impl Topology for ClusterRedisTier {
    async fn read(&self, key: &[u8]) -> TierResult<Option<Entry>> {
        read(&mut self.connection.clone(), key).await
    }

    async fn write(
        &self,
        key: &[u8],
        value: Option<&[u8]>,
        version: Version,
    ) -> TierResult<SetOutcome> {
        let mut connection = self.connection.clone();
        let outcome = write(&mut connection, &self.scripts, key, value, version).await?;
        if outcome == SetOutcome::Stored {
            self.wait_for_replica(key).await?;
        }
        Ok(outcome)
    }

    /// Empties the cluster's database on every primary (FLUSHDB): give tiercache a cluster
    /// (or a database) of its own.
    async fn flush(&self) -> TierResult<()> {
        let () = redis::cmd("FLUSHDB")
            .query_async(&mut self.connection.clone())
            .await?;
        Ok(())
    }

    fn describe(&self) -> String {
        format!(
            "partitioned (Redis Cluster, seeds {})",
            self.seeds.join(",")
        )
    }
}

/// `redis-replicated://PRIMARY,REPLICA,…`: writes go to the primary; reads are spread
/// round-robin over the replicas (Redis replicates asynchronously, so a read may lag the
/// primary), falling back to the primary when a replica cannot answer.
pub(crate) struct ReplicatedRedisTier {
    primary: RedisNode,
    replicas: Vec<RedisNode>,
    next_read: AtomicUsize,
    /// How long a tombstone may take to reach every replica.
    wait_timeout: Duration,
}

impl ReplicatedRedisTier {
    pub(crate) async fn connect(
        addresses: &[String],
        options: &TierOptions,
    ) -> TierResult<ReplicatedRedisTier> {
        let (primary, replicas) = addresses.split_first().ok_or_else(|| {
            TierError::InvalidUrl("redis-replicated:// needs the primary's address first".into())
        })?;
        let primary = RedisNode::connect(primary, options).await?;
        let mut connected = Vec::with_capacity(replicas.len());
        for replica in replicas {
            connected.push(RedisNode::connect(replica, options).await?);
        }
        Ok(ReplicatedRedisTier {
            primary,
            replicas: connected,
            next_read: AtomicUsize::new(0),
            // Below the response timeout, so WAIT answers before the client gives up on it.
            wait_timeout: options.redis_timeout / 2,
        })
    }
}

#[async_trait]
impl Topology for ReplicatedRedisTier {
    async fn read(&self, key: &[u8]) -> TierResult<Option<Entry>> {
        if self.replicas.is_empty() {
            return self.primary.get(key).await;
        }
        let index = self.next_read.fetch_add(1, Ordering::Relaxed) % self.replicas.len();
        match self.replicas[index].get(key).await {
            Err(TierError::Unavailable(_)) => self.primary.get(key).await,
            answer => answer,
        }
    }

    async fn write(
        &self,
        key: &[u8],
        value: Option<&[u8]>,
        version: Version,
    ) -> TierResult<SetOutcome> {
        let outcome = self.primary.write(key, value, version).await?;
        // Reads go to the replicas, so a tombstone counts only once every replica holds it:
        // otherwise a reader could still find the replaced value there after the write was
        // acknowledged. Fills need no such wait (a replica that lacks one merely misses).
        if value.is_none() && outcome == SetOutcome::Stored && !self.replicas.is_empty() {
            let wanted = self.replicas.len();
            let acknowledged = self
                .primary
                .wait_for_replicas(wanted, self.wait_timeout)
                .await?;
            if (acknowledged as usize) < wanted {
                return Err(TierError::Unavailable(format!(
                    "the tombstone reached {acknowledged} of {wanted} replicas within {:?}",
                    self.wait_timeout
                )));
            }
        }
        Ok(outcome)
    }

    async fn flush(&self) -> TierResult<()> {
        // Replicas follow the primary's deletions.
        self.primary.flush().await
    }

    fn describe(&self) -> String {
        format!(
            "replicated (Redis primary {} + {} replicas)",
            self.primary.address(),
            self.replicas.len()
        )
    }
}

/// `redis-sentinel://S1,S2,S3/MASTER`: a primary whose address the Sentinels give. When an
/// operation fails because the primary is unreachable, the tier asks the Sentinels again;
/// if they name a new primary (a failover happened), it connects to it and **flushes its
/// tiercache keys before serving from it**: writes the old primary acknowledged may not have
/// reached the replica that was promoted, and an entry older than such a write must never
/// be served. The operation is then retried once on the new primary.
pub(crate) struct SentinelRedisTier {
    sentinels: Vec<String>,
    master: String,
    options: TierOptions,
    current: RwLock<RedisNode>,
}

/// Asks each Sentinel in turn for the primary's address.
async fn primary_address(
    sentinels: &[String],
    master: &str,
    timeout: Duration,
) -> TierResult<String> {
    let mut last_error = String::from("no Sentinel given");
    for sentinel in sentinels {
        let asked = async {
            let client = redis::Client::open(format!("redis://{sentinel}/"))?;
            let mut connection = client.get_multiplexed_async_connection().await?;
            redis::cmd("SENTINEL")
                .arg("GET-MASTER-ADDR-BY-NAME")
                .arg(master)
                .query_async::<Option<(String, u16)>>(&mut connection)
                .await
        };
        match tokio::time::timeout(timeout, asked).await {
            Ok(Ok(Some((host, port)))) => return Ok(format!("{host}:{port}")),
            Ok(Ok(None)) => last_error = format!("{sentinel} does not know master {master:?}"),
            Ok(Err(error)) => last_error = format!("{sentinel}: {error}"),
            Err(_) => last_error = format!("{sentinel}: no answer within {timeout:?}"),
        }
    }
    Err(TierError::Unavailable(format!(
        "no Sentinel named a primary for {master:?}: {last_error}"
    )))
}

impl SentinelRedisTier {
    pub(crate) async fn connect(
        sentinels: &[String],
        master: &str,
        options: &TierOptions,
    ) -> TierResult<SentinelRedisTier> {
        let address = primary_address(sentinels, master, options.redis_timeout).await?;
        let node = RedisNode::connect(&address, options).await?;
        Ok(SentinelRedisTier {
            sentinels: sentinels.to_vec(),
            master: master.to_owned(),
            options: options.clone(),
            current: RwLock::new(node),
        })
    }

    /// After a failure: switches to the primary the Sentinels name now, if it changed.
    /// Returns whether it switched.
    async fn follow_failover(&self) -> TierResult<bool> {
        let address =
            primary_address(&self.sentinels, &self.master, self.options.redis_timeout).await?;
        if self.current.read().await.address() == address {
            return Ok(false);
        }
        let mut current = self.current.write().await;
        if current.address() == address {
            return Ok(true); // another task switched meanwhile
        }
        let node = RedisNode::connect(&address, &self.options).await?;
        node.flush().await?;
        tracing::warn!(
            master = %self.master,
            from = %current.address(),
            to = %address,
            "shared tier failed over to a new primary; its copies were flushed"
        );
        *current = node;
        Ok(true)
    }

    async fn primary(&self) -> RedisNode {
        self.current.read().await.clone()
    }
}

/// Runs `$call` on the current primary (bound to `$node`); after an `Unavailable` failure
/// follows a failover and, if the primary changed, runs it once more on the new one.
macro_rules! on_primary {
    ($tier:ident, $node:ident => $call:expr) => {{
        let $node = $tier.primary().await;
        match $call {
            Err(TierError::Unavailable(reason)) => {
                if $tier.follow_failover().await? {
                    let $node = $tier.primary().await;
                    $call
                } else {
                    Err(TierError::Unavailable(reason))
                }
            }
            answer => answer,
        }
    }};
}

#[async_trait]
impl Topology for SentinelRedisTier {
    async fn read(&self, key: &[u8]) -> TierResult<Option<Entry>> {
        on_primary!(self, node => node.get(key).await)
    }

    async fn write(
        &self,
        key: &[u8],
        value: Option<&[u8]>,
        version: Version,
    ) -> TierResult<SetOutcome> {
        on_primary!(self, node => node.write(key, value, version).await)
    }

    async fn flush(&self) -> TierResult<()> {
        on_primary!(self, node => node.flush().await)
    }

    fn describe(&self) -> String {
        format!(
            "replicated with failover (Sentinel master {:?} via {})",
            self.master,
            self.sentinels.join(",")
        )
    }
}
