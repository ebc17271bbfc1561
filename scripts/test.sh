#!/usr/bin/env bash
# The whole test suite of tiercache, from a clean checkout on a fresh machine.
#
# Installs what the suite needs when it is missing, then runs, in order: formatting,
# lints (warnings are errors), every unit, property, differential and integration test,
# and the documentation examples. Exits non-zero on the first failure.
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
# The suite needs no system service yet: the engine and the simulator are in-process.
# (Issues that add PostgreSQL and Redis install them here with apt-get when missing.)

step "format"
cargo fmt --all -- --check

step "lints"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "tests"
cargo test --workspace --locked --all-targets

step "documentation examples"
cargo test --workspace --locked --doc
