#!/usr/bin/env bash
# The whole test suite of tiercache, from a clean checkout on a fresh machine.
#
# Installs what the suite needs when it is missing, then runs, in order: formatting, the
# source layout rules (scripts/layout_check.py), lints (warnings are errors), every unit,
# property, differential and integration test, and the documentation examples. Exits
# non-zero on the first failure.
#
# Usage: scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

if ! command -v cargo >/dev/null 2>&1; then
  echo "error: cargo is not installed; install Rust (https://rustup.rs) and run this again" >&2
  exit 1
fi
for component in rustfmt clippy; do
  if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
    step "installing the $component component"
    rustup component add "$component"
  fi
done
# The store, tier and bus tests run against real servers that the test kit starts on free
# loopback ports: PostgreSQL (initdb + postgres), redis-server and redis-sentinel. Install the
# Debian packages that provide them when they are missing.
missing=()
have_postgres() {
  command -v initdb >/dev/null 2>&1 || compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null
}
have_postgres || missing+=(postgresql)
command -v psql >/dev/null 2>&1 || missing+=(postgresql-client)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v redis-sentinel >/dev/null 2>&1 || missing+=(redis-sentinel)
# The log benchmark's baseline (NATS JetStream) runs once, briefly, as a smoke test, and the
# launcher's NATS cluster is tested: both need nats-server (in /usr/sbin, off a user's PATH).
command -v nats-server >/dev/null 2>&1 || [[ -x /usr/sbin/nats-server ]] || missing+=(nats-server)
# The dashboard and the lab's report are tested in a real browser (headless Chromium), with
# a font to lay text out (a fresh machine may have none: Chromium only recommends one).
command -v chromium >/dev/null 2>&1 || missing+=(chromium fonts-dejavu-core)
# The layout check (file lengths, import circles) is a Python script.
command -v python3 >/dev/null 2>&1 || missing+=(python3)
if ((${#missing[@]})); then
  step "installing ${missing[*]}"
  sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
      sudo=(sudo)
    else
      echo "error: ${missing[*]} missing and not root (no sudo): install them and run this again" >&2
      exit 1
    fi
  fi
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

step "format"
cargo fmt --all -- --check

step "layout"
python3 scripts/layout_check.py

step "lints"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "tests"
cargo test --workspace --locked --all-targets

step "documentation examples"
cargo test --workspace --locked --doc
