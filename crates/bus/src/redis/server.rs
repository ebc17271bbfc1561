//! The bus on one Redis server (`redis://HOST:PORT`): plain pub/sub for messages, one
//! script that reads a topic's subscribers and publishes atomically, streams for durable
//! topics.
//!
//! A session is one RESP3 connection: its subscriptions, its lease renewals and its
//! messages travel on it, so a renewal that succeeds also shows the connection that
//! delivers is alive. The bus's other commands share one connection manager.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::{AsyncConnectionConfig, PushInfo, RedisResult, Script};
use tokio::sync::mpsc;

use super::connection::{COMMAND_RETRIES, REDIS_TIMEOUT};
use super::durable::DurableTopics;
use super::incarnation::{
    Leaving, Link, REPLICA_WAIT, RedisIncarnation, forward_push, new_session_id, replicated,
    take_lease,
};
use super::unanswered::Unanswered;
use super::{keys, scripts};
use crate::error::{BusError, BusResult};
use crate::model::{Bus, Offset, Receivers, Record};
use crate::session::{
    Backend, Incarnation, Session, SessionEvent, SessionId, SessionOptions, Sink,
};
use crate::topic::check_topic;

/// The bus on one Redis server (`redis://HOST:PORT`).
#[derive(Clone)]
pub struct RedisBus {
    address: String,
    /// Who the bus connects as (shown in `describe`, never the password).
    auth: tiercache_core::RedisAuth,
    /// Opens the sessions' RESP3 connections.
    client: redis::Client,
    /// Publishes, liveness checks and the clean-up of ended sessions (reconnects on its own).
    commands: ConnectionManager,
    publish: Script,
    durable: DurableTopics<ConnectionManager>,
    /// Whether the server had replicas when the bus connected: subscriber entries then
    /// wait for one (`WAIT 1`).
    replicated: bool,
    /// Broadcasts and unconfirmed sends, which Redis does not answer.
    unanswered: Arc<Unanswered>,
    /// Prunes the subscriber sets of topics only ever broadcast on.
    pruning: Arc<Pruning>,
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
        RedisBus::connect_as(address, &tiercache_core::RedisAuth::default()).await
    }

    /// [`RedisBus::connect`] as `auth`'s user; fails with `Refused` when it lacks a right
    /// the bus needs.
    pub async fn connect_as(
        address: &str,
        auth: &tiercache_core::RedisAuth,
    ) -> BusResult<RedisBus> {
        let client = tiercache_tls::redis_client::client(address, "?protocol=resp3", auth)
            .map_err(BusError::InvalidUrl)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT))
            .set_number_of_retries(COMMAND_RETRIES as usize);
        let commands = tokio::time::timeout(
            REDIS_TIMEOUT,
            ConnectionManager::new_with_config(client.clone(), config),
        )
        .await
        .map_err(|_| BusError::Unavailable(format!("{address}: connection timed out")))?
        .map_err(|error| crate::error::refused_or_unavailable(address, auth, &error))?;
        super::probe_rights(&mut commands.clone(), address, auth).await?;
        let info: String = redis::cmd("INFO")
            .arg("replication")
            .query_async(&mut commands.clone())
            .await
            .map_err(|error| crate::error::refused_or_unavailable(address, auth, &error))?;
        let replicated = !info.contains("connected_slaves:0");
        Ok(RedisBus {
            address: address.to_owned(),
            auth: auth.clone(),
            client,
            durable: DurableTopics::new(commands.clone()),
            commands,
            publish: Script::new(scripts::PUBLISH),
            replicated,
            unanswered: Arc::new(Unanswered::new(address, auth)),
            pruning: Arc::new(Pruning::new()),
        })
    }
}

#[async_trait]
impl Backend for RedisBus {
    async fn start(&self, lease: Duration, sink: Sink) -> BusResult<Arc<dyn Incarnation>> {
        let id = new_session_id(&mut self.commands.clone()).await?;
        let inbox = keys::inbox(id);
        let leaving = Leaving::default();
        let forward = {
            let (inbox, leaving) = (inbox.clone(), leaving.clone());
            move |push: PushInfo| -> Result<(), std::convert::Infallible> {
                forward_push(&sink, &inbox, &leaving, push);
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
        take_lease(&mut connection, id, lease).await?;
        connection.subscribe(&inbox).await?;
        let link = ServerLink {
            connection,
            commands: self.commands.clone(),
            leaving,
            replicated: self.replicated,
        };
        Ok(Arc::new(RedisIncarnation::new(id, link)))
    }
}

/// How often a topic only broadcast on has its subscriber set pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// The most topics whose last pruning is remembered; past it the memory starts over (each
/// topic is then pruned once more, which is harmless).
const PRUNED_TOPICS: usize = 4096;

/// Takes the sessions that ended without leaving (a crash) out of the subscriber sets of
/// topics only ever broadcast on — what `publish`'s script does on every publish, and
/// nothing else would do for them.
struct Pruning {
    /// When each topic's set was last pruned.
    last: parking_lot::Mutex<std::collections::HashMap<String, tokio::time::Instant>>,
    script: Script,
}

impl Pruning {
    fn new() -> Pruning {
        Pruning {
            last: parking_lot::Mutex::default(),
            script: Script::new(scripts::PRUNE),
        }
    }

    /// Prunes `topic`'s set at its first broadcast and then every [`PRUNE_EVERY`], in the
    /// background on `commands`: no broadcast waits for it, and it publishes nothing, so
    /// the broadcasts' order holds.
    fn after_broadcast(&self, topic: &str, commands: &ConnectionManager) {
        if !self.due(topic) {
            return;
        }
        let (script, set, mut commands) = (
            self.script.clone(),
            keys::subscribers(topic),
            commands.clone(),
        );
        tokio::spawn(async move {
            let _: RedisResult<i64> = script
                .key(set)
                .arg(keys::SESSION_PREFIX)
                .invoke_async(&mut commands)
                .await;
        });
    }

    /// Whether `topic`'s set is due (a `true` counts as done).
    fn due(&self, topic: &str) -> bool {
        let now = tokio::time::Instant::now();
        let mut last = self.last.lock();
        if last
            .get(topic)
            .is_some_and(|at| now.duration_since(*at) < PRUNE_EVERY)
        {
            return false;
        }
        if last.len() >= PRUNED_TOPICS {
            last.clear();
        }
        last.insert(topic.to_owned(), now);
        true
    }
}

/// A session's connections on one server.
struct ServerLink {
    /// The session's own connection: subscriptions, their pushes, the subscriber sets and
    /// the lease renewals.
    connection: MultiplexedConnection,
    /// The bus's shared command connection: the clean-up goes through it, because the
    /// session's own connection is usually the thing that broke.
    commands: ConnectionManager,
    /// The channels being left, whose unsubscribe pushes are expected.
    leaving: Leaving,
    /// Whether the server has replicas (see [`RedisBus`]).
    replicated: bool,
}

#[async_trait]
impl Link for ServerLink {
    const BACKEND: &'static str = "Redis";
    type Commands = MultiplexedConnection;

    fn commands(&self) -> MultiplexedConnection {
        self.connection.clone()
    }

    fn renewals(&self) -> MultiplexedConnection {
        self.connection.clone()
    }

    async fn join(&self, channel: &str) -> RedisResult<()> {
        self.connection.clone().subscribe(channel).await
    }

    async fn leave(&self, channel: &str) -> RedisResult<()> {
        self.leaving.expect(channel);
        self.connection.clone().unsubscribe(channel).await
    }

    async fn replicate(&self, key: &str) -> BusResult<()> {
        if !self.replicated {
            return Ok(());
        }
        // On the session's connection, where the subscriber entry was written.
        let acknowledged: i64 = redis::cmd("WAIT")
            .arg(1)
            .arg(REPLICA_WAIT.as_millis() as u64)
            .query_async(&mut self.connection.clone())
            .await?;
        replicated(acknowledged, key)
    }

    async fn clean_up(&self, id: SessionId, topics: Vec<String>) {
        // One server holds every key: one pipeline.
        let mut pipeline = redis::pipe();
        for topic in &topics {
            pipeline
                .cmd("SREM")
                .arg(keys::subscribers(topic))
                .arg(id.0)
                .ignore();
        }
        pipeline.cmd("DEL").arg(keys::session(id)).ignore();
        let _ = pipeline.query_async::<()>(&mut self.commands.clone()).await;
    }
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
        let ids: Vec<u64> = self
            .publish
            .key(keys::subscribers(topic))
            .arg(keys::channel(topic))
            .arg(payload.as_ref())
            .arg(keys::SESSION_PREFIX)
            .invoke_async(&mut self.commands.clone())
            .await?;
        let mut sessions: Vec<SessionId> = ids.into_iter().map(SessionId).collect();
        sessions.sort_unstable();
        Ok(Receivers { sessions })
    }

    async fn broadcast(&self, topic: &str, payload: Bytes) -> BusResult<()> {
        check_topic(topic)?;
        self.pruning.after_broadcast(topic, &self.commands);
        // The channel alone: what `publish`'s script does besides this reads (and prunes)
        // the subscriber set, which only `publish`'s callers need.
        self.unanswered
            .publish(&keys::channel(topic), &payload)
            .await
    }

    async fn send_unconfirmed(&self, session: SessionId, payload: Bytes) -> BusResult<()> {
        self.unanswered
            .publish(&keys::inbox(session), &payload)
            .await
    }

    async fn send_to(&self, session: SessionId, payload: Bytes) -> BusResult<bool> {
        let receivers: u64 = redis::cmd("PUBLISH")
            .arg(keys::inbox(session))
            .arg(payload.as_ref())
            .query_async(&mut self.commands.clone())
            .await?;
        Ok(receivers > 0)
    }

    async fn alive(&self, sessions: &[SessionId]) -> BusResult<Vec<bool>> {
        if sessions.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipeline = redis::pipe();
        for id in sessions {
            pipeline.cmd("EXISTS").arg(keys::session(*id));
        }
        Ok(pipeline.query_async(&mut self.commands.clone()).await?)
    }

    async fn append(&self, topic: &str, payload: Bytes) -> BusResult<Offset> {
        self.durable.append(topic, payload).await
    }

    async fn read(&self, topic: &str, after: Option<Offset>, max: usize) -> BusResult<Vec<Record>> {
        self.durable.read(topic, after, max).await
    }

    async fn acknowledge(&self, topic: &str, consumer: &str, offset: Offset) -> BusResult<()> {
        self.durable.acknowledge(topic, consumer, offset).await
    }

    async fn acknowledged(&self, topic: &str, consumer: &str) -> BusResult<Option<Offset>> {
        self.durable.acknowledged(topic, consumer).await
    }

    fn describe(&self) -> String {
        format!("Redis bus at {}{}", self.address, self.auth.describe())
    }
}
