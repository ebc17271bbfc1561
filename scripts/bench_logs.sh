#!/usr/bin/env bash
# The log benchmark (crates/tiercache/benches/logs): acknowledged appends of 256-byte
# messages, measured against NATS JetStream (a stream of 3 replicas on three local
# nats-server processes).
#
# Installs the Debian package nats-server when it is missing, then runs the benchmark in
# release. Arguments go to the benchmark, e.g. `scripts/bench_logs.sh --runs 3 --seconds 1`.
#
# Usage: scripts/bench_logs.sh [-- BENCH ARGS]
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ ${1:-} == -- ]]; then
  shift
fi
if ! command -v nats-server >/dev/null 2>&1 && [[ ! -x /usr/sbin/nats-server ]]; then
  echo "== installing nats-server"
  sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
      sudo=(sudo)
    else
      echo "error: nats-server missing and not root (no sudo): install the Debian package nats-server and run this again" >&2
      exit 1
    fi
  fi
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
    nats-server >/dev/null
fi

exec cargo bench -p tiercache --locked --bench logs -- "$@"
