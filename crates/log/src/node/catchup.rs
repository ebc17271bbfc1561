//! Catch-up: keeping every application's subscription current in the bus session, and
//! copying from the application's other copies what this one lacks.
//!
//! For each other copy the node keeps a watermark — the position up to which it compared
//! that copy's ids with its own — and each pass asks for the ids after it, fetches only the
//! pages holding ids it lacks, and appends those records (the storage's deduplication makes
//! a repeated copy harmless). Positions of a copy never change, so the watermark stays
//! valid; a copy that came back shorter than its watermark (its data lost) is read again
//! from the start.
//!
//! A pass runs every sync interval, on every assignment and when the session is restored;
//! it is also the anti-entropy that repairs a message a copy missed while it was being
//! published (one that was in flight when the copy subscribed).

use std::collections::HashSet;
use std::sync::Weak;
use std::sync::atomic::Ordering;

use futures_util::future::join_all;

use super::shared::Shared;
use crate::copy::LogCopy;
use crate::error::{LogError, LogResult};
use crate::notice::log_topic;
use crate::remote::RemoteCopy;
use crate::wire::{NodeRef, PeerSync};

/// How many ids (and at most records) one request asks for.
const PAGE: usize = 500;

/// Runs passes until the node is dropped.
pub(super) async fn run(shared: Weak<Shared>) {
    loop {
        let interval = match shared.upgrade() {
            Some(shared) => {
                if let Err(error) = subscribe_all(&shared).await {
                    tracing::warn!("log node {}: subscribing again: {error}", shared.id);
                }
                pass(&shared).await;
                shared.sync_interval
            }
            None => return,
        };
        let Some(wake) = shared.upgrade() else { return };
        // Holding the node only while waiting: a wake-up or the interval, whichever first.
        tokio::select! {
            _ = wake.wake.notified() => {}
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

/// Subscribes every application whose subscription is not confirmed in the current session
/// generation (new ones, and all of them after a lost session). An application with no
/// other copy is ready as soon as it is subscribed.
pub(super) async fn subscribe_all(shared: &Shared) -> LogResult<()> {
    let _one_at_a_time = shared.assigning.lock().await;
    subscribe_pending(shared).await
}

/// [`subscribe_all`] for a caller that holds the assignment lock.
pub(super) async fn subscribe_pending(shared: &Shared) -> LogResult<()> {
    let generation = shared.session.generation();
    let pending: Vec<String> = shared
        .state
        .lock()
        .apps
        .iter()
        .filter(|(_, copy)| copy.subscribed != Some(generation))
        .map(|(app, _)| app.clone())
        .collect();
    for app in pending {
        shared
            .session
            .subscribe(&log_topic(&app))
            .await
            .map_err(|error| LogError::Bus(error.to_string()))?;
        if shared.session.generation() != generation || !shared.session.lease_valid() {
            // Lost meanwhile, or not provably held (a paused or cut-off session whose lost
            // incarnation is not replaced yet): subscribe again in the next generation.
            return Err(LogError::Bus(
                "the bus session is lost or its lease unproven".into(),
            ));
        }
        let mut state = shared.state.lock();
        if let Some(copy) = state.apps.get_mut(&app) {
            copy.subscribed = Some(generation);
            if copy.peers.is_empty() {
                copy.ready = Some(generation);
            }
        }
    }
    Ok(())
}

/// One pass over every application: reads each other copy from its watermark, copies what
/// is missing, and marks the application ready when the pass began after its subscription
/// and read at least one other copy to its end.
pub(super) async fn pass(shared: &Shared) {
    let generation = shared.session.generation();
    let apps: Vec<(String, Vec<NodeRef>, bool)> = {
        let state = shared.state.lock();
        state
            .apps
            .iter()
            .filter(|(_, copy)| !copy.peers.is_empty())
            .map(|(app, copy)| {
                let subscribed = copy.subscribed == Some(generation);
                (app.clone(), copy.peers.clone(), subscribed)
            })
            .collect()
    };
    for (app, peers, subscribed) in apps {
        let pulls = peers.iter().map(|peer| pull(shared, &app, peer));
        let read_to_end = join_all(pulls).await.into_iter().filter(|ok| *ok).count();
        if subscribed && read_to_end > 0 && shared.session.generation() == generation {
            let mut state = shared.state.lock();
            if let Some(copy) = state.apps.get_mut(&app)
                && copy.ready != Some(generation)
            {
                copy.ready = Some(generation);
                tracing::info!("log node {}: {app} caught up", shared.id);
            }
        }
    }
}

/// Reads `peer`'s copy of `app` from its watermark to its end, copying the records this
/// node lacks. Returns whether it got to the end; records why not in the peer's status.
async fn pull(shared: &Shared, app: &str, peer: &NodeRef) -> bool {
    let remote = RemoteCopy::new(&peer.url).with_timeout(shared.peer_timeout);
    let outcome = pull_from(shared, app, &peer.url, &remote).await;
    let mut state = shared.state.lock();
    if let Some(copy) = state.apps.get_mut(app) {
        let sync = copy.synced.entry(peer.url.clone()).or_insert(PeerSync {
            url: peer.url.clone(),
            synced: 0,
            len: 0,
            error: None,
        });
        sync.error = outcome.as_ref().err().map(ToString::to_string);
    }
    outcome.is_ok()
}

/// The loop of [`pull`], over any copy.
async fn pull_from(shared: &Shared, app: &str, url: &str, peer: &dyn LogCopy) -> LogResult<()> {
    let watermark = |shared: &Shared| {
        let state = shared.state.lock();
        let copy = state.apps.get(app)?;
        Some(copy.synced.get(url).map_or(0, |sync| sync.synced))
    };
    let Some(mut from) = watermark(shared) else {
        return Ok(()); // no longer assigned
    };
    loop {
        let (ids, len) = peer.ids_since(app, from, PAGE).await?;
        if len < from {
            from = 0; // the copy lost records: compare it again from the start
            continue;
        }
        let mut missing = HashSet::new();
        for id in &ids {
            if !shared.storage.has(app, *id).await? {
                missing.insert(*id);
            }
        }
        if !missing.is_empty() {
            let page = peer.read(app, from, ids.len()).await?;
            let records: Vec<_> = page
                .records
                .into_iter()
                .map(|(_, record)| record)
                .filter(|record| missing.contains(&record.id))
                .collect();
            let appended = shared.storage.append(app, records).await?;
            shared
                .counters
                .pulled
                .fetch_add(appended.appended as u64, Ordering::Relaxed);
        }
        from += ids.len() as u64;
        {
            let mut state = shared.state.lock();
            let Some(copy) = state.apps.get_mut(app) else {
                return Ok(());
            };
            let sync = copy.synced.entry(url.to_owned()).or_insert(PeerSync {
                url: url.to_owned(),
                synced: 0,
                len: 0,
                error: None,
            });
            sync.synced = from;
            sync.len = len;
        }
        if ids.is_empty() || from >= len {
            return Ok(());
        }
    }
}
