//! The `--discover` target: a plan's workloads, sizes and clients against a running
//! deployment, whose API nodes are found in the binder of its store.
//!
//! The deployment fixes its topology, policies, memory and near caches, and keeps its
//! caches warm between runs: each run measures the deployment as it is. Evictions are the
//! nodes' own counters, read before and after each run. Belady's bound assumes the table
//! the deployment serves is the Kepler-like one `tiercache up` loads.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use tiercache_bench::http_load::{self, Connection};
use tiercache_node::StatsBody;
use tiercache_store::dataset::kepler;

use crate::LabError;
use crate::matrix::Plan;
use crate::offline::{self, ObjectSizes};
use crate::results::{Machine, Results};
use crate::run::{Step, outcome};

/// Runs `plan` against the API nodes registered in the store at `url`.
pub(crate) async fn run(
    plan: &Plan,
    url: &str,
    step: &(dyn Fn(Step<'_>) + Sync),
    requests_done: Arc<AtomicU64>,
) -> Result<Results, LabError> {
    let started = Instant::now();
    let started_unix = crate::results::unix_now();
    let entries = tiercache_deploy::lookup(url, &[tiercache_deploy::API_ROLE]).await?;
    let mut targets = Vec::new();
    for entry in &entries {
        let address = entry.address.trim_start_matches("http://");
        let address: SocketAddr = address.parse().map_err(|_| {
            LabError::Plan(format!(
                "API node {} registered an address that is not HOST:PORT: {}",
                entry.id, entry.address
            ))
        })?;
        targets.push(address);
    }
    if targets.is_empty() {
        return Err(LabError::Plan(format!(
            "no live API node is registered in the store at {url}"
        )));
    }
    // The table sizes, generated once per table.
    let mut tables: BTreeMap<u64, ObjectSizes> = BTreeMap::new();
    let mut outcomes = Vec::with_capacity(plan.configs.len());
    for (index, config) in plan.configs.iter().enumerate() {
        step(Step {
            index,
            total: plan.configs.len(),
            config,
        });
        let sizes = tables.entry(config.rows).or_insert_with(|| {
            let rows: Vec<_> = kepler::rows(config.rows as usize, kepler::DEFAULT_SEED).collect();
            ObjectSizes::of_rows(&rows)
        });
        let before = stats(&targets).await?;
        let spec = config.load_spec(targets.clone(), plan.seed);
        let report = http_load::run(&spec, Arc::clone(&requests_done))
            .await
            .map_err(|error| LabError::Load(error.to_string()))?;
        let after = stats(&targets).await?;
        let near_evictions = after
            .iter()
            .zip(&before)
            .map(|(a, b)| {
                a.stats
                    .near
                    .evictions
                    .saturating_sub(b.stats.near.evictions)
            })
            .sum();
        let tier_evictions = after.first().zip(before.first()).and_then(|(a, b)| {
            let evicted = |s: &StatsBody| s.stats.shared.tier_totals.and_then(|t| t.evictions);
            Some(evicted(a)?.saturating_sub(evicted(b)?))
        });
        let tier = after
            .first()
            .and_then(|s| s.tier.clone())
            .unwrap_or_else(|| "no shared tier".to_owned());
        // The deployment's memory is its own: the bound is given at the table's size.
        let trace = offline::trace_of(&spec, sizes);
        let bound = offline::belady_hit_ratio(&trace, sizes.total());
        outcomes.push(outcome(
            config,
            tier,
            0,
            0,
            report,
            near_evictions,
            tier_evictions,
            bound,
        ));
    }
    Ok(Results {
        plan: plan.clone(),
        target: format!("deployment at {url}"),
        machine: Machine::this(),
        started_unix,
        elapsed_seconds: started.elapsed().as_secs_f64(),
        outcomes,
        curves: Vec::new(),
    })
}

/// Every target's `/v1/stats`, in order.
async fn stats(targets: &[SocketAddr]) -> Result<Vec<StatsBody>, LabError> {
    let mut all = Vec::with_capacity(targets.len());
    for &target in targets {
        let failed = |error: String| LabError::Load(format!("{target}/v1/stats: {error}"));
        let mut connection = Connection::open(target).await.map_err(failed)?;
        let request = connection.get("/v1/stats");
        let (status, body) = connection.exchange(request).await.map_err(failed)?;
        if status != 200 {
            return Err(failed(format!("answered {status}")));
        }
        all.push(serde_json::from_slice(&body).map_err(|e| failed(e.to_string()))?);
    }
    Ok(all)
}
