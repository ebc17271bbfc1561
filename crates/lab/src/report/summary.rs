//! The report's generated conclusions: the winner per workload and memory rule, whether
//! the original lab's "partitioned + LFU" holds, and what equal total memory changes.

use crate::matrix::{Config, MemoryRule, Topology};
use crate::results::{Outcome, Results};

/// The runs comparable with the plan's reference configuration: near caches as in it, the
/// same table, request count and clients (topology, policy, memory and workload vary).
pub fn comparable<'a>(results: &'a Results, reference: &Config) -> Vec<&'a Outcome> {
    results
        .outcomes
        .iter()
        .filter(|o| {
            let c = &o.config;
            c.near == reference.near
                && c.rows == reference.rows
                && c.requests == reference.requests
                && c.clients == reference.clients
        })
        .collect()
}

/// The configuration the charts and the summary compare around: the plan's first with
/// near caches and the original lab's winning policy (`allkeys-lfu`), else its first.
pub fn reference(results: &Results) -> Option<&Config> {
    let configs = &results.plan.configs;
    configs
        .iter()
        .find(|c| c.near && c.policy == REFERENCE_POLICY)
        .or_else(|| configs.first())
}

/// The policy the original lab found best.
pub const REFERENCE_POLICY: &str = "allkeys-lfu";

/// The workloads of `runs`, in order of first appearance.
pub fn workloads(runs: &[&Outcome]) -> Vec<String> {
    let mut seen = Vec::new();
    for run in runs {
        let label = run.config.workload_label();
        if !seen.contains(&label) {
            seen.push(label);
        }
    }
    seen
}

/// The run that sent the fewest reads to the store (the highest throughput among equals).
pub fn winner<'a>(runs: impl Iterator<Item = &'a Outcome>) -> Option<&'a Outcome> {
    runs.min_by(|a, b| {
        a.shares
            .store
            .total_cmp(&b.shares.store)
            .then(b.throughput.total_cmp(&a.throughput))
    })
}

/// The best shared-tier hit ratio of `topology` over the policies of `runs`.
fn best_tier_hit(runs: &[&Outcome], topology: Topology) -> Option<f64> {
    runs.iter()
        .filter(|o| o.config.topology == topology)
        .map(|o| o.tier_hit_ratio)
        .max_by(f64::total_cmp)
}

/// Store shares closer than this (1 point) are a tie.
pub const TIE_POINTS: f64 = 0.01;

/// Whether `policy` evicts by frequency (Redis's LFU, or W-TinyLFU's admission by frequency).
fn is_lfu(policy: &str) -> bool {
    policy.contains("lfu")
}

fn rule_phrase(rule: MemoryRule) -> &'static str {
    match rule {
        MemoryRule::PerNode => "equal memory per node",
        MemoryRule::Total => "equal total memory",
    }
}

/// The summary's sentences.
pub fn conclusions(results: &Results) -> Vec<String> {
    let Some(reference) = reference(results) else {
        return vec!["Nothing ran.".to_owned()];
    };
    let runs = comparable(results, reference);
    let mut lines = Vec::new();
    let mut holds = Vec::new();
    for rule in [MemoryRule::PerNode, MemoryRule::Total] {
        let mut won = 0;
        let mut of = 0;
        for workload in workloads(&runs) {
            let candidates: Vec<&Outcome> = runs
                .iter()
                .copied()
                .filter(|o| o.config.memory == rule && o.config.workload_label() == workload)
                .collect();
            let Some(best) = winner(candidates.iter().copied()) else {
                continue;
            };
            of += 1;
            // The best run of another topology: a margin under TIE_POINTS is a tie, not a
            // win (the runs are single, on a noisy machine).
            let rival = winner(
                candidates
                    .iter()
                    .copied()
                    .filter(|o| o.config.topology != best.config.topology),
            );
            let margin = rival.map_or(1.0, |r| r.shares.store - best.shares.store);
            let clear = margin >= TIE_POINTS;
            // Policies of the winning topology within a tie of the best: single runs cannot
            // tell them apart.
            let mut equals: Vec<&str> = candidates
                .iter()
                .filter(|o| {
                    o.config.topology == best.config.topology
                        && o.id != best.id
                        && o.shares.store - best.shares.store < TIE_POINTS
                })
                .map(|o| o.config.policy.as_str())
                .collect();
            equals.sort_unstable();
            let lfu_among_best = is_lfu(&best.config.policy) || equals.iter().any(|p| is_lfu(p));
            if clear && best.config.topology == Topology::Partitioned && lfu_among_best {
                won += 1;
            }
            let others = candidates
                .iter()
                .filter(|o| o.config.topology == best.config.topology && o.id != best.id)
                .count();
            let equals = if equals.is_empty() {
                String::new()
            } else if equals.len() == others && others > 1 {
                format!(
                    " (every other policy within {:.0} point: the policy hardly matters here)",
                    TIE_POINTS * 100.0
                )
            } else {
                format!(
                    " (within {:.0} point with the same topology: {})",
                    TIE_POINTS * 100.0,
                    equals.join(", ")
                )
            };
            let how = match rival {
                Some(rival) if !clear => format!(
                    "ties with {} + {} ({:.1}% of reads reached the store against {:.1}%)",
                    rival.config.topology,
                    rival.config.policy,
                    best.shares.store * 100.0,
                    rival.shares.store * 100.0
                ),
                _ => format!(
                    "wins — the store answered {:.1}% of reads",
                    best.shares.store * 100.0
                ),
            };
            lines.push(format!(
                "{workload}, {}: {} + {}{equals} {how}; its shared-tier hit ratio {:.1}%, Belady's bound at its memory {:.1}%.",
                rule_phrase(rule),
                best.config.topology,
                best.config.policy,
                best.tier_hit_ratio * 100.0,
                best.belady_hit_ratio * 100.0,
            ));
        }
        if of > 0 {
            holds.push((rule, won, of));
        }
    }
    for (rule, won, of) in holds {
        let verdict = if won == of {
            "holds"
        } else if won == 0 {
            "does not hold"
        } else {
            "holds only in part"
        };
        lines.push(format!(
            "\"Partitioned + LFU serves best\" {verdict} at {}: the partitioned tier won clearly (by at least {:.0} point of store share over every other topology) with an LFU policy among its best on {won} of {of} workloads.",
            rule_phrase(rule),
            TIE_POINTS * 100.0
        ));
    }
    // What equal total memory does to the partitioned tier's advantage.
    for workload in workloads(&runs) {
        let of_rule = |rule: MemoryRule| -> Vec<&Outcome> {
            runs.iter()
                .copied()
                .filter(|o| o.config.memory == rule && o.config.workload_label() == workload)
                .collect()
        };
        let per_node = of_rule(MemoryRule::PerNode);
        let total = of_rule(MemoryRule::Total);
        let pair = |set: &[&Outcome]| {
            Some((
                best_tier_hit(set, Topology::Partitioned)?,
                best_tier_hit(set, Topology::Centralized)?,
            ))
        };
        if let (Some((p1, c1)), Some((p2, c2))) = (pair(&per_node), pair(&total)) {
            let survives = if p2 > c2 + 0.02 {
                "survives: partitioning still helps"
            } else if p2 + 0.02 < c2 {
                "reverses: the single node does better"
            } else {
                "disappears: the two are within 2 points"
            };
            lines.push(format!(
                "{workload}: at equal memory per node the partitioned tier's hit ratio is {:.1}% against the centralized {:.1}%; at equal total memory {:.1}% against {:.1}% — the advantage {survives}.",
                p1 * 100.0,
                c1 * 100.0,
                p2 * 100.0,
                c2 * 100.0,
            ));
        }
    }
    // LFU against LRU where the original said LFU should win: the burst.
    for workload in workloads(&runs)
        .into_iter()
        .filter(|w| w.starts_with("burst"))
    {
        let hit = |policy: &str| {
            runs.iter()
                .filter(|o| o.config.workload_label() == workload && o.config.policy == policy)
                .map(|o| o.tier_hit_ratio)
                .sum::<f64>()
        };
        let count = |policy: &str| {
            runs.iter()
                .filter(|o| o.config.workload_label() == workload && o.config.policy == policy)
                .count()
        };
        let (lfu_n, lru_n) = (count("allkeys-lfu"), count("allkeys-lru"));
        if lfu_n > 0 && lru_n > 0 {
            let (lfu, lru) = (
                hit("allkeys-lfu") / lfu_n as f64,
                hit("allkeys-lru") / lru_n as f64,
            );
            lines.push(format!(
                "{workload}: allkeys-lfu's mean shared-tier hit ratio {:.1}% against allkeys-lru's {:.1}% — {}.",
                lfu * 100.0,
                lru * 100.0,
                if lfu > lru {
                    "frequency kept the lasting favourites through the burst"
                } else {
                    "LFU did not beat LRU here"
                }
            ));
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use tiercache_bench::http_load::KeyDistribution;

    use super::*;
    use crate::matrix::{Config, Plan};
    use crate::results::{Machine, Shares};

    fn run(topology: Topology, policy: &str, memory: MemoryRule, store: f64) -> Outcome {
        let config = Config {
            topology,
            near: true,
            policy: policy.to_owned(),
            memory,
            workload: KeyDistribution::Zipf(0.99),
            write_ratio: 0.01,
            requests: 1000,
            rows: 100,
            clients: 4,
        };
        Outcome {
            id: config.id(),
            config,
            tier_url: String::new(),
            tier_node_bytes: 0,
            tier_distinct_bytes: 0,
            throughput: 1000.0,
            latency: Default::default(),
            reads: 990,
            writes: 10,
            errors: 0,
            shares: Shares {
                near: 0.5,
                shared: 0.5 - store,
                store,
            },
            near_hit_ratio: 0.5,
            tier_hit_ratio: 1.0 - store * 2.0,
            near_evictions: 0,
            tier_evictions: None,
            belady_hit_ratio: 0.9,
            latency_cdf: Vec::new(),
            timeline: Vec::new(),
        }
    }

    fn results(outcomes: Vec<Outcome>) -> Results {
        let mut plan = Plan::quick(1);
        plan.configs = outcomes.iter().map(|o| o.config.clone()).collect();
        Results {
            plan,
            target: "embedded".into(),
            machine: Machine::this(),
            started_unix: 0,
            elapsed_seconds: 1.0,
            outcomes,
            curves: Vec::new(),
        }
    }

    #[test]
    fn a_clear_win_holds_a_near_tie_does_not() {
        use MemoryRule::{PerNode, Total};
        use Topology::{Centralized, Partitioned, Replicated};
        let lines = conclusions(&results(vec![
            run(Centralized, "allkeys-lfu", PerNode, 0.30),
            run(Partitioned, "allkeys-lfu", PerNode, 0.20),
            run(Replicated, "allkeys-lfu", PerNode, 0.31),
            run(Centralized, "allkeys-lfu", Total, 0.300),
            run(Partitioned, "allkeys-lfu", Total, 0.297),
            run(Replicated, "allkeys-lfu", Total, 0.40),
        ]));
        let text = lines.join("\n");
        assert!(
            text.contains(
                "zipf:0.99 +1% writes, equal memory per node: partitioned + allkeys-lfu wins"
            ),
            "{text}"
        );
        // 0.3 point ahead is a tie, named as one, and does not count for the claim.
        assert!(
            text.contains(
                "equal total memory: partitioned + allkeys-lfu ties with centralized + allkeys-lfu"
            ),
            "{text}"
        );
        assert!(text.contains("\"Partitioned + LFU serves best\" holds at equal memory per node"));
        assert!(
            text.contains("\"Partitioned + LFU serves best\" does not hold at equal total memory")
        );
        assert!(text.contains("the advantage disappears"), "{text}");
    }

    #[test]
    fn a_win_with_a_recency_policy_alone_does_not_count_for_lfu() {
        use MemoryRule::PerNode;
        use Topology::{Centralized, Partitioned};
        let lines = conclusions(&results(vec![
            run(Centralized, "allkeys-lru", PerNode, 0.30),
            run(Partitioned, "allkeys-lru", PerNode, 0.20),
            run(Partitioned, "allkeys-lfu", PerNode, 0.25),
        ]));
        let text = lines.join("\n");
        assert!(text.contains("partitioned + allkeys-lru wins"), "{text}");
        assert!(
            text.contains(
                "\"Partitioned + LFU serves best\" does not hold at equal memory per node"
            ),
            "{text}"
        );
    }
}
