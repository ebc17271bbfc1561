//! What the lab runs: the dimensions of a configuration, the plans (`quick`, `full`) that
//! combine them, and the `--only` filter.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;
use tiercache_bench::http_load::{KeyDistribution, LoadSpec};

/// How the shared tier's nodes share the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Topology {
    /// One node holds everything.
    Centralized,
    /// Each node owns a range of the hash slots.
    Partitioned,
    /// A primary takes the writes; every replica holds a copy and serves reads.
    Replicated,
    /// Whatever a running deployment was started with (the `--discover` target).
    Deployed,
}

impl Topology {
    /// The three, in report order.
    pub const ALL: [Topology; 3] = [
        Topology::Centralized,
        Topology::Partitioned,
        Topology::Replicated,
    ];

    /// The three, then a running deployment's: every topology a report can show.
    pub const SHOWN: [Topology; 4] = [
        Topology::Centralized,
        Topology::Partitioned,
        Topology::Replicated,
        Topology::Deployed,
    ];

    /// Its name in reports and filters.
    pub fn name(self) -> &'static str {
        match self {
            Topology::Centralized => "centralized",
            Topology::Partitioned => "partitioned",
            Topology::Replicated => "replicated",
            Topology::Deployed => "deployment",
        }
    }

    /// How many nodes it has when the lab's tiers have `tier_nodes` nodes.
    pub fn nodes(self, tier_nodes: usize) -> usize {
        match self {
            Topology::Centralized | Topology::Deployed => 1,
            Topology::Partitioned | Topology::Replicated => tier_nodes,
        }
    }

    /// How many nodes' worth of distinct objects it holds: a replica holds what the primary
    /// holds, so a replicated tier stores one node's worth however many nodes it has.
    pub fn distinct_nodes(self, tier_nodes: usize) -> usize {
        match self {
            Topology::Partitioned => tier_nodes,
            Topology::Centralized | Topology::Replicated | Topology::Deployed => 1,
        }
    }
}

impl fmt::Display for Topology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How the shared tier's memory is given out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum MemoryRule {
    /// Every node gets the budget: N partitioned nodes hold N budgets (the original lab's
    /// set-up).
    #[serde(rename = "per-node")]
    PerNode,
    /// The whole tier gets the budget, split evenly between its nodes: the fair comparison.
    #[serde(rename = "total")]
    Total,
}

impl MemoryRule {
    /// Its name in reports and filters.
    pub fn name(self) -> &'static str {
        match self {
            MemoryRule::PerNode => "per-node",
            MemoryRule::Total => "total",
        }
    }

    /// Each node's memory under this rule.
    pub fn node_bytes(self, budget: u64, topology: Topology, tier_nodes: usize) -> u64 {
        match self {
            MemoryRule::PerNode => budget,
            MemoryRule::Total => budget / topology.nodes(tier_nodes) as u64,
        }
    }
}

impl fmt::Display for MemoryRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One configuration: one run of the lab.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Config {
    /// The shared tier's topology.
    pub topology: Topology,
    /// Whether the API nodes have near caches (off: the original cache-aside set-up).
    pub near: bool,
    /// The shared tier's eviction policy.
    pub policy: String,
    /// How the shared tier's memory is given out.
    pub memory: MemoryRule,
    /// Key popularity.
    #[serde(serialize_with = "as_text")]
    pub workload: KeyDistribution,
    /// The share of requests that are writes.
    pub write_ratio: f64,
    /// Requests sent.
    pub requests: u64,
    /// Rows of the table (the keys `1..=rows`).
    pub rows: u64,
    /// Concurrent clients.
    pub clients: usize,
}

fn as_text<S: serde::Serializer>(
    value: &KeyDistribution,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

impl Config {
    /// Where every plan starts from: the centralized tier with near caches, allkeys-lfu, equal
    /// memory per node, Zipf 0.99 with 1 % writes, 8 clients.
    fn base(requests: u64, rows: u64) -> Config {
        Config {
            topology: Topology::Centralized,
            near: true,
            policy: "allkeys-lfu".to_owned(),
            memory: MemoryRule::PerNode,
            workload: KeyDistribution::Zipf(0.99),
            write_ratio: 0.01,
            requests,
            rows,
            clients: 8,
        }
    }

    /// A name unique within a plan, every dimension in a fixed order.
    pub fn id(&self) -> String {
        format!(
            "{}/{}/{}/{}/{}/w{}%/{}q/{}rows/{}c",
            self.topology,
            if self.near { "near" } else { "no-near" },
            self.policy,
            self.memory,
            self.workload,
            self.write_ratio * 100.0,
            self.requests,
            self.rows,
            self.clients,
        )
    }

    /// The load generator's spec for this configuration against `targets` with `seed`: a
    /// run is bounded at ten minutes.
    pub fn load_spec(&self, targets: Vec<SocketAddr>, seed: u64) -> LoadSpec {
        LoadSpec {
            targets,
            distribution: self.workload,
            keys: self.rows,
            requests: self.requests,
            concurrency: self.clients,
            write_ratio: self.write_ratio,
            seed,
            max_duration: Duration::from_secs(600),
            check_staleness: false,
            token: None,
            tls: None,
        }
    }

    /// The workload with its writes, as the report names it (`zipf:0.99`, `zipf:0.99 +10% writes`).
    pub fn workload_label(&self) -> String {
        if self.write_ratio > 0.0 {
            format!("{} +{}% writes", self.workload, self.write_ratio * 100.0)
        } else {
            self.workload.to_string()
        }
    }

    /// The value of dimension `name` (as `--only` names it), or `None` for an unknown one.
    pub fn dimension(&self, name: &str) -> Option<String> {
        Some(match name {
            "topology" => self.topology.to_string(),
            "near" => if self.near { "on" } else { "off" }.to_owned(),
            "policy" => self.policy.clone(),
            "memory" => self.memory.to_string(),
            "workload" => self.workload.to_string(),
            "writes" => format!("{}%", self.write_ratio * 100.0),
            "requests" => self.requests.to_string(),
            "rows" => self.rows.to_string(),
            "clients" => self.clients.to_string(),
            _ => return None,
        })
    }
}

/// The dimensions `--only` can filter on.
pub const DIMENSIONS: [&str; 9] = [
    "topology", "near", "policy", "memory", "workload", "writes", "requests", "rows", "clients",
];

/// A whole plan: the settings every run shares, and the configurations.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// `quick`, `full` or `demo`.
    pub name: String,
    /// The shared tier's memory: each node's under [`MemoryRule::PerNode`], the whole
    /// tier's under [`MemoryRule::Total`].
    pub budget: u64,
    /// Nodes of the partitioned and replicated tiers.
    pub tier_nodes: usize,
    /// API nodes (clients are spread over them).
    pub api_nodes: usize,
    /// Each API node's near cache, when on.
    pub near_bytes: u64,
    /// The near caches' policy.
    pub near_policy: String,
    /// The seed of every workload.
    pub seed: u64,
    /// Cache sizes of the offline hit-ratio-vs-memory curves, as fractions of the table.
    pub curve_fractions: Vec<f64>,
    /// The runs.
    pub configs: Vec<Config>,
}

/// The eight policies Redis has, in its order.
pub const REDIS_POLICIES: [&str; 8] = [
    "noeviction",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
];

/// Our engine's policies beyond Redis's eight.
pub const ENGINE_POLICIES: [&str; 3] = ["sieve", "s3fifo", "w-tinylfu"];

/// Rows of the two tables.
pub const SMALL_TABLE: u64 = 1_000;
/// The full Kepler-like table.
pub const FULL_TABLE: u64 = 9_564;

impl Plan {
    /// The small matrix (`--quick`, under a minute on 2 cores): every topology with LRU and
    /// LFU under both memory rules, on Zipf 0.99 and the burst, over the 1 000-row table; the
    /// three topologies without near caches, and at 1, 8 and 16 clients.
    pub fn quick(seed: u64) -> Plan {
        let base = Config::base(5_000, SMALL_TABLE);
        let workloads = [
            (KeyDistribution::Zipf(0.99), base.write_ratio),
            (KeyDistribution::Burst, base.write_ratio),
        ];
        let mut configs = grid(&base, &workloads, &["allkeys-lfu", "allkeys-lru"]);
        for topology in Topology::ALL {
            configs.push(Config {
                topology,
                near: false,
                ..base.clone()
            });
        }
        configs.extend(by_clients(&base, &[1, 16]));
        Plan {
            name: "quick".to_owned(),
            budget: 48 * 1024,
            tier_nodes: 3,
            api_nodes: 2,
            near_bytes: 16 * 1024,
            near_policy: "allkeys-lru".to_owned(),
            seed,
            curve_fractions: vec![0.02, 0.05, 0.1, 0.2, 0.4, 0.8],
            configs: dedup(configs),
        }
    }

    /// Everything (`--full`): every topology × shared-tier policy (`policies`) × memory
    /// rule × workload on the full table at 10 000 queries; the topologies without near
    /// caches; 1 000, 10 000 and 100 000 queries on both tables; 1 to 32 clients.
    pub fn full(seed: u64, policies: &[&str]) -> Plan {
        let base = Config::base(10_000, FULL_TABLE);
        // Zipf 0.99 first: the report's charts compare around the first workload.
        let workloads = [
            (KeyDistribution::Zipf(0.99), 0.01),
            (KeyDistribution::Uniform, 0.01),
            (KeyDistribution::Zipf(0.8), 0.01),
            (KeyDistribution::Zipf(1.2), 0.01),
            (KeyDistribution::Burst, 0.01),
            (KeyDistribution::Shifting, 0.01),
            (KeyDistribution::Zipf(0.99), 0.10),
        ];
        let mut configs = grid(&base, &workloads, policies);
        for topology in Topology::ALL {
            for memory in [MemoryRule::PerNode, MemoryRule::Total] {
                configs.push(Config {
                    topology,
                    near: false,
                    memory,
                    ..base.clone()
                });
            }
        }
        for rows in [SMALL_TABLE, FULL_TABLE] {
            for requests in [1_000, 10_000, 100_000] {
                for topology in Topology::ALL {
                    configs.push(Config {
                        topology,
                        rows,
                        requests,
                        ..base.clone()
                    });
                }
            }
        }
        configs.extend(by_clients(&base, &[1, 2, 4, 8, 16, 32]));
        Plan {
            name: "full".to_owned(),
            // About 6 % of the 4 MB table per node: one node holds the hottest few hundred
            // rows, three hold a fifth of the table, and every topology must evict.
            budget: 256 * 1024,
            tier_nodes: 3,
            api_nodes: 2,
            near_bytes: 64 * 1024,
            near_policy: "allkeys-lru".to_owned(),
            seed,
            curve_fractions: vec![0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.8],
            configs: dedup(configs),
        }
    }

    /// The plan for a running deployment: one configuration per workload, size and clients
    /// (the deployment fixes the rest).
    pub fn deployed(mut self) -> Plan {
        for config in &mut self.configs {
            config.topology = Topology::Deployed;
            config.near = true;
            config.policy = "deployed".to_owned();
            config.memory = MemoryRule::PerNode;
        }
        self.configs = dedup(self.configs);
        self.name = format!("{} (against a deployment)", self.name);
        self
    }

    /// Keeps the configurations `filter` accepts.
    pub fn retain(&mut self, filter: &Filter) {
        self.configs.retain(|config| filter.accepts(config));
    }
}

/// Every topology × memory rule × `policies` × `workloads` (with their write shares), the
/// rest as in `base`.
fn grid(base: &Config, workloads: &[(KeyDistribution, f64)], policies: &[&str]) -> Vec<Config> {
    let mut configs = Vec::new();
    for &(workload, write_ratio) in workloads {
        for policy in policies {
            for memory in [MemoryRule::PerNode, MemoryRule::Total] {
                for topology in Topology::ALL {
                    configs.push(Config {
                        topology,
                        policy: (*policy).to_owned(),
                        memory,
                        workload,
                        write_ratio,
                        ..base.clone()
                    });
                }
            }
        }
    }
    configs
}

/// Every topology at each of `clients`, the rest as in `base`.
fn by_clients(base: &Config, clients: &[usize]) -> Vec<Config> {
    clients
        .iter()
        .flat_map(|&clients| {
            Topology::ALL.into_iter().map(move |topology| Config {
                topology,
                clients,
                ..base.clone()
            })
        })
        .collect()
}

/// Removes repeated configurations, keeping the first of each. (The centralized tier's
/// one node gets the same memory under both rules, so both are kept: the report compares
/// within a rule.)
fn dedup(configs: Vec<Config>) -> Vec<Config> {
    let mut seen = std::collections::HashSet::new();
    configs
        .into_iter()
        .filter(|config| seen.insert(config.id()))
        .collect()
}

/// `--only DIMENSION=VALUE[,VALUE…]`, repeatable: a configuration runs when, for every
/// dimension named, its value is one of those listed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    terms: Vec<(String, Vec<String>)>,
}

impl Filter {
    /// Parses the `--only` arguments.
    pub fn parse(terms: &[String]) -> Result<Filter, String> {
        let mut filter = Filter::default();
        for term in terms {
            let (name, values) = term.split_once('=').ok_or_else(|| {
                format!("--only {term:?}: use DIMENSION=VALUE[,VALUE…], e.g. topology=partitioned")
            })?;
            let name = name.trim().to_ascii_lowercase();
            if !DIMENSIONS.contains(&name.as_str()) {
                return Err(format!(
                    "--only {term:?}: unknown dimension {name:?}; known: {}",
                    DIMENSIONS.join(", ")
                ));
            }
            let values: Vec<String> = values
                .split(',')
                .map(|value| value.trim().to_ascii_lowercase())
                .filter(|value| !value.is_empty())
                .collect();
            if values.is_empty() {
                return Err(format!("--only {term:?} names no value"));
            }
            filter.terms.push((name, values));
        }
        Ok(filter)
    }

    /// Whether `config` passes.
    pub fn accepts(&self, config: &Config) -> bool {
        self.terms.iter().all(|(name, values)| {
            config
                .dimension(name)
                .is_some_and(|value| values.contains(&value.to_ascii_lowercase()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_total_memory_splits_the_budget_and_per_node_multiplies_it() {
        let budget = 90_000;
        assert_eq!(
            MemoryRule::PerNode.node_bytes(budget, Topology::Partitioned, 3),
            90_000
        );
        assert_eq!(
            MemoryRule::Total.node_bytes(budget, Topology::Partitioned, 3),
            30_000
        );
        assert_eq!(
            MemoryRule::Total.node_bytes(budget, Topology::Centralized, 3),
            90_000
        );
        assert_eq!(Topology::Replicated.distinct_nodes(3), 1);
        assert_eq!(Topology::Partitioned.distinct_nodes(3), 3);
    }

    #[test]
    fn plans_have_unique_configurations_covering_every_topology() {
        for plan in [
            Plan::quick(1),
            Plan::full(1, &["allkeys-lru", "allkeys-lfu", "sieve"]),
        ] {
            let ids: std::collections::HashSet<String> =
                plan.configs.iter().map(Config::id).collect();
            assert_eq!(ids.len(), plan.configs.len(), "{}", plan.name);
            for topology in Topology::ALL {
                for memory in [MemoryRule::PerNode, MemoryRule::Total] {
                    assert!(
                        plan.configs
                            .iter()
                            .any(|c| c.topology == topology && c.memory == memory),
                        "{} lacks {topology} {memory}",
                        plan.name
                    );
                }
            }
        }
    }

    #[test]
    fn only_keeps_what_every_named_dimension_allows() {
        let mut plan = Plan::quick(1);
        let filter = Filter::parse(&[
            "topology=partitioned,replicated".to_owned(),
            "policy=allkeys-lfu".to_owned(),
        ])
        .unwrap();
        plan.retain(&filter);
        assert!(!plan.configs.is_empty());
        assert!(
            plan.configs
                .iter()
                .all(|c| c.topology != Topology::Centralized && c.policy == "allkeys-lfu")
        );
        assert!(Filter::parse(&["colour=red".to_owned()]).is_err());
        assert!(Filter::parse(&["topology".to_owned()]).is_err());
        assert!(Filter::parse(&["topology=".to_owned()]).is_err());
    }
}
