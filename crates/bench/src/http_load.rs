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
//! Latencies go into an HDR histogram (1 µs to 60 s, 3 significant figures). The run is
//! bounded by its request count and by `max_duration`.
//!
//! With `check_staleness`, every successful operation is also recorded (send and answer
//! times, key, version) and the history goes through the [`staleness`](crate::staleness)
//! checker; the nodes' coherence counters (`/v1/stats`) are read before and after the run.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, Zipf};

use crate::staleness::{self, Operation, StalenessReport};

/// Which keys a run asks for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum KeyDistribution {
    /// Zipf with this exponent over the keys.
    Zipf(f64),
    /// Every key equally likely.
    Uniform,
}

impl std::str::FromStr for KeyDistribution {
    type Err = String;

    fn from_str(text: &str) -> Result<KeyDistribution, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "uniform" => Ok(KeyDistribution::Uniform),
            "zipf" => Ok(KeyDistribution::Zipf(1.0)),
            other => other
                .strip_prefix("zipf:")
                .and_then(|alpha| alpha.parse::<f64>().ok())
                .filter(|alpha| alpha.is_finite() && *alpha > 0.0)
                .map(KeyDistribution::Zipf)
                .ok_or_else(|| {
                    format!("unknown workload {text:?}: use zipf:ALPHA (e.g. zipf:0.99) or uniform")
                }),
        }
    }
}

impl std::fmt::Display for KeyDistribution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyDistribution::Zipf(alpha) => write!(f, "zipf:{alpha}"),
            KeyDistribution::Uniform => f.write_str("uniform"),
        }
    }
}

/// What to send.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    /// The API nodes (workers are spread over them in turn).
    pub targets: Vec<SocketAddr>,
    /// The key distribution.
    pub distribution: KeyDistribution,
    /// Keys are `1..=keys`.
    pub keys: u64,
    /// Requests in total.
    pub requests: u64,
    /// Workers, each with one connection and one request in flight.
    pub concurrency: usize,
    /// The fraction of requests that are writes (0..=1).
    pub write_ratio: f64,
    /// The seed of every random choice (same seed, same requests per worker).
    pub seed: u64,
    /// The run stops (and says so) when it takes longer than this.
    pub max_duration: Duration,
    /// Record every operation and check the history for stale reads.
    pub check_staleness: bool,
}

/// Latency percentiles, in microseconds.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50_us: f64,
    /// 90th percentile.
    pub p90_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
    /// The slowest request.
    pub max_us: f64,
    /// The mean.
    pub mean_us: f64,
}

/// Reads answered by each tier, and their shares of the successful reads.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct HitRatios {
    /// Reads answered by a near cache.
    pub near: u64,
    /// Reads answered by the shared tier.
    pub shared: u64,
    /// Reads answered by the store.
    pub store: u64,
    /// `near / found reads`.
    pub near_ratio: f64,
    /// `shared / found reads`.
    pub shared_ratio: f64,
    /// `store / found reads`.
    pub store_ratio: f64,
}

/// What a run measured.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct LoadReport {
    /// The workload, e.g. `zipf:0.99`.
    pub workload: String,
    /// Keys in the key space.
    pub keys: u64,
    /// The seed.
    pub seed: u64,
    /// Workers.
    pub concurrency: usize,
    /// Requests sent (equal to the requested count unless the run hit its time bound).
    pub requests: u64,
    /// Reads sent.
    pub reads: u64,
    /// Writes sent.
    pub writes: u64,
    /// Reads answered 404.
    pub not_found: u64,
    /// Answers with another error status, by status (0: no answer, connection failed).
    pub errors: BTreeMap<u16, u64>,
    /// Wall time, in seconds.
    pub elapsed_seconds: f64,
    /// Requests per second.
    pub throughput: f64,
    /// Latency of every request as the client saw it.
    pub latency: Percentiles,
    /// Latency of the reads alone.
    pub read_latency: Percentiles,
    /// Latency of the writes alone.
    pub write_latency: Percentiles,
    /// Which tier answered the reads.
    pub hits: HitRatios,
    /// Whether the run stopped at `max_duration` before sending every request.
    pub truncated: bool,
    /// Stale reads found in the history (with `check_staleness`).
    pub staleness: Option<StalenessReport>,
    /// The nodes' coherence during the run (when they have a bus).
    pub coherence: Option<CoherenceSummary>,
    /// The nodes' write-behind during the run (when they write behind).
    pub write_behind: Option<WriteBehindSummary>,
}

/// The write-behind counters of every node, added up over the run.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct WriteBehindSummary {
    /// Writes answered.
    pub accepted: u64,
    /// Objects the flushes wrote to the store.
    pub store_writes: u64,
    /// The share of store writes coalescing saved.
    pub saved_ratio: f64,
    /// Writes still in memory when the run ended.
    pub pending_at_end: u64,
    /// The highest 99th percentile of any node's answer-to-commit window, in µs.
    pub window_p99_us: f64,
    /// The longest answer-to-commit window, in µs (since the nodes started).
    pub window_max_us: f64,
}

/// The coherence counters of every node, added up over the run (from `/v1/stats`).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct CoherenceSummary {
    /// The nodes' delivery modes (`async`, `sync`), as they report them.
    pub delivery: Vec<String>,
    /// The nodes' write modes.
    pub write_mode: Vec<String>,
    /// Notices published (one per write).
    pub published: u64,
    /// Notices received (including each node's own coming back).
    pub received: u64,
    /// Notices that dropped, replaced or stopped a copy.
    pub applied: u64,
    /// Notices for keys the receiver did not hold.
    pub discarded: u64,
    /// Acknowledgements sent (synchronous delivery).
    pub acks_sent: u64,
    /// Near-cache flushes.
    pub flushes: u64,
    /// Subscriptions held by all nodes at the end of the run.
    pub subscriptions: u64,
    /// Subscribe calls during the run.
    pub subscribes: u64,
    /// Other nodes' notices whose publish-to-applied delay was measured.
    pub delay_count: u64,
    /// The highest median delay of any node, in µs.
    pub delay_p50_us: f64,
    /// The highest 99th-percentile delay of any node, in µs.
    pub delay_p99_us: f64,
    /// The longest delay anywhere, in µs (since the nodes started).
    pub delay_max_us: f64,
    /// The highest median time any node's writes spent publishing (sync: and waiting for
    /// confirmations), in µs.
    pub publish_p50_us: f64,
    /// The highest 99th percentile of the same, in µs.
    pub publish_p99_us: f64,
}

impl LoadReport {
    /// Requests that did not succeed (404s of reads excluded).
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The spec is unusable.
    #[error("{0}")]
    BadSpec(String),
    /// A target could not be reached at the start.
    #[error("cannot connect to {target}: {error}")]
    Connect {
        /// The target.
        target: SocketAddr,
        /// What happened.
        error: String,
    },
}

/// What one worker counted.
struct WorkerTally {
    histogram: Histogram<u64>,
    reads_histogram: Histogram<u64>,
    writes_histogram: Histogram<u64>,
    reads: u64,
    writes: u64,
    not_found: u64,
    near: u64,
    shared: u64,
    store: u64,
    errors: BTreeMap<u16, u64>,
    history: Vec<Operation>,
}

fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("static histogram bounds are valid")
}

/// Popularity rank → key in `1..=keys`, a bijection that scatters ranks over the ids.
struct Scatter {
    keys: u64,
    multiplier: u64,
    offset: u64,
}

impl Scatter {
    fn new(keys: u64, rng: &mut Xoshiro256PlusPlus) -> Scatter {
        // Any multiplier coprime with `keys` makes `rank * m + offset (mod keys)` a
        // permutation.
        let gcd = |mut a: u64, mut b: u64| {
            while b != 0 {
                (a, b) = (b, a % b);
            }
            a
        };
        let mut multiplier = rng.random_range(1..=keys.max(2)) | 1;
        while gcd(multiplier, keys) != 1 {
            multiplier += 1;
        }
        Scatter {
            keys,
            multiplier,
            offset: rng.random_range(0..keys),
        }
    }

    fn key(&self, rank: u64) -> u64 {
        ((rank as u128 * self.multiplier as u128 + self.offset as u128) % self.keys as u128) as u64
            + 1
    }
}

async fn connect(target: SocketAddr) -> Result<SendRequest<Full<Bytes>>, String> {
    let stream = tokio::net::TcpStream::connect(target)
        .await
        .map_err(|e| e.to_string())?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    Ok(sender)
}

/// Finds the tier in `"source":"near"` (our API's fixed shape) without parsing the value.
fn source_of(body: &[u8]) -> Option<&[u8]> {
    const MARK: &[u8] = b"\"source\":\"";
    let start = body.windows(MARK.len()).rposition(|w| w == MARK)? + MARK.len();
    let length = body[start..].iter().position(|&b| b == b'"')?;
    Some(&body[start..start + length])
}

/// The number after the last `"version":` in an answer (our API's fixed shape: the
/// object's version comes after its value).
fn version_of(body: &[u8]) -> Option<u64> {
    const MARK: &[u8] = b"\"version\":";
    let start = body.windows(MARK.len()).rposition(|w| w == MARK)? + MARK.len();
    let digits = body[start..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    std::str::from_utf8(&body[start..start + digits])
        .ok()?
        .parse()
        .ok()
}

/// `GET /v1/stats` of one node, as JSON.
async fn node_stats(target: SocketAddr) -> Result<serde_json::Value, String> {
    let mut sender = connect(target).await?;
    let request = Request::get("/v1/stats")
        .header(hyper::header::HOST, target.to_string())
        .body(Full::new(Bytes::new()))
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    serde_json::from_slice(&body).map_err(|e| format!("{target}/v1/stats: {e}"))
}

/// Every target's `/v1/stats` (`None` if one cannot be read).
async fn all_stats(targets: &[SocketAddr]) -> Option<Vec<serde_json::Value>> {
    let mut all = Vec::new();
    for target in targets {
        all.push(node_stats(*target).await.ok()?);
    }
    Some(all)
}

/// The block `name` of every node's stats (`None` if a node lacks it).
fn blocks(stats: &[serde_json::Value], name: &str) -> Option<Vec<serde_json::Value>> {
    stats
        .iter()
        .map(|node| node.get(name).filter(|block| !block.is_null()).cloned())
        .collect()
}

/// One stats block of every node, read before and after a run.
struct Readings<'a> {
    before: &'a [serde_json::Value],
    after: &'a [serde_json::Value],
}

impl Readings<'_> {
    /// The number at `path` in one block (0 when absent).
    fn number(block: &serde_json::Value, path: &[&str]) -> f64 {
        path.iter()
            .try_fold(block, |value, name| value.get(name))
            .and_then(serde_json::Value::as_f64)
            .unwrap_or(0.0)
    }

    /// How much a counter grew during the run, added over the nodes.
    fn delta(&self, path: &[&str]) -> u64 {
        self.before
            .iter()
            .zip(self.after)
            .map(|(b, a)| (Self::number(a, path) - Self::number(b, path)).max(0.0) as u64)
            .sum()
    }

    /// A gauge at the end of the run, added over the nodes.
    fn total(&self, path: &[&str]) -> u64 {
        self.after
            .iter()
            .map(|a| Self::number(a, path) as u64)
            .sum()
    }

    /// The highest value of any node at the end of the run.
    fn worst(&self, path: &[&str]) -> f64 {
        self.after
            .iter()
            .map(|a| Self::number(a, path))
            .fold(0.0, f64::max)
    }

    /// A text field of every node.
    fn texts(&self, name: &str) -> Vec<String> {
        self.after
            .iter()
            .map(|a| {
                a.get(name)
                    .and_then(|v| v.as_str())
                    .unwrap_or("?")
                    .to_owned()
            })
            .collect()
    }
}

/// Adds up the nodes' write-behind counters between two readings.
fn summarize_write_behind(readings: &Readings<'_>) -> WriteBehindSummary {
    let accepted = readings.delta(&["accepted"]);
    let store_writes = readings.delta(&["store_writes"]);
    WriteBehindSummary {
        accepted,
        store_writes,
        saved_ratio: if accepted == 0 {
            0.0
        } else {
            1.0 - store_writes.min(accepted) as f64 / accepted as f64
        },
        pending_at_end: readings.total(&["pending_keys"]),
        window_p99_us: readings.worst(&["window_p99_us"]),
        window_max_us: readings.worst(&["window_max_us"]),
    }
}

/// Adds up the nodes' coherence counters between two readings.
fn summarize(readings: &Readings<'_>) -> CoherenceSummary {
    let r = readings;
    CoherenceSummary {
        delivery: r.texts("delivery"),
        write_mode: r.texts("write_mode"),
        published: r.delta(&["published"]),
        received: r.delta(&["received"]),
        applied: r.delta(&["applied"]),
        discarded: r.delta(&["discarded"]),
        acks_sent: r.delta(&["acks_sent"]),
        flushes: r.delta(&["flushes"]),
        subscriptions: r.total(&["subscriptions"]),
        subscribes: r.delta(&["subscribes"]),
        delay_count: r.delta(&["notice_delay", "count"]),
        delay_p50_us: r.worst(&["notice_delay", "p50_us"]),
        delay_p99_us: r.worst(&["notice_delay", "p99_us"]),
        delay_max_us: r.worst(&["notice_delay", "max_us"]),
        publish_p50_us: r.worst(&["publish_wait", "p50_us"]),
        publish_p99_us: r.worst(&["publish_wait", "p99_us"]),
    }
}

/// Sends `spec`'s requests and measures them. `done` counts finished requests as the run
/// goes (for a progress bar).
pub async fn run(spec: &LoadSpec, done: Arc<AtomicU64>) -> Result<LoadReport, LoadError> {
    if spec.targets.is_empty() {
        return Err(LoadError::BadSpec("no target to send requests to".into()));
    }
    if spec.keys == 0 || spec.requests == 0 || spec.concurrency == 0 {
        return Err(LoadError::BadSpec(
            "keys, requests and concurrency must each be at least 1".into(),
        ));
    }
    if !(0.0..=1.0).contains(&spec.write_ratio) {
        return Err(LoadError::BadSpec(format!(
            "the write ratio must be between 0 and 1, got {}",
            spec.write_ratio
        )));
    }
    // Connect every worker first, so a wrong address fails fast and connection setup does
    // not count in the measurement.
    let mut senders = Vec::with_capacity(spec.concurrency);
    for worker in 0..spec.concurrency {
        let target = spec.targets[worker % spec.targets.len()];
        let sender = connect(target)
            .await
            .map_err(|error| LoadError::Connect { target, error })?;
        senders.push((target, sender));
    }
    let stats_before = all_stats(&spec.targets).await;
    let mut scatter_rng = Xoshiro256PlusPlus::seed_from_u64(spec.seed);
    let scatter = Arc::new(Scatter::new(spec.keys, &mut scatter_rng));
    let started = Instant::now();
    let deadline = started + spec.max_duration;
    let mut workers = tokio::task::JoinSet::new();
    for (worker, (target, sender)) in senders.into_iter().enumerate() {
        let share = spec.requests / spec.concurrency as u64
            + u64::from((worker as u64) < spec.requests % spec.concurrency as u64);
        let spec = spec.clone();
        let scatter = Arc::clone(&scatter);
        let done = Arc::clone(&done);
        workers.spawn(async move {
            worker_loop(
                &spec, worker, share, target, sender, &scatter, &done, started, deadline,
            )
            .await
        });
    }
    let tallies = workers.join_all().await;
    let elapsed = started.elapsed();

    let mut histogram = new_histogram();
    let mut reads_histogram = new_histogram();
    let mut writes_histogram = new_histogram();
    let mut history = Vec::new();
    let mut report = LoadReport {
        workload: spec.distribution.to_string(),
        keys: spec.keys,
        seed: spec.seed,
        concurrency: spec.concurrency,
        elapsed_seconds: elapsed.as_secs_f64(),
        ..LoadReport::default()
    };
    for tally in tallies {
        for (total, part) in [
            (&mut histogram, &tally.histogram),
            (&mut reads_histogram, &tally.reads_histogram),
            (&mut writes_histogram, &tally.writes_histogram),
        ] {
            total.add(part).expect("histograms share their bounds");
        }
        report.reads += tally.reads;
        report.writes += tally.writes;
        report.not_found += tally.not_found;
        report.hits.near += tally.near;
        report.hits.shared += tally.shared;
        report.hits.store += tally.store;
        for (status, count) in tally.errors {
            *report.errors.entry(status).or_default() += count;
        }
        history.extend(tally.history);
    }
    if spec.check_staleness {
        report.staleness = Some(staleness::check(&history));
    }
    if let (Some(before), Some(after)) = (stats_before, all_stats(&spec.targets).await) {
        if let (Some(b), Some(a)) = (blocks(&before, "coherence"), blocks(&after, "coherence")) {
            report.coherence = Some(summarize(&Readings {
                before: &b,
                after: &a,
            }));
        }
        if let (Some(b), Some(a)) = (
            blocks(&before, "write_behind"),
            blocks(&after, "write_behind"),
        ) {
            report.write_behind = Some(summarize_write_behind(&Readings {
                before: &b,
                after: &a,
            }));
        }
    }
    report.requests = report.reads + report.writes;
    report.truncated = report.requests < spec.requests;
    report.throughput = report.requests as f64 / elapsed.as_secs_f64().max(1e-9);
    let found = (report.hits.near + report.hits.shared + report.hits.store).max(1) as f64;
    report.hits.near_ratio = report.hits.near as f64 / found;
    report.hits.shared_ratio = report.hits.shared as f64 / found;
    report.hits.store_ratio = report.hits.store as f64 / found;
    report.latency = percentiles(&histogram);
    report.read_latency = percentiles(&reads_histogram);
    report.write_latency = percentiles(&writes_histogram);
    Ok(report)
}

fn percentiles(histogram: &Histogram<u64>) -> Percentiles {
    if histogram.is_empty() {
        return Percentiles::default();
    }
    let micros = |q: f64| histogram.value_at_quantile(q) as f64;
    Percentiles {
        p50_us: micros(0.5),
        p90_us: micros(0.9),
        p99_us: micros(0.99),
        p999_us: micros(0.999),
        max_us: histogram.max() as f64,
        mean_us: histogram.mean(),
    }
}

#[allow(clippy::too_many_arguments)]
async fn worker_loop(
    spec: &LoadSpec,
    worker: usize,
    share: u64,
    target: SocketAddr,
    mut sender: SendRequest<Full<Bytes>>,
    scatter: &Scatter,
    done: &AtomicU64,
    started: Instant,
    deadline: Instant,
) -> WorkerTally {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(
        spec.seed ^ (worker as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
    );
    let zipf = match spec.distribution {
        KeyDistribution::Zipf(alpha) => {
            Some(Zipf::new(spec.keys as f64, alpha).expect("keys ≥ 1 and alpha > 0"))
        }
        KeyDistribution::Uniform => None,
    };
    let host = target.to_string();
    let mut tally = WorkerTally {
        histogram: new_histogram(),
        reads_histogram: new_histogram(),
        writes_histogram: new_histogram(),
        reads: 0,
        writes: 0,
        not_found: 0,
        near: 0,
        shared: 0,
        store: 0,
        errors: BTreeMap::new(),
        history: Vec::new(),
    };
    for sequence in 0..share {
        if Instant::now() >= deadline {
            break;
        }
        let rank = match &zipf {
            Some(zipf) => zipf.sample(&mut rng) as u64 - 1,
            None => rng.random_range(0..spec.keys),
        };
        let key = scatter.key(rank);
        let write = spec.write_ratio > 0.0 && rng.random::<f64>() < spec.write_ratio;
        let request = if write {
            let body =
                format!("{{\"written_by\":\"bench\",\"worker\":{worker},\"sequence\":{sequence}}}");
            Request::put(format!("/v1/objects/{key}"))
                .header(hyper::header::HOST, &host)
                .header(hyper::header::CONTENT_TYPE, "application/json")
                .body(Full::new(Bytes::from(body)))
        } else {
            Request::get(format!("/v1/objects/{key}"))
                .header(hyper::header::HOST, &host)
                .body(Full::new(Bytes::new()))
        }
        .expect("requests built from valid parts");
        if write {
            tally.writes += 1;
        } else {
            tally.reads += 1;
        }

        let sent = Instant::now();
        let answer = match sender.ready().await {
            Ok(()) => match sender.send_request(request).await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    response
                        .into_body()
                        .collect()
                        .await
                        .map(|body| (status, body.to_bytes()))
                        .map_err(|e| e.to_string())
                }
                Err(error) => Err(error.to_string()),
            },
            Err(error) => Err(error.to_string()),
        };
        let answered = Instant::now();
        let took = answered - sent;
        let record = |version: Option<u64>, source: Option<&'static str>| Operation {
            key,
            write,
            invoked_ns: (sent - started).as_nanos() as u64,
            completed_ns: (answered - started).as_nanos() as u64,
            version: version.unwrap_or(0),
            source,
        };
        let micros = took.as_micros().max(1) as u64;
        tally.histogram.saturating_record(micros);
        if write {
            tally.writes_histogram.saturating_record(micros);
        } else {
            tally.reads_histogram.saturating_record(micros);
        }
        done.fetch_add(1, Ordering::Relaxed);
        match answer {
            Ok((200, body)) => {
                let mut source = None;
                if !write {
                    match source_of(&body) {
                        Some(b"near") => (tally.near, source) = (tally.near + 1, Some("near")),
                        Some(b"shared") => {
                            (tally.shared, source) = (tally.shared + 1, Some("shared"))
                        }
                        Some(b"store") => (tally.store, source) = (tally.store + 1, Some("store")),
                        Some(b"pending") => {
                            (tally.near, source) = (tally.near + 1, Some("pending"))
                        }
                        _ => *tally.errors.entry(200).or_default() += 1,
                    }
                }
                // A write-behind write (version 0) or a read of one has no store version to
                // check yet.
                let pending = source == Some("pending") || (write && version_of(&body) == Some(0));
                if spec.check_staleness && !pending {
                    match version_of(&body) {
                        Some(version) => tally.history.push(record(Some(version), source)),
                        None => *tally.errors.entry(200).or_default() += 1,
                    }
                }
            }
            Ok((404, _)) if !write => {
                tally.not_found += 1;
                if spec.check_staleness {
                    tally.history.push(record(None, Some("store")));
                }
            }
            Ok((status, _)) => *tally.errors.entry(status).or_default() += 1,
            Err(_) => {
                *tally.errors.entry(0).or_default() += 1;
                // The connection is gone: open another (bounded by the request count).
                match connect(target).await {
                    Ok(fresh) => sender = fresh,
                    Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                }
            }
        }
    }
    tally
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scatter_is_a_permutation_of_the_keys() {
        for keys in [1u64, 2, 10, 9564, 10_000] {
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(keys);
            let scatter = Scatter::new(keys, &mut rng);
            let mut seen: Vec<u64> = (0..keys).map(|rank| scatter.key(rank)).collect();
            seen.sort_unstable();
            assert_eq!(seen, (1..=keys).collect::<Vec<_>>(), "keys = {keys}");
        }
    }

    #[test]
    fn the_source_is_found_in_an_answer() {
        let body =
            br#"{"key":"7","value":{"source":"fake"},"version":3,"source":"shared","micros":4.1}"#;
        assert_eq!(source_of(body), Some(&b"shared"[..]));
        assert_eq!(source_of(b"{}"), None);
        assert_eq!(version_of(body), Some(3));
        assert_eq!(version_of(br#"{"key":"7","version":12}"#), Some(12));
        assert_eq!(version_of(b"{}"), None);
    }

    #[test]
    fn node_readings_add_up_over_the_run() {
        let block = |published: u64, subscriptions: u64, p99: f64| {
            serde_json::json!({
                "delivery": "sync",
                "write_mode": "invalidate",
                "published": published,
                "subscriptions": subscriptions,
                "notice_delay": {"count": published * 2, "p99_us": p99},
            })
        };
        let before = [block(10, 5, 100.0), block(0, 0, 0.0)];
        let after = [block(15, 7, 300.0), block(4, 1, 900.0)];
        let summary = summarize(&Readings {
            before: &before,
            after: &after,
        });
        assert_eq!(summary.published, 9, "deltas: 5 + 4");
        assert_eq!(summary.subscriptions, 8, "gauges at the end: 7 + 1");
        assert_eq!(summary.delay_count, 18);
        assert_eq!(summary.delay_p99_us, 900.0, "the worst node");
        assert_eq!(summary.delivery, ["sync", "sync"]);
        assert_eq!(summary.discarded, 0, "absent counters read as 0");
    }

    #[test]
    fn workloads_parse() {
        assert_eq!("zipf:0.99".parse(), Ok(KeyDistribution::Zipf(0.99)));
        assert_eq!("uniform".parse(), Ok(KeyDistribution::Uniform));
        assert!("zipf:-1".parse::<KeyDistribution>().is_err());
        assert!("pareto".parse::<KeyDistribution>().is_err());
    }
}
