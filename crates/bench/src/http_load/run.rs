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
use super::report::{HitRatios, LoadReport, cdf_of, summary_of};
use super::spec::{LoadError, LoadSpec};
use super::worker::{Choices, Tally, Worker};
use crate::staleness;

/// Sends `spec`'s requests and measures them. `done` counts finished requests as the run
/// goes (for a progress bar).
pub async fn run(spec: &LoadSpec, done: Arc<AtomicU64>) -> Result<LoadReport, LoadError> {
    spec.validate()?;
    // Connect every worker first, so a wrong address fails fast and connection setup does
    // not count in the measurement.
    let tls = match &spec.tls {
        Some(identity) => Some(
            identity
                .client_config()
                .map_err(|error| LoadError::BadSpec(format!("TLS: {error}")))?,
        ),
        None => None,
    };
    let mut connections = Vec::with_capacity(spec.concurrency);
    for worker in 0..spec.concurrency {
        let target = spec.target_of(worker);
        let connection = Connection::open_with(target, tls.clone())
            .await
            .map_err(|error| LoadError::Connect { target, error })?
            .with_token(spec.token.as_ref());
        connections.push(connection);
    }
    // The staleness check judges stale reads by the nodes' delivery mode and notice delay:
    // without their stats it could not fail, so it refuses to run blind. A plain load run
    // just reports no node summaries.
    let stats_before = node_stats::read_all(&spec.targets, spec.token.as_ref(), tls.as_ref()).await;
    if spec.check_staleness {
        stats_before.as_ref().map_err(Clone::clone)?;
    }
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
    let mut report = measured(spec, &mut total, elapsed);
    if spec.check_staleness {
        report.staleness = Some(staleness::check(&total.history));
    }
    let stats_after = node_stats::read_all(&spec.targets, spec.token.as_ref(), tls.as_ref()).await;
    if spec.check_staleness {
        stats_after.as_ref().map_err(Clone::clone)?;
    }
    if let (Ok(before), Ok(after)) = (stats_before, stats_after) {
        report.coherence = node_stats::coherence(&before, &after);
        report.write_behind = node_stats::write_behind(&before, &after);
    }
    Ok(report)
}

/// The requests a run of `spec` sends, without sending them: every worker's choices,
/// interleaved one request per worker in turn (the order in which a run of workers at equal
/// speed would send them). What the lab replays offline (Belady's bound, the engine's
/// policies) to compare with what the nodes achieved on the same requests.
pub fn planned(spec: &LoadSpec) -> Vec<PlannedRequest> {
    let mut scatter_rng = Xoshiro256PlusPlus::seed_from_u64(spec.seed);
    let scatter = Arc::new(Scatter::new(spec.keys.max(1), &mut scatter_rng));
    let mut workers: Vec<Choices> = (0..spec.concurrency)
        .map(|index| Choices::new(spec, index, Arc::clone(&scatter)))
        .collect();
    let longest = workers.iter().map(Choices::share).max().unwrap_or(0);
    let mut requests = Vec::with_capacity(spec.requests as usize);
    for sequence in 0..longest {
        for choices in &mut workers {
            if sequence < choices.share() {
                let (key, write) = choices.next(sequence);
                requests.push(PlannedRequest { key, write });
            }
        }
    }
    requests
}

/// One request of [`planned`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannedRequest {
    /// The key (`1..=keys`).
    pub key: u64,
    /// Whether it is a write.
    pub write: bool,
}

/// The client's side of the report: what the workers counted over `elapsed`.
fn measured(spec: &LoadSpec, total: &mut Tally, elapsed: Duration) -> LoadReport {
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
        latency: summary_of(&total.histogram),
        read_latency: summary_of(&total.reads_histogram),
        write_latency: summary_of(&total.writes_histogram),
        hits: HitRatios::of(total.near, total.shared, total.store),
        latency_cdf: cdf_of(&total.histogram),
        timeline: {
            let mut timeline = std::mem::take(&mut total.timeline);
            timeline.sort_by_key(|request| request.sent_us);
            timeline
        },
        truncated: requests < spec.requests,
        staleness: None,
        coherence: None,
        write_behind: None,
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::http_load::KeyDistribution;

    /// An HTTP server on loopback that answers every request `200 {}`: reachable, but not
    /// a tiercache node.
    async fn not_a_node() -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buffer = [0u8; 4096];
                    while let Ok(read) = stream.read(&mut buffer).await {
                        if read == 0 {
                            return;
                        }
                        let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}";
                        if stream.write_all(answer).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        address
    }

    fn spec(target: SocketAddr, check_staleness: bool) -> LoadSpec {
        LoadSpec {
            targets: vec![target],
            distribution: KeyDistribution::Uniform,
            keys: 10,
            requests: 4,
            concurrency: 1,
            write_ratio: 0.0,
            seed: 1,
            max_duration: Duration::from_secs(5),
            check_staleness,
            token: None,
            tls: None,
        }
    }

    #[tokio::test]
    async fn the_staleness_check_refuses_to_run_without_the_nodes_stats() {
        let target = not_a_node().await;
        let refused = run(&spec(target, true), Arc::new(AtomicU64::new(0))).await;
        match refused {
            Err(LoadError::NodeStats { target: named, .. }) => assert_eq!(named, target),
            other => panic!("expected a NodeStats error, got {other:?}"),
        }
        // A plain load run goes ahead, with no node summaries.
        let report = run(&spec(target, false), Arc::new(AtomicU64::new(0)))
            .await
            .expect("a load run needs no node stats");
        assert_eq!(report.coherence, None);
    }
}
