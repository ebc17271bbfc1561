#!/usr/bin/env python3
"""The coherence figures of BENCHMARKS.md, measured side by side in one run.

Starts `tiercache serve --nodes 3` (release build) once per configuration, drives it with
`tiercache bench --json` several times, and prints Markdown tables of medians:

  1. write latency, async vs sync delivery (in-process bus and Redis bus);
  2. invalidation (notice) delay, in-process vs Redis bus;
  3. object vs bucket:1024 topics: subscriptions, messages, discards, throughput;
  4. write-behind: store writes saved by coalescing at 10 % and 50 % writes.

Usage: scripts/coherence_bench.py [--runs 3] [--requests 100000]
Needs `cargo build --release -p tiercache` first, and redis-server for the Redis rows.
Everything listens on loopback; every run is bounded by its request count.
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, "target", "release", "tiercache")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Redis:
    """A throwaway redis-server on a free loopback port."""

    def __init__(self):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="tc-bench-redis-")
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", self.dir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def url(self):
        return f"redis://127.0.0.1:{self.port}"

    def stop(self):
        self.process.terminate()
        self.process.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


def serve(args):
    """Starts `serve --nodes 3 ARGS`; returns (process, data dir, node URLs)."""
    data = tempfile.mkdtemp(prefix="tc-bench-serve-")
    process = subprocess.Popen(
        [BINARY, "serve", "--nodes", "3", "--listen", "127.0.0.1:0", "--no-progress",
         "--data", data, *args],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    nodes = []
    while len(nodes) < 3:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"serve {args} exited early")
        nodes.append("http://" + line.strip().removeprefix("listening on "))
    return process, data, nodes


def bench(nodes, write_ratio, requests, seed):
    out = subprocess.run(
        [BINARY, "bench", "--nodes", ",".join(nodes), "--write-ratio", str(write_ratio),
         "--requests", str(requests), "--concurrency", "12", "--seed", str(seed),
         "--check-staleness", "--json", "--no-progress", "--max-seconds", "600"],
        capture_output=True, text=True, check=False)
    if not out.stdout.strip():
        raise RuntimeError(out.stderr)
    report = json.loads(out.stdout)
    report["failed"] = out.returncode != 0
    return report


def measure(serve_args, write_ratio, runs, requests):
    """`runs` bench runs against one fresh deployment; returns the reports."""
    process, data, nodes = serve(serve_args)
    try:
        # A warm-up run fills the near caches, so every measured run starts alike.
        bench(nodes, write_ratio, requests // 4, 1)
        return [bench(nodes, write_ratio, requests, 100 + run) for run in range(runs)]
    finally:
        process.terminate()
        process.wait(30)
        shutil.rmtree(data, ignore_errors=True)


def median(reports, path):
    values = []
    for report in reports:
        value = report
        for name in path:
            value = value[name]
        values.append(value)
    return statistics.median(values)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--requests", type=int, default=100_000)
    options = parser.parse_args()
    if not os.path.exists(BINARY):
        sys.exit("build first: cargo build --release -p tiercache")
    redis = Redis()
    runs, requests = options.runs, options.requests
    try:
        buses = [("in-process", "memory://"), ("Redis", redis.url())]

        print(f"median of {runs} runs of {requests} requests, 3 nodes, Zipf 0.99 over "
              "9 564 keys, 12 workers\n")
        print("### Write latency, async vs sync delivery (10 % writes)\n")
        print("| bus | delivery | write p50 µs | write p99 µs | p50 sync/async | "
              "p99 sync/async | publish (+confirm) p50 µs | p99 µs | p50 sync/async | "
              "read p50 µs | stale reads |")
        print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        delays = {}
        for name, url in buses:
            rows = {}
            for delivery in ["async", "sync"]:
                reports = measure(["--bus", url, "--invalidation", delivery], 0.1, runs,
                                  requests)
                rows[delivery] = reports
                if delivery == "async":
                    delays[name] = reports
            base = rows["async"]
            for delivery, reports in rows.items():
                p50 = median(reports, ["write_latency", "p50_us"])
                p99 = median(reports, ["write_latency", "p99_us"])
                ratio50 = p50 / median(base, ["write_latency", "p50_us"])
                ratio99 = p99 / median(base, ["write_latency", "p99_us"])
                stale = sum(r["staleness"]["stale_reads"] for r in reports)
                c = ["coherence"]
                publish50 = median(reports, c + ["publish_p50_us"])
                publish99 = median(reports, c + ["publish_p99_us"])
                publish_ratio = publish50 / median(base, c + ["publish_p50_us"])
                print(f"| {name} | {delivery} | {p50:.0f} | {p99:.0f} | {ratio50:.2f} | "
                      f"{ratio99:.2f} | {publish50:.0f} | {publish99:.0f} | "
                      f"{publish_ratio:.2f} | "
                      f"{median(reports, ['read_latency', 'p50_us']):.0f} | {stale} |")

        print("\n### Invalidation delay, async delivery (publish → applied on another node)\n")
        print("| bus | p50 µs | p99 µs (worst node) | max µs | Redis/in-process p50 | "
              "stale reads | worst lag µs |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        base = median(delays["in-process"], ["coherence", "delay_p50_us"])
        for name, reports in delays.items():
            p50 = median(reports, ["coherence", "delay_p50_us"])
            print(f"| {name} | {p50:.0f} | "
                  f"{median(reports, ['coherence', 'delay_p99_us']):.0f} | "
                  f"{max(r['coherence']['delay_max_us'] for r in reports):.0f} | "
                  f"{p50 / base:.2f} | "
                  f"{sum(r['staleness']['stale_reads'] for r in reports)} | "
                  f"{max(r['staleness']['worst_lag_us'] for r in reports)} |")

        print("\n### Topic granularity, async, in-process bus (10 % writes)\n")
        print("| topics | subscriptions held | subscribes | messages delivered | "
              "discarded | applied | throughput req/s | throughput vs object |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        rows = {}
        for topics in ["object", "bucket:1024"]:
            rows[topics] = measure(["--topics", topics], 0.1, runs, requests)
        base = median(rows["object"], ["throughput"])
        for topics, reports in rows.items():
            c = ["coherence"]
            print(f"| {topics} | {median(reports, c + ['subscriptions']):.0f} | "
                  f"{median(reports, c + ['subscribes']):.0f} | "
                  f"{median(reports, c + ['received']):.0f} | "
                  f"{median(reports, c + ['discarded']):.0f} | "
                  f"{median(reports, c + ['applied']):.0f} | "
                  f"{median(reports, ['throughput']):.0f} | "
                  f"{median(reports, ['throughput']) / base:.2f} |")

        print("\n### Write-behind coalescing (flush every 100 ms, in-process bus)\n")
        print("| write ratio | writes answered | store writes | saved | write p50 µs | "
              "write-through write p50 µs | window p99 ms |")
        print("|---:|---:|---:|---:|---:|---:|---:|")
        for ratio in [0.1, 0.5]:
            behind = measure(["--write-mode", "write-behind", "--flush-interval", "100ms"],
                             ratio, runs, requests)
            through = measure([], ratio, runs, requests)
            print(f"| {ratio:.0%} | {median(behind, ['write_behind', 'accepted']):.0f} | "
                  f"{median(behind, ['write_behind', 'store_writes']):.0f} | "
                  f"{median(behind, ['write_behind', 'saved_ratio']):.1%} | "
                  f"{median(behind, ['write_latency', 'p50_us']):.0f} | "
                  f"{median(through, ['write_latency', 'p50_us']):.0f} | "
                  f"{median(behind, ['write_behind', 'window_p99_us']) / 1000:.0f} |")
    finally:
        redis.stop()


if __name__ == "__main__":
    main()
