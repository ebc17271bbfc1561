//! Bus URLs: the scheme picks the backend (`memory://`, `redis://`, `redis-cluster://`).

use std::str::FromStr;
use std::sync::Arc;

use tiercache_core::RedisAuth;

use crate::error::{BusError, BusResult};
use crate::memory::MemoryBus;
use crate::model::Bus;
use crate::redis::{RedisBus, RedisClusterBus};

/// A parsed bus URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BusUrl {
    /// `memory://` — in this process.
    Memory,
    /// `redis://HOST:PORT` — one Redis server.
    Redis(String),
    /// `redis-cluster://HOST:PORT,HOST:PORT,…` — a Redis Cluster, by any of its nodes.
    RedisCluster(Vec<String>),
}

impl FromStr for BusUrl {
    type Err = BusError;

    fn from_str(url: &str) -> BusResult<BusUrl> {
        let (scheme, rest) = url.split_once("://").ok_or_else(|| {
            BusError::InvalidUrl(format!(
                "{url:?}: expected memory://, redis://HOST:PORT or redis-cluster://HOST:PORT,…"
            ))
        })?;
        let rest = rest.trim_end_matches('/');
        match scheme {
            "memory" if rest.is_empty() => Ok(BusUrl::Memory),
            "memory" => Err(BusError::InvalidUrl(format!(
                "{url:?}: memory:// takes nothing after the scheme"
            ))),
            "redis" if rest.contains(':') && !rest.contains([',', '/', '?']) => {
                Ok(BusUrl::Redis(rest.to_owned()))
            }
            "redis" => Err(BusError::InvalidUrl(format!(
                "{url:?}: redis:// needs one HOST:PORT"
            ))),
            "redis-cluster" => {
                let seeds: Vec<String> = rest
                    .split(',')
                    .map(str::trim)
                    .filter(|seed| !seed.is_empty())
                    .map(str::to_owned)
                    .collect();
                if seeds.is_empty() || seeds.iter().any(|seed| !seed.contains(':')) {
                    return Err(BusError::InvalidUrl(format!(
                        "{url:?}: redis-cluster:// needs HOST:PORT[,HOST:PORT…]"
                    )));
                }
                Ok(BusUrl::RedisCluster(seeds))
            }
            other => Err(BusError::InvalidUrl(format!(
                "{url:?}: unknown scheme {other:?} (memory, redis, redis-cluster)"
            ))),
        }
    }
}

/// Opens the bus a URL names, for Redis as the URL's user (`USER:PASSWORD@` before the
/// addresses, or the environment's password: see [`RedisAuth`]), over TLS for `rediss://`
/// and `rediss-cluster://`. Every `memory://` call
/// makes a new, separate hub: share the returned `Arc` between the nodes of one process.
pub async fn open(url: &str) -> BusResult<Arc<dyn Bus>> {
    let (url, auth) = RedisAuth::split_url(url).map_err(BusError::InvalidUrl)?;
    Ok(match url.parse::<BusUrl>()? {
        BusUrl::Memory => Arc::new(MemoryBus::new()),
        BusUrl::Redis(address) => Arc::new(RedisBus::connect_as(&address, &auth).await?),
        BusUrl::RedisCluster(seeds) => Arc::new(RedisClusterBus::connect_as(&seeds, &auth).await?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_schemes() {
        assert_eq!("memory://".parse::<BusUrl>().unwrap(), BusUrl::Memory);
        assert_eq!(
            "redis://127.0.0.1:6379".parse::<BusUrl>().unwrap(),
            BusUrl::Redis("127.0.0.1:6379".into())
        );
        assert_eq!(
            "redis-cluster://a:1,b:2".parse::<BusUrl>().unwrap(),
            BusUrl::RedisCluster(vec!["a:1".into(), "b:2".into()])
        );
        for bad in [
            "memory://x",
            "redis-cluster://",
            "redis-cluster://a",
            "redis://",
            "redis://a,b:1",
            "kafka://x:1",
            "nothing",
        ] {
            assert!(bad.parse::<BusUrl>().is_err(), "{bad}");
        }
    }
}
