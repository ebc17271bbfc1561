//! Warm standby: the active's [`Heartbeat`] to the other admins, sent every tick to each
//! admin the binder lists, and what a standby keeps of the last one it heard.
//!
//! A heartbeat never changes anyone's role: roles follow the store's answers alone (the
//! lease), so a late or forged heartbeat can at worst make a standby reload its copy early.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tiercache_store::Registry;

/// The role admins register under in the binder.
pub const ADMIN_ROLE: &str = "admin";

/// What the active tells the standbys every tick.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// The active's id.
    pub id: String,
    /// Its URL.
    pub url: String,
    /// Its epoch.
    pub epoch: u64,
    /// Its state's version (highest revision written).
    pub revision: u64,
    /// How long its lease has left by its clock.
    pub lease_expires_in_ms: u64,
}

/// The last heartbeat a standby heard, and when.
#[derive(Debug, Clone)]
pub(crate) struct Heard {
    pub(crate) beat: Heartbeat,
    pub(crate) at: Instant,
}

impl Heard {
    /// Keeps `beat` unless it comes from an older epoch than the one already heard (a former
    /// active that has not noticed yet).
    pub(crate) fn update(slot: &mut Option<Heard>, beat: Heartbeat) {
        if slot
            .as_ref()
            .is_some_and(|heard| heard.beat.epoch > beat.epoch)
        {
            return;
        }
        *slot = Some(Heard {
            beat,
            at: Instant::now(),
        });
    }
}

/// How the heartbeats of one tick went.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Sent {
    pub(crate) delivered: u64,
    pub(crate) failed: u64,
}

/// Sends `beat` to every admin the binder lists but its sender, all at once, each bounded by
/// `timeout` (a paused standby must not hold the active up).
pub(crate) async fn announce(
    registry: Arc<dyn Registry>,
    beat: Heartbeat,
    timeout: Duration,
) -> Sent {
    let peers = match registry.lookup(ADMIN_ROLE).await {
        Ok(peers) => peers,
        Err(error) => {
            tracing::warn!(
                "admin {}: looking up the other admins failed: {error}",
                beat.id
            );
            return Sent::default();
        }
    };
    let body = serde_json::to_vec(&beat).expect("a heartbeat always serializes");
    let sends = peers
        .into_iter()
        .filter(|peer| peer.id != beat.id)
        .map(|peer| {
            let body = body.clone();
            tokio::spawn(async move {
                tiercache_log::http::request(
                    &peer.address,
                    "POST",
                    "/v1/admin/peer",
                    Some(body),
                    timeout,
                )
                .await
                .is_ok_and(|(status, _)| status == 204)
            })
        })
        .collect::<Vec<_>>();
    let mut sent = Sent::default();
    for send in sends {
        if send.await.unwrap_or(false) {
            sent.delivered += 1;
        } else {
            sent.failed += 1;
        }
    }
    sent
}
