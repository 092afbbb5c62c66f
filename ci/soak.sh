#!/usr/bin/env bash
# Longer runs than CI affords, for people: the whole pipeline on a larger simulated network, again and
# again with a new seed and chaos each time (every stage SIGKILLed and restarted, Redis and PostgreSQL
# restarted, three backfillers and two indexers). Stops at the first run whose database differs from
# the oracle, leaving its report on screen.
#
# Usage: ci/soak.sh [RUNS] [REPOS]     (defaults: 10 runs of 10,000 repos)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-10}
repos=${2:-10000}
bash ci/install.sh
cargo build --release -q -p ingester -p backfiller -p indexer -p verify -p harness
for run in $(seq 1 "$runs"); do
  seed=$((RANDOM * 32768 + RANDOM))
  echo "== soak run $run/$runs: $repos repos, seed $seed"
  target/release/harness simulate --repos "$repos" --seed "$seed" --faults default \
    --live-events 5000 --events-per-sec 100 --backfillers 3 --indexers 2 \
    --chaos "$seed" --chaos-window-secs 60 --deadline-secs 3600
done
echo "== $runs soak runs passed"
