#!/usr/bin/env bash
# Writes over a healthy Redis Cluster (3 primaries + 3 replicas), three API nodes in
# synchronous delivery on its tier and bus: how many writes answer an error. The figure for
# BENCHMARKS.md ("Writes on a healthy Redis Cluster"); the test suite checks the mechanism
# (crates/tier/tests/failover.rs), this measures the count under load.
#
#   scripts/cluster_writes.sh [REQUESTS] [REPLICA_WAIT]     (defaults: 30000, 5s)
#
# Needs redis-server and redis-cli (Debian: redis-server, redis-tools); builds the release
# binary. Everything listens on loopback and is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
requests="${1:-30000}"
replica_wait="${2:-5s}"
for tool in redis-server redis-cli; do
  command -v "$tool" >/dev/null || { echo "error: $tool is not installed (apt-get install redis-server)" >&2; exit 1; }
done
cargo build --release --quiet
bin=target/release/tiercache
[ -n "${CARGO_TARGET_DIR:-}" ] && bin="$CARGO_TARGET_DIR/release/tiercache"
work=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

# A free port Redis Cluster can use: its bus listens 10 000 above, so at most 55 535.
free_port() {
  python3 -c '
import random, socket
while True:
    port = random.randint(20000, 45000)
    try:
        for p in (port, port + 10000):
            s = socket.socket(); s.bind(("127.0.0.1", p)); s.close()
        print(port); break
    except OSError:
        pass'
}
addresses=()
for i in 1 2 3 4 5 6; do
  port=$(free_port)
  mkdir -p "$work/r$i"
  redis-server --port "$port" --bind 127.0.0.1 --cluster-enabled yes --cluster-config-file "$work/r$i/nodes.conf" \
    --dir "$work/r$i" --save '' --appendonly no --daemonize no --loglevel warning >"$work/r$i.log" 2>&1 &
  pids+=($!)
  addresses+=("127.0.0.1:$port")
done
for address in "${addresses[@]}"; do
  for _ in $(seq 100); do redis-cli -h 127.0.0.1 -p "${address##*:}" ping >/dev/null 2>&1 && break; sleep 0.05; done
done
redis-cli --cluster create "${addresses[@]}" --cluster-replicas 1 --cluster-yes >"$work/create.log"
for _ in $(seq 200); do
  redis-cli -p "${addresses[0]##*:}" cluster info | grep -q cluster_state:ok && break; sleep 0.05
done
sleep 2 # the replicas' first sync
seeds=$(IFS=,; echo "${addresses[*]:0:3}")

# Not in a $(…) subshell: the pid must reach `pids` so the cleanup stops the process.
start() { # NAME ARGS…: starts a tiercache role; its address goes to $address
  local name=$1; shift
  "$bin" "$@" >"$work/$name.out" 2>"$work/$name.log" &
  pids+=($!)
  for _ in $(seq 200); do
    if grep -q '^listening on ' "$work/$name.out"; then
      address=$(sed -n 's/^listening on //p' "$work/$name.out" | head -1); return
    fi
    sleep 0.05
  done
  echo "error: $name did not start: $(tail -3 "$work/$name.log")" >&2; exit 1
}
start store store --db "sqlite://$work/store.db" --listen 127.0.0.1:0
store=$address
targets=()
for i in 1 2 3; do
  start "api-$i" api --store "http://$store" --tier "redis-cluster://$seeds" --bus "redis-cluster://$seeds" \
    --invalidation sync --replica-wait "$replica_wait" --listen 127.0.0.1:0 --id "api-$i"
  targets+=("http://$address")
done
"$bin" bench --target "$(IFS=,; echo "${targets[*]}")" --requests "$requests" --concurrency 24 \
  --write-ratio 0.2 --keys 2000 --json --log-level warn >"$work/report.json"
python3 - "$work/report.json" "$replica_wait" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
errors = sum(report["errors"].values())
print(f"replica wait {sys.argv[2]}: {report['writes']} writes, {report['reads']} reads over 3 API nodes (sync delivery, "
      f"Redis Cluster 3+3): {errors} errors {dict(report['errors'])}; {report['throughput']:.0f} req/s, "
      f"write p99 {report['write_latency']['p99_us'] / 1000:.1f} ms")
PY
# What the nodes said about failures (counted), to tell a replica wait from anything else.
grep -hoE '(WARN|ERROR).*' "$work"/api-*.log 2>/dev/null | sed -E 's/[0-9]+/N/g' | sort | uniq -c | sort -rn | head -5 || true
