//! The read path: this node's unflushed write, then the near cache, then one fill per key
//! (single flight) through the shared tier and the store, installed only if no newer
//! version was announced meanwhile.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::Bytes;
use tiercache_core::Version;
use tiercache_store::ObjectRead;

use crate::answer::{Answer, PENDING, Source};
use crate::coherence::Coherence;
use crate::error::NodeResult;
use crate::in_flight::{FillOutcome, Flight};
use crate::install::InstallTicket;
use crate::node::Node;

impl Node {
    /// The live object under `key`, or `None` when it does not exist (never written, or
    /// deleted).
    pub async fn get(&self, key: &[u8]) -> NodeResult<Option<Answer>> {
        let started = Instant::now();
        self.check_key(key)?;
        if let Some(pending) = self.write_behind.as_ref().and_then(|wb| wb.lookup(key)) {
            self.counters.near_hit(started.elapsed());
            return Ok(pending.map(|value| Answer {
                value,
                version: PENDING,
                source: Source::Pending,
            }));
        }
        if let Some(near) = &self.near {
            if let Some(hit) = near.get(key).filter(|_| self.may_serve_near()) {
                self.counters.near_hit(started.elapsed());
                return Ok(Some(Answer {
                    value: hit.value,
                    version: hit.version,
                    source: Source::Near,
                }));
            }
            self.counters.near_miss();
        }
        let outcome = self.single_flight(key).await;
        self.counters.read_done(&outcome, started.elapsed());
        outcome
    }

    /// Whether the near cache may answer: always without a bus; with one, only while the
    /// session's lease is provably held and every loss of it was flushed for.
    fn may_serve_near(&self) -> bool {
        self.coherence
            .as_ref()
            .is_none_or(Coherence::may_serve_near)
    }

    /// Joins the fill of `key` in progress on this node, or starts one.
    async fn single_flight(&self, key: &[u8]) -> FillOutcome {
        let flight = {
            let mut flights = self.flights.lock();
            match flights.get(key) {
                Some(flight) => Arc::clone(flight),
                None => {
                    let flight = Arc::new(Flight::default());
                    flights.insert(key.to_vec(), Arc::clone(&flight));
                    flight
                }
            }
        };
        let mut ran_fill = false;
        let outcome = flight
            .outcome
            .get_or_init(|| {
                ran_fill = true;
                self.fill(key, &flight)
            })
            .await
            .clone();
        if ran_fill {
            let mut flights = self.flights.lock();
            if flights.get(key).is_some_and(|f| Arc::ptr_eq(f, &flight)) {
                flights.remove(key);
            }
        } else {
            self.counters.coalesced();
        }
        outcome
    }

    /// Installs a filled object in the near cache, unless a notice announced a newer
    /// version meanwhile, or the bus session was lost or the near cache flushed since
    /// `admission`.
    fn install_fill(
        &self,
        key: &[u8],
        value: Bytes,
        version: Version,
        flight: &Flight,
        ticket: Option<&InstallTicket<'_>>,
    ) {
        let (Some(near), Some(ticket)) = (&self.near, ticket) else {
            return;
        };
        let installed = near.install_if(key, Some(value), version, || {
            version.0 >= flight.floor.load(Ordering::Acquire) && ticket.admits(version)
        });
        if !installed {
            self.counters.fill_refused();
        }
    }

    /// Shared tier, then store; fills the tiers it missed with version-checked writes.
    async fn fill(&self, key: &[u8], flight: &Flight) -> FillOutcome {
        let ticket = self.prepare_install(key).await;
        if ticket.is_none() && self.coherence.is_some() {
            // Not subscribed, so no notice can stop this fill: a read that starts later
            // (perhaps after a write) must not join it and get what it read.
            let mut flights = self.flights.lock();
            if flights
                .get(key)
                .is_some_and(|f| std::ptr::eq(Arc::as_ptr(f), flight))
            {
                flights.remove(key);
            }
        }
        if let Some(tier) = &self.tier {
            match tier.get(key).await {
                Ok(Some(entry)) => {
                    self.counters.shared_hit();
                    let value = Bytes::from(entry.value);
                    self.install_fill(key, value.clone(), entry.version, flight, ticket.as_ref());
                    return Ok(Some(Answer {
                        value,
                        version: entry.version,
                        source: Source::Shared,
                    }));
                }
                Ok(None) => self.counters.shared_miss(),
                // An unreachable tier is a miss: the store still answers.
                Err(_) => self.counters.shared_error(),
            }
        }
        let lookup = self.store.get(key).await.inspect_err(|_| {
            self.counters.store_error();
        })?;
        match lookup {
            ObjectRead::Live { value, version } => {
                self.counters.store_hit();
                let value = Bytes::from(value);
                if let Some(tier) = &self.tier
                    && tier.set(key, &value, version).await.is_err()
                {
                    self.counters.shared_error();
                }
                self.install_fill(key, value.clone(), version, flight, ticket.as_ref());
                Ok(Some(Answer {
                    value,
                    version,
                    source: Source::Store,
                }))
            }
            ObjectRead::Absent | ObjectRead::Deleted { .. } => {
                self.counters.store_not_found();
                Ok(None)
            }
        }
    }
}
