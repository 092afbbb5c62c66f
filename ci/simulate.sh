#!/usr/bin/env bash
# The main job (README "Simulate"): builds the pipeline's binaries in release mode, then runs the
# whole pipeline (ingester, backfiller, indexer) on a misbehaving simulated network of about
# 2,000 repositories with live traffic and faults on every layer, and exits 0 only when
# `verify --expect` finds the database equal to the oracle.
#
# Arguments are passed to `harness simulate` (see `harness simulate --help`), e.g.
#   ci/simulate.sh --repos 500 --seed 7 --faults none
set -euo pipefail
cd "$(dirname "$0")/.."

bash ci/install.sh

echo "== cargo build --release (ingester, backfiller, indexer, verify, harness)"
cargo build --release -p ingester -p backfiller -p indexer -p verify -p harness

echo "== harness simulate $*"
exec target/release/harness simulate "$@"
