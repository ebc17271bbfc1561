//! The near cache: the node's in-process copy of objects, with version-checked installs.

use std::hash::BuildHasher;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use tiercache_cache::{BuildError, Cache, CacheBuilder, CacheStats, PolicySpec, RemovalCause};
use tiercache_core::Version;
use tokio::sync::mpsc::UnboundedSender;

/// What the near cache holds under a key: a value, or the version of a delete (so a fill of
/// an older version that was already in flight cannot bring the object back).
#[derive(Debug, Clone)]
struct Slot {
    version: Version,
    value: Option<Bytes>,
}

/// How long a delete's marker stays: longer than any fill can take.
const DELETE_MARKER_TTL: Duration = Duration::from_secs(30);
/// Install locks, striped so unrelated keys rarely share one.
const STRIPES: usize = 64;

/// A live object found in the near cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NearHit {
    pub(crate) value: Bytes,
    pub(crate) version: Version,
}

/// The near cache of one node.
pub(crate) struct NearCache {
    cache: Cache<Vec<u8>, Slot>,
    stripes: Box<[Mutex<()>]>,
    /// How long an installed value may be served (`None`: until evicted or replaced).
    max_age: Option<std::time::Duration>,
    stripe_hasher: foldhash::fast::RandomState,
}

impl NearCache {
    /// A near cache of `capacity_bytes` (keys + values + per-entry overhead) under `policy`.
    /// With `removals`, the key of every entry that leaves the cache (evicted, expired,
    /// dropped; not replaced) is sent there, so its subscription can be released.
    pub(crate) fn new(
        policy: PolicySpec,
        capacity_bytes: u64,
        max_age: Option<std::time::Duration>,
        removals: Option<UnboundedSender<Vec<u8>>>,
    ) -> Result<NearCache, BuildError> {
        let mut builder =
            CacheBuilder::new(policy).max_bytes(capacity_bytes, |key: &Vec<u8>, slot: &Slot| {
                (key.len() + slot.value.as_ref().map_or(0, Bytes::len)) as u64
            });
        if let Some(removals) = removals {
            builder = builder.removal_listener(move |key: Vec<u8>, _: Slot, cause| {
                if cause != RemovalCause::Replaced {
                    // The receiver is gone only when the node is shutting down.
                    let _ = removals.send(key);
                }
            });
        }
        let cache = builder.build()?;
        Ok(NearCache {
            max_age,
            cache,
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            stripe_hasher: foldhash::fast::RandomState::default(),
        })
    }

    /// The live object under `key`, if held.
    pub(crate) fn get(&self, key: &[u8]) -> Option<NearHit> {
        let slot = self.cache.get(key)?;
        Some(NearHit {
            value: slot.value?,
            version: slot.version,
        })
    }

    /// Installs `value` (or a delete marker for `None`) at `version` unless the cache holds
    /// a newer version or a live value at `version`. Returns whether it installed.
    #[cfg(test)]
    pub(crate) fn install(&self, key: &[u8], value: Option<Bytes>, version: Version) -> bool {
        self.install_if(key, value, version, || true)
    }

    /// [`NearCache::install`], if `admit` (asked under the key's install lock, which
    /// [`NearCache::apply_notice`] takes too) agrees.
    pub(crate) fn install_if(
        &self,
        key: &[u8],
        value: Option<Bytes>,
        version: Version,
        admit: impl FnOnce() -> bool,
    ) -> bool {
        let _guard = self.stripe(key).lock();
        if !admit() {
            return false;
        }
        self.install_locked(key, value, version)
    }

    fn stripe(&self, key: &[u8]) -> &Mutex<()> {
        &self.stripes[(self.stripe_hasher.hash_one(key) as usize) % STRIPES]
    }

    /// Applies another node's notice that `key` is at `version`: runs `under_lock` (to stop
    /// fills in flight), then drops the copy held if it is older — or, with `replacement`,
    /// puts the new value (or delete marker) in its place. A copy at `version` or newer is
    /// kept. Returns whether a copy was dropped or replaced.
    pub(crate) fn apply_notice(
        &self,
        key: &[u8],
        version: Version,
        replacement: Option<Option<Bytes>>,
        under_lock: impl FnOnce(),
    ) -> bool {
        let _guard = self.stripe(key).lock();
        under_lock();
        let Some(held) = self.cache.peek(key) else {
            return false;
        };
        if held.version >= version {
            return false;
        }
        match replacement {
            Some(value) => self.install_locked(key, value, version),
            None => self.cache.invalidate(key),
        }
    }

    /// Waits until no install that started before this call is still running.
    pub(crate) fn barrier(&self) {
        for stripe in self.stripes.iter() {
            drop(stripe.lock());
        }
    }

    /// Whether anything (value or delete marker) is held under `key`.
    pub(crate) fn contains(&self, key: &[u8]) -> bool {
        self.cache.contains_key(key)
    }

    fn install_locked(&self, key: &[u8], value: Option<Bytes>, version: Version) -> bool {
        let delete = value.is_none();
        // The tier's ordering rule, so the near cache and the tier agree on what is newer.
        if let Some(held) = self.cache.peek(key)
            && tiercache_tier::write_refused(held.version, held.value.is_some(), version, !delete)
        {
            return false;
        }
        let slot = Slot { version, value };
        // A refusal (a full `noeviction` cache, an object larger than a shard) just means
        // the object is not cached here, which is always safe. But a refused delete marker
        // must not leave the old value behind.
        let installed = if delete {
            self.cache
                .insert_with_ttl(key.to_vec(), slot, DELETE_MARKER_TTL)
                .is_ok()
        } else {
            match self.max_age {
                Some(max_age) => self.cache.insert_with_ttl(key.to_vec(), slot, max_age),
                None => self.cache.insert(key.to_vec(), slot),
            }
            .is_ok()
        };
        if !installed {
            self.cache.invalidate(key);
        }
        installed
    }

    /// Counters of the engine underneath.
    pub(crate) fn stats(&self) -> CacheStats {
        self.cache.stats()
    }

    /// Drops everything; returns how many entries it held.
    pub(crate) fn clear(&self) -> usize {
        let held = self.cache.len();
        self.cache.invalidate_all();
        held
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn near() -> NearCache {
        NearCache::new("allkeys-lru".parse().unwrap(), 1 << 20, None, None).unwrap()
    }

    #[test]
    fn never_installs_an_older_version() {
        let near = near();
        assert!(near.install(b"k", Some(Bytes::from_static(b"v2")), Version(2)));
        assert!(!near.install(b"k", Some(Bytes::from_static(b"v1")), Version(1)));
        assert!(!near.install(b"k", Some(Bytes::from_static(b"again")), Version(2)));
        assert_eq!(near.get(b"k").unwrap().value, Bytes::from_static(b"v2"));
        assert!(near.install(b"k", Some(Bytes::from_static(b"v3")), Version(3)));
        assert_eq!(near.get(b"k").unwrap().version, Version(3));
    }

    #[test]
    fn a_delete_marker_refuses_late_fills() {
        let near = near();
        near.install(b"k", Some(Bytes::from_static(b"v1")), Version(1));
        assert!(near.install(b"k", None, Version(2)));
        assert_eq!(near.get(b"k"), None);
        assert!(!near.install(b"k", Some(Bytes::from_static(b"v1")), Version(1)));
        assert_eq!(near.get(b"k"), None);
        assert!(near.install(b"k", Some(Bytes::from_static(b"v3")), Version(3)));
        assert_eq!(near.get(b"k").unwrap().version, Version(3));
    }

    #[test]
    fn a_value_outranks_a_delete_marker_of_its_own_version() {
        let near = near();
        assert!(near.install(b"k", None, Version(4)));
        assert!(near.install(b"k", Some(Bytes::from_static(b"v4")), Version(4)));
        assert!(!near.install(b"k", None, Version(4)));
        assert_eq!(near.get(b"k").unwrap().value, Bytes::from_static(b"v4"));
    }
}
