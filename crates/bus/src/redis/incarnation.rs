//! One session incarnation on Redis, whatever the topology. Both topologies keep a
//! session the same way — a lease key with a TTL, one entry in each subscribed topic's
//! subscriber set, a channel per topic and an inbox channel — and differ only in which
//! connection carries which command and in their flavour of pub/sub. That difference is
//! the [`Link`]; the rules are written once, in [`RedisIncarnation`].

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use parking_lot::Mutex;
use redis::aio::ConnectionLike;
use redis::{PushInfo, PushKind, RedisResult, Value};

use super::connection::REDIS_TIMEOUT;
use super::keys;
use crate::error::{BusError, BusResult};
use crate::session::{Incarnation, SessionEvent, SessionId, Sink};

/// What a topology supplies to an incarnation: its connections and its pub/sub commands.
#[async_trait]
pub(super) trait Link: Send + Sync + 'static {
    /// The backend's name in a loss reason ("Redis", "Redis Cluster").
    const BACKEND: &'static str;

    /// A connection for the incarnation's commands: its subscriber-set entries (and the
    /// `WAIT` after them) and its lease renewals.
    type Commands: ConnectionLike + Send;

    /// Where the subscriber-set entries go, with their `WAIT` (clones share the
    /// connection).
    fn commands(&self) -> Self::Commands;

    /// Where the lease renewals go: the session's own connection, which carries its
    /// subscriptions, so a renewal that succeeds shows that connection answers. Never
    /// behind a `WAIT` that could hold it past its timeout.
    fn renewals(&self) -> Self::Commands;

    /// Subscribes the session's connection to `channel`; returns once Redis confirmed it.
    async fn join(&self, channel: &str) -> RedisResult<()>;

    /// Unsubscribes the session's connection from `channel`; returns once Redis confirmed it.
    async fn leave(&self, channel: &str) -> RedisResult<()>;

    /// When the server holding `key` has replicas: waits until one holds the writes sent
    /// on [`Link::commands`] so far (`WAIT 1`), and fails when none does in time — a
    /// failover would otherwise lose them. A no-op without replicas.
    async fn replicate(&self, key: &str) -> BusResult<()>;

    /// After a renewal: checks the session's other subscription connections answer (a
    /// Cluster session holds one per shard, and the renewal travelled on one of them). A
    /// silent one fails the renewal, so the session is declared lost rather than keep
    /// serving copies whose invalidations could not reach it.
    async fn check_subscriptions(&self) -> RedisResult<()> {
        Ok(())
    }

    /// Deletes the lease key of `id` and takes it out of the subscriber sets of `topics`,
    /// as far as it gets: the caller bounds it in time, and a lapsed lease ends the session
    /// anyway (publishers prune what is left).
    async fn clean_up(&self, id: SessionId, topics: Vec<String>);
}

/// A session incarnation on Redis over the link `L`.
pub(super) struct RedisIncarnation<L> {
    id: SessionId,
    link: L,
    /// The topics subscribed, so `end` can leave their subscriber sets.
    topics: Mutex<HashSet<String>>,
}

impl<L: Link> RedisIncarnation<L> {
    /// The incarnation `id`, whose lease is taken and whose inbox is subscribed on `link`.
    pub(super) fn new(id: SessionId, link: L) -> RedisIncarnation<L> {
        RedisIncarnation {
            id,
            link,
            topics: Mutex::new(HashSet::new()),
        }
    }
}

#[async_trait]
impl<L: Link> Incarnation for RedisIncarnation<L> {
    fn id(&self) -> SessionId {
        self.id
    }

    async fn subscribe(&self, topic: &str) -> BusResult<()> {
        // Channel first, then the set: a publish in between reaches this session without
        // counting it, which is harmless; the other order could count a session that does
        // not receive.
        self.link.join(&keys::channel(topic)).await?;
        let _: () = redis::cmd("SADD")
            .arg(keys::subscribers(topic))
            .arg(self.id.0)
            .query_async(&mut self.link.commands())
            .await?;
        // A writer counts the receivers in this set: an entry a failover lost would let a
        // synchronous write return without this session's confirmation.
        if let Err(error) = self.link.replicate(&keys::subscribers(topic)).await {
            // Undo the half subscription (best effort, bounded): the caller was told it
            // failed, so neither the entry nor the channel should outlive the answer.
            let undo = async {
                let _: RedisResult<()> = redis::cmd("SREM")
                    .arg(keys::subscribers(topic))
                    .arg(self.id.0)
                    .query_async(&mut self.link.commands())
                    .await;
                let _ = self.link.leave(&keys::channel(topic)).await;
            };
            let _ = tokio::time::timeout(REDIS_TIMEOUT, undo).await;
            return Err(error);
        }
        self.topics.lock().insert(topic.to_owned());
        Ok(())
    }

    async fn unsubscribe(&self, topic: &str) -> BusResult<()> {
        // The set first, then the channel: the reverse of `subscribe`, for the same reason.
        let _: () = redis::cmd("SREM")
            .arg(keys::subscribers(topic))
            .arg(self.id.0)
            .query_async(&mut self.link.commands())
            .await?;
        self.link.leave(&keys::channel(topic)).await?;
        self.topics.lock().remove(topic);
        Ok(())
    }

    async fn renew(&self, lease: Duration) -> BusResult<()> {
        // On the session's own connection: a renewal that succeeds also shows the
        // connection its notices arrive on is alive.
        let renewed: bool = redis::cmd("PEXPIRE")
            .arg(keys::session(self.id))
            .arg(lease.as_millis() as u64)
            .query_async(&mut self.link.renewals())
            .await?;
        if renewed {
            self.link.check_subscriptions().await?;
            Ok(())
        } else {
            Err(BusError::SessionLost(format!(
                "{} no longer holds {}: its lease lapsed",
                L::BACKEND,
                self.id
            )))
        }
    }

    async fn end(&self) {
        // Deleting the lease key at once tells writers waiting for this session's
        // confirmation that it is gone; its owner stopped serving when it detected the loss.
        let topics: Vec<String> = self.topics.lock().drain().collect();
        // Best effort: a lapsed lease ends the session anyway.
        let _ = tokio::time::timeout(REDIS_TIMEOUT, self.link.clean_up(self.id, topics)).await;
    }
}

/// How long a `WAIT` after a subscriber-set write may take: below the response timeout, so
/// WAIT answers before the client gives up on it.
pub(super) const REPLICA_WAIT: Duration =
    Duration::from_millis(REDIS_TIMEOUT.as_millis() as u64 / 2);

/// What a `WAIT` answered: `Ok` when at least one replica acknowledged.
pub(super) fn replicated(acknowledged: i64, key: &str) -> BusResult<()> {
    if acknowledged >= 1 {
        Ok(())
    } else {
        Err(BusError::Unavailable(format!(
            "no replica acknowledged the subscriber entry {key} within {REPLICA_WAIT:?}"
        )))
    }
}

/// Hands out the id of a new session (`INCR` on the shared counter).
pub(super) async fn new_session_id(
    commands: &mut (impl ConnectionLike + Send),
) -> BusResult<SessionId> {
    let id: u64 = redis::cmd("INCR")
        .arg(keys::NEXT_SESSION)
        .query_async(commands)
        .await?;
    Ok(SessionId(id))
}

/// Takes the lease of session `id` for `lease` from now.
pub(super) async fn take_lease(
    connection: &mut (impl ConnectionLike + Send),
    id: SessionId,
    lease: Duration,
) -> BusResult<()> {
    let _: () = redis::cmd("SET")
        .arg(keys::session(id))
        .arg(1)
        .arg("PX")
        .arg(lease.as_millis() as u64)
        .query_async(connection)
        .await?;
    Ok(())
}

/// The unsubscribes an incarnation sent whose confirmations have not arrived yet, by
/// channel. Redis confirms an unsubscribe with the same push it sends when it ends a
/// subscription on its own (a slot moved to another shard, a primary was demoted): only the
/// first is expected; the second means messages may have been missed, so it loses the
/// session. Counted, not just marked: a channel left and joined again at once has its
/// confirmation still on the way while it is subscribed again (regression: the late
/// confirmation was taken for the server's, and lost a healthy session).
#[derive(Debug, Clone, Default)]
pub(super) struct Leaving(Arc<Mutex<HashMap<Vec<u8>, u32>>>);

impl Leaving {
    /// An unsubscribe from `channel` is about to be sent.
    pub(super) fn expect(&self, channel: &str) {
        *self
            .0
            .lock()
            .entry(channel.as_bytes().to_vec())
            .or_default() += 1;
    }

    /// Whether an unsubscribe push for `channel` confirms one this incarnation sent (it is
    /// then no longer expected).
    fn seen(&self, channel: &[u8]) -> bool {
        let mut pending = self.0.lock();
        match pending.get_mut(channel) {
            Some(count) => {
                *count -= 1;
                if *count == 0 {
                    pending.remove(channel);
                }
                true
            }
            None => false,
        }
    }
}

/// Turns the pushes of a session's connection into session events (plain and sharded
/// pub/sub alike): a message on its `inbox` is direct, one on a topic's channel is that
/// topic's; a closed connection, or a subscription Redis ended without being asked, loses
/// the session.
pub(super) fn forward_push(sink: &Sink, inbox: &str, leaving: &Leaving, push: PushInfo) {
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
            } else if let Some(topic) = keys::topic_of(&name) {
                sink.deliver(SessionEvent::Message {
                    topic: topic.to_owned(),
                    payload,
                });
            }
        }
        PushKind::Disconnection => sink.lose("the connection to Redis closed".into()),
        PushKind::Unsubscribe | PushKind::SUnsubscribe => {
            let Some(Value::BulkString(channel)) = push.data.first() else {
                return;
            };
            if !leaving.seen(channel) {
                sink.lose(format!(
                    "Redis ended the subscription to {} without being asked (a slot moved or a primary was demoted): messages may have been missed",
                    String::from_utf8_lossy(channel)
                ));
            }
        }
        _ => {}
    }
}
