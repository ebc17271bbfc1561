//! Tier URLs.

use std::str::FromStr;
use std::sync::Arc;

use tiercache_core::RedisAuth;

use crate::error::{TierError, TierResult};
use crate::memory::{MemoryTier, PartitionedTier, ReplicatedTier};
use crate::model::{Counted, Tier, TierOptions};
use crate::redis_tier::{RedisTier, ShardedRedisTier};
use crate::redis_topologies::{ClusterRedisTier, ReplicatedRedisTier, SentinelRedisTier};

/// A parsed tier URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TierUrl {
    /// `memory://`
    Memory,
    /// `memory-partitioned://N`
    MemoryPartitioned(usize),
    /// `memory-replicated://N`
    MemoryReplicated(usize),
    /// `redis://HOST:PORT`
    Redis(String),
    /// `redis-sharded://HOST:PORT,HOST:PORT,…`
    RedisSharded(Vec<String>),
    /// `redis-cluster://HOST:PORT,…` (seed nodes)
    RedisCluster(Vec<String>),
    /// `redis-replicated://PRIMARY,REPLICA,…`
    RedisReplicated(Vec<String>),
    /// `redis-sentinel://SENTINEL,…/MASTER`
    RedisSentinel {
        /// The Sentinels' addresses.
        sentinels: Vec<String>,
        /// The name they monitor the primary under.
        master: String,
    },
}

fn count(scheme: &str, rest: &str) -> TierResult<usize> {
    match rest.trim_end_matches('/').parse::<usize>() {
        Ok(n) if (1..=64).contains(&n) => Ok(n),
        _ => Err(TierError::InvalidUrl(format!(
            "{scheme}://N needs a node count from 1 to 64, got {rest:?}"
        ))),
    }
}

fn addresses(scheme: &str, rest: &str) -> TierResult<Vec<String>> {
    let list: Vec<String> = rest
        .trim_end_matches('/')
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_owned)
        .collect();
    if list.is_empty() || list.iter().any(|a| !a.contains(':')) {
        return Err(TierError::InvalidUrl(format!(
            "{scheme}:// needs HOST:PORT addresses separated by commas, got {rest:?}"
        )));
    }
    Ok(list)
}

impl FromStr for TierUrl {
    type Err = TierError;

    fn from_str(url: &str) -> TierResult<TierUrl> {
        let (scheme, rest) = url.split_once("://").ok_or_else(|| {
            TierError::InvalidUrl(format!("{url:?} is not a URL (expected SCHEME://…)"))
        })?;
        match scheme {
            "memory" if rest.trim_end_matches('/').is_empty() => Ok(TierUrl::Memory),
            "memory-partitioned" => Ok(TierUrl::MemoryPartitioned(count(scheme, rest)?)),
            "memory-replicated" => Ok(TierUrl::MemoryReplicated(count(scheme, rest)?)),
            "redis" => {
                let list = addresses(scheme, rest)?;
                match <[String; 1]>::try_from(list) {
                    Ok([address]) => Ok(TierUrl::Redis(address)),
                    Err(_) => Err(TierError::InvalidUrl(
                        "redis:// takes one HOST:PORT; use redis-sharded:// for several".into(),
                    )),
                }
            }
            "redis-sharded" => Ok(TierUrl::RedisSharded(addresses(scheme, rest)?)),
            "redis-cluster" => Ok(TierUrl::RedisCluster(addresses(scheme, rest)?)),
            "redis-replicated" => Ok(TierUrl::RedisReplicated(addresses(scheme, rest)?)),
            "redis-sentinel" => {
                let (list, master) = rest.rsplit_once('/').ok_or_else(|| {
                    TierError::InvalidUrl(
                        "redis-sentinel:// needs SENTINEL,…/MASTER (the monitored name)".into(),
                    )
                })?;
                if master.is_empty() {
                    return Err(TierError::InvalidUrl(
                        "redis-sentinel://…/MASTER: the master name is empty".into(),
                    ));
                }
                Ok(TierUrl::RedisSentinel {
                    sentinels: addresses(scheme, list)?,
                    master: master.to_owned(),
                })
            }
            _ => Err(TierError::InvalidUrl(format!(
                "unknown tier scheme {scheme:?}: use memory://, memory-partitioned://N, \
                 memory-replicated://N, redis://HOST:PORT, redis-sharded://HOST:PORT,…, \
                 redis-cluster://HOST:PORT,…, redis-replicated://PRIMARY,REPLICA,… or \
                 redis-sentinel://SENTINEL,…/MASTER"
            ))),
        }
    }
}

/// Splits a Redis URL's credentials (`USER:PASSWORD@` before the addresses, or the
/// environment's, see [`RedisAuth`]) and TLS (`rediss…` schemes) from the rest: the URL
/// without them, and how to connect. Other URLs come back as they are.
pub fn split_credentials(url: &str) -> TierResult<(String, RedisAuth)> {
    RedisAuth::split_url(url).map_err(TierError::InvalidUrl)
}

/// Opens the tier a URL names (connecting to its servers, for Redis, as the URL's user).
pub async fn open(url: &str, options: &TierOptions) -> TierResult<Arc<dyn Tier>> {
    let (url, redis_auth) = split_credentials(url)?;
    let options = &TierOptions {
        redis_auth,
        ..options.clone()
    };
    Ok(match url.parse::<TierUrl>()? {
        TierUrl::Memory => Arc::new(Counted::new(MemoryTier::new(options)?)),
        TierUrl::MemoryPartitioned(n) => Arc::new(Counted::new(PartitionedTier::new(n, options)?)),
        TierUrl::MemoryReplicated(n) => Arc::new(Counted::new(ReplicatedTier::new(n, options)?)),
        TierUrl::Redis(address) => {
            Arc::new(Counted::new(RedisTier::connect(&address, options).await?))
        }
        TierUrl::RedisSharded(list) => Arc::new(Counted::new(
            ShardedRedisTier::connect(&list, options).await?,
        )),
        TierUrl::RedisCluster(seeds) => Arc::new(Counted::new(
            ClusterRedisTier::connect(&seeds, options).await?,
        )),
        TierUrl::RedisReplicated(list) => Arc::new(Counted::new(
            ReplicatedRedisTier::connect(&list, options).await?,
        )),
        TierUrl::RedisSentinel { sentinels, master } => Arc::new(Counted::new(
            SentinelRedisTier::connect(&sentinels, &master, options).await?,
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_or_explain() {
        assert_eq!("memory://".parse::<TierUrl>().unwrap(), TierUrl::Memory);
        assert_eq!(
            "memory-partitioned://3".parse::<TierUrl>().unwrap(),
            TierUrl::MemoryPartitioned(3)
        );
        assert_eq!(
            "redis-sharded://a:1, b:2".parse::<TierUrl>().unwrap(),
            TierUrl::RedisSharded(vec!["a:1".into(), "b:2".into()])
        );
        for bad in [
            "memcached://x",
            "memory-partitioned://0",
            "redis://",
            "redis://a:1,b:2",
            "nonsense",
        ] {
            let error = bad.parse::<TierUrl>().unwrap_err();
            assert!(matches!(error, TierError::InvalidUrl(_)), "{bad}: {error}");
        }
        assert_eq!(
            "redis-cluster://a:1,b:2".parse::<TierUrl>().unwrap(),
            TierUrl::RedisCluster(vec!["a:1".into(), "b:2".into()])
        );
        assert_eq!(
            "redis-sentinel://s:1,s:2/main".parse::<TierUrl>().unwrap(),
            TierUrl::RedisSentinel {
                sentinels: vec!["s:1".into(), "s:2".into()],
                master: "main".into()
            }
        );
        assert!("redis-sentinel://s:1".parse::<TierUrl>().is_err());
        assert!("redis-sentinel://s:1/".parse::<TierUrl>().is_err());
    }
}
