//! What a lab run found, per configuration ([`Outcome`]) and as a whole ([`Results`]), and
//! its two machine-readable forms: `results.json` (everything) and `results.csv` (one row
//! per configuration).

use serde::Serialize;
use tiercache_bench::http_load::TimedRequest;
use tiercache_node::LatencySummary;

use crate::matrix::{Config, Plan};

/// The machine a run was made on, written on the report.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// CPUs the process may use.
    pub cpus: usize,
    /// `uname`-like: the OS and the architecture.
    pub os: String,
    /// The kernel release, when readable.
    pub kernel: Option<String>,
    /// tiercache's version.
    pub tiercache: String,
    /// Whether the binary was built with optimizations (debug builds are several times
    /// slower: their latencies are not comparable with a release build's).
    pub optimized: bool,
}

impl Machine {
    /// This machine.
    pub fn this() -> Machine {
        Machine {
            cpus: std::thread::available_parallelism().map_or(1, usize::from),
            os: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .ok()
                .map(|text| text.trim().to_owned()),
            tiercache: env!("CARGO_PKG_VERSION").to_owned(),
            optimized: !cfg!(debug_assertions),
        }
    }
}

/// Seconds since the Unix epoch now (0 if the clock is before it).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::SystemTime::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

/// The share of the found reads each tier answered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Shares {
    /// Near caches.
    pub near: f64,
    /// The shared tier.
    pub shared: f64,
    /// The store.
    pub store: f64,
}

/// What one configuration measured.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// The configuration.
    pub config: Config,
    /// Its id (see [`Config::id`]).
    pub id: String,
    /// The shared tier it ran on.
    pub tier_url: String,
    /// Each shared-tier node's memory.
    pub tier_node_bytes: u64,
    /// The memory of distinct objects the tier can hold (replicas hold copies).
    pub tier_distinct_bytes: u64,
    /// Requests per second.
    pub throughput: f64,
    /// Every request's latency, as clients saw it.
    pub latency: LatencySummary,
    /// Reads sent.
    pub reads: u64,
    /// Writes sent.
    pub writes: u64,
    /// Failed requests.
    pub errors: u64,
    /// Which tier answered the reads.
    pub shares: Shares,
    /// Near hits / reads that asked a near cache (0 without near caches).
    pub near_hit_ratio: f64,
    /// Shared-tier hits / reads that reached the shared tier.
    pub tier_hit_ratio: f64,
    /// Entries the near caches evicted.
    pub near_evictions: u64,
    /// Entries the shared tier's nodes evicted (`None` when the topology cannot count them).
    pub tier_evictions: Option<u64>,
    /// Belady's MIN over the same requests with the tier's distinct memory: the hit ratio
    /// no eviction policy can beat there.
    pub belady_hit_ratio: f64,
    /// The latency distribution, `(quantile, µs)`.
    pub latency_cdf: Vec<(f64, f64)>,
    /// Every request's send time and latency (charted, not written to the files).
    #[serde(skip)]
    pub timeline: Vec<TimedRequest>,
}

/// One point of a hit-ratio-vs-memory curve.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CurvePoint {
    /// The policy (`belady` for the optimum).
    pub policy: String,
    /// The cache's size.
    pub bytes: u64,
    /// Its size as a fraction of the table's bytes.
    pub fraction: f64,
    /// Hits / requests.
    pub hit_ratio: f64,
}

/// Hit ratio against memory, per policy, for one workload: the engine's policies replayed
/// offline over the requests a run sends (one cache, no near tier).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Curve {
    /// The workload's label.
    pub workload: String,
    /// Rows of the table.
    pub rows: u64,
    /// The table's bytes (keys and values).
    pub table_bytes: u64,
    /// Requests replayed.
    pub requests: u64,
    /// The points, by policy then size.
    pub points: Vec<CurvePoint>,
}

/// A whole lab run.
#[derive(Debug, Clone, Serialize)]
pub struct Results {
    /// What was planned.
    pub plan: Plan,
    /// Where the runs went: `embedded` or `redis`.
    pub target: String,
    /// The machine.
    pub machine: Machine,
    /// Seconds since the Unix epoch when the run started.
    pub started_unix: u64,
    /// How long the whole run took.
    pub elapsed_seconds: f64,
    /// One per configuration run, in the plan's order.
    pub outcomes: Vec<Outcome>,
    /// Hit ratio against memory, per workload.
    pub curves: Vec<Curve>,
}

/// The columns of `results.csv`, in order.
pub const CSV_COLUMNS: [&str; 27] = [
    "id",
    "topology",
    "near",
    "policy",
    "memory",
    "workload",
    "write_ratio",
    "requests",
    "rows",
    "clients",
    "tier_node_bytes",
    "tier_distinct_bytes",
    "throughput",
    "p50_us",
    "p90_us",
    "p99_us",
    "p999_us",
    "near_share",
    "shared_share",
    "store_share",
    "near_hit_ratio",
    "tier_hit_ratio",
    "near_evictions",
    "tier_evictions",
    "belady_hit_ratio",
    "errors",
    "tier_url",
];

impl Results {
    /// `results.json`.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("results serialize")
    }

    /// `results.csv`: a header and one row per configuration.
    pub fn to_csv(&self) -> String {
        let mut csv = CSV_COLUMNS.join(",");
        csv.push('\n');
        for o in &self.outcomes {
            let c = &o.config;
            let fields = [
                o.id.clone(),
                c.topology.to_string(),
                c.near.to_string(),
                c.policy.clone(),
                c.memory.to_string(),
                c.workload.to_string(),
                c.write_ratio.to_string(),
                c.requests.to_string(),
                c.rows.to_string(),
                c.clients.to_string(),
                o.tier_node_bytes.to_string(),
                o.tier_distinct_bytes.to_string(),
                format!("{:.1}", o.throughput),
                o.latency.p50_us.to_string(),
                o.latency.p90_us.to_string(),
                o.latency.p99_us.to_string(),
                o.latency.p999_us.to_string(),
                format!("{:.4}", o.shares.near),
                format!("{:.4}", o.shares.shared),
                format!("{:.4}", o.shares.store),
                format!("{:.4}", o.near_hit_ratio),
                format!("{:.4}", o.tier_hit_ratio),
                o.near_evictions.to_string(),
                o.tier_evictions.map_or(String::new(), |n| n.to_string()),
                format!("{:.4}", o.belady_hit_ratio),
                o.errors.to_string(),
                o.tier_url.clone(),
            ];
            let quoted: Vec<String> = fields.iter().map(|field| csv_field(field)).collect();
            csv.push_str(&quoted.join(","));
            csv.push('\n');
        }
        csv
    }
}

/// A CSV field, quoted when it holds a comma, a quote or a line break.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_with_separators_are_quoted() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
