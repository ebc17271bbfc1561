//! A run: connect every worker, read the nodes' stats, let the workers send, add up what
//! they counted, read the stats again.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;

use super::client::Connection;
use super::keys::Scatter;
use super::node_stats;
use super::report::{HitRatios, LoadReport, Percentiles};
use super::spec::{LoadError, LoadSpec};
use super::worker::{Tally, Worker};
use crate::staleness;

/// Sends `spec`'s requests and measures them. `done` counts finished requests as the run
/// goes (for a progress bar).
pub async fn run(spec: &LoadSpec, done: Arc<AtomicU64>) -> Result<LoadReport, LoadError> {
    spec.validate()?;
    // Connect every worker first, so a wrong address fails fast and connection setup does
    // not count in the measurement.
    let mut connections = Vec::with_capacity(spec.concurrency);
    for worker in 0..spec.concurrency {
        let target = spec.target_of(worker);
        let connection = Connection::open(target)
            .await
            .map_err(|error| LoadError::Connect { target, error })?;
        connections.push(connection);
    }
    let stats_before = node_stats::read_all(&spec.targets).await;
    let mut scatter_rng = Xoshiro256PlusPlus::seed_from_u64(spec.seed);
    let scatter = Arc::new(Scatter::new(spec.keys, &mut scatter_rng));
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for (index, connection) in connections.into_iter().enumerate() {
        let worker = Worker::new(
            spec,
            index,
            connection,
            Arc::clone(&scatter),
            Arc::clone(&done),
            started,
        );
        workers.spawn(worker.run());
    }
    let tallies = workers.join_all().await;
    let elapsed = started.elapsed();

    let mut total = Tally::default();
    for tally in tallies {
        total.add(tally);
    }
    let mut report = measured(spec, &total, elapsed);
    if spec.check_staleness {
        report.staleness = Some(staleness::check(&total.history));
    }
    if let (Some(before), Some(after)) = (stats_before, node_stats::read_all(&spec.targets).await) {
        report.coherence = node_stats::coherence(&before, &after);
        report.write_behind = node_stats::write_behind(&before, &after);
    }
    Ok(report)
}

/// The client's side of the report: what the workers counted over `elapsed`.
fn measured(spec: &LoadSpec, total: &Tally, elapsed: Duration) -> LoadReport {
    let requests = total.reads + total.writes;
    LoadReport {
        workload: spec.distribution.to_string(),
        keys: spec.keys,
        seed: spec.seed,
        concurrency: spec.concurrency,
        requests,
        reads: total.reads,
        writes: total.writes,
        not_found: total.not_found,
        errors: total.errors.clone(),
        elapsed_seconds: elapsed.as_secs_f64(),
        throughput: requests as f64 / elapsed.as_secs_f64().max(1e-9),
        latency: Percentiles::of(&total.histogram),
        read_latency: Percentiles::of(&total.reads_histogram),
        write_latency: Percentiles::of(&total.writes_histogram),
        hits: HitRatios::of(total.near, total.shared, total.store),
        truncated: requests < spec.requests,
        staleness: None,
        coherence: None,
        write_behind: None,
    }
}
