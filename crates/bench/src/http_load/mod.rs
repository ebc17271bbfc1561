//! The HTTP load generator: drives API nodes with a seeded mix of reads and writes and
//! measures what clients see.
//!
//! Each of `concurrency` workers owns one kept-alive HTTP/1.1 connection (workers are spread
//! over the targets in turn) and sends its share of the requests one after another, so the
//! number of requests in flight is exactly `concurrency`. Keys are the integers
//! `1..=keys` (the row ids of the Kepler-like dataset), drawn from the workload's
//! distribution with popularity ranks scattered over the ids. Reads are
//! `GET /v1/objects/{key}`; the `source` field of each answer counts a hit for the tier that
//! answered. Writes are `PUT /v1/objects/{key}` with a small JSON body.
//!
//! Latencies go into an HDR histogram (1 µs to 60 s, 3 significant figures), and the first
//! [`TIMELINE_LIMIT`] requests also onto a timeline (send time, latency) the lab charts. The
//! run is bounded by its request count and by `max_duration`.
//!
//! With `check_staleness`, every successful operation is also recorded (send and answer
//! times, key, version) and the history goes through the [`staleness`](crate::staleness)
//! checker. The nodes' `/v1/stats` are read before and after every run, through the
//! node crate's [`StatsBody`](tiercache_node::StatsBody) (what the API serves), for their coherence and write-behind
//! counters over the run.
//!
//! # Layout
//! - `spec`: what to send ([`LoadSpec`], [`KeyDistribution`]) and why a run cannot start
//!   ([`LoadError`]).
//! - `run`: [`run`]: connects the workers, starts them, adds up what they counted;
//!   [`planned`]: the same requests, listed without sending them.
//! - `worker`: one worker's choices, its loop over its connection, and what it counts.
//! - `keys`: which key each request asks for (popularity rank → key id; the burst and
//!   shifting workloads move the ranks as the run goes).
//! - `client`: the HTTP/1.1 connection ([`Connection`]) and one request-answer exchange.
//! - `answer`: the tier and version found in an object answer without parsing it.
//! - `node_stats`: the nodes' `/v1/stats`, read before and after, summed over the run.
//! - `report`: what a run measured ([`LoadReport`]) and what it proves wrong
//!   ([`CoherenceViolation`]).

mod answer;
mod client;
mod keys;
mod node_stats;
mod report;
mod run;
mod spec;
mod worker;

pub use client::Connection;
pub use node_stats::{CoherenceSummary, WriteBehindSummary};
pub use report::{CoherenceViolation, HitRatios, LoadReport, cdf_of, summary_of};
pub use run::{PlannedRequest, planned, run};
pub use spec::{
    BURST_HOT_KEYS, BURST_HOT_SHARE, BURST_SHARE, KeyDistribution, LoadError, LoadSpec,
    SHIFT_PHASES,
};
pub use worker::{TIMELINE_LIMIT, TimedRequest};
