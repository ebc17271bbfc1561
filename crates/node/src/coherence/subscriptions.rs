//! This node's subscriptions: which topics its bus session holds, subscribed before a fill
//! reads and released once nothing here needs them.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tiercache_bus::BusResult;

use super::{Coherence, TopicState};
use crate::counters::bump;

impl Coherence {
    /// The topic state of `topic`, locked, and still the one registered (an unsubscribe
    /// may have retired the one we found while we waited for its lock).
    async fn lock_topic(&self, topic: &str) -> tokio::sync::OwnedMutexGuard<TopicState> {
        loop {
            let state = Arc::clone(self.topics.lock().entry(topic.to_owned()).or_default());
            let guard = Arc::clone(&state).lock_owned().await;
            let current = self
                .topics
                .lock()
                .get(topic)
                .is_some_and(|registered| Arc::ptr_eq(registered, &state));
            if current {
                return guard;
            }
        }
    }

    /// Subscribes to `key`'s topic unless already subscribed; returns once confirmed.
    pub(crate) async fn subscribe_for(&self, key: &[u8]) -> BusResult<()> {
        let topic = self.options.topics.topic(key);
        let generation = self.session.generation();
        if let Some(state) = self.topics.lock().get(&topic)
            && let Ok(state) = state.try_lock()
            && state.subscribed == Some(generation)
        {
            return Ok(());
        }
        let mut state = self.lock_topic(&topic).await;
        if state.subscribed != Some(generation) {
            self.session.subscribe(&topic).await.inspect_err(|_| {
                bump(&self.counters.subscribe_errors);
            })?;
            if state.subscribed.is_none() {
                self.counters.subscriptions.fetch_add(1, Ordering::Relaxed);
            }
            state.subscribed = Some(generation);
            bump(&self.counters.subscribes);
        }
        Ok(())
    }

    /// Unsubscribes from `key`'s topic if `still_needed` says nothing uses it, asked under
    /// the topic's lock so a fill that subscribes meanwhile is not undone.
    pub(crate) async fn release(&self, key: &[u8], still_needed: impl Fn() -> bool) {
        let topic = self.options.topics.topic(key);
        if !self.topics.lock().contains_key(&topic) {
            return;
        }
        let mut state = self.lock_topic(&topic).await;
        if still_needed() {
            return;
        }
        if state.subscribed.is_some() {
            // A failed unsubscribe only leaves an extra subscription until the session ends.
            if self.session.unsubscribe(&topic).await.is_ok() {
                bump(&self.counters.unsubscribes);
            }
            state.subscribed = None;
            self.counters.subscriptions.fetch_sub(1, Ordering::Relaxed);
        }
        self.topics.lock().remove(&topic);
    }

    /// Forgets every subscription (the session that held them is gone).
    pub(crate) fn forget_subscriptions(&self) {
        self.topics.lock().clear();
        self.counters.subscriptions.store(0, Ordering::Relaxed);
    }
}
