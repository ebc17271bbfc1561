//! The bus on a Redis Cluster: sharded pub/sub (`SSUBSCRIBE`, `SPUBLISH`), so a topic's
//! messages travel only through the shard that owns its slot, and streams for durable
//! topics.
//!
//! Names are those of the single-server bus (see [`crate::redis_bus`]); the braces are hash
//! tags, so a topic's subscriber set, its channel, its stream and its cursors share one
//! slot, and the publish script (subscriber set + `SPUBLISH`) runs on one shard.
//!
//! A session is one cluster connection (RESP3, with its own connection to each shard it
//! subscribes on). When any of those connections drops, the client reports it and the
//! session counts as lost — the client would resubscribe by itself, but messages published
//! in between would be gone, so the owner must flush. A session's lease key lives in its own
//! slot; since the publish script cannot read other slots, the sessions it returns are then
//! checked for a live lease (one more round trip), and the dead ones are removed from the
//! topic's set.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use parking_lot::Mutex;
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{PushInfo, Script};
use tokio::sync::mpsc;

use crate::error::{BusError, BusResult};
use crate::model::{
    Bus, Offset, Receivers, Record, SessionEvent, SessionId, SessionOptions, check_topic,
};
use crate::redis_bus::{
    ACKNOWLEDGE_SCRIPT, REDIS_TIMEOUT, channel, durable, forward_push, inbox, session_key,
    subscribers_key,
};
use crate::session::{Backend, Incarnation, Session, Sink};

/// Reads the subscriber set and publishes on the shard channel in one atomic step on the
/// topic's shard (KEYS[1] = the set, ARGV[1] = the channel, ARGV[2] = the payload).
const SHARDED_PUBLISH_SCRIPT: &str = r"
local sessions = redis.call('SMEMBERS', KEYS[1])
redis.call('SPUBLISH', ARGV[1], ARGV[2])
return sessions
";

/// The bus on a Redis Cluster (`redis-cluster://HOST:PORT,HOST:PORT,…`).
#[derive(Clone)]
pub struct RedisClusterBus {
    seeds: Vec<String>,
    /// Publishes, liveness checks and durable topics.
    commands: ClusterConnection,
    publish: Script,
    acknowledge: Script,
}

impl std::fmt::Debug for RedisClusterBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisClusterBus")
            .field("seeds", &self.seeds)
            .finish_non_exhaustive()
    }
}

/// A cluster client for `seeds`, optionally delivering pushes to `push`.
fn client(
    seeds: &[String],
    push: Option<mpsc::UnboundedSender<PushInfo>>,
) -> BusResult<ClusterClient> {
    let mut builder = ClusterClient::builder(
        seeds
            .iter()
            .map(|seed| format!("redis://{seed}/?protocol=resp3")),
    )
    .use_protocol(redis::ProtocolVersion::RESP3)
    .connection_timeout(REDIS_TIMEOUT)
    .response_timeout(REDIS_TIMEOUT)
    .retries(1);
    if let Some(push) = push {
        builder = builder.push_sender(push);
    }
    builder
        .build()
        .map_err(|error| BusError::InvalidUrl(format!("redis-cluster://: {error}")))
}

/// Connects a cluster client, bounded in time.
async fn connect(client: &ClusterClient, seeds: &[String]) -> BusResult<ClusterConnection> {
    tokio::time::timeout(REDIS_TIMEOUT * 3, client.get_async_connection())
        .await
        .map_err(|_| BusError::Unavailable(format!("no Redis Cluster answered at {seeds:?}")))?
        .map_err(|error| BusError::Unavailable(format!("Redis Cluster at {seeds:?}: {error}")))
}

impl RedisClusterBus {
    /// Connects to the Redis Cluster that `seeds` (`HOST:PORT` each) belong to.
    pub async fn connect(seeds: &[String]) -> BusResult<RedisClusterBus> {
        if seeds.is_empty() {
            return Err(BusError::InvalidUrl(
                "redis-cluster:// needs at least one HOST:PORT".into(),
            ));
        }
        let commands = connect(&client(seeds, None)?, seeds).await?;
        Ok(RedisClusterBus {
            seeds: seeds.to_vec(),
            commands,
            publish: Script::new(SHARDED_PUBLISH_SCRIPT),
            acknowledge: Script::new(ACKNOWLEDGE_SCRIPT),
        })
    }
}

#[async_trait]
impl Backend for RedisClusterBus {
    async fn start(&self, lease: Duration, sink: Sink) -> BusResult<Arc<dyn Incarnation>> {
        let mut commands = self.commands.clone();
        let id: u64 = redis::cmd("INCR")
            .arg("tc:bus:next-session")
            .query_async(&mut commands)
            .await?;
        let id = SessionId(id);
        let inbox = inbox(id);
        // The client's pushes arrive on a channel; a task turns them into session events.
        let (pushes, mut received) = mpsc::unbounded_channel::<PushInfo>();
        let connection = connect(&client(&self.seeds, Some(pushes))?, &self.seeds).await?;
        let forwarder = {
            let inbox = inbox.clone();
            tokio::spawn(async move {
                while let Some(push) = received.recv().await {
                    forward_push(&sink, &inbox, push);
                }
            })
        };
        let _: () = redis::cmd("SET")
            .arg(session_key(id))
            .arg(1)
            .arg("PX")
            .arg(lease.as_millis() as u64)
            .query_async(&mut commands)
            .await?;
        let mut subscriber = connection.clone();
        subscriber.ssubscribe(&inbox).await?;
        Ok(Arc::new(ClusterIncarnation {
            id,
            connection,
            commands,
            forwarder,
            topics: Mutex::new(HashSet::new()),
        }))
    }
}

struct ClusterIncarnation {
    id: SessionId,
    /// Subscriptions (and their pushes) of this incarnation.
    connection: ClusterConnection,
    /// The bus's command connection: renewals and the clean-up in `end`.
    commands: ClusterConnection,
    forwarder: tokio::task::JoinHandle<()>,
    topics: Mutex<HashSet<String>>,
}

impl Drop for ClusterIncarnation {
    fn drop(&mut self) {
        self.forwarder.abort();
    }
}

#[async_trait]
impl Incarnation for ClusterIncarnation {
    fn id(&self) -> SessionId {
        self.id
    }

    async fn subscribe(&self, topic: &str) -> BusResult<()> {
        let mut connection = self.connection.clone();
        // Channel first, then the set (see the single-server bus).
        connection.ssubscribe(channel(topic)).await?;
        let mut commands = self.commands.clone();
        let _: () = redis::cmd("SADD")
            .arg(subscribers_key(topic))
            .arg(self.id.0)
            .query_async(&mut commands)
            .await?;
        self.topics.lock().insert(topic.to_owned());
        Ok(())
    }

    async fn unsubscribe(&self, topic: &str) -> BusResult<()> {
        let mut commands = self.commands.clone();
        let _: () = redis::cmd("SREM")
            .arg(subscribers_key(topic))
            .arg(self.id.0)
            .query_async(&mut commands)
            .await?;
        let mut connection = self.connection.clone();
        connection.sunsubscribe(channel(topic)).await?;
        self.topics.lock().remove(topic);
        Ok(())
    }

    async fn renew(&self, lease: Duration) -> BusResult<()> {
        let mut commands = self.commands.clone();
        let renewed: bool = redis::cmd("PEXPIRE")
            .arg(session_key(self.id))
            .arg(lease.as_millis() as u64)
            .query_async(&mut commands)
            .await?;
        if renewed {
            Ok(())
        } else {
            Err(BusError::SessionLost(format!(
                "Redis Cluster no longer holds {}: its lease lapsed",
                self.id
            )))
        }
    }

    async fn end(&self) {
        self.forwarder.abort();
        let mut commands = self.commands.clone();
        let topics: Vec<String> = self.topics.lock().drain().collect();
        let id = self.id;
        // Best effort, one key at a time (they live in different slots): a lapsed lease
        // ends the session anyway, and publishers prune what is left.
        let cleanup = async move {
            let _: Result<(), _> = redis::cmd("DEL")
                .arg(session_key(id))
                .query_async(&mut commands)
                .await;
            for topic in topics {
                let _: Result<(), _> = redis::cmd("SREM")
                    .arg(subscribers_key(&topic))
                    .arg(id.0)
                    .query_async(&mut commands)
                    .await;
            }
        };
        let _ = tokio::time::timeout(REDIS_TIMEOUT, cleanup).await;
    }
}

#[async_trait]
impl Bus for RedisClusterBus {
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
            .invoke_async(&mut commands)
            .await?;
        let subscribed: Vec<SessionId> = ids.into_iter().map(SessionId).collect();
        // Sessions that ended without leaving the set (a crash) are not receivers; they
        // are removed so the next publish does not ask again.
        let alive = self.alive(&subscribed).await?;
        let mut sessions = Vec::with_capacity(subscribed.len());
        for (session, alive) in subscribed.into_iter().zip(alive) {
            if alive {
                sessions.push(session);
            } else {
                let _: Result<(), _> = redis::cmd("SREM")
                    .arg(subscribers_key(topic))
                    .arg(session.0)
                    .query_async(&mut commands)
                    .await;
            }
        }
        sessions.sort_unstable();
        Ok(Receivers { sessions })
    }

    async fn send_to(&self, session: SessionId, payload: Bytes) -> BusResult<bool> {
        let mut commands = self.commands.clone();
        let receivers: u64 = redis::cmd("SPUBLISH")
            .arg(inbox(session))
            .arg(payload.as_ref())
            .query_async(&mut commands)
            .await?;
        Ok(receivers > 0)
    }

    async fn alive(&self, sessions: &[SessionId]) -> BusResult<Vec<bool>> {
        // The lease keys live in different slots: one EXISTS each, all at once.
        let checks = sessions.iter().map(|id| {
            let mut commands = self.commands.clone();
            async move {
                redis::cmd("EXISTS")
                    .arg(session_key(*id))
                    .query_async::<bool>(&mut commands)
                    .await
            }
        });
        Ok(futures_util::future::try_join_all(checks).await?)
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
        format!("Redis Cluster bus at {}", self.seeds.join(","))
    }
}
