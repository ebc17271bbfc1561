//! `GET /metrics`: the node's counters in the Prometheus text format (version 0.0.4),
//! encoded by `prometheus-client` (see `tiercache_core::metrics`).

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderValue;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;

use tiercache_core::metrics::{self, Family, HistogramSample, labels};

use crate::state::AppState;

/// Latency bucket edges: 2^10 ns (≈1 µs) .. 2^34 ns (≈17 s), exact in the node's histogram.
const FIRST_EDGE: u32 = 10;
const LAST_EDGE: u32 = 34;

/// The exposition text of the node behind `state`.
pub(crate) fn render(state: &AppState) -> String {
    metrics::render(families(state))
}

/// The node's families as of now (from the same counters `/v1/stats` reads).
fn families(state: &AppState) -> Vec<Family> {
    let stats = state.node.stats();
    let node = state.options.node_name.as_str();
    let mut families = vec![Family::Counter {
        name: "tiercache_reads",
        help: "Reads answered, by the tier that answered (coalesced reads count once per fill).",
        samples: [
            ("near", stats.near.hits),
            ("shared", stats.shared.hits),
            ("store", stats.store.hits + stats.store.not_found),
        ]
        .into_iter()
        .map(|(source, count)| (labels(&[("node", node), ("source", source)]), count))
        .collect(),
    }];
    let counters = [
        (
            "tiercache_read_errors",
            "Reads that failed.",
            stats.failed_reads,
        ),
        (
            "tiercache_near_misses",
            "Reads the near cache could not answer.",
            stats.near.misses,
        ),
        (
            "tiercache_shared_misses",
            "Reads the shared tier could not answer.",
            stats.shared.misses,
        ),
        (
            "tiercache_shared_errors",
            "Shared tier operations that failed.",
            stats.shared.errors,
        ),
        (
            "tiercache_store_not_found",
            "Store reads of keys with no object.",
            stats.store.not_found,
        ),
        (
            "tiercache_coalesced_reads",
            "Reads that joined another caller's fill.",
            stats.coalesced,
        ),
        (
            "tiercache_near_evictions",
            "Near-cache entries evicted to make room.",
            stats.near.evictions,
        ),
        ("tiercache_writes", "Acknowledged writes.", stats.writes),
        (
            "tiercache_write_errors",
            "Writes that failed.",
            stats.write_errors,
        ),
    ];
    for (name, help, value) in counters {
        families.push(Family::counter(
            name,
            help,
            labels(&[("node", node)]),
            value,
        ));
    }
    let gauges = [
        (
            "tiercache_near_entries",
            "Entries in the near cache.",
            stats.near.entries,
        ),
        (
            "tiercache_near_bytes",
            "Bytes held by the near cache.",
            stats.near.bytes,
        ),
        (
            "tiercache_near_capacity_bytes",
            "The near cache's byte budget.",
            stats.near.capacity_bytes,
        ),
    ];
    for (name, help, value) in gauges {
        families.push(Family::gauge(
            name,
            help,
            labels(&[("node", node)]),
            value as i64,
        ));
    }
    families.push(Family::Histogram {
        name: "tiercache_latency_seconds",
        help: "Time inside the node: reads by the tier that answered, and writes.",
        samples: state
            .node
            .latency()
            .into_iter()
            .map(|(kind, snapshot)| {
                let buckets = snapshot
                    .cumulative_at_powers_of_two(FIRST_EDGE, LAST_EDGE)
                    .into_iter()
                    .map(|(edge, below)| (edge.as_secs_f64(), below))
                    .collect();
                let sample = HistogramSample {
                    buckets,
                    sum: snapshot.sum_seconds(),
                    count: snapshot.count(),
                };
                (labels(&[("node", node), ("kind", kind)]), sample)
            })
            .collect(),
    });
    families
}

/// `GET /metrics`
pub(crate) async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    (
        [(
            CONTENT_TYPE,
            HeaderValue::from_static(metrics::CONTENT_TYPE),
        )],
        render(&state),
    )
}
