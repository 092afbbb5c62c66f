#!/usr/bin/env bash
# The project's test command (README "Run the tests"): installs what the tests need, idempotently,
# checks formatting and lints (clippy, warnings denied), then runs every test of the workspace with
# nextest, then each fuzz target briefly.
#
# Environment:
#   FUZZ_SECONDS   seconds per fuzz target (default 20; 0 skips fuzzing)
#   NEXTEST_PROFILE nextest profile (default: ci when CI is set, else default)
set -euo pipefail
cd "$(dirname "$0")/.."

bash ci/install.sh

# A fresh CI clone never rebuilds incrementally: incremental caches would only cost disk (gigabytes).
if [ -n "${CI:-}" ]; then export CARGO_INCREMENTAL=0; fi

if cargo fmt --version >/dev/null 2>&1 && cargo clippy --version >/dev/null 2>&1; then
  echo "== cargo fmt --check"
  cargo fmt --all -- --check
  echo "== cargo clippy --workspace --all-targets -- -D warnings"
  cargo clippy --workspace --all-targets -- -D warnings
else
  echo "== LINTS NOT RUN: this toolchain has no rustfmt/clippy and rustup could not add them" >&2
fi

# The harness's process tests run the stages' real binaries, which cargo does not build for another
# package's tests: build every binary first, in the profile nextest uses.
echo "== cargo build --workspace --bins"
cargo build --workspace --bins

# No Docker engine here: the compose file is parsed and held against the binaries it runs.
echo "== ci/check-compose.py (deploy/docker-compose.yml)"
python3 ci/check-compose.py target/debug || [ $? -eq 2 ]

profile=${NEXTEST_PROFILE:-$([ -n "${CI:-}" ] && echo ci || echo default)}
echo "== cargo nextest run --workspace (profile $profile)"
summary=$(mktemp)
trap 'rm -f "$summary"' EXIT
cargo nextest run --workspace --profile "$profile" 2>&1 | tee "$summary"

echo "== cargo check -p harness --features testcontainers"
cargo check -p harness --features testcontainers

if [ "${FUZZ_SECONDS:-20}" != "0" ]; then
  bash ci/fuzz.sh "${FUZZ_SECONDS:-20}"
fi

# The test count closes the run (fuzzing prints after nextest's own summary).
counts=$(grep -oE '[0-9]+ tests? run: [0-9]+ passed( \([0-9]+ slow\))?(, [0-9]+ failed)?(, [0-9]+ skipped)?' "$summary" | tail -n 1)
passed=$(sed -nE 's/.*: ([0-9]+) passed.*/\1/p' <<<"$counts")
failed=$(sed -nE 's/.*, ([0-9]+) failed.*/\1/p' <<<"$counts")
skipped=$(sed -nE 's/.*, ([0-9]+) skipped.*/\1/p' <<<"$counts")
echo "tests: ${passed:-0} passed, ${failed:-0} failed, ${skipped:-0} skipped"
