#!/usr/bin/env bash
# The performance report (README "Performance"): builds everything in release mode, runs the
# pipeline's benchmarks, prints one table — per stage: throughput, p50/p99 latency, peak RSS; the
# indexer's ratio to PostgreSQL's own INSERT … SELECT; and a full run, listRepos to indexed — and
# writes it, with the machine it ran on, between the perf-report markers of README.md.
#
# Each benchmark ends with `report | stage | workload | throughput | p50 / p99 | peak RSS` lines;
# this script only gathers them. The benchmarks:
#   harness/tests/it/ingester_bench.rs   firehose frames → firehose_live; listRepos → repo_backfill
#   harness/tests/it/backfiller_bench.rs repo_backfill → getRepo → firehose_backfill
#   harness/examples/bench_indexer.rs   streams → PostgreSQL, beside PostgreSQL's own ceiling
#   harness simulate                    the whole pipeline on a simulated network (the full run)
#
# Environment: PERF_REPOS (repos of the full run, default 5000), PERF_NO_README=1 (print only).
# Takes about 10 minutes on 2 cores once built. Run it on an otherwise idle machine: the figures
# are only as quiet as the machine.
set -euo pipefail
cd "$(dirname "$0")/.."

repos="${PERF_REPOS:-5000}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

bash ci/install.sh

echo "== cargo build --release (binaries, examples, benchmark tests)"
cargo build --release --workspace --bins --examples
cargo test --release -p harness --test it --no-run

machine="$(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), \
$(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), \
$(. /etc/os-release && echo "$PRETTY_NAME"), $(rustc --version | cut -d' ' -f1-2), \
PostgreSQL $(/usr/lib/postgresql/15/bin/postgres --version | awk '{print $3}'), \
Redis $(redis-server --version | sed -E 's/.*v=([0-9.]+).*/\1/'); \
load average as the benchmarks start: $(cut -d' ' -f1-3 /proc/loadavg)"

echo "== ingester"
cargo test --release -p harness --test it -- ingester_bench:: --ignored --nocapture --test-threads 1 \
    2>&1 | tee "$out/ingester.txt"
echo "== backfiller"
BACKFILLER_BIN=target/release/backfiller \
    cargo test --release -p harness --test it -- backfiller_bench:: --ignored --nocapture \
    2>&1 | tee "$out/backfiller.txt"
echo "== indexer"
target/release/examples/bench_indexer 2>&1 | tee "$out/indexer.txt"
echo "== full run: harness simulate --repos $repos --faults none"
target/release/harness simulate --repos "$repos" --faults none --events-per-sec 200 \
    --progress-secs 15 2>&1 | tee "$out/simulate.txt"
grep -q '^simulate: PASS' "$out/simulate.txt" || { echo "the full run did not pass" >&2; exit 1; }

# The full run's row, from simulate's figures.
time_line="$(grep -m1 '^time to complete:' "$out/simulate.txt")"
oracle_line="$(grep -m1 '^oracle:' "$out/simulate.txt")"
rss_line="$(grep -m1 '^peak RSS:' "$out/simulate.txt" | sed 's/^peak RSS: //')"
secs="$(sed -E 's/^time to complete: ([0-9.]+)s.*/\1/' <<<"$time_line")"
records="$(sed -E 's/^oracle: ([0-9]+) records.*/\1/' <<<"$oracle_line")"
per_sec="$(awk -v r="$records" -v s="$secs" 'BEGIN { printf "%.0f", r / s }')"
full="report | full run: listRepos → getRepo → indexed | $repos repos ($records records), live traffic, no faults | ${secs} s for all ($per_sec records/s) | | $rss_line"

{
    echo "Measured $(date -u +%Y-%m-%d) at commit \`$(git rev-parse --short HEAD)\` by \`bash ci/perf-report.sh\`"
    echo "on: $machine. Release builds; each figure is from one run."
} >"$out/machine.txt"
# `-o`: libtest prints "test NAME ... " before a test's first output, on the same line.
cat "$out"/ingester.txt "$out"/backfiller.txt "$out"/indexer.txt | grep -o 'report | .*' >"$out/rows.txt" || true
echo "$full" >>"$out/rows.txt"

# One table from the rows; unless PERF_NO_README=1, also into README.md between the markers.
python3 - "$out" "${PERF_NO_README:-}" <<'EOF'
import sys
out, no_readme = sys.argv[1], sys.argv[2] == "1"
lines = [open(f"{out}/machine.txt").read().strip(), "",
         "| stage | workload | throughput | latency p50 / p99 | peak RSS |", "|---|---|---|---|---|"]
for row in open(f"{out}/rows.txt"):
    cells = [c.strip() or "—" for c in row.strip().split("|")[1:]]
    cells = (cells + ["—"] * 5)[:5]
    lines.append("| " + " | ".join(cells) + " |")
table = "\n".join(lines)
print("\n== performance report\n" + table)
if not no_readme:
    readme = open("README.md").read()
    begin, end = "<!-- perf-report:begin -->", "<!-- perf-report:end -->"
    if begin not in readme or end not in readme:
        sys.exit("README.md has no perf-report markers")
    head, rest = readme.split(begin, 1)
    _, tail = rest.split(end, 1)
    open("README.md", "w").write(f"{head}{begin}\n{table}\n{end}{tail}")
    print("README.md: Performance table rewritten")
EOF
