//! Running a plan: one store per table size, and per configuration a cold shared tier and
//! cold API nodes in this process, driven over HTTP by the load generator.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use tiercache_api::ApiOptions;
use tiercache_bench::http_load::{self, LoadReport, LoadSpec};
use tiercache_core::ByteSize;
use tiercache_deploy::{self as deployment, LocalRedis, NodeConfig, NodeSetup, setting};
use tiercache_store::ObjectStore;
use tiercache_store::dataset::{self, DEFAULT_BATCH_ROWS, Row, kepler};
use tiercache_tier::TierOptions;

use crate::matrix::{Config, Plan, Topology};
use crate::offline::{self, ObjectSizes};
use crate::results::{Machine, Outcome, Results, Shares};
use crate::{LabError, Target};

/// Where the run is, for a progress display.
#[derive(Debug, Clone, Copy)]
pub struct Step<'a> {
    /// The configuration starting (0-based).
    pub index: usize,
    /// Configurations in the plan.
    pub total: usize,
    /// The configuration.
    pub config: &'a Config,
}

/// A table loaded into its own store.
struct Table {
    /// Keeps the SQLite file until the run ends.
    _dir: tempfile::TempDir,
    store: Arc<dyn ObjectStore>,
    rows: Vec<Row>,
    sizes: ObjectSizes,
}

impl Table {
    async fn load(rows: u64) -> Result<Table, LabError> {
        let dir = tempfile::Builder::new()
            .prefix("tiercache-lab-")
            .tempdir()
            .map_err(|error| LabError::Io {
                doing: "creating a temporary directory for the store".into(),
                error,
            })?;
        let url = format!("sqlite://{}", dir.path().join("lab.db").display());
        let store: Arc<dyn ObjectStore> = deployment::open_store(&url).await?;
        let table: Vec<Row> = kepler::rows(rows as usize, kepler::DEFAULT_SEED).collect();
        dataset::load(
            store.as_ref(),
            table.iter().cloned().map(Ok),
            DEFAULT_BATCH_ROWS,
            |_| {},
        )
        .await
        .map_err(|error| LabError::Store(error.to_string()))?;
        let sizes = ObjectSizes::of_rows(&table);
        Ok(Table {
            _dir: dir,
            store,
            rows: table,
            sizes,
        })
    }

    /// Writes back the original rows of the keys `spec`'s writes replaced, so that every
    /// configuration starts from the same table (writes put small bodies).
    async fn restore(&self, spec: &LoadSpec) -> Result<(), LabError> {
        let mut written: Vec<u64> = http_load::planned(spec)
            .into_iter()
            .filter(|request| request.write)
            .map(|request| request.key)
            .collect();
        written.sort_unstable();
        written.dedup();
        let rows = written
            .iter()
            .filter_map(|key| self.rows.get(key.saturating_sub(1) as usize).cloned())
            .map(Ok);
        dataset::load(self.store.as_ref(), rows, DEFAULT_BATCH_ROWS, |_| {})
            .await
            .map_err(|error| LabError::Store(error.to_string()))?;
        Ok(())
    }
}

/// Runs every configuration of `plan` against `target`. `step` is told when each
/// configuration starts; `requests_done` counts finished requests (for a progress bar).
/// Must run inside a multi-threaded tokio runtime.
pub async fn run(
    plan: &Plan,
    target: Target,
    step: &(dyn Fn(Step<'_>) + Sync),
    requests_done: Arc<AtomicU64>,
) -> Result<Results, LabError> {
    if plan.configs.is_empty() {
        return Err(LabError::Plan(
            "no configuration to run (check --only)".into(),
        ));
    }
    if let Target::Discover(url) = &target {
        return crate::deployed::run(plan, url, step, requests_done).await;
    }
    for config in &plan.configs {
        setting::policy(&config.policy).map_err(|error| LabError::Plan(error.to_string()))?;
        if target == Target::Redis {
            LocalRedis::server_args(&policy_of(&config.policy)?, 1 << 20)?;
        }
    }
    let started = Instant::now();
    let started_unix = crate::results::unix_now();
    let mut tables = BTreeMap::new();
    for config in &plan.configs {
        if let std::collections::btree_map::Entry::Vacant(entry) = tables.entry(config.rows) {
            entry.insert(Table::load(config.rows).await?);
        }
    }
    let near_setup = node_setup(plan, true).await?;
    let bare_setup = node_setup(plan, false).await?;

    // Real Redis servers are launched once; each configuration sets their policy and
    // memory (see `LocalRedis::set_budget`).
    let redis = match target {
        Target::Embedded | Target::Discover(_) => None,
        Target::Redis => {
            let first = &plan.configs[0];
            let args = LocalRedis::server_args(&policy_of(&first.policy)?, plan.budget)?;
            Some(tokio::task::block_in_place(|| LocalRedis::launch(&args))?)
        }
    };
    let mut outcomes = Vec::with_capacity(plan.configs.len());
    for (index, config) in plan.configs.iter().enumerate() {
        step(Step {
            index,
            total: plan.configs.len(),
            config,
        });
        let node_bytes = config
            .memory
            .node_bytes(plan.budget, config.topology, plan.tier_nodes);
        let tier_url = match &redis {
            None => in_process_url(config.topology, plan.tier_nodes),
            Some(servers) => redis_url(servers, config.topology)?,
        };
        let table = &tables[&config.rows];
        let tier_options = TierOptions {
            policy: policy_of(&config.policy)?,
            node_capacity_bytes: node_bytes,
            ..TierOptions::default()
        };
        let tier = deployment::open_tier(&tier_url, &tier_options).await?;
        if let Some(tier) = &tier {
            // Redis servers are reused: every configuration starts cold.
            tier.flush()
                .await
                .map_err(|error| LabError::Tier(error.to_string()))?;
        }
        if let Some(servers) = &redis {
            let policy = policy_of(&config.policy)?;
            tokio::task::block_in_place(|| servers.set_budget(&policy, node_bytes))?;
        }
        let setup = if config.near {
            &near_setup
        } else {
            &bare_setup
        };
        let nodes = deployment::start_nodes(
            Arc::clone(&table.store),
            tier.clone(),
            plan.api_nodes,
            SocketAddr::from(([127, 0, 0, 1], 0)),
            setup,
        )
        .await?;
        let spec = config.load_spec(nodes.addresses.clone(), plan.seed);
        let report = http_load::run(&spec, Arc::clone(&requests_done)).await;
        let near_evictions = nodes.nodes.iter().map(|n| n.stats().near.evictions).sum();
        let tier_evictions = tier.as_ref().and_then(|tier| tier.stats().evictions);
        nodes.stop().await?;
        let report = report.map_err(|error| LabError::Load(error.to_string()))?;
        table.restore(&spec).await?;

        let distinct_bytes = node_bytes * config.topology.distinct_nodes(plan.tier_nodes) as u64;
        let trace = offline::trace_of(&spec, &table.sizes);
        outcomes.push(outcome(
            config,
            tier_url,
            node_bytes,
            distinct_bytes,
            report,
            near_evictions,
            tier_evictions,
            offline::belady_hit_ratio(&trace, distinct_bytes),
        ));
    }
    tokio::task::block_in_place(|| drop(redis));

    let curves = curves(plan, &tables);
    Ok(Results {
        plan: plan.clone(),
        target: target.name(),
        machine: Machine::this(),
        started_unix,
        elapsed_seconds: started.elapsed().as_secs_f64(),
        outcomes,
        curves,
    })
}

/// One curve per workload of the plan, over the requests of its first configuration.
fn curves(plan: &Plan, tables: &BTreeMap<u64, Table>) -> Vec<crate::results::Curve> {
    let mut seen = std::collections::HashSet::new();
    let mut curves = Vec::new();
    for config in &plan.configs {
        if !seen.insert(config.workload_label()) {
            continue;
        }
        let table = &tables[&config.rows];
        let spec = config.load_spec(vec![SocketAddr::from(([127, 0, 0, 1], 0))], plan.seed);
        let trace = offline::trace_of(&spec, &table.sizes);
        curves.push(offline::curve(
            config.workload_label(),
            config.rows,
            &trace,
            &table.sizes,
            &plan.curve_fractions,
        ));
    }
    curves
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn outcome(
    config: &Config,
    tier_url: String,
    tier_node_bytes: u64,
    tier_distinct_bytes: u64,
    report: LoadReport,
    near_evictions: u64,
    tier_evictions: Option<u64>,
    belady_hit_ratio: f64,
) -> Outcome {
    let hits = &report.hits;
    let found = hits.near + hits.shared + hits.store;
    let ratio = |part: u64, whole: u64| {
        if whole == 0 {
            0.0
        } else {
            part as f64 / whole as f64
        }
    };
    Outcome {
        config: config.clone(),
        id: config.id(),
        tier_url,
        tier_node_bytes,
        tier_distinct_bytes,
        throughput: report.throughput,
        errors: report.error_count(),
        reads: report.reads,
        writes: report.writes,
        shares: Shares {
            near: hits.near_ratio,
            shared: hits.shared_ratio,
            store: hits.store_ratio,
        },
        near_hit_ratio: if config.near {
            ratio(hits.near, found)
        } else {
            0.0
        },
        tier_hit_ratio: ratio(hits.shared, hits.shared + hits.store),
        near_evictions,
        tier_evictions,
        belady_hit_ratio,
        latency: report.latency,
        latency_cdf: report.latency_cdf,
        timeline: report.timeline,
    }
}

/// The API nodes' settings, with or without near caches.
async fn node_setup(plan: &Plan, near: bool) -> Result<NodeSetup, LabError> {
    let config = NodeConfig {
        near_capacity: ByteSize(if near { plan.near_bytes } else { 0 }),
        policy: policy_of(&plan.near_policy)?,
        max_age: None,
        ..NodeConfig::embedded()
    };
    Ok(config.setup(ApiOptions::default()).await?)
}

fn policy_of(name: &str) -> Result<tiercache_cache::PolicySpec, LabError> {
    setting::policy(name).map_err(|error| LabError::Plan(error.to_string()))
}

/// The in-process tier of `topology`.
pub fn in_process_url(topology: Topology, tier_nodes: usize) -> String {
    match topology {
        Topology::Centralized | Topology::Deployed => "memory://".to_owned(),
        Topology::Partitioned => format!("memory-partitioned://{tier_nodes}"),
        Topology::Replicated => format!("memory-replicated://{tier_nodes}"),
    }
}

/// The local Redis topology standing for `topology`: one server, the Cluster (three
/// primaries, a replica each), a primary with two replicas.
fn redis_url(servers: &LocalRedis, topology: Topology) -> Result<String, LabError> {
    let name = match topology {
        Topology::Centralized | Topology::Deployed => "redis centralized",
        Topology::Partitioned => "redis cluster",
        Topology::Replicated => "redis replicated",
    };
    servers
        .topologies()
        .into_iter()
        .find(|(topology, _)| *topology == name)
        .map(|(_, url)| url)
        .ok_or_else(|| LabError::Plan(format!("no local Redis topology {name}")))
}
