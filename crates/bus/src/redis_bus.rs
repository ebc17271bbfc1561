//! The bus on one Redis server (pub/sub for messages, streams for durable topics).
//!
//! Every name below lives under `tc:bus:`; the part in braces is a Redis Cluster hash tag,
//! so a topic's subscriber set and its channel share a slot.
//!
//! | name | what |
//! |---|---|
//! | `tc:bus:s:{ID}` | a session's lease: a key with a TTL, renewed with `PEXPIRE` (O(1), whatever the subscriptions) |
//! | `tc:bus:subs:{TOPIC}` | the set of session ids subscribed to a topic |
//! | `tc:bus:ch:{TOPIC}` | the pub/sub channel of a topic |
//! | `tc:bus:inbox:{ID}` | the channel of one session's direct messages |
//! | `tc:bus:log:{TOPIC}` | a durable topic (a stream) |
//! | `tc:bus:cur:{TOPIC}` | the acknowledged offsets of a durable topic, by consumer |
//!
//! The Cluster bus ([`crate::RedisClusterBus`]) uses the same names, with sharded pub/sub
//! (`SSUBSCRIBE`, `SPUBLISH`) on the channels.
//!
//! A session is one RESP3 connection: its subscriptions, its lease renewals and its
//! messages travel on it. When that connection closes the session is lost — Redis pub/sub
//! does not keep messages for a disconnected subscriber — and its owner must flush. The
//! lease key outlives the connection until its TTL, so a writer waiting for the session's
//! confirmation (synchronous mode) waits at most one lease.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use parking_lot::Mutex;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::{AsyncConnectionConfig, PushInfo, PushKind, Script, Value};
use tokio::sync::mpsc;

use crate::error::{BusError, BusResult};
use crate::model::{
    Bus, Offset, Receivers, Record, SessionEvent, SessionId, SessionOptions, check_topic,
};
use crate::session::{Backend, Incarnation, Session, Sink};

/// How long a connection attempt or a command may take before the bus counts as unreachable.
pub(crate) const REDIS_TIMEOUT: Duration = Duration::from_secs(2);

/// Reads the subscriber set and publishes in one atomic step (KEYS[1] = the set,
/// ARGV[1] = the channel, ARGV[2] = the payload, ARGV[3] = the session-key prefix).
/// Returns the subscribed session ids whose lease is still held, and removes the others
/// from the set (their session ended without leaving it, for example after a crash).
///
/// The lease keys are named from the script rather than passed as KEYS: this works on one
/// server, and the Cluster bus keeps a topic's state within its slot instead.
const PUBLISH_SCRIPT: &str = r"
local sessions = redis.call('SMEMBERS', KEYS[1])
redis.call('PUBLISH', ARGV[1], ARGV[2])
local live = {}
for _, id in ipairs(sessions) do
  if redis.call('EXISTS', ARGV[3] .. id .. '}') == 1 then
    live[#live + 1] = id
  else
    redis.call('SREM', KEYS[1], id)
  end
end
return live
";

/// The prefix of a session's lease key, up to its id (see [`session_key`]).
const SESSION_KEY_PREFIX: &str = "tc:bus:s:{";

/// Moves a consumer's cursor forward only (KEYS[1] = cursors hash, ARGV[1] = consumer,
/// ARGV[2] = major, ARGV[3] = minor).
pub(crate) const ACKNOWLEDGE_SCRIPT: &str = r"
local held = redis.call('HGET', KEYS[1], ARGV[1])
if held then
  local major, minor = string.match(held, '^(%d+)-(%d+)$')
  local a, b = tonumber(ARGV[2]), tonumber(ARGV[3])
  major, minor = tonumber(major), tonumber(minor)
  if major > a or (major == a and minor >= b) then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. '-' .. ARGV[3])
return 1
";

pub(crate) fn session_key(id: SessionId) -> String {
    format!("{SESSION_KEY_PREFIX}{}}}", id.0)
}

pub(crate) fn subscribers_key(topic: &str) -> String {
    format!("tc:bus:subs:{{{topic}}}")
}

pub(crate) fn channel(topic: &str) -> String {
    format!("tc:bus:ch:{{{topic}}}")
}

pub(crate) fn inbox(id: SessionId) -> String {
    format!("tc:bus:inbox:{{{}}}", id.0)
}

pub(crate) fn stream_key(topic: &str) -> String {
    format!("tc:bus:log:{{{topic}}}")
}

pub(crate) fn cursors_key(topic: &str) -> String {
    format!("tc:bus:cur:{{{topic}}}")
}

/// The topic a channel name carries, if it is one of ours.
fn topic_of(channel: &[u8]) -> Option<&str> {
    let name = std::str::from_utf8(channel).ok()?;
    name.strip_prefix("tc:bus:ch:{")?.strip_suffix('}')
}

/// The bus on one Redis server (`redis://HOST:PORT`).
#[derive(Clone)]
pub struct RedisBus {
    address: String,
    /// Opens the sessions' RESP3 connections.
    client: redis::Client,
    /// Publishes, liveness checks and durable topics (reconnects on its own).
    commands: ConnectionManager,
    publish: Script,
    acknowledge: Script,
}

impl std::fmt::Debug for RedisBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBus")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl RedisBus {
    /// Connects to the Redis server at `address` (`HOST:PORT`).
    pub async fn connect(address: &str) -> BusResult<RedisBus> {
        let client = redis::Client::open(format!("redis://{address}/?protocol=resp3"))
            .map_err(|error| BusError::InvalidUrl(format!("{address}: {error}")))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT))
            .set_number_of_retries(1);
        let commands = tokio::time::timeout(
            REDIS_TIMEOUT,
            ConnectionManager::new_with_config(client.clone(), config),
        )
        .await
        .map_err(|_| BusError::Unavailable(format!("{address}: connection timed out")))??;
        Ok(RedisBus {
            address: address.to_owned(),
            client,
            commands,
            publish: Script::new(PUBLISH_SCRIPT),
            acknowledge: Script::new(ACKNOWLEDGE_SCRIPT),
        })
    }
}

/// Turns the pushes of a session's connection into session events (plain and sharded
/// pub/sub alike).
pub(crate) fn forward_push(sink: &Sink, inbox: &str, push: PushInfo) {
    match push.kind {
        PushKind::Message | PushKind::SMessage => {
            let mut data = push.data.into_iter();
            let (Some(Value::BulkString(name)), Some(Value::BulkString(payload))) =
                (data.next(), data.next())
            else {
                return;
            };
            let payload = Bytes::from(payload);
            if name == inbox.as_bytes() {
                sink.deliver(SessionEvent::Direct { payload });
            } else if let Some(topic) = topic_of(&name) {
                sink.deliver(SessionEvent::Message {
                    topic: topic.to_owned(),
                    payload,
                });
            }
        }
        PushKind::Disconnection => sink.lose("the connection to Redis closed".into()),
        _ => {}
    }
}

#[async_trait]
impl Backend for RedisBus {
    async fn start(&self, lease: Duration, sink: Sink) -> BusResult<Arc<dyn Incarnation>> {
        let mut commands = self.commands.clone();
        let id: u64 = redis::cmd("INCR")
            .arg("tc:bus:next-session")
            .query_async(&mut commands)
            .await?;
        let id = SessionId(id);
        let inbox = inbox(id);
        let forward = {
            let inbox = inbox.clone();
            move |push: PushInfo| -> Result<(), std::convert::Infallible> {
                forward_push(&sink, &inbox, push);
                Ok(())
            }
        };
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT))
            .set_push_sender(forward);
        let mut connection = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        let _: () = redis::cmd("SET")
            .arg(session_key(id))
            .arg(1)
            .arg("PX")
            .arg(lease.as_millis() as u64)
            .query_async(&mut connection)
            .await?;
        connection.subscribe(&inbox).await?;
        Ok(Arc::new(RedisIncarnation {
            id,
            connection,
            commands,
            topics: Mutex::new(HashSet::new()),
        }))
    }
}

struct RedisIncarnation {
    id: SessionId,
    connection: MultiplexedConnection,
    /// The bus's shared command connection: `end` goes through it, because the session's
    /// own connection is usually the thing that broke.
    commands: ConnectionManager,
    /// The topics subscribed, so `end` can leave their subscriber sets.
    topics: Mutex<HashSet<String>>,
}

#[async_trait]
impl Incarnation for RedisIncarnation {
    fn id(&self) -> SessionId {
        self.id
    }

    async fn subscribe(&self, topic: &str) -> BusResult<()> {
        let mut connection = self.connection.clone();
        // Channel first, then the set: a publish in between reaches this session without
        // counting it, which is harmless; the other order could count a session that does
        // not receive.
        connection.subscribe(channel(topic)).await?;
        let _: () = redis::cmd("SADD")
            .arg(subscribers_key(topic))
            .arg(self.id.0)
            .query_async(&mut connection)
            .await?;
        self.topics.lock().insert(topic.to_owned());
        Ok(())
    }

    async fn unsubscribe(&self, topic: &str) -> BusResult<()> {
        let mut connection = self.connection.clone();
        let _: () = redis::cmd("SREM")
            .arg(subscribers_key(topic))
            .arg(self.id.0)
            .query_async(&mut connection)
            .await?;
        connection.unsubscribe(channel(topic)).await?;
        self.topics.lock().remove(topic);
        Ok(())
    }

    async fn renew(&self, lease: Duration) -> BusResult<()> {
        let mut connection = self.connection.clone();
        let renewed: bool = redis::cmd("PEXPIRE")
            .arg(session_key(self.id))
            .arg(lease.as_millis() as u64)
            .query_async(&mut connection)
            .await?;
        if renewed {
            Ok(())
        } else {
            Err(BusError::SessionLost(format!(
                "Redis no longer holds {}: its lease lapsed",
                self.id
            )))
        }
    }

    async fn end(&self) {
        // Deleting the lease key at once tells writers waiting for this session's
        // confirmation that it is gone; its owner stopped serving when it detected the loss.
        let mut connection = self.commands.clone();
        let topics: Vec<String> = self.topics.lock().drain().collect();
        let mut pipeline = redis::pipe();
        for topic in &topics {
            pipeline
                .cmd("SREM")
                .arg(subscribers_key(topic))
                .arg(self.id.0)
                .ignore();
        }
        pipeline.cmd("DEL").arg(session_key(self.id)).ignore();
        // Best effort: a lapsed lease ends the session anyway.
        let _ =
            tokio::time::timeout(REDIS_TIMEOUT, pipeline.query_async::<()>(&mut connection)).await;
    }
}

pub(crate) fn parse_offset(id: &str) -> BusResult<Offset> {
    id.parse()
        .map_err(|_| BusError::Internal(format!("Redis returned a stream id {id:?}")))
}

#[async_trait]
impl Bus for RedisBus {
    async fn open_session(
        &self,
        options: SessionOptions,
    ) -> BusResult<(Session, mpsc::Receiver<SessionEvent>)> {
        Session::open(Arc::new(self.clone()), options).await
    }

    async fn publish(&self, topic: &str, payload: Bytes) -> BusResult<Receivers> {
        check_topic(topic)?;
        let mut commands = self.commands.clone();
        let ids: Vec<u64> = self
            .publish
            .key(subscribers_key(topic))
            .arg(channel(topic))
            .arg(payload.as_ref())
            .arg(SESSION_KEY_PREFIX)
            .invoke_async(&mut commands)
            .await?;
        let mut sessions: Vec<SessionId> = ids.into_iter().map(SessionId).collect();
        sessions.sort_unstable();
        Ok(Receivers { sessions })
    }

    async fn send_to(&self, session: SessionId, payload: Bytes) -> BusResult<bool> {
        let mut commands = self.commands.clone();
        let receivers: u64 = redis::cmd("PUBLISH")
            .arg(inbox(session))
            .arg(payload.as_ref())
            .query_async(&mut commands)
            .await?;
        Ok(receivers > 0)
    }

    async fn alive(&self, sessions: &[SessionId]) -> BusResult<Vec<bool>> {
        if sessions.is_empty() {
            return Ok(Vec::new());
        }
        let mut commands = self.commands.clone();
        let mut pipeline = redis::pipe();
        for id in sessions {
            pipeline.cmd("EXISTS").arg(session_key(*id));
        }
        Ok(pipeline.query_async(&mut commands).await?)
    }

    async fn append(&self, topic: &str, payload: Bytes) -> BusResult<Offset> {
        durable::append(&mut self.commands.clone(), topic, payload).await
    }

    async fn read(&self, topic: &str, after: Option<Offset>, max: usize) -> BusResult<Vec<Record>> {
        durable::read(&mut self.commands.clone(), topic, after, max).await
    }

    async fn acknowledge(&self, topic: &str, consumer: &str, offset: Offset) -> BusResult<()> {
        durable::acknowledge(
            &mut self.commands.clone(),
            &self.acknowledge,
            topic,
            consumer,
            offset,
        )
        .await
    }

    async fn acknowledged(&self, topic: &str, consumer: &str) -> BusResult<Option<Offset>> {
        durable::acknowledged(&mut self.commands.clone(), topic, consumer).await
    }

    fn describe(&self) -> String {
        format!("Redis bus at {}", self.address)
    }
}

/// Durable topics on any Redis connection (a server's or a cluster's): a stream per topic
/// and a hash of consumer cursors, which share the topic's hash tag.
pub(crate) mod durable {
    use bytes::Bytes;
    use redis::Script;
    use redis::aio::ConnectionLike;

    use super::{cursors_key, parse_offset, stream_key};
    use crate::error::{BusError, BusResult};
    use crate::model::{Offset, Record, check_topic};

    /// `XRANGE`'s answer: entries of (id, fields).
    type StreamEntries = Vec<(String, Vec<(String, Vec<u8>)>)>;

    /// `XADD` to the topic's stream.
    pub(crate) async fn append(
        commands: &mut (impl ConnectionLike + Send),
        topic: &str,
        payload: Bytes,
    ) -> BusResult<Offset> {
        check_topic(topic)?;
        let id: String = redis::cmd("XADD")
            .arg(stream_key(topic))
            .arg("*")
            .arg("d")
            .arg(payload.as_ref())
            .query_async(commands)
            .await?;
        parse_offset(&id)
    }

    /// `XRANGE` after an offset.
    pub(crate) async fn read(
        commands: &mut (impl ConnectionLike + Send),
        topic: &str,
        after: Option<Offset>,
        max: usize,
    ) -> BusResult<Vec<Record>> {
        check_topic(topic)?;
        if max == 0 {
            return Ok(Vec::new());
        }
        let start = match after {
            Some(offset) => format!("({offset}"),
            None => "-".into(),
        };
        let entries: StreamEntries = redis::cmd("XRANGE")
            .arg(stream_key(topic))
            .arg(start)
            .arg("+")
            .arg("COUNT")
            .arg(max)
            .query_async(commands)
            .await?;
        entries
            .into_iter()
            .map(|(id, fields)| {
                let payload = fields
                    .into_iter()
                    .find(|(name, _)| name == "d")
                    .map(|(_, value)| Bytes::from(value))
                    .ok_or_else(|| BusError::Internal(format!("stream entry {id} has no data")))?;
                Ok(Record {
                    offset: parse_offset(&id)?,
                    payload,
                })
            })
            .collect()
    }

    /// Moves a consumer's cursor forward (never back).
    pub(crate) async fn acknowledge(
        commands: &mut (impl ConnectionLike + Send),
        script: &Script,
        topic: &str,
        consumer: &str,
        offset: Offset,
    ) -> BusResult<()> {
        check_topic(topic)?;
        let _: i64 = script
            .key(cursors_key(topic))
            .arg(consumer)
            .arg(offset.major)
            .arg(offset.minor)
            .invoke_async(commands)
            .await?;
        Ok(())
    }

    /// A consumer's cursor.
    pub(crate) async fn acknowledged(
        commands: &mut (impl ConnectionLike + Send),
        topic: &str,
        consumer: &str,
    ) -> BusResult<Option<Offset>> {
        check_topic(topic)?;
        let held: Option<String> = redis::cmd("HGET")
            .arg(cursors_key(topic))
            .arg(consumer)
            .query_async(commands)
            .await?;
        held.map(|id| parse_offset(&id)).transpose()
    }
}
