#!/usr/bin/env bash
# The project's test command (README "Run the tests"): installs what the tests need, idempotently,
# then runs every test of the workspace with nextest, then each fuzz target briefly.
#
# Environment:
#   FUZZ_SECONDS   seconds per fuzz target (default 20; 0 skips fuzzing)
#   NEXTEST_PROFILE nextest profile (default: ci when CI is set, else default)
set -euo pipefail
cd "$(dirname "$0")/.."

bash ci/install.sh

# A fresh CI clone never rebuilds incrementally: incremental caches would only cost disk (gigabytes).
if [ -n "${CI:-}" ]; then export CARGO_INCREMENTAL=0; fi

# The harness's process tests run the stages' real binaries, which cargo does not build for another
# package's tests: build every binary first, in the profile nextest uses.
echo "== cargo build --workspace --bins"
cargo build --workspace --bins

profile=${NEXTEST_PROFILE:-$([ -n "${CI:-}" ] && echo ci || echo default)}
echo "== cargo nextest run --workspace (profile $profile)"
cargo nextest run --workspace --profile "$profile"

echo "== cargo check -p harness --features testcontainers"
cargo check -p harness --features testcontainers

if [ "${FUZZ_SECONDS:-20}" != "0" ]; then
  bash ci/fuzz.sh "${FUZZ_SECONDS:-20}"
fi
