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

impl LocalRedis {
    /// Every server of the three topologies.
    fn servers(&self) -> impl Iterator<Item = &RedisServer> {
        [&self.single, &self.primary]
            .into_iter()
            .chain(self.cluster.nodes())
            .chain(&self.replicas)
    }

    /// Gives every server `policy` and `data_bytes` of memory for data, at once (no
    /// restart): Redis counts its own overhead (the cluster bus, replication buffers, the
    /// scripts' cache) in `maxmemory`, several hundred KiB that would leave a small budget
    /// no room at all, so each server's `maxmemory` becomes what it uses now plus
    /// `data_bytes`. Call it on empty servers (flush first) so "now" is the overhead.
    pub fn set_budget(&self, policy: &PolicySpec, data_bytes: u64) -> Result<()> {
        let args = LocalRedis::server_args(policy, data_bytes)?;
        for server in self.servers() {
            let failed =
                |error: String| Error::Settings(format!("Redis at {}: {error}", server.address()));
            let info = server
                .command(&["INFO", "memory"])
                .map_err(|e| failed(e.to_string()))?;
            let used: u64 = info
                .lines()
                .find_map(|line| line.strip_prefix("used_memory:"))
                .and_then(|value| value.trim().parse().ok())
                .ok_or_else(|| failed(format!("no used_memory in INFO: {info}")))?;
            for pair in args.chunks(2) {
                let name = pair[0].trim_start_matches("--");
                let value = if name == "maxmemory" {
                    (used + data_bytes).to_string()
                } else {
                    pair[1].clone()
                };
                let answer = server
                    .command(&["CONFIG", "SET", name, &value])
                    .map_err(|e| failed(e.to_string()))?;
                if !answer.contains("OK") {
                    return Err(failed(format!("CONFIG SET {name} {value}: {answer}")));
                }
            }
        }
        Ok(())
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
