//! `index.html`: one self-contained page (inline CSS and SVG, no script, nothing fetched)
//! with the summary, the charts, a table per workload, and the machine and plan.

use std::fmt::Write;

use crate::matrix::{MemoryRule, Topology};
use crate::results::{Outcome, Results};

use super::charts;
use super::summary::{comparable, conclusions, reference, workloads};

/// Escapes text for HTML.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A chart with its title and what to read in it.
pub struct Figure {
    /// An id for the page's anchors, file names and tests.
    pub id: String,
    /// What it shows.
    pub caption: String,
    /// The SVG.
    pub svg: String,
}

/// Every chart of the report.
pub fn figures(results: &Results) -> Vec<Figure> {
    let Some(reference) = reference(results) else {
        return Vec::new();
    };
    let runs = comparable(results, reference);
    let same = |o: &&Outcome, vary_policy: bool, vary_memory: bool| {
        let c = &o.config;
        (vary_policy || c.policy == reference.policy)
            && (vary_memory || c.memory == reference.memory)
            && c.workload_label() == reference.workload_label()
    };
    let mut figures = Vec::new();
    let by_topology: Vec<&Outcome> = Topology::SHOWN
        .iter()
        .filter_map(|t| {
            runs.iter()
                .copied()
                .find(|o| o.config.topology == *t && same(o, false, false))
        })
        .collect();
    let label = format!(
        "{}, shared tier {} with {} ({})",
        reference.workload_label(),
        reference.policy,
        memory_phrase(reference.memory),
        if reference.near {
            "near caches on"
        } else {
            "near caches off"
        }
    );
    figures.push(Figure {
        id: "timeline".to_owned(),
        caption: format!(
            "Response time of every query in the order sent, per topology — {label}. Each run starts cold: the first queries fill the tiers."
        ),
        svg: charts::timeline(&by_topology),
    });
    figures.push(Figure {
        id: "latency-cdf".to_owned(),
        caption: format!(
            "Latency distribution per topology — {label}. Further left is faster; the tail is on the right."
        ),
        svg: charts::latency_cdf(&by_topology, "Latency CDF per topology"),
    });
    for (id, rule) in [
        ("hit-by-policy-per-node", MemoryRule::PerNode),
        ("hit-by-policy-total", MemoryRule::Total),
    ] {
        let mut policies: Vec<String> = Vec::new();
        for o in &runs {
            if !policies.contains(&o.config.policy) {
                policies.push(o.config.policy.clone());
            }
        }
        let groups: Vec<(String, Vec<(Topology, f64)>)> = policies
            .iter()
            .map(|policy| {
                let bars = Topology::SHOWN
                    .iter()
                    .filter_map(|t| {
                        runs.iter()
                            .find(|o| {
                                o.config.topology == *t
                                    && o.config.policy == *policy
                                    && o.config.memory == rule
                                    && o.config.workload_label() == reference.workload_label()
                            })
                            .map(|o| (*t, o.tier_hit_ratio))
                    })
                    .collect();
                (policy.clone(), bars)
            })
            .filter(|(_, bars): &(String, Vec<_>)| !bars.is_empty())
            .collect();
        if groups.is_empty() {
            continue;
        }
        figures.push(Figure {
            id: id.to_owned(),
            caption: format!(
                "Shared-tier hit ratio (hits / reads that reached the tier) by policy and topology, {}, {}, budget {} KiB.",
                memory_phrase(rule),
                reference.workload_label(),
                results.plan.budget / 1024
            ),
            svg: charts::grouped_bars(
                &format!("Shared-tier hit ratio by policy × topology ({})", memory_phrase(rule)),
                &groups,
            ),
        });
    }
    for (index, curve) in results.curves.iter().enumerate() {
        figures.push(Figure {
            id: format!("memory-curves-{}", index + 1),
            caption: format!(
                "Hit ratio against memory for every policy of the engine, replaying the requests of the {} runs offline through one cache; Belady's MIN (black) is the bound no policy can beat.",
                curve.workload
            ),
            svg: charts::memory_curves(curve),
        });
    }
    let mut series: Vec<(Topology, Vec<(usize, f64)>)> = Vec::new();
    for topology in Topology::SHOWN {
        let mut points: Vec<(usize, f64)> = results
            .outcomes
            .iter()
            .filter(|o| {
                let c = &o.config;
                c.topology == topology
                    && c.near == reference.near
                    && c.policy == reference.policy
                    && c.memory == reference.memory
                    && c.workload_label() == reference.workload_label()
                    && c.rows == reference.rows
                    && c.requests == reference.requests
            })
            .map(|o| (o.config.clients, o.throughput))
            .collect();
        points.sort_by_key(|p| p.0);
        if !points.is_empty() {
            series.push((topology, points));
        }
    }
    figures.push(Figure {
        id: "throughput-clients".to_owned(),
        caption: format!(
            "Throughput against the number of concurrent clients — {label}. Every client keeps one request in flight."
        ),
        svg: charts::throughput_vs_clients(&series),
    });
    let mut share_runs: Vec<(String, &Outcome)> = Vec::new();
    for near in [true, false] {
        for rule in [MemoryRule::PerNode, MemoryRule::Total] {
            for topology in Topology::SHOWN {
                if let Some(o) = results.outcomes.iter().find(|o| {
                    let c = &o.config;
                    c.topology == topology
                        && c.near == near
                        && c.memory == rule
                        && c.policy == reference.policy
                        && c.workload_label() == reference.workload_label()
                        && c.rows == reference.rows
                        && c.requests == reference.requests
                        && c.clients == reference.clients
                }) {
                    let short = match topology {
                        Topology::Centralized => "cent",
                        Topology::Partitioned => "part",
                        Topology::Replicated => "repl",
                        Topology::Deployed => "depl",
                    };
                    let rule = match rule {
                        MemoryRule::PerNode => "node",
                        MemoryRule::Total => "total",
                    };
                    let near = if near { "" } else { " no-near" };
                    share_runs.push((format!("{short} {rule}{near}"), o));
                }
            }
        }
    }
    figures.push(Figure {
        id: "tier-shares".to_owned(),
        caption: format!(
            "Which tier answered the reads: near caches, the shared tier, the store — {}, {} (part: partitioned, repl: replicated, cent: centralized; node: equal memory per node, total: equal total memory).",
            reference.workload_label(),
            reference.policy
        ),
        svg: charts::tier_shares("Share of reads answered by each tier", &share_runs),
    });
    figures
}

fn memory_phrase(rule: MemoryRule) -> &'static str {
    match rule {
        MemoryRule::PerNode => "equal memory per node",
        MemoryRule::Total => "equal total memory",
    }
}

const STYLE: &str = "
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:0 auto;max-width:1180px;padding:16px 24px;color:#222;background:#fafafa}
h1{font-size:1.6em;margin-bottom:4px} h2{margin-top:32px;border-bottom:1px solid #ddd;padding-bottom:4px}
.meta{color:#555;font-size:.92em} .summary li{margin:6px 0}
.figures{display:grid;grid-template-columns:repeat(auto-fit,minmax(560px,1fr));gap:18px}
figure{margin:0;background:#fff;border:1px solid #e3e3e3;border-radius:6px;padding:8px}
figure svg{width:100%;height:auto} figcaption{font-size:.88em;color:#444;padding:4px 6px}
table{border-collapse:collapse;font-size:.85em;margin:8px 0 18px;background:#fff}
th,td{border:1px solid #e0e0e0;padding:3px 7px;text-align:right} th{background:#f0f0f0}
td.l,th.l{text-align:left} tr.best td{background:#eef7ee;font-weight:600}
code{background:#eee;padding:1px 4px;border-radius:3px}
";

/// The whole page, with `figures` (see [`figures`]).
pub fn page(results: &Results, figures: &[Figure]) -> String {
    let mut html = String::new();
    let plan = &results.plan;
    let m = &results.machine;
    let _ = write!(
        html,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>tiercache lab report ({})</title><style>{STYLE}</style></head><body>\n",
        escape(&plan.name)
    );
    let _ = write!(
        html,
        "<h1>tiercache lab report</h1>\n<p class=\"meta\">Plan <b>{}</b>: {} configurations on the <b>{}</b> target in {:.1} s, seed {}. \
         Machine: {} CPUs, {}{}, tiercache {} ({} build). \
         Shared tier: {} nodes for the partitioned and replicated topologies, budget {} KiB (per node or in total, by the memory rule); \
         {} API nodes with {} KiB near caches ({}) when on. Files: <a href=\"results.json\">results.json</a>, <a href=\"results.csv\">results.csv</a>.</p>\n",
        escape(&plan.name),
        results.outcomes.len(),
        escape(&results.target),
        results.elapsed_seconds,
        plan.seed,
        m.cpus,
        escape(&m.os),
        m.kernel
            .as_deref()
            .map(|k| format!(" (kernel {})", escape(k)))
            .unwrap_or_default(),
        escape(&m.tiercache),
        if m.optimized {
            "release"
        } else {
            "debug: latencies not comparable with a release build"
        },
        plan.tier_nodes,
        plan.budget / 1024,
        plan.api_nodes,
        plan.near_bytes / 1024,
        escape(&plan.near_policy),
    );
    html.push_str("<h2 id=\"summary\">Summary</h2>\n<ul class=\"summary\">\n");
    for line in conclusions(results) {
        let _ = writeln!(html, "<li>{}</li>", escape(&line));
    }
    html.push_str("</ul>\n<h2 id=\"charts\">Charts</h2>\n<div class=\"figures\">\n");
    for figure in figures {
        let _ = writeln!(
            html,
            "<figure id=\"{}\" class=\"chart\">{}<figcaption>{}</figcaption></figure>",
            figure.id,
            figure.svg,
            escape(&figure.caption)
        );
    }
    html.push_str("</div>\n<h2 id=\"tables\">Results by workload</h2>\n");
    html.push_str(
        "<p class=\"meta\">near / shared / store: the share of reads each tier answered. tier hit: shared-tier hits over the reads that reached it. \
         Belady: the best hit ratio any eviction policy could reach on the same requests with the tier's memory of distinct objects. The highlighted row sent the fewest reads to the store.</p>\n",
    );
    let all: Vec<&Outcome> = results.outcomes.iter().collect();
    for workload in workloads(&all) {
        let rows: Vec<&Outcome> = all
            .iter()
            .copied()
            .filter(|o| o.config.workload_label() == workload)
            .collect();
        let best = super::summary::winner(rows.iter().copied()).map(|o| o.id.clone());
        let _ = writeln!(html, "<h3>{}</h3>", escape(&workload));
        html.push_str(
            "<table><tr><th class=\"l\">topology</th><th class=\"l\">near</th><th class=\"l\">policy</th><th class=\"l\">memory</th>\
             <th>tier KiB/node</th><th>rows</th><th>queries</th><th>clients</th><th>req/s</th><th>p50 µs</th><th>p90 µs</th><th>p99 µs</th><th>p99.9 µs</th>\
             <th>near</th><th>shared</th><th>store</th><th>tier hit</th><th>Belady</th><th>near evict.</th><th>tier evict.</th><th>errors</th></tr>\n",
        );
        for o in rows {
            let c = &o.config;
            let _ = writeln!(
                html,
                "<tr{}><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
                 <td>{:.0}</td><td>{:.0}</td><td>{:.0}</td><td>{:.0}</td><td>{:.0}</td><td>{:.1}%</td><td>{:.1}%</td><td>{:.1}%</td><td>{:.1}%</td><td>{:.1}%</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                if best.as_ref() == Some(&o.id) {
                    " class=\"best\""
                } else {
                    ""
                },
                c.topology,
                if c.near { "on" } else { "off" },
                escape(&c.policy),
                c.memory,
                o.tier_node_bytes / 1024,
                c.rows,
                c.requests,
                c.clients,
                o.throughput,
                o.latency.p50_us,
                o.latency.p90_us,
                o.latency.p99_us,
                o.latency.p999_us,
                o.shares.near * 100.0,
                o.shares.shared * 100.0,
                o.shares.store * 100.0,
                o.tier_hit_ratio * 100.0,
                o.belady_hit_ratio * 100.0,
                o.near_evictions,
                o.tier_evictions.map_or("–".to_owned(), |n| n.to_string()),
                o.errors,
            );
        }
        html.push_str("</table>\n");
    }
    html.push_str(
        "<h2 id=\"method\">How it was measured</h2>\n<p class=\"meta\">Every configuration starts cold: a fresh shared tier and fresh API nodes in one process, \
         over a SQLite store holding the Kepler-like table (rows written back after each run, so every run reads the same table). \
         Clients send HTTP requests to the API nodes, one request in flight each; keys follow the workload, with popularity ranks scattered over the row ids; \
         writes replace the object in the store and invalidate every tier. Latencies are as the clients saw them. \
         <code>burst</code>: for the first 30% of the run 80% of requests go to 16 keys, then Zipf 0.8 with those keys cold. \
         <code>shifting</code>: Zipf 0.99 whose popular keys change in each quarter of the run. \
         Reproduce with <code>tiercache lab --",
    );
    let _ = write!(
        html,
        "{} --seed {}</code>.</p>\n</body></html>\n",
        escape(&plan.name),
        plan.seed
    );
    html
}
