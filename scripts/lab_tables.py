#!/usr/bin/env python3
"""BENCHMARKS.md's lab tables from a report's results.json.

One table per workload: for each topology and memory rule (near caches on, the plan's
default table, requests and clients), the shared tier's hit ratio under a few policies,
the best policy and its hit ratio, Belady's bound at the same memory, and the share of
reads that reached the store with allkeys-lfu. Then the sizes and the near-caches-off rows.

Usage: python3 scripts/lab_tables.py lab-full/results.json
"""

import json
import sys

POLICIES = ["allkeys-lru", "allkeys-lfu", "sieve", "s3fifo", "w-tinylfu"]
TOPOLOGIES = ["centralized", "partitioned", "replicated"]
RULES = [("per-node", "equal per node"), ("total", "equal total")]


def workload_label(config):
    writes = config["write_ratio"] * 100
    label = config["workload"]
    return f"{label}, {writes:g}% writes"


def pct(value):
    return f"{value * 100:.1f}"


def main(path):
    results = json.load(open(path))
    outcomes = results["outcomes"]
    reference = next(
        (c for c in results["plan"]["configs"] if c["near"] and c["policy"] == "allkeys-lfu"),
        results["plan"]["configs"][0],
    )

    def comparable(o):
        c = o["config"]
        return (
            c["near"]
            and c["rows"] == reference["rows"]
            and c["requests"] == reference["requests"]
            and c["clients"] == reference["clients"]
        )

    runs = [o for o in outcomes if comparable(o)]
    workloads = []
    for o in runs:
        label = workload_label(o["config"])
        if label not in workloads:
            workloads.append(label)
    plan = results["plan"]
    print(
        f"Plan `{plan['name']}`, seed {plan['seed']}: {len(outcomes)} configurations in "
        f"{results['elapsed_seconds']:.0f} s; budget {plan['budget'] // 1024} KiB, "
        f"{plan['tier_nodes']} tier nodes, {plan['api_nodes']} API nodes with "
        f"{plan['near_bytes'] // 1024} KiB near caches; {reference['rows']} rows, "
        f"{reference['requests']} requests, {reference['clients']} clients per run.\n"
    )
    for workload in workloads:
        print(f"**{workload}** — shared-tier hit ratio (%) by policy\n")
        header = ["topology", "memory"] + POLICIES + ["best policy", "best", "Belady", "store % (lfu)"]
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for rule, rule_name in RULES:
            for topology in TOPOLOGIES:
                rows = [
                    o
                    for o in runs
                    if workload_label(o["config"]) == workload
                    and o["config"]["memory"] == rule
                    and o["config"]["topology"] == topology
                ]
                if not rows:
                    continue
                by_policy = {o["config"]["policy"]: o for o in rows}
                best = max(rows, key=lambda o: o["tier_hit_ratio"])
                lfu = by_policy.get("allkeys-lfu")
                cells = [topology, rule_name]
                cells += [pct(by_policy[p]["tier_hit_ratio"]) if p in by_policy else "–" for p in POLICIES]
                cells += [
                    best["config"]["policy"],
                    pct(best["tier_hit_ratio"]),
                    pct(best["belady_hit_ratio"]),
                    pct(lfu["shares"]["store"]) if lfu else "–",
                ]
                print("| " + " | ".join(cells) + " |")
        print()

    sizes = [
        o
        for o in outcomes
        if o["config"]["near"]
        and o["config"]["policy"] == reference["policy"]
        and o["config"]["memory"] == reference["memory"]
        and o["config"]["workload"] == reference["workload"]
        and o["config"]["write_ratio"] == reference["write_ratio"]
        and o["config"]["clients"] == reference["clients"]
    ]
    print(f"**Sizes** — {workload_label(reference)}, {reference['policy']}, equal memory per node\n")
    print("| rows | queries | topology | req/s | p50 µs | p99 µs | near % | shared % | store % | tier hit % |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for o in sorted(sizes, key=lambda o: (o["config"]["rows"], o["config"]["requests"], TOPOLOGIES.index(o["config"]["topology"]))):
        c, s = o["config"], o["shares"]
        print(
            f"| {c['rows']} | {c['requests']} | {c['topology']} | {o['throughput']:.0f} | "
            f"{o['latency']['p50_us']:.0f} | {o['latency']['p99_us']:.0f} | {pct(s['near'])} | "
            f"{pct(s['shared'])} | {pct(s['store'])} | {pct(o['tier_hit_ratio'])} |"
        )
    print()
    off = [o for o in outcomes if not o["config"]["near"]]
    if off:
        print("**Near caches off** (the original cache-aside set-up)\n")
        print("| workload | policy | topology | memory | req/s | p50 µs | p99 µs | shared % | store % | tier hit % | Belady % |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for o in off:
            c, s = o["config"], o["shares"]
            print(
                f"| {workload_label(c)} | {c['policy']} | {c['topology']} | {c['memory']} | {o['throughput']:.0f} | {o['latency']['p50_us']:.0f} | "
                f"{o['latency']['p99_us']:.0f} | {pct(s['shared'])} | {pct(s['store'])} | "
                f"{pct(o['tier_hit_ratio'])} | {pct(o['belady_hit_ratio'])} |"
            )
        print()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
