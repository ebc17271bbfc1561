//! The in-process bus: every session of one process shares a hub. Used by the embedded
//! deployment (`tiercache serve`, `tiercache demo`) and by tests.
//!
//! Leases are enforced by the hub: a session whose lease lapsed is dropped from every topic
//! the next time the hub is used, and its owner is told it was lost.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::mpsc;

use crate::error::{BusError, BusResult};
use crate::model::{Bus, Offset, Receivers, Record};
use crate::session::{
    Backend, Incarnation, Session, SessionEvent, SessionId, SessionOptions, Sink,
};
use crate::topic::check_topic;

/// A bus inside this process. Clones share one hub.
#[derive(Debug, Clone, Default)]
pub struct MemoryBus {
    hub: Arc<Hub>,
}

impl MemoryBus {
    /// An empty bus.
    pub fn new() -> MemoryBus {
        MemoryBus::default()
    }
}

#[derive(Debug, Default)]
struct Hub {
    state: Mutex<HubState>,
}

#[derive(Default)]
struct HubState {
    next_session: u64,
    sessions: HashMap<SessionId, HubSession>,
    /// Subscribers by topic; a topic without subscribers is removed.
    topics: HashMap<String, BTreeSet<SessionId>>,
    durable: HashMap<String, DurableTopic>,
}

impl std::fmt::Debug for HubState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubState")
            .field("sessions", &self.sessions.len())
            .field("topics", &self.topics.len())
            .finish_non_exhaustive()
    }
}

struct HubSession {
    sink: Sink,
    expires_at: Instant,
    topics: HashSet<String>,
}

#[derive(Default)]
struct DurableTopic {
    records: Vec<Bytes>,
    cursors: HashMap<String, Offset>,
}

impl HubState {
    /// Drops every session whose lease lapsed, and tells its owner.
    fn reap(&mut self, now: Instant) {
        let expired: Vec<SessionId> = self
            .sessions
            .iter()
            .filter(|(_, session)| session.expires_at <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            if let Some(session) = self.remove(id) {
                session
                    .sink
                    .lose(format!("the bus dropped {id}: its lease lapsed"));
            }
        }
    }

    fn remove(&mut self, id: SessionId) -> Option<HubSession> {
        let session = self.sessions.remove(&id)?;
        for topic in &session.topics {
            self.unsubscribe(topic, id);
        }
        Some(session)
    }

    fn unsubscribe(&mut self, topic: &str, id: SessionId) {
        if let Some(subscribers) = self.topics.get_mut(topic) {
            subscribers.remove(&id);
            if subscribers.is_empty() {
                self.topics.remove(topic);
            }
        }
    }

    fn session(&mut self, id: SessionId) -> BusResult<&mut HubSession> {
        self.reap(Instant::now());
        self.sessions
            .get_mut(&id)
            .ok_or_else(|| BusError::SessionLost(format!("the bus no longer holds {id}")))
    }
}

#[async_trait]
impl Backend for MemoryBus {
    async fn start(&self, lease: Duration, sink: Sink) -> BusResult<Arc<dyn Incarnation>> {
        let mut state = self.hub.state.lock();
        state.next_session += 1;
        let id = SessionId(state.next_session);
        state.sessions.insert(
            id,
            HubSession {
                sink,
                expires_at: Instant::now() + lease,
                topics: HashSet::new(),
            },
        );
        Ok(Arc::new(MemoryIncarnation {
            id,
            hub: Arc::clone(&self.hub),
        }))
    }
}

struct MemoryIncarnation {
    id: SessionId,
    hub: Arc<Hub>,
}

#[async_trait]
impl Incarnation for MemoryIncarnation {
    fn id(&self) -> SessionId {
        self.id
    }

    async fn subscribe(&self, topic: &str) -> BusResult<()> {
        let mut state = self.hub.state.lock();
        state.session(self.id)?.topics.insert(topic.to_owned());
        state
            .topics
            .entry(topic.to_owned())
            .or_default()
            .insert(self.id);
        Ok(())
    }

    async fn unsubscribe(&self, topic: &str) -> BusResult<()> {
        let mut state = self.hub.state.lock();
        state.session(self.id)?.topics.remove(topic);
        state.unsubscribe(topic, self.id);
        Ok(())
    }

    async fn renew(&self, lease: Duration) -> BusResult<()> {
        let mut state = self.hub.state.lock();
        state.session(self.id)?.expires_at = Instant::now() + lease;
        Ok(())
    }

    async fn end(&self) {
        self.hub.state.lock().remove(self.id);
    }
}

#[async_trait]
impl Bus for MemoryBus {
    async fn open_session(
        &self,
        options: SessionOptions,
    ) -> BusResult<(Session, mpsc::Receiver<SessionEvent>)> {
        Session::open(Arc::new(self.clone()), options).await
    }

    async fn publish(&self, topic: &str, payload: Bytes) -> BusResult<Receivers> {
        check_topic(topic)?;
        let mut state = self.hub.state.lock();
        state.reap(Instant::now());
        let Some(subscribers) = state.topics.get(topic) else {
            return Ok(Receivers::default());
        };
        let sessions: Vec<SessionId> = subscribers.iter().copied().collect();
        // Delivered under the hub's lock: one publisher's messages keep their order.
        for id in &sessions {
            if let Some(session) = state.sessions.get(id) {
                session.sink.deliver(SessionEvent::Message {
                    topic: topic.to_owned(),
                    payload: payload.clone(),
                });
            }
        }
        Ok(Receivers { sessions })
    }

    async fn send_to(&self, session: SessionId, payload: Bytes) -> BusResult<bool> {
        let mut state = self.hub.state.lock();
        state.reap(Instant::now());
        Ok(match state.sessions.get(&session) {
            Some(target) => {
                target.sink.deliver(SessionEvent::Direct { payload });
                true
            }
            None => false,
        })
    }

    async fn alive(&self, sessions: &[SessionId]) -> BusResult<Vec<bool>> {
        let mut state = self.hub.state.lock();
        state.reap(Instant::now());
        Ok(sessions
            .iter()
            .map(|id| state.sessions.contains_key(id))
            .collect())
    }

    async fn append(&self, topic: &str, payload: Bytes) -> BusResult<Offset> {
        check_topic(topic)?;
        let mut state = self.hub.state.lock();
        let log = state.durable.entry(topic.to_owned()).or_default();
        log.records.push(payload);
        Ok(Offset {
            major: 0,
            minor: log.records.len() as u64,
        })
    }

    async fn read(&self, topic: &str, after: Option<Offset>, max: usize) -> BusResult<Vec<Record>> {
        check_topic(topic)?;
        let state = self.hub.state.lock();
        let Some(log) = state.durable.get(topic) else {
            return Ok(Vec::new());
        };
        // Offset n (counted from 1) is records[n - 1]; `after` is exclusive.
        let first = match after {
            None => 0,
            Some(offset) if offset.major > 0 => log.records.len(),
            Some(offset) => offset.minor as usize,
        };
        Ok(log
            .records
            .iter()
            .enumerate()
            .skip(first)
            .take(max)
            .map(|(index, payload)| Record {
                offset: Offset {
                    major: 0,
                    minor: index as u64 + 1,
                },
                payload: payload.clone(),
            })
            .collect())
    }

    async fn acknowledge(&self, topic: &str, consumer: &str, offset: Offset) -> BusResult<()> {
        check_topic(topic)?;
        let mut state = self.hub.state.lock();
        let cursor = state
            .durable
            .entry(topic.to_owned())
            .or_default()
            .cursors
            .entry(consumer.to_owned())
            .or_default();
        *cursor = (*cursor).max(offset);
        Ok(())
    }

    async fn acknowledged(&self, topic: &str, consumer: &str) -> BusResult<Option<Offset>> {
        check_topic(topic)?;
        let state = self.hub.state.lock();
        Ok(state
            .durable
            .get(topic)
            .and_then(|log| log.cursors.get(consumer).copied()))
    }

    fn describe(&self) -> String {
        "in-process bus".into()
    }
}
