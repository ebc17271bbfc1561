//! The binder in use: a node's [`Membership`] in the store's registry.
//!
//! The store is the binder: its [`Registry`] keeps one entry per (role, id) with an expiry
//! on the store's clock, and a lookup lists only live entries. A node joins with its role,
//! a stable id and the URL clients use, and a background task renews the entry:
//!
//! ```text
//! join ──register(ttl)──▶ store        every heartbeat: heartbeat(ttl)   (NotFound → register again;
//!                                                                        other errors: logged, retried)
//! leave ─deregister────▶ store        drop: renewing stops; the entry lapses within one ttl
//! ```
//!
//! What it guarantees, with `ttl` = [`HEARTBEATS_PER_TTL`] heartbeats:
//!
//! * **A clean stop removes the node at once**: [`Membership::leave`] stops the renewals,
//!   then deregisters (the API command and [`RunningNodes::stop`](crate::RunningNodes::stop)
//!   do it before they stop serving).
//! * **A killed node disappears within one `ttl`** of its last renewal: nothing renews it
//!   any more, and the store hides expired entries from every lookup.
//! * **A live node stays listed** while the store answers: it renews every heartbeat, so two
//!   renewals in a row may fail before its entry lapses. Renewal errors are never fatal to
//!   the node; they are written to stderr and the next heartbeat tries again (registering
//!   anew if the entry lapsed meanwhile, e.g. after a store restart).

use std::sync::Arc;
use std::time::Duration;

use tiercache_store::{Registration, Registry, StoreError};
use tokio::task::JoinHandle;

use crate::{Error, Result, open_store};

/// How often a node renews its entry when nothing says otherwise.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(2);

/// An entry lives this many heartbeats: a node is listed until it missed them all.
pub const HEARTBEATS_PER_TTL: u32 = 3;

/// The role API nodes register under (named where the admin, which lists them, reads it).
pub use tiercache_admin::API_ROLE;

/// The roles `tiercache nodes` lists when not told one (the registry looks up one role at a
/// time).
pub const ROLES: &[&str] = &[API_ROLE, "admin", "log"];

/// The time-to-live of an entry renewed every `heartbeat`.
pub fn ttl_of(heartbeat: Duration) -> Duration {
    heartbeat * HEARTBEATS_PER_TTL
}

/// The live entries of each of `roles` in the store at `url` (a `tiercache store` service or
/// a database URL), role by role in the order given, each role's ordered by id. Only live
/// entries: the store hides the expired ones.
pub async fn lookup(url: &str, roles: &[&str]) -> Result<Vec<Registration>> {
    let store = open_store(url).await?;
    let mut live = Vec::new();
    for role in roles {
        let entries = store.lookup(role).await.map_err(|source| Error::Store {
            doing: "looking up the binder",
            source,
        })?;
        live.extend(entries);
    }
    Ok(live)
}

/// A node's entry in the binder, kept alive by a background task while this handle lives.
///
/// Dropping it stops the renewals (the entry then lapses within one TTL); [`Self::leave`]
/// also deregisters at once.
pub struct Membership {
    /// The store's registry: where the entry lives.
    registry: Arc<dyn Registry>,
    /// The entry as last registered (its expiry is the first one).
    registration: Registration,
    /// The task renewing the entry every heartbeat; aborted on leave and on drop.
    renewer: JoinHandle<()>,
    /// The entry's time-to-live: how long leaving waits for the store at most (by then the
    /// entry has lapsed anyway).
    ttl: Duration,
}

impl Membership {
    /// Registers (`role`, `id`, `address`) with a TTL of [`HEARTBEATS_PER_TTL`] × `heartbeat`
    /// and starts renewing it every `heartbeat`. Must be called inside a tokio runtime.
    ///
    /// Errors when the first registration fails (the store is unreachable, or a name is not
    /// 1..=128 bytes of printable text): a node that cannot be found should say so at start.
    pub async fn join(
        registry: Arc<dyn Registry>,
        role: &str,
        id: &str,
        address: &str,
        heartbeat: Duration,
    ) -> Result<Membership> {
        if heartbeat.is_zero() {
            return Err(Error::Settings(
                "the heartbeat must be at least 1 ms".to_owned(),
            ));
        }
        let ttl = ttl_of(heartbeat);
        let registration = registry
            .register(role, id, address, ttl)
            .await
            .map_err(|source| Error::Store {
                doing: "registering in the binder",
                source,
            })?;
        let renewer = tokio::spawn(renew(
            Arc::clone(&registry),
            registration.clone(),
            heartbeat,
            ttl,
        ));
        Ok(Membership {
            registry,
            registration,
            renewer,
            ttl,
        })
    }

    /// The entry as first registered.
    pub fn registration(&self) -> &Registration {
        &self.registration
    }

    /// Stops renewing and removes the entry: lookups stop listing the node at once.
    ///
    /// Errors when the store refuses or cannot be reached (the entry then lapses within one
    /// TTL); waits one TTL at most for the store's answer, after which the entry has lapsed
    /// anyway and leaving succeeds.
    pub async fn leave(mut self) -> Result<()> {
        self.renewer.abort();
        // Wait until the renewer is gone, so no renewal of it lands after the removal.
        let _ = (&mut self.renewer).await;
        let Registration { role, id, .. } = &self.registration;
        let deregister = self.registry.deregister(role, id);
        match tokio::time::timeout(self.ttl, deregister).await {
            Err(_elapsed) => Ok(()),
            Ok(left) => left.map_err(|source| Error::Store {
                doing: "deregistering from the binder",
                source,
            }),
        }
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.renewer.abort();
    }
}

/// Renews `entry` every `heartbeat` until aborted; never gives up.
async fn renew(
    registry: Arc<dyn Registry>,
    entry: Registration,
    heartbeat: Duration,
    ttl: Duration,
) {
    let Registration {
        role, id, address, ..
    } = &entry;
    let mut ticks = tokio::time::interval(heartbeat);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await; // the first tick is immediate: the entry was just registered
    loop {
        ticks.tick().await;
        let renewed = match registry.heartbeat(role, id, ttl).await {
            // The entry lapsed (a long pause, the store restarted on another database):
            // register again.
            Err(StoreError::NotFound(_)) => registry.register(role, id, address, ttl).await,
            other => other,
        };
        if let Err(error) = renewed {
            tracing::warn!(
                "binder: renewing {role}/{id} failed (retrying in {heartbeat:?}): {error}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use tiercache_store::{SqlOptions, SqlStore};

    use super::*;

    const HEARTBEAT: Duration = Duration::from_millis(50);

    async fn store() -> (tempfile::TempDir, Arc<SqlStore>) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("binder.db").display());
        let store = SqlStore::open(&url, SqlOptions::default()).await.unwrap();
        (dir, Arc::new(store))
    }

    async fn ids(store: &SqlStore) -> Vec<String> {
        let live = store.lookup(API_ROLE).await.unwrap();
        live.into_iter().map(|entry| entry.id).collect()
    }

    /// `id` joined at `http://ID` as an API node.
    async fn member_of(store: &Arc<SqlStore>, id: &str) -> Membership {
        let address = format!("http://{id}");
        let registry = Arc::clone(store);
        Membership::join(registry, API_ROLE, id, &address, HEARTBEAT)
            .await
            .unwrap()
    }

    /// Polls the lookup until it lists exactly `expected`; fails after `within`.
    async fn until_listed(store: &SqlStore, expected: &[&str], within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let listed = ids(store).await;
            if listed == expected {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "after {within:?} the lookup lists {listed:?}, not {expected:?}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test]
    async fn a_member_is_listed_while_it_renews_and_gone_at_once_when_it_leaves() {
        let (_dir, store) = store().await;
        let member = Membership::join(
            store.clone(),
            API_ROLE,
            "a",
            "http://127.0.0.1:1",
            HEARTBEAT,
        )
        .await
        .unwrap();
        assert_eq!(member.registration().address, "http://127.0.0.1:1");
        let live = store.lookup(API_ROLE).await.unwrap();
        assert_eq!(live.len(), 1);
        assert_eq!(
            (live[0].id.as_str(), live[0].address.as_str()),
            ("a", "http://127.0.0.1:1")
        );
        // Still listed well past several TTLs: the renewals keep it alive.
        let until = Instant::now() + ttl_of(HEARTBEAT) * 4;
        while Instant::now() < until {
            assert_eq!(ids(&store).await, ["a"]);
            tokio::time::sleep(HEARTBEAT / 2).await;
        }
        member.leave().await.unwrap();
        assert!(ids(&store).await.is_empty());
    }

    #[tokio::test]
    async fn a_member_that_stops_renewing_disappears_within_one_ttl() {
        let (_dir, store) = store().await;
        let member = member_of(&store, "b").await;
        let other = member_of(&store, "c").await;
        tokio::time::sleep(HEARTBEAT * 2).await;
        assert_eq!(ids(&store).await, ["b", "c"]);
        // Dropping the handle stops the renewals (as a kill -9 would).
        drop(member);
        let within = ttl_of(HEARTBEAT) + Duration::from_millis(100);
        until_listed(&store, &["c"], within).await;
        other.leave().await.unwrap();
    }

    #[tokio::test]
    async fn a_lapsed_entry_is_registered_again() {
        let (_dir, store) = store().await;
        let member = member_of(&store, "d").await;
        // As if the store lost the entry (deregistered by someone else, or the TTL lapsed
        // during a pause): the next renewal registers it again.
        store.deregister(API_ROLE, "d").await.unwrap();
        until_listed(&store, &["d"], HEARTBEAT * 10).await;
        member.leave().await.unwrap();
    }

    #[tokio::test]
    async fn bad_names_and_a_zero_heartbeat_are_refused_at_join() {
        let (_dir, store) = store().await;
        let empty = Membership::join(store.clone(), API_ROLE, "", "http://x", HEARTBEAT).await;
        assert!(matches!(empty, Err(Error::Store { .. })));
        let zero = Membership::join(store.clone(), API_ROLE, "x", "http://x", Duration::ZERO);
        assert!(matches!(zero.await, Err(Error::Settings(_))));
        assert!(ids(&store).await.is_empty());
    }
}
