//! Redis topologies on this machine for the shared tier: one server, a Cluster of three
//! primaries with a replica each, and a primary with two replicas, every node with the same
//! memory budget and eviction policy.

use tiercache_cache::PolicySpec;
use tiercache_launch::{RedisCluster, RedisServer};

use crate::{Error, Result};

/// Local Redis topologies on free loopback ports; every server is stopped on drop.
#[derive(Debug)]
pub struct LocalRedis {
    single: RedisServer,
    cluster: RedisCluster,
    primary: RedisServer,
    replicas: Vec<RedisServer>,
}

impl LocalRedis {
    /// The `redis-server` arguments every node gets: `maxmemory` and the policy.
    pub fn server_args(policy: &PolicySpec, maxmemory: u64) -> Result<Vec<String>> {
        tiercache_tier::redis_server_args(policy, maxmemory)
            .map_err(|error| Error::Settings(error.to_string()))
    }

    /// Starts the three topologies, each node with `args` (see [`LocalRedis::server_args`]).
    /// Needs redis-server and redis-cli installed.
    pub fn launch(args: &[String]) -> Result<LocalRedis> {
        let single = start_single(args)?;
        let cluster = start_cluster(args)?;
        let (primary, replicas) = start_replicated(args)?;
        Ok(LocalRedis {
            single,
            cluster,
            primary,
            replicas,
        })
    }

    /// (name, tier URL) of each topology.
    pub fn topologies(&self) -> Vec<(&'static str, String)> {
        let replicas: Vec<String> = self.replicas.iter().map(RedisServer::address).collect();
        vec![
            ("redis centralized", self.single.url()),
            ("redis cluster", self.cluster.url()),
            (
                "redis replicated",
                format!(
                    "redis-replicated://{},{}",
                    self.primary.address(),
                    replicas.join(",")
                ),
            ),
        ]
    }
}

fn launched(doing: &'static str) -> impl FnOnce(tiercache_launch::Error) -> Error {
    move |source| Error::Launch { doing, source }
}

fn as_strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// One redis-server with `args`.
pub(crate) fn start_single(args: &[String]) -> Result<RedisServer> {
    RedisServer::start_with(&as_strs(args)).map_err(launched("starting redis-server"))
}

/// A Redis Cluster of three primaries with a replica each, every node with `args`.
pub(crate) fn start_cluster(args: &[String]) -> Result<RedisCluster> {
    RedisCluster::start_with(3, 1, &as_strs(args)).map_err(launched("starting a Redis Cluster"))
}

/// A primary and two replicas, every node with `args`, returned once both replicas synced.
pub(crate) fn start_replicated(args: &[String]) -> Result<(RedisServer, Vec<RedisServer>)> {
    let args = as_strs(args);
    let primary = RedisServer::start_with(&args).map_err(launched("starting a Redis primary"))?;
    let replicas = (0..2)
        .map(|_| RedisServer::replica_of_with(&primary, &args))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(launched("starting Redis replicas"))?;
    Ok((primary, replicas))
}
