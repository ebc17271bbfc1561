//! Throughput of the engine against moka and quick_cache, side by side in one run.
//!
//! Two workloads over 100 000 keys drawn from Zipf 1.0 (u64 keys and values):
//! - `get-hit`: every key is cached (capacity 100 000, prefilled); each operation is a `get`.
//! - `mix 90/10`: capacity 10 000; 90% `get`, 10% `insert` of a Zipf-drawn key (so inserts
//!   replace or evict).
//!
//! Each cell is the median of several runs of a fixed number of operations per thread, at 1
//! and 2 threads; runs go round-robin over the caches so machine noise hits all alike. The
//! `volatile-*` policies insert with a one-hour TTL (without one they may not evict). Run with
//!
//!     cargo bench -p tiercache-cache --bench throughput [-- --runs 7 --ops 1000000 --json FILE]
//!
//! `--only a,b,c` measures just those caches; `policy@N` forces N shards (for example
//! `--only sieve@8,sieve@32,quick_cache` compares shard counts side by side).
//!
//! Under `cargo test` (no `--bench` argument) it does a tiny smoke run instead.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use rand_distr::{Distribution, Zipf};
use tiercache_cache::{Cache, CacheBuilder, PolicySpec};
use tiercache_testkit::bench::{BenchArgs, median};

const KEYS: u64 = 100_000;
const SMALL_CAPACITY: u64 = 10_000;
const TTL: Duration = Duration::from_secs(3600);

/// One cache under test.
trait Target: Send + Sync {
    fn get(&self, key: u64) -> bool;
    fn insert(&self, key: u64);
}

struct Ours {
    cache: Cache<u64, u64>,
    volatile: bool,
}

impl Target for Ours {
    fn get(&self, key: u64) -> bool {
        self.cache.get(&key).is_some()
    }
    fn insert(&self, key: u64) {
        let _ = if self.volatile {
            self.cache.insert_with_ttl(key, key, TTL)
        } else {
            self.cache.insert(key, key)
        };
    }
}

struct Moka(moka::sync::Cache<u64, u64>);

impl Target for Moka {
    fn get(&self, key: u64) -> bool {
        self.0.get(&key).is_some()
    }
    fn insert(&self, key: u64) {
        self.0.insert(key, key);
    }
}

struct Quick(quick_cache::sync::Cache<u64, u64>);

impl Target for Quick {
    fn get(&self, key: u64) -> bool {
        self.0.get(&key).is_some()
    }
    fn insert(&self, key: u64) {
        self.0.insert(key, key);
    }
}

fn make(name: &str, capacity: u64) -> Arc<dyn Target> {
    match name {
        "moka" => Arc::new(Moka(moka::sync::Cache::new(capacity))),
        "quick_cache" => Arc::new(Quick(quick_cache::sync::Cache::new(capacity as usize))),
        name => {
            // `policy@N` forces N shards (to compare shard counts side by side).
            let (policy, shards) = match name.split_once('@') {
                Some((policy, n)) => (policy, Some(n.parse::<usize>().expect("policy@SHARDS"))),
                None => (name, None),
            };
            let spec: PolicySpec = policy.parse().expect("policy name");
            let builder = CacheBuilder::new(spec).max_entries(capacity);
            let builder = match shards {
                Some(n) => builder.shards(n),
                None => builder,
            };
            let cache = builder.build().expect("cache");
            Arc::new(Ours {
                cache,
                volatile: spec.kind.is_volatile(),
            })
        }
    }
}

/// Zipf 1.0 keys, one stream per thread.
fn keys(count: usize, seed: u64) -> Vec<u64> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let zipf = Zipf::new(KEYS as f64, 1.0).expect("valid Zipf");
    (0..count)
        .map(|_| zipf.sample(&mut rng) as u64 - 1)
        .collect()
}

#[derive(Clone, Copy, PartialEq)]
enum Workload {
    GetHit,
    Mix,
}

/// Operations per second of `threads` threads each doing `ops` operations.
fn measure(
    target: &Arc<dyn Target>,
    workload: Workload,
    threads: usize,
    ops: usize,
    streams: &[Vec<u64>],
) -> f64 {
    let barrier = Arc::new(std::sync::Barrier::new(threads + 1));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let target = target.clone();
            let stream = streams[t].clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                let mut hits = 0u64;
                for (i, &key) in stream.iter().cycle().take(ops).enumerate() {
                    // 1 in 10 operations of the mix is an insert.
                    if workload == Workload::Mix && i % 10 == 9 {
                        target.insert(key);
                    } else if target.get(key) {
                        hits += 1;
                    }
                }
                std::hint::black_box(hits);
            })
        })
        .collect();
    barrier.wait();
    let started = Instant::now();
    handles
        .into_iter()
        .for_each(|h| h.join().expect("bench thread"));
    (threads * ops) as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let args = BenchArgs::from_env();
    let runs: usize = args.value_or("--runs", 5, 1);
    let ops: usize = args.value_or("--ops", 2_000_000, 2_000);
    let only: Option<String> = args.value("--only");
    let mut names: Vec<String> = PolicySpec::all().iter().map(|s| s.to_string()).collect();
    names.extend(["allkeys-lru:samples=5", "allkeys-lfu:samples=5"].map(String::from));
    names.extend(["quick_cache", "moka"].map(String::from));
    if let Some(only) = &only {
        // Any name may be given, including `policy@SHARDS` variants not in the default list.
        names = only.split(',').map(String::from).collect();
    }
    let streams: Vec<Vec<u64>> = (0..2).map(|t| keys(1 << 20, 42 + t)).collect();

    println!(
        "threads: 1 and 2; {ops} operations per thread; median of {runs} runs; Zipf 1.0 over {KEYS} keys"
    );
    println!();
    println!("| cache | get-hit 1T (Mops/s) | get-hit 2T | mix 90/10 1T | mix 90/10 2T |");
    println!("|---|---:|---:|---:|---:|");
    let cells: [(Workload, usize); 4] = [
        (Workload::GetHit, 1),
        (Workload::GetHit, 2),
        (Workload::Mix, 1),
        (Workload::Mix, 2),
    ];
    // samples[cache][cell]: runs go round-robin over the caches, so a slow spell of the
    // machine hits every cache alike instead of the one measured at that moment.
    let mut samples = vec![vec![Vec::new(); cells.len()]; names.len()];
    for _ in 0..runs {
        for (column, &(workload, threads)) in cells.iter().enumerate() {
            for (row, name) in names.iter().enumerate() {
                let capacity = if workload == Workload::GetHit {
                    KEYS
                } else {
                    SMALL_CAPACITY
                };
                let target = make(name, capacity);
                if workload == Workload::GetHit {
                    (0..KEYS).for_each(|k| target.insert(k));
                }
                samples[row][column].push(measure(&target, workload, threads, ops, &streams));
            }
        }
    }
    let mut table: Vec<(String, [f64; 4])> = Vec::new();
    for (name, per_cell) in names.iter().zip(samples) {
        let mut cells = [0.0; 4];
        for (cell, values) in cells.iter_mut().zip(per_cell) {
            *cell = median(values) / 1e6;
        }
        println!(
            "| {name} | {:.2} | {:.2} | {:.2} | {:.2} |",
            cells[0], cells[1], cells[2], cells[3]
        );
        table.push((name.clone(), cells));
    }
    let find = |n: &str| table.iter().find(|(name, _)| name == n).map(|(_, c)| *c);
    if let (Some(quick), Some(moka)) = (find("quick_cache"), find("moka")) {
        println!();
        println!("Ratios (ours ÷ baseline; > 1 means faster):");
        println!();
        println!(
            "| cache | ÷ quick_cache get-hit 2T | ÷ quick_cache mix 2T | ÷ moka get-hit 1T | ÷ moka get-hit 2T | ÷ moka mix 1T | ÷ moka mix 2T |"
        );
        println!("|---|---:|---:|---:|---:|---:|---:|");
        for (name, c) in table
            .iter()
            .filter(|(n, _)| n != "quick_cache" && n != "moka")
        {
            println!(
                "| {name} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
                c[1] / quick[1],
                c[3] / quick[3],
                c[0] / moka[0],
                c[1] / moka[1],
                c[2] / moka[2],
                c[3] / moka[3]
            );
        }
    }
    if let Some(path) = args.value::<String>("--json") {
        let rows: Vec<String> = table
            .iter()
            .map(|(n, c)| format!("{{\"cache\":\"{n}\",\"get_hit_1t\":{},\"get_hit_2t\":{},\"mix_1t\":{},\"mix_2t\":{}}}", c[0], c[1], c[2], c[3]))
            .collect();
        std::fs::write(&path, format!("[{}]\n", rows.join(",\n"))).expect("write --json file");
    }
}
