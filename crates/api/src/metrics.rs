//! `GET /metrics`: the node's counters in the Prometheus text format (version 0.0.4).

use std::fmt::Write;
use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderValue;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;

use crate::state::AppState;

/// Latency bucket edges: 2^10 ns (≈1 µs) .. 2^34 ns (≈17 s), exact in the node's histogram.
const FIRST_EDGE: u32 = 10;
const LAST_EDGE: u32 = 34;

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// The exposition text of the node behind `state`.
pub(crate) fn render(state: &AppState) -> String {
    let stats = state.node.stats();
    let node = &state.options.node_name;
    let mut out = String::with_capacity(8 << 10);

    family(
        &mut out,
        "tiercache_reads_total",
        "counter",
        "Reads answered, by the tier that answered (coalesced reads count once per fill).",
    );
    for (source, count) in [
        ("near", stats.near.hits),
        ("shared", stats.shared.hits),
        ("store", stats.store.hits + stats.store.not_found),
    ] {
        let _ = writeln!(
            out,
            "tiercache_reads_total{{node=\"{node}\",source=\"{source}\"}} {count}"
        );
    }
    let counters = [
        (
            "tiercache_read_errors_total",
            "Reads that failed.",
            stats.failed_reads,
        ),
        (
            "tiercache_near_misses_total",
            "Reads the near cache could not answer.",
            stats.near.misses,
        ),
        (
            "tiercache_shared_misses_total",
            "Reads the shared tier could not answer.",
            stats.shared.misses,
        ),
        (
            "tiercache_shared_errors_total",
            "Shared tier operations that failed.",
            stats.shared.errors,
        ),
        (
            "tiercache_store_not_found_total",
            "Store reads of keys with no object.",
            stats.store.not_found,
        ),
        (
            "tiercache_coalesced_reads_total",
            "Reads that joined another caller's fill.",
            stats.coalesced,
        ),
        (
            "tiercache_near_evictions_total",
            "Near-cache entries evicted to make room.",
            stats.near.evictions,
        ),
        (
            "tiercache_writes_total",
            "Acknowledged writes.",
            stats.writes,
        ),
        (
            "tiercache_write_errors_total",
            "Writes that failed.",
            stats.write_errors,
        ),
    ];
    for (name, help, value) in counters {
        family(&mut out, name, "counter", help);
        let _ = writeln!(out, "{name}{{node=\"{node}\"}} {value}");
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
        family(&mut out, name, "gauge", help);
        let _ = writeln!(out, "{name}{{node=\"{node}\"}} {value}");
    }

    family(
        &mut out,
        "tiercache_latency_seconds",
        "histogram",
        "Time inside the node: reads by the tier that answered, and writes.",
    );
    for (kind, snapshot) in state.node.latency() {
        let labels = format!("node=\"{node}\",kind=\"{kind}\"");
        for (edge, below) in snapshot.cumulative_at_powers_of_two(FIRST_EDGE, LAST_EDGE) {
            let _ = writeln!(
                out,
                "tiercache_latency_seconds_bucket{{{labels},le=\"{:e}\"}} {below}",
                edge.as_secs_f64()
            );
        }
        let count = snapshot.count();
        let _ = writeln!(
            out,
            "tiercache_latency_seconds_bucket{{{labels},le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "tiercache_latency_seconds_sum{{{labels}}} {}",
            snapshot.sum_seconds()
        );
        let _ = writeln!(out, "tiercache_latency_seconds_count{{{labels}}} {count}");
    }
    out
}

/// `GET /metrics`
pub(crate) async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    (
        [(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        render(&state),
    )
}
