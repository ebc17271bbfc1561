//! The Redis topology `up` runs under the API nodes: one server, a Cluster, or a primary with
//! replicas, each server with `maxmemory` and `maxmemory-policy` set.

use tiercache_launch::{RedisCluster, RedisServer};

use super::plan::UpTier;
use super::secrets::RedisUsers;
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

    /// Turns on access control on every server: the roles' users with their rights, and a
    /// password on the `default` user (replicas authenticate to their primaries with it),
    /// so a client without a user and password can do nothing.
    pub(crate) fn secure(&mut self, users: &RedisUsers, default_password: &str) -> Result<()> {
        let fail = |error: std::io::Error| {
            crate::Error::Settings(format!("turning on Redis access control: {error}"))
        };
        let servers = self.servers_mut();
        for (_, server) in &servers {
            for user in [&users.api, &users.log] {
                let password = user.password().map_err(crate::Error::Settings)?;
                server
                    .add_user(&user.name, password.expose(), &user.rights)
                    .map_err(fail)?;
            }
            server
                .command(&["CONFIG", "SET", "masterauth", default_password])
                .map_err(fail)?;
        }
        // Last: from here on, the default user needs the password too.
        let password = format!(">{default_password}");
        for (_, server) in &servers {
            server
                .command(&["ACL", "SETUSER", "default", "resetpass", &password])
                .map_err(fail)?;
        }
        Ok(())
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

/// `url` with `user@` before its addresses: `redis://h:1` → `redis://tc-api@h:1`.
pub(crate) fn with_user(url: &str, user: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{user}@{rest}"),
        None => url.to_owned(),
    }
}
