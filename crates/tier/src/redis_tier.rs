//! Redis topologies. Each object is a hash under `tc:` + its key: field `v` holds the
//! version (decimal), field `d` the value; a tombstone has `v` and no `d`, and a TTL.
//! Version-checked writes are Lua scripts, so the check and the write are atomic on the
//! server (and touch one key, so they work on Redis Cluster too). Versions are compared as
//! Lua numbers (doubles): exact up to 2^53.

use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Script};
use tiercache_core::Version;

use crate::error::{TierError, TierResult};
use crate::model::{Entry, SetOutcome, TierOptions, Topology};
use crate::slot::{key_slot, node_for_slot};

/// The namespace of tiercache's keys in a shared Redis.
const PREFIX: &[u8] = b"tc:";

/// Stores ARGV[2] at version ARGV[1] unless the key holds a newer version, or this version
/// live (a tombstone at this very version gives way: see `Tier::set`); the value lives
/// ARGV[3] ms (0: until evicted). Returns 0 when stored, else the version held.
const SET_SCRIPT: &str = r"
local held = redis.call('HGET', KEYS[1], 'v')
if held then
  local h = tonumber(held)
  local v = tonumber(ARGV[1])
  if h > v or (h == v and redis.call('HEXISTS', KEYS[1], 'd') == 1) then return h end
end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'd', ARGV[2])
if ARGV[3] == '0' then
  redis.call('PERSIST', KEYS[1])
else
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return 0
";

/// Replaces the entry by a tombstone at version ARGV[1] living ARGV[2] ms, unless the key
/// holds that version or a newer one. Returns 0 when stored, else the version held.
const DELETE_SCRIPT: &str = r"
local held = redis.call('HGET', KEYS[1], 'v')
if held and tonumber(held) >= tonumber(ARGV[1]) then return tonumber(held) end
redis.call('HSET', KEYS[1], 'v', ARGV[1])
redis.call('HDEL', KEYS[1], 'd')
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 0
";

pub(crate) fn namespaced(key: &[u8]) -> Vec<u8> {
    let mut full = Vec::with_capacity(PREFIX.len() + key.len());
    full.extend_from_slice(PREFIX);
    full.extend_from_slice(key);
    full
}

fn outcome(held: u64) -> SetOutcome {
    match held {
        0 => SetOutcome::Stored,
        held => SetOutcome::Kept {
            current: Version(held),
        },
    }
}

/// The two version-checked write scripts (sent by hash, loaded on first use per server).
#[derive(Debug, Clone)]
pub(crate) struct Scripts {
    set: Script,
    delete: Script,
    tombstone_ttl: Duration,
    value_ttl: Option<Duration>,
}

impl Scripts {
    pub(crate) fn new(options: &TierOptions) -> Scripts {
        Scripts {
            set: Script::new(SET_SCRIPT),
            delete: Script::new(DELETE_SCRIPT),
            tombstone_ttl: options.tombstone_ttl,
            value_ttl: options.value_ttl,
        }
    }
}

/// Reads one key over any connection (single server or cluster).
pub(crate) async fn read(
    connection: &mut impl redis::aio::ConnectionLike,
    key: &[u8],
) -> TierResult<Option<Entry>> {
    let (version, value): (Option<u64>, Option<Vec<u8>>) = redis::cmd("HMGET")
        .arg(namespaced(key))
        .arg("v")
        .arg("d")
        .query_async(connection)
        .await?;
    Ok(match (version, value) {
        (Some(version), Some(value)) => Some(Entry {
            value,
            version: Version(version),
        }),
        _ => None,
    })
}

/// A version-checked write over any connection: the script runs on the key's server.
pub(crate) async fn write(
    connection: &mut impl redis::aio::ConnectionLike,
    scripts: &Scripts,
    key: &[u8],
    value: Option<&[u8]>,
    version: Version,
) -> TierResult<SetOutcome> {
    let held: u64 = match value {
        Some(value) => {
            scripts
                .set
                .key(namespaced(key))
                .arg(version.0)
                .arg(value)
                .arg(
                    scripts
                        .value_ttl
                        .map_or(0, |ttl| ttl.as_millis().max(1) as u64),
                )
                .invoke_async(connection)
                .await?
        }
        None => {
            scripts
                .delete
                .key(namespaced(key))
                .arg(version.0)
                .arg(scripts.tombstone_ttl.as_millis() as u64)
                .invoke_async(connection)
                .await?
        }
    };
    Ok(outcome(held))
}

/// The key the rights probe touches: under the tier's prefix, never holding a value.
const RIGHTS_PROBE_KEY: &str = "tc:rights-probe";

/// Fails with `Refused` when the connection's user lacks a right the tier uses: reading and
/// deleting its keys, and running scripts. Only refusals count (a replica answering
/// `READONLY` to the delete has the rights). Run once per connection set-up, so a node
/// with the wrong ACL user refuses to start instead of failing its first requests.
pub(crate) async fn probe_rights<C: redis::aio::ConnectionLike + Send>(
    connection: &mut C,
    address: &str,
    auth: &tiercache_core::RedisAuth,
) -> TierResult<()> {
    let probes = [
        redis::cmd("EXISTS").arg(RIGHTS_PROBE_KEY).clone(),
        redis::cmd("DEL").arg(RIGHTS_PROBE_KEY).clone(),
        redis::cmd("EVAL").arg("return 1").arg(0).clone(),
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

/// One Redis server, reached through a reconnecting connection.
#[derive(Clone)]
pub struct RedisNode {
    address: String,
    connection: ConnectionManager,
    scripts: Scripts,
}

impl std::fmt::Debug for RedisNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisNode")
            .field("address", &self.address)
            .finish()
    }
}

impl RedisNode {
    /// Connects to `address` (`host:port`), failing with `Unavailable` when nothing answers
    /// within the options' timeout.
    pub async fn connect(address: &str, options: &TierOptions) -> TierResult<RedisNode> {
        let client = tiercache_tls::redis_client::client(address, "", &options.redis_auth)
            .map_err(TierError::InvalidUrl)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(options.redis_timeout))
            .set_response_timeout(Some(options.redis_timeout))
            .set_number_of_retries(1);
        let connection = tokio::time::timeout(
            options.redis_timeout,
            ConnectionManager::new_with_config(client, config),
        )
        .await
        .map_err(|_| TierError::Unavailable(format!("no answer from Redis at {address}")))?
        .map_err(|error| {
            crate::error::refused_or_unavailable(address, &options.redis_auth, &error)
        })?;
        probe_rights(&mut connection.clone(), address, &options.redis_auth).await?;
        Ok(RedisNode {
            address: address.to_owned(),
            connection,
            scripts: Scripts::new(options),
        })
    }

    /// The server's address.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The live entry under `key`.
    pub async fn get(&self, key: &[u8]) -> TierResult<Option<Entry>> {
        read(&mut self.connection.clone(), key).await
    }

    /// Version-checked write of a value (`Some`) or a tombstone (`None`).
    pub async fn write(
        &self,
        key: &[u8],
        value: Option<&[u8]>,
        version: Version,
    ) -> TierResult<SetOutcome> {
        let mut connection = self.connection.clone();
        write(&mut connection, &self.scripts, key, value, version).await
    }

    /// Waits (at most `timeout`) until `replicas` replicas acknowledged every write sent on
    /// this node's connection so far (`WAIT`); returns how many did.
    pub async fn wait_for_replicas(&self, replicas: usize, timeout: Duration) -> TierResult<u64> {
        let mut connection = self.connection.clone();
        let acknowledged: u64 = redis::cmd("WAIT")
            .arg(replicas)
            .arg(timeout.as_millis() as u64)
            .query_async(&mut connection)
            .await?;
        Ok(acknowledged)
    }

    /// Deletes every `tc:` key of this server (other keys are left alone).
    pub async fn flush(&self) -> TierResult<()> {
        let mut connection = self.connection.clone();
        let mut pattern = PREFIX.to_vec();
        pattern.push(b'*');
        let mut cursor: u64 = 0;
        loop {
            let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut connection)
                .await?;
            if !keys.is_empty() {
                let _: u64 = connection.unlink(keys).await?;
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }
}

/// `redis://HOST:PORT`: one Redis server.
#[derive(Debug)]
pub(crate) struct RedisTier {
    node: RedisNode,
}

impl RedisTier {
    /// Connects to one server.
    pub(crate) async fn connect(address: &str, options: &TierOptions) -> TierResult<RedisTier> {
        Ok(RedisTier {
            node: RedisNode::connect(address, options).await?,
        })
    }
}

#[async_trait]
impl Topology for RedisTier {
    async fn read(&self, key: &[u8]) -> TierResult<Option<Entry>> {
        self.node.get(key).await
    }

    async fn write(
        &self,
        key: &[u8],
        value: Option<&[u8]>,
        version: Version,
    ) -> TierResult<SetOutcome> {
        self.node.write(key, value, version).await
    }

    async fn flush(&self) -> TierResult<()> {
        self.node.flush().await
    }

    fn describe(&self) -> String {
        format!("centralized (Redis at {})", self.node.address)
    }
}

/// `redis-sharded://A,B,C`: independent Redis servers; the client maps each key's CRC16
/// slot to a server (equal contiguous slot ranges). No server knows about the others, so a
/// server that goes down takes its share of the keys with it until it returns.
#[derive(Debug)]
pub(crate) struct ShardedRedisTier {
    nodes: Vec<RedisNode>,
}

impl ShardedRedisTier {
    /// Connects to every server.
    pub(crate) async fn connect(
        addresses: &[String],
        options: &TierOptions,
    ) -> TierResult<ShardedRedisTier> {
        if addresses.is_empty() {
            return Err(TierError::InvalidUrl(
                "redis-sharded:// needs at least one address".into(),
            ));
        }
        let mut nodes = Vec::with_capacity(addresses.len());
        for address in addresses {
            nodes.push(RedisNode::connect(address, options).await?);
        }
        Ok(ShardedRedisTier { nodes })
    }

    fn node(&self, key: &[u8]) -> &RedisNode {
        &self.nodes[node_for_slot(key_slot(key), self.nodes.len())]
    }
}

#[async_trait]
impl Topology for ShardedRedisTier {
    async fn read(&self, key: &[u8]) -> TierResult<Option<Entry>> {
        self.node(key).get(key).await
    }

    async fn write(
        &self,
        key: &[u8],
        value: Option<&[u8]>,
        version: Version,
    ) -> TierResult<SetOutcome> {
        self.node(key).write(key, value, version).await
    }

    async fn flush(&self) -> TierResult<()> {
        for node in &self.nodes {
            node.flush().await?;
        }
        Ok(())
    }

    fn describe(&self) -> String {
        format!(
            "sharded ({} independent Redis servers, client-side CRC16 slots)",
            self.nodes.len()
        )
    }
}
