//! The Redis topology `up` runs under the API nodes: one server, a Cluster, or a primary with
//! replicas, each server with `maxmemory` and `maxmemory-policy` set.

use tiercache_launch::{RedisCluster, RedisServer};

use super::plan::UpTier;
use crate::{Error, Result};

/// The running topology; every server is stopped on drop.
pub(crate) enum UpRedis {
    Single(RedisServer),
    Cluster(RedisCluster),
    Replicated(RedisServer, Vec<RedisServer>),
}

impl UpRedis {
    /// Starts `tier` with `args` on each server; `None` for no tier.
    pub(crate) fn launch(tier: UpTier, args: &[String]) -> Result<Option<UpRedis>> {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let launched = |doing| move |source| Error::Launch { doing, source };
        Ok(Some(match tier {
            UpTier::None => return Ok(None),
            UpTier::Redis => UpRedis::Single(
                RedisServer::start_with(&args).map_err(launched("starting redis-server"))?,
            ),
            UpTier::RedisCluster => UpRedis::Cluster(
                RedisCluster::start_with(3, 1, &args)
                    .map_err(launched("starting a Redis Cluster"))?,
            ),
            UpTier::RedisReplicated => {
                let primary =
                    RedisServer::start_with(&args).map_err(launched("starting a Redis primary"))?;
                let replicas = (0..2)
                    .map(|_| RedisServer::replica_of_with(&primary, &args))
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(launched("starting Redis replicas"))?;
                UpRedis::Replicated(primary, replicas)
            }
        }))
    }

    /// The API nodes' (tier URL, bus URL).
    pub(crate) fn urls(&self) -> (String, String) {
        match self {
            UpRedis::Single(server) => (server.url(), server.url()),
            UpRedis::Cluster(cluster) => (cluster.url(), cluster.url()),
            UpRedis::Replicated(primary, replicas) => {
                let mut addresses = vec![primary.address()];
                addresses.extend(replicas.iter().map(RedisServer::address));
                (
                    format!("redis-replicated://{}", addresses.join(",")),
                    primary.url(),
                )
            }
        }
    }

    /// Every server, with its id.
    pub(crate) fn servers_mut(&mut self) -> Vec<(String, &mut RedisServer)> {
        match self {
            UpRedis::Single(server) => vec![("redis".to_owned(), server)],
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
