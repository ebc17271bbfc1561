//! `tiercache sim`: offline hit-ratio simulation.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::Context;
use clap::{Args, ValueEnum};
use tiercache_bench::sim::{self, Capacity, SimReport, SimTarget};
use tiercache_bench::{Trace, TraceFormat, Workload};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FormatArg {
    /// `key` or `key,size` per line, no header.
    Csv,
    /// libCacheSim's binary records: u32 time, u64 id, u32 size, i64 next access.
    OracleGeneral,
}

/// Replays requests through each policy (one shard, exact order) and prints hits, misses and
/// miss ratios, with Belady's offline optimum as the bound. Cold misses count as misses.
#[derive(Debug, Args)]
#[command(after_help = "EXAMPLES:
  tiercache sim --workload zipf:1.0 --objects 100000 --requests 1000000 --capacity 10%
  tiercache sim --trace requests.csv --policy allkeys-lru,allkeys-lru:samples=5,s3fifo,belady --capacity 5000
  tiercache sim --trace cluster52.oracleGeneral.bin --capacity 64MiB --json

POLICIES: noeviction, allkeys-lru, allkeys-lfu, allkeys-random, volatile-lru, volatile-lfu,
volatile-random, volatile-ttl, fifo, sieve, s3fifo, w-tinylfu, and belady (offline optimum).
Redis's sampled approximation: allkeys-lru:samples=5, allkeys-lfu:samples=5,log-factor=10,decay-time=1.
Simulated time advances 1 ms per request (it drives Redis's LFU decay).")]
pub struct SimArgs {
    /// Trace file: CSV (`key` or `key,size` per line) or libCacheSim oracleGeneral binary
    /// (chosen by --trace-format, or by the name: `.bin` or `oracleGeneral` means binary).
    #[arg(long, value_name = "FILE", conflicts_with = "workload")]
    trace: Option<PathBuf>,

    /// Format of --trace, when the file name does not tell.
    #[arg(long, value_enum, value_name = "FORMAT", requires = "trace")]
    trace_format: Option<FormatArg>,

    /// Generated workload when no --trace: zipf:ALPHA, uniform, scan-mix or shifting.
    #[arg(long, value_name = "SPEC", default_value = "zipf:1.0")]
    workload: String,

    /// Distinct objects of the generated workload.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    objects: u64,

    /// Requests of the generated workload.
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    requests: u64,

    /// Seed of the generated workload (same seed, same requests).
    #[arg(long, value_name = "S", default_value_t = 42)]
    seed: u64,

    /// Comma-separated policies to simulate [default: all twelve plus belady].
    #[arg(long, value_name = "LIST")]
    policy: Option<String>,

    /// Cache size: objects (10000), a percentage of the distinct objects (10%), or bytes
    /// (64MiB; objects then weigh their sizes).
    #[arg(long, value_name = "CAP", default_value = "10%")]
    capacity: String,

    /// Print the result as JSON instead of a table.
    #[arg(long)]
    json: bool,

    /// Also save the generated workload to FILE as a libCacheSim oracleGeneral trace (to
    /// replay it here with --trace, or in libCacheSim and other tools).
    #[arg(long, value_name = "FILE", conflicts_with = "trace")]
    write_trace: Option<PathBuf>,

    /// Policies simulated at once [default: the number of cores].
    #[arg(long, value_name = "N")]
    threads: Option<usize>,

    /// Do not draw the progress bar (it is hidden anyway when stderr is not a terminal).
    #[arg(long)]
    no_progress: bool,
}

pub fn run(args: SimArgs) -> anyhow::Result<()> {
    // Validate every argument before the (possibly long) work starts.
    let targets = match &args.policy {
        Some(list) => SimTarget::parse_list(list).context("--policy")?,
        None => SimTarget::all(),
    };
    let capacity: Capacity = args.capacity.parse().context("--capacity")?;
    let (trace, source) = match &args.trace {
        Some(path) => {
            let format = match args.trace_format {
                Some(FormatArg::Csv) => TraceFormat::Csv,
                Some(FormatArg::OracleGeneral) => TraceFormat::OracleGeneral,
                None => TraceFormat::from_path(path),
            };
            (
                Trace::read(path, format)?,
                format!("trace {}", path.display()),
            )
        }
        None => {
            let workload: Workload = args.workload.parse().context("--workload")?;
            let trace = workload.generate(args.objects, args.requests, args.seed)?;
            if let Some(path) = &args.write_trace {
                let file = std::fs::File::create(path)
                    .with_context(|| format!("cannot create {}", path.display()))?;
                let mut out = std::io::BufWriter::new(file);
                trace
                    .write_oracle_general(&mut out)
                    .and_then(|()| out.flush())
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
            (
                trace,
                format!("{workload}, {} objects, seed {}", args.objects, args.seed),
            )
        }
    };
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    anyhow::ensure!(threads > 0, "--threads must be at least 1");

    let done: Vec<AtomicU64> = targets.iter().map(|_| AtomicU64::new(0)).collect();
    let total = trace.requests.len() as u64 * targets.len() as u64;
    let bar = super::progress_bar(
        total,
        "{spinner} simulating {pos}/{len} requests [{bar:40}] {percent}% eta {eta}",
        args.no_progress,
    );
    let started = Instant::now();
    let report = sim::simulate(
        &trace,
        &targets,
        capacity,
        threads,
        &|target, requests_done| {
            done[target].store(requests_done as u64, Ordering::Relaxed);
            bar.set_position(done.iter().map(|d| d.load(Ordering::Relaxed)).sum());
        },
    )?;
    bar.finish_and_clear();

    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        print_table(
            &mut out,
            &report,
            &source,
            capacity,
            started.elapsed().as_secs_f64(),
        )?;
        if sim::has_volatile(&targets) {
            writeln!(
                out,
                "\nnote: the requests carry no TTL, so volatile-* policies have no eviction candidate and,"
            )?;
            writeln!(
                out,
                "      like noeviction, stop admitting objects once the cache is full."
            )?;
        }
    }
    Ok(())
}

fn print_table(
    out: &mut impl Write,
    report: &SimReport,
    source: &str,
    capacity: Capacity,
    seconds: f64,
) -> std::io::Result<()> {
    writeln!(
        out,
        "{source}: {} requests over {} objects; cache of {} {} ({capacity}); {seconds:.1}s",
        report.requests, report.objects, report.capacity, report.capacity_unit
    )?;
    let belady = report
        .results
        .iter()
        .find(|r| r.policy == "belady")
        .map(|r| r.miss_ratio);
    let width = report
        .results
        .iter()
        .map(|r| r.policy.len())
        .max()
        .unwrap_or(6)
        .max(6);
    writeln!(out)?;
    writeln!(
        out,
        "{:<width$}  {:>10}  {:>10}  {:>10}  {:>9}  miss ratio",
        "policy", "hits", "misses", "miss ratio", "vs belady"
    )?;
    for result in &report.results {
        let versus = match belady {
            Some(b) if result.policy != "belady" => {
                format!("{:+.2} pp", (result.miss_ratio - b) * 100.0)
            }
            _ => String::new(),
        };
        // A bar of 30 cells for 0..100% miss ratio: shorter is better.
        let cells = (result.miss_ratio * 30.0).round() as usize;
        writeln!(
            out,
            "{:<width$}  {:>10}  {:>10}  {:>10.4}  {:>9}  {}",
            result.policy,
            result.hits,
            result.misses,
            result.miss_ratio,
            versus,
            "█".repeat(cells)
        )?;
    }
    Ok(())
}
