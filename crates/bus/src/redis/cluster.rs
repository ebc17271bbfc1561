//! The bus on a Redis Cluster (`redis-cluster://HOST:PORT,…`): sharded pub/sub
//! (`SSUBSCRIBE`, `SPUBLISH`), so a topic's messages travel only through the shard that
//! owns its slot, and streams for durable topics.
//!
//! A session is one cluster connection (RESP3, with its own connection to each shard) that
//! holds its subscriptions and carries its lease renewals, so a renewal shows the
//! connections its notices arrive on are alive: after each one the session pings every
//! primary on them. Its subscriber entries (and the `WAIT` after each, which holds a
//! connection up to a second) and publishing go through the bus's command connection, which
//! routes each key to its shard. A session's lease key lives in
//! its own slot; since the publish script cannot read other slots, the sessions it returns
//! are then checked for a live lease (one more round trip, the checks of several sessions
//! at once), and the dead ones are removed from the topic's set.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::{PushInfo, RedisResult, Script};
use tokio::sync::mpsc;

use super::connection::{COMMAND_RETRIES, REDIS_TIMEOUT};
use super::durable::DurableTopics;
use super::incarnation::{
    Leaving, Link, REPLICA_WAIT, RedisIncarnation, forward_push, new_session_id, replicated,
    take_lease,
};
use super::{keys, scripts};
use crate::error::{BusError, BusResult, refused_or_unavailable};
use crate::model::{Bus, Offset, Receivers, Record};
use crate::session::{
    Backend, Incarnation, Session, SessionEvent, SessionId, SessionOptions, Sink,
};
use crate::topic::check_topic;

/// The bus on a Redis Cluster (`redis-cluster://HOST:PORT,HOST:PORT,…`).
#[derive(Clone)]
pub struct RedisClusterBus {
    seeds: Vec<String>,
    /// Who every connection authenticates as.
    auth: tiercache_core::RedisAuth,
    /// Publishes, liveness checks, the sessions' own commands and their clean-up.
    commands: ClusterConnection,
    publish: Script,
    durable: DurableTopics<ClusterConnection>,
    /// Whether the cluster had replicas when the bus connected: subscriber entries then
    /// wait for one on their shard (`WAIT 1`).
    replicated: bool,
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
    auth: &tiercache_core::RedisAuth,
    push: Option<mpsc::UnboundedSender<PushInfo>>,
) -> BusResult<ClusterClient> {
    let mut builder = ClusterClient::builder(
        seeds
            .iter()
            .map(|seed| auth.client_url(seed, "?protocol=resp3")),
    )
    .use_protocol(redis::ProtocolVersion::RESP3)
    .connection_timeout(REDIS_TIMEOUT)
    .response_timeout(REDIS_TIMEOUT)
    .retries(COMMAND_RETRIES);
    if let Some(push) = push {
        builder = builder.push_sender(push);
    }
    tiercache_tls::redis_client::cluster_settings(builder, auth)
        .map_err(BusError::InvalidUrl)?
        .build()
        .map_err(|error| BusError::InvalidUrl(format!("redis-cluster://: {error}")))
}

/// Connects a cluster client, bounded in time.
async fn connect(
    client: &ClusterClient,
    seeds: &[String],
    auth: &tiercache_core::RedisAuth,
) -> BusResult<ClusterConnection> {
    tokio::time::timeout(REDIS_TIMEOUT * 3, client.get_async_connection())
        .await
        .map_err(|_| BusError::Unavailable(format!("no Redis Cluster answered at {seeds:?}")))?
        .map_err(|error| refused_or_unavailable(&format!("{seeds:?}"), auth, &error))
}

impl RedisClusterBus {
    /// Connects to the Redis Cluster that `seeds` (`HOST:PORT` each) belong to.
    pub async fn connect(seeds: &[String]) -> BusResult<RedisClusterBus> {
        RedisClusterBus::connect_as(seeds, &tiercache_core::RedisAuth::default()).await
    }

    /// [`RedisClusterBus::connect`] as `auth`'s user; fails with `Refused` when it lacks a
    /// right the bus needs.
    pub async fn connect_as(
        seeds: &[String],
        auth: &tiercache_core::RedisAuth,
    ) -> BusResult<RedisClusterBus> {
        if seeds.is_empty() {
            return Err(BusError::InvalidUrl(
                "redis-cluster:// needs at least one HOST:PORT".into(),
            ));
        }
        let commands = connect(&client(seeds, auth, None)?, seeds, auth).await?;
        super::probe_rights(&mut commands.clone(), &format!("{seeds:?}"), auth).await?;
        let nodes: String = redis::cmd("CLUSTER")
            .arg("NODES")
            .query_async(&mut commands.clone())
            .await
            .map_err(|error| refused_or_unavailable(&format!("{seeds:?}"), auth, &error))?;
        let replicated = nodes.lines().any(|line| {
            line.split_whitespace()
                .nth(2)
                .is_some_and(|flags| flags.contains("slave"))
        });
        Ok(RedisClusterBus {
            seeds: seeds.to_vec(),
            auth: auth.clone(),
            durable: DurableTopics::new(commands.clone()),
            commands,
            publish: Script::new(scripts::SHARDED_PUBLISH),
            replicated,
        })
    }
}

#[async_trait]
impl Backend for RedisClusterBus {
    async fn start(&self, lease: Duration, sink: Sink) -> BusResult<Arc<dyn Incarnation>> {
        let mut commands = self.commands.clone();
        let id = new_session_id(&mut commands).await?;
        let inbox = keys::inbox(id);
        // The client's pushes arrive on a channel; a task turns them into session events.
        let (pushes, mut received) = mpsc::unbounded_channel::<PushInfo>();
        let connection = connect(
            &client(&self.seeds, &self.auth, Some(pushes))?,
            &self.seeds,
            &self.auth,
        )
        .await?;
        let leaving = Leaving::default();
        let forwarder = {
            let (inbox, leaving) = (inbox.clone(), leaving.clone());
            tokio::spawn(async move {
                while let Some(push) = received.recv().await {
                    forward_push(&sink, &inbox, &leaving, push);
                }
            })
        };
        // From here on the link owns the forwarder: an error below drops it, which stops it.
        let link = ClusterLink {
            connection,
            commands,
            forwarder,
            leaving,
            replicated: self.replicated,
        };
        take_lease(&mut link.commands(), id, lease).await?;
        link.connection.clone().ssubscribe(&inbox).await?;
        Ok(Arc::new(RedisIncarnation::new(id, link)))
    }
}

/// A session's connections on a cluster.
struct ClusterLink {
    /// Subscriptions (and their pushes) of this incarnation, and its lease renewals.
    connection: ClusterConnection,
    /// The bus's command connection: the subscriber sets with their `WAIT`, and the
    /// clean-up (the session's own connection is usually the thing that broke).
    commands: ClusterConnection,
    /// Turns the connection's pushes into session events.
    forwarder: tokio::task::JoinHandle<()>,
    /// The channels being left, whose unsubscribe pushes are expected.
    leaving: Leaving,
    /// Whether the cluster has replicas (see [`RedisClusterBus`]).
    replicated: bool,
}

impl Drop for ClusterLink {
    fn drop(&mut self) {
        self.forwarder.abort();
    }
}

#[async_trait]
impl Link for ClusterLink {
    const BACKEND: &'static str = "Redis Cluster";
    type Commands = ClusterConnection;

    fn commands(&self) -> ClusterConnection {
        self.commands.clone()
    }

    fn renewals(&self) -> ClusterConnection {
        self.connection.clone()
    }

    async fn check_subscriptions(&self) -> RedisResult<()> {
        // Sharded subscriptions live on the primaries: one PING to each, on the session's
        // connections, bounded by the response timeout.
        let ping = redis::cmd("PING");
        let route = RoutingInfo::MultiNode((
            redis::cluster_routing::MultipleNodeRoutingInfo::AllMasters,
            None,
        ));
        self.connection
            .clone()
            .route_command(ping, route)
            .await
            .map(drop)
    }

    async fn join(&self, channel: &str) -> RedisResult<()> {
        self.connection.clone().ssubscribe(channel).await
    }

    async fn leave(&self, channel: &str) -> RedisResult<()> {
        self.leaving.expect(channel);
        self.connection.clone().sunsubscribe(channel).await
    }

    async fn replicate(&self, key: &str) -> BusResult<()> {
        if !self.replicated {
            return Ok(());
        }
        // To the key's primary, through the command connection that wrote the entry there
        // (not the session's own: a WAIT holds its connection, and renewals go there).
        let route = RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(Route::with_key(
            key,
            SlotAddr::Master,
        )));
        let mut wait = redis::cmd("WAIT");
        wait.arg(1).arg(REPLICA_WAIT.as_millis() as u64);
        let answer = self.commands.clone().route_command(wait, route).await?;
        let acknowledged: i64 = redis::from_redis_value(answer)
            .map_err(|error| BusError::Internal(format!("WAIT answered: {error}")))?;
        replicated(acknowledged, key)
    }

    async fn clean_up(&self, id: SessionId, topics: Vec<String>) {
        self.forwarder.abort();
        // One key at a time: they live in different slots.
        let mut commands = self.commands.clone();
        let _: RedisResult<()> = redis::cmd("DEL")
            .arg(keys::session(id))
            .query_async(&mut commands)
            .await;
        for topic in topics {
            let _: RedisResult<()> = redis::cmd("SREM")
                .arg(keys::subscribers(&topic))
                .arg(id.0)
                .query_async(&mut commands)
                .await;
        }
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
            .key(keys::subscribers(topic))
            .arg(keys::channel(topic))
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
                let _: RedisResult<()> = redis::cmd("SREM")
                    .arg(keys::subscribers(topic))
                    .arg(session.0)
                    .query_async(&mut commands)
                    .await;
            }
        }
        sessions.sort_unstable();
        Ok(Receivers { sessions })
    }

    async fn send_to(&self, session: SessionId, payload: Bytes) -> BusResult<bool> {
        let receivers: u64 = redis::cmd("SPUBLISH")
            .arg(keys::inbox(session))
            .arg(payload.as_ref())
            .query_async(&mut self.commands.clone())
            .await?;
        Ok(receivers > 0)
    }

    async fn alive(&self, sessions: &[SessionId]) -> BusResult<Vec<bool>> {
        // The lease keys live in different slots: one EXISTS each, all at once.
        let checks = sessions.iter().map(|id| {
            let mut commands = self.commands.clone();
            async move {
                redis::cmd("EXISTS")
                    .arg(keys::session(*id))
                    .query_async::<bool>(&mut commands)
                    .await
            }
        });
        Ok(futures_util::future::try_join_all(checks).await?)
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
        format!(
            "Redis Cluster bus at {}{}",
            self.seeds.join(","),
            self.auth.describe()
        )
    }
}
