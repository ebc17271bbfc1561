//! The node's bus events, taken in batches: everything queued when the node gets to them is
//! grouped by application (keeping arrival order) and appended in one call, so concurrent
//! publishers share the storage's group commit, and each publisher gets one [`Ack`] for
//! everything of its own in the batch (sent to every publisher concurrently). A notice that does not decode is counted
//! and reported, never guessed at. A lost session is counted and wakes catch-up, which
//! subscribes again once the session is restored.

use std::collections::BTreeMap;

use futures_util::future::join_all;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tiercache_bus::SessionEvent;
use tokio::sync::mpsc;

use super::shared::Shared;
use tiercache_bus::SessionId;

use crate::notice::{Ack, Append, Confirmed, LogNotice, MAX_BATCH, app_of_topic};
use crate::record::Record;

/// The most events taken in one batch.
const BATCH: usize = 512;

/// Takes events in batches until the session's channel closes.
pub(super) async fn run(shared: Arc<Shared>, mut events: mpsc::Receiver<SessionEvent>) {
    let node = shared.id.clone();
    let counters = &shared.counters;
    let mut batch = Vec::with_capacity(BATCH);
    while events.recv_many(&mut batch, BATCH).await > 0 {
        let mut by_app: BTreeMap<String, Vec<(SessionId, Record)>> = BTreeMap::new();
        for event in batch.drain(..) {
            match event {
                SessionEvent::Message { topic, payload } => {
                    let decoded = LogNotice::decode(&payload);
                    match (app_of_topic(&topic), decoded) {
                        (Some(app), Ok(LogNotice::Append(Append { reply_to, records }))) => {
                            let queued = by_app.entry(app.to_owned()).or_default();
                            queued.extend(records.into_iter().map(|record| (reply_to, record)));
                        }
                        (_, Err(error)) => {
                            counters.malformed.fetch_add(1, Ordering::Relaxed);
                            tracing::warn!(
                                "log node {node}: a notice on {topic} does not decode: {error}"
                            );
                        }
                        _ => {
                            counters.malformed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                SessionEvent::Lost { reason, .. } => {
                    counters.sessions_lost.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        "log node {node}: bus session lost ({reason}); not acknowledging until \
                         caught up again"
                    );
                }
                SessionEvent::Restored { .. } => shared.wake.notify_one(),
                SessionEvent::Direct { .. } => {
                    counters.malformed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        for (app, appends) in by_app {
            append_and_ack(&shared, &app, appends).await;
        }
    }
}

/// Appends one application's batch, then — if the application is caught up — acknowledges
/// the messages to their publishers, one notice per publisher.
async fn append_and_ack(shared: &Shared, app: &str, appends: Vec<(SessionId, Record)>) {
    let node = &shared.id;
    let counters = &shared.counters;
    let replies: Vec<_> = appends
        .iter()
        .map(|(to, record)| (*to, record.id))
        .collect();
    let records = appends.into_iter().map(|(_, record)| record).collect();
    let appended = match shared.storage.append(app, records).await {
        Ok(appended) => appended,
        Err(error) => {
            counters
                .refused
                .fetch_add(replies.len() as u64, Ordering::Relaxed);
            tracing::error!(
                "log node {node}: appending {} records to {app} failed: {error}",
                replies.len()
            );
            return;
        }
    };
    counters
        .stored
        .fetch_add(appended.appended as u64, Ordering::Relaxed);
    counters
        .duplicates
        .fetch_add(appended.duplicates.len() as u64, Ordering::Relaxed);
    // Only a copy that caught up counts toward an append's acknowledgements: one that may
    // have a hole must never make a message look replicated where it is not.
    if !shared.is_ready(app) {
        counters
            .held_back
            .fetch_add(replies.len() as u64, Ordering::Relaxed);
        return;
    }
    let mut by_publisher: BTreeMap<SessionId, Vec<Confirmed>> = BTreeMap::new();
    for (index, (reply_to, id)) in replies.into_iter().enumerate() {
        by_publisher.entry(reply_to).or_default().push(Confirmed {
            id,
            position: appended.position(index),
            duplicate: appended.duplicates.iter().any(|d| d.index == index),
        });
    }
    let sends = by_publisher.into_iter().flat_map(|(reply_to, confirmed)| {
        confirmed
            .chunks(MAX_BATCH)
            .map(|chunk| {
                let count = chunk.len() as u64;
                let ack = LogNotice::Ack(Ack {
                    node: node.clone(),
                    confirmed: chunk.to_vec(),
                });
                async move {
                    match shared.bus.send_unconfirmed(reply_to, ack.encode()).await {
                        Ok(_) => {
                            counters.acks.fetch_add(count, Ordering::Relaxed);
                        }
                        Err(error) => tracing::warn!(
                            "log node {node}: acknowledging to {reply_to} failed: {error}"
                        ),
                    }
                }
            })
            .collect::<Vec<_>>()
    });
    join_all(sends).await;
}
