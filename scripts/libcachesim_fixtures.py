#!/usr/bin/env python3
"""Regenerate the libCacheSim reference fixtures used by the differential test.

What it does:
  1. generates a few seeded traces (numpy) and writes them under
     crates/bench/tests/fixtures/ (CSV, and one in libCacheSim's oracleGeneral format);
  2. replays each trace through libCacheSim (PyPI package `libcachesim`, 0.3.5) at several
     capacities with unit object sizes, for FIFO, LRU, Sieve, S3FIFO, WTinyLFU and Belady
     (default parameters: S3FIFO small 0.1 / ghost 0.9 / threshold 2; WTinyLFU window 0.01,
     SLRU main);
  3. writes the miss counts to crates/bench/tests/fixtures/libcachesim.json.

The Rust test (crates/bench/tests/libcachesim_differential.rs) reads the committed traces
and numbers; it needs no Python. Run this only to change the traces or capacities:

    pip install libcachesim==0.3.5 numpy
    python3 scripts/libcachesim_fixtures.py
"""
import json
import os
import struct
import sys
import tempfile

import numpy as np
import libcachesim as lcs

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
FIXTURES = os.path.join(ROOT, "crates", "bench", "tests", "fixtures")
PERCENTS = [1, 5, 10, 25]
POLICIES = {
    "fifo": lcs.FIFO,
    "allkeys-lru": lcs.LRU,
    "sieve": lcs.Sieve,
    "s3fifo": lcs.S3FIFO,
    "w-tinylfu": lcs.WTinyLFU,
    "belady": lcs.Belady,
}


def zipf_ids(rng, n_req, n_obj, alpha):
    p = np.arange(1, n_obj + 1, dtype=np.float64) ** (-alpha)
    p /= p.sum()
    # a fixed random permutation so popularity rank and id are unrelated
    perm = rng.permutation(n_obj) + 1
    return perm[rng.choice(n_obj, size=n_req, p=p)]


def trace_zipf(seed, n_req, n_obj, alpha):
    return [int(x) for x in zipf_ids(np.random.default_rng(seed), n_req, n_obj, alpha)]


def trace_scan_mix(seed, n_req, n_obj):
    """Zipf 0.8 with sequential scans over objects the Zipf part never asks for."""
    rng = np.random.default_rng(seed)
    ids = zipf_ids(rng, n_req, n_obj, 0.8)
    out, scan_next = [], n_obj + 1
    for i, x in enumerate(ids):
        if i % 1000 == 0:
            for _ in range(300):
                out.append(scan_next)
                scan_next = n_obj + 1 + (scan_next - n_obj) % (3 * n_obj)
        out.append(int(x))
    return out[:n_req]


def trace_shifting(seed, n_req, n_obj):
    """Zipf 1.0 whose hot set moves five times."""
    rng = np.random.default_rng(seed)
    out = []
    phase = n_req // 5
    for _ in range(5):
        out.extend(int(x) for x in zipf_ids(rng, phase, n_obj, 1.0))
    return out


def next_accesses(ids):
    nxt, last = [-1] * len(ids), {}
    for i in range(len(ids) - 1, -1, -1):
        nxt[i] = last.get(ids[i], -1)
        last[ids[i]] = i
    return nxt


def write_oracle_general(path, ids):
    rec = struct.Struct("<IQIq")
    with open(path, "wb") as f:
        for i, (oid, na) in enumerate(zip(ids, next_accesses(ids))):
            f.write(rec.pack(i, oid, 1, na))


def write_csv(path, ids):
    with open(path, "w") as f:
        f.write("".join(f"{x}\n" for x in ids))


def main():
    traces = [
        ("zipf1.0.csv", "csv", trace_zipf(1, 40_000, 8_000, 1.0)),
        ("zipf0.7.csv", "csv", trace_zipf(2, 40_000, 8_000, 0.7)),
        ("scan-mix.csv", "csv", trace_scan_mix(3, 40_000, 6_000)),
        ("shifting.oracleGeneral.bin", "oracle-general", trace_shifting(4, 12_000, 3_000)),
    ]
    cases = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, fmt, ids in traces:
            path = os.path.join(FIXTURES, name)
            if fmt == "csv":
                write_csv(path, ids)
            else:
                write_oracle_general(path, ids)
            binary = os.path.join(tmp, name + ".oracleGeneral.bin")
            write_oracle_general(binary, ids)
            reader = lcs.TraceReader(binary, lcs.TraceType.ORACLE_GENERAL_TRACE)
            distinct = len(set(ids))
            for percent in PERCENTS:
                capacity = max(1, -(-distinct * percent // 100))
                results = {}
                for policy, ctor in POLICIES.items():
                    miss_ratio, _ = ctor(capacity).process_trace(reader)
                    results[policy] = round(miss_ratio * len(ids))
                cases.append({"trace": name, "format": fmt, "requests": len(ids), "objects": distinct,
                              "capacity": capacity, "misses": results})
                print(f"{name:28s} cap={capacity:6d} " +
                      " ".join(f"{p}={m / len(ids):.4f}" for p, m in results.items()))
    with open(os.path.join(FIXTURES, "libcachesim.json"), "w") as f:
        json.dump({"generator": "scripts/libcachesim_fixtures.py",
                   "libcachesim_version": lcs.__version__ if hasattr(lcs, "__version__") else "0.3.5",
                   "object_size": 1,
                   "cases": cases}, f, indent=1)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
