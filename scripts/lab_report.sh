#!/usr/bin/env bash
# The lab's full report in a release build, and the charts README.md and BENCHMARKS.md show.
#
# Runs `tiercache lab --full` (every topology × policy × memory rule × workload on the full
# table, plus sizes and clients; a few minutes on 2 cores), writes the report to OUT
# (default lab-full/), then copies the key charts to docs/lab/ and the results table to
# docs/lab/results-full.csv, and the tables BENCHMARKS.md shows to docs/lab/tables.md.
#
# Usage: scripts/lab_report.sh [OUT]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-lab-full}
cargo run --release --locked -p tiercache -- lab --full --out "$out" --no-progress
mkdir -p docs/lab
for chart in timeline latency-cdf hit-by-policy-per-node hit-by-policy-total \
  memory-curves-1 memory-curves-5 throughput-clients tier-shares; do
  cp "$out/charts/$chart.svg" docs/lab/
done
cp "$out/results.csv" docs/lab/results-full.csv
python3 scripts/lab_tables.py "$out/results.json" > docs/lab/tables.md
echo "charts and tables (docs/lab/tables.md, for BENCHMARKS.md) in docs/lab/; report: $out/index.html"
