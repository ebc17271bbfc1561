#!/usr/bin/env python3
"""Print the hit-ratio table of BENCHMARKS.md: every policy on every workload, at 1% and 10%.

Runs the release binary (`cargo build --release` first) once per workload and capacity,
100 000 objects and 1 000 000 requests, seed 42, and prints a Markdown table of miss ratios
with Belady's optimum as the last row. With --libcachesim it also writes the Zipf 1.0 trace
and asks libCacheSim (pip install libcachesim==0.3.5) for its S3-FIFO and W-TinyLFU miss
ratios on the very same requests, for the "best policy vs libCacheSim W-TinyLFU" row.

    python3 scripts/hit_ratio_table.py [--libcachesim]
"""
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
BINARY = os.path.join(ROOT, "target", "release", "tiercache")
WORKLOADS = ["zipf:0.8", "zipf:1.0", "zipf:1.2", "scan-mix", "shifting"]
CAPACITIES = ["1%", "10%"]
COMMON = ["--objects", "100000", "--requests", "1000000", "--seed", "42", "--json", "--no-progress"]


def sim(workload, capacity, extra=()):
    out = subprocess.run([BINARY, "sim", "--workload", workload, "--capacity", capacity, *COMMON, *extra],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def main():
    columns = [(w, c) for w in WORKLOADS for c in CAPACITIES]
    reports = {col: sim(*col) for col in columns}
    policies = [r["policy"] for r in reports[columns[0]]["results"]]
    print("| policy | " + " | ".join(f"{w} @{c}" for w, c in columns) + " |")
    print("|---|" + "---:|" * len(columns))
    for policy in policies:
        cells = []
        for col in columns:
            ratio = next(r["miss_ratio"] for r in reports[col]["results"] if r["policy"] == policy)
            cells.append(f"{ratio:.4f}")
        print(f"| {policy} | " + " | ".join(cells) + " |")
    if "--libcachesim" in sys.argv:
        import libcachesim as lcs
        print()
        print("| Zipf 1.0 @10%, same trace | miss ratio |")
        print("|---|---:|")
        with tempfile.TemporaryDirectory() as tmp:
            trace = os.path.join(tmp, "zipf1.oracleGeneral.bin")
            ours = sim("zipf:1.0", "10%", ["--write-trace", trace])
            capacity = ours["capacity"]
            reader = lcs.TraceReader(trace, lcs.TraceType.ORACLE_GENERAL_TRACE)
            for name, ctor in [("libCacheSim S3FIFO", lcs.S3FIFO), ("libCacheSim WTinyLFU", lcs.WTinyLFU),
                               ("libCacheSim LRU", lcs.LRU), ("libCacheSim Belady", lcs.Belady)]:
                miss_ratio, _ = ctor(capacity).process_trace(reader)
                print(f"| {name} | {miss_ratio:.4f} |")
            for r in ours["results"]:
                if r["policy"] in ("s3fifo", "w-tinylfu", "sieve", "allkeys-lru", "belady"):
                    print(f"| tiercache {r['policy']} | {r['miss_ratio']:.4f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
