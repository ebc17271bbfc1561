//! The measurement every log system goes through: concurrent publishers, each waiting for
//! the acknowledgement of one message before sending the next, for a bounded time or number
//! of messages; throughput and latency per run, and the median of several runs.
//!
//! A system takes part by implementing [`Target`] (and its [`Publisher`]); the runner knows
//! nothing else of it.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tiercache_testkit::bench::median;

/// Publishes each publisher makes before the timed part of a run (connections warmed up,
/// stream leaders known), not counted.
const WARM_UP: usize = 20;

/// Latencies recorded, in microseconds: 1 µs .. 60 s, 3 significant figures.
const LATENCY_BOUNDS: (u64, u64, u8) = (1, 60_000_000, 3);

/// A system that appends messages to a replicated log, as the benchmark drives it.
pub trait Target: Sync {
    /// One publisher's handle on the system.
    type Publisher: Publisher;

    /// Opens publisher `index` (0, 1, …), with a connection of its own: publishers share
    /// nothing on the client side. Called before the timed part of a run; an error ends the
    /// benchmark.
    fn publisher(
        &self,
        index: usize,
    ) -> impl Future<Output = anyhow::Result<Self::Publisher>> + Send;
}

/// One client of a [`Target`], used by one task at a time.
pub trait Publisher: Send + 'static {
    /// Appends `payload` to the log and resolves once the system acknowledged it, under the
    /// durability the target states. `Err` is a message the system did not acknowledge (an
    /// error answer or a timeout): it is counted as failed, not retried, and the publisher
    /// goes on with the next message.
    fn publish(&mut self, payload: Vec<u8>) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// Where a run stops: at `duration`, or once `messages` publishes were started, whichever
/// comes first. A publish in flight at the deadline is awaited and counted.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The longest a run lasts (apart from the publishes in flight at its end).
    pub duration: Duration,
    /// The most publishes a run starts, over all publishers.
    pub messages: u64,
    /// Bytes per message.
    pub payload_bytes: usize,
}

/// One run's figures.
#[derive(Debug)]
pub struct Run {
    /// Publishes acknowledged.
    pub acked: u64,
    /// Publishes that failed.
    pub failed: u64,
    /// From the first publish to the last acknowledgement.
    pub elapsed: Duration,
    /// Latency of every acknowledged publish, in microseconds.
    pub latencies: Histogram<u64>,
    /// The first failure's message, if any.
    pub first_error: Option<String>,
}

impl Run {
    /// Acknowledged publishes per second.
    pub fn rate(&self) -> f64 {
        self.acked as f64 / self.elapsed.as_secs_f64()
    }
}

/// One run with `publishers` concurrent publishers.
pub async fn run<T: Target>(target: &T, publishers: usize, limits: Limits) -> anyhow::Result<Run> {
    let mut opened = Vec::with_capacity(publishers);
    for index in 0..publishers {
        let mut publisher = target.publisher(index).await?;
        for _ in 0..WARM_UP {
            publisher.publish(vec![0x5a; limits.payload_bytes]).await?;
        }
        opened.push(publisher);
    }
    let started = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + limits.duration;
    let tasks: Vec<_> = opened
        .into_iter()
        .map(|mut publisher| {
            let started = started.clone();
            tokio::spawn(async move {
                let (low, high, figures) = LATENCY_BOUNDS;
                let mut latencies = Histogram::<u64>::new_with_bounds(low, high, figures)
                    .expect("valid histogram bounds");
                let (mut failed, mut first_error) = (0, None);
                while Instant::now() < deadline
                    && started.fetch_add(1, Ordering::Relaxed) < limits.messages
                {
                    let payload = vec![0x5a; limits.payload_bytes];
                    let sent = Instant::now();
                    match publisher.publish(payload).await {
                        Ok(()) => latencies.saturating_record(sent.elapsed().as_micros() as u64),
                        Err(error) => {
                            failed += 1;
                            first_error.get_or_insert_with(|| format!("{error:#}"));
                        }
                    }
                }
                (latencies, failed, first_error)
            })
        })
        .collect();
    let (low, high, figures) = LATENCY_BOUNDS;
    let mut run = Run {
        acked: 0,
        failed: 0,
        elapsed: Duration::ZERO,
        latencies: Histogram::new_with_bounds(low, high, figures)?,
        first_error: None,
    };
    for task in tasks {
        let (latencies, failed, first_error) = task.await?;
        run.latencies.add(&latencies)?;
        run.failed += failed;
        if run.first_error.is_none() {
            run.first_error = first_error;
        }
    }
    run.elapsed = start.elapsed();
    run.acked = run.latencies.len();
    Ok(run)
}

/// The figures of one row of the table: one system, one setting, one publisher count.
#[derive(Debug)]
pub struct Row {
    /// The system, as the table names it.
    pub system: String,
    /// What its acknowledgement means, in a few words.
    pub durability: String,
    /// Concurrent publishers.
    pub publishers: usize,
    /// Median over the runs of acknowledged publishes per second.
    pub rate: f64,
    /// The slowest and fastest run.
    pub rate_range: (f64, f64),
    /// Median over the runs of each run's median latency, in microseconds.
    pub p50_micros: u64,
    /// Median over the runs of each run's 99th percentile latency, in microseconds.
    pub p99_micros: u64,
    /// Publishes acknowledged over all runs.
    pub acked: u64,
    /// Publishes failed over all runs.
    pub failed: u64,
    /// The first failure's message, if any.
    pub first_error: Option<String>,
}

/// `runs` runs of [`run`], summed up in a [`Row`].
pub async fn measure<T: Target>(
    target: &T,
    (system, durability): (&str, &str),
    publishers: usize,
    runs: usize,
    limits: Limits,
) -> anyhow::Result<Row> {
    let mut done = Vec::with_capacity(runs);
    for _ in 0..runs {
        done.push(run(target, publishers, limits).await?);
    }
    let rates: Vec<f64> = done.iter().map(Run::rate).collect();
    let quantile = |q: f64| {
        median(
            done.iter()
                .map(|run| run.latencies.value_at_quantile(q) as f64)
                .collect(),
        ) as u64
    };
    Ok(Row {
        system: system.to_owned(),
        durability: durability.to_owned(),
        publishers,
        rate: median(rates.clone()),
        rate_range: (
            rates.iter().copied().fold(f64::INFINITY, f64::min),
            rates.iter().copied().fold(0.0, f64::max),
        ),
        p50_micros: quantile(0.5),
        p99_micros: quantile(0.99),
        acked: done.iter().map(|run| run.acked).sum(),
        failed: done.iter().map(|run| run.failed).sum(),
        first_error: done.iter().find_map(|run| run.first_error.clone()),
    })
}

/// Prints `rows` as a Markdown table, and the first failure of each row that had any.
pub fn print_table(rows: &[Row]) {
    println!(
        "| system | acknowledged when | publishers | msgs/s (median) | slowest–fastest run | p50 | p99 | acked | failed |"
    );
    println!("|---|---|---:|---:|---|---:|---:|---:|---:|");
    for row in rows {
        println!(
            "| {} | {} | {} | {:.0} | {:.0}–{:.0} | {} µs | {} µs | {} | {} |",
            row.system,
            row.durability,
            row.publishers,
            row.rate,
            row.rate_range.0,
            row.rate_range.1,
            row.p50_micros,
            row.p99_micros,
            row.acked,
            row.failed
        );
    }
    for row in rows {
        if let Some(error) = &row.first_error {
            println!(
                "\n{} ({} publishers): {} failed, the first: {error}",
                row.system, row.publishers, row.failed
            );
        }
    }
}
