//! The Redis topology `up` runs under the API nodes: one server, a Cluster, or a primary with
//! replicas, each server with `maxmemory` and `maxmemory-policy` set.

use tiercache_launch::{RedisCluster, RedisServer};

use super::plan::UpTier;
use crate::Result;
use crate::local_redis::{start_cluster, start_replicated, start_single};

/// The running topology; every server is stopped on drop.
pub(crate) enum UpRedis {
    Single(RedisServer),
    Cluster(RedisCluster),
    Replicated(RedisServer, Vec<RedisServer>),
    /// No shared tier: one server as the bus of the logs (and of the near caches).
    BusOnly(RedisServer),
}

impl UpRedis {
    /// Starts `tier` with `args` on each server; `None` for no tier.
    pub(crate) fn launch(tier: UpTier, args: &[String]) -> Result<Option<UpRedis>> {
        Ok(Some(match tier {
            UpTier::None => return Ok(None),
            UpTier::Redis => UpRedis::Single(start_single(args)?),
            UpTier::RedisCluster => UpRedis::Cluster(start_cluster(args)?),
            UpTier::RedisReplicated => {
                let (primary, replicas) = start_replicated(args)?;
                UpRedis::Replicated(primary, replicas)
            }
        }))
    }

    /// One server as a bus alone.
    pub(crate) fn bus_only(args: &[String]) -> Result<UpRedis> {
        Ok(UpRedis::BusOnly(start_single(args)?))
    }

    /// The API nodes' (tier URL, bus URL).
    pub(crate) fn urls(&self) -> (Option<String>, String) {
        match self {
            UpRedis::Single(server) => (Some(server.url()), server.url()),
            UpRedis::Cluster(cluster) => (Some(cluster.url()), cluster.url()),
            UpRedis::BusOnly(server) => (None, server.url()),
            UpRedis::Replicated(primary, replicas) => {
                let mut addresses = vec![primary.address()];
                addresses.extend(replicas.iter().map(RedisServer::address));
                (
                    Some(format!("redis-replicated://{}", addresses.join(","))),
                    primary.url(),
                )
            }
        }
    }

    /// Every server, with its id.
    pub(crate) fn servers_mut(&mut self) -> Vec<(String, &mut RedisServer)> {
        match self {
            UpRedis::Single(server) | UpRedis::BusOnly(server) => {
                vec![("redis".to_owned(), server)]
            }
            UpRedis::Cluster(cluster) => cluster
                .nodes_mut()
                .iter_mut()
                .enumerate()
                .map(|(n, server)| (format!("redis-{}", n + 1), server))
                .collect(),
            UpRedis::Replicated(primary, replicas) => {
                let mut servers = vec![("redis-primary".to_owned(), primary)];
                servers.extend(
                    replicas
                        .iter_mut()
                        .enumerate()
                        .map(|(n, server)| (format!("redis-replica-{}", n + 1), server)),
                );
                servers
            }
        }
    }
}
