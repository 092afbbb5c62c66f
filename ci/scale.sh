#!/usr/bin/env bash
# The scale run (README "Performance at scale"): the whole pipeline, every stage at its default
# settings, on a simulated network of about 10 million records, on this machine. Not part of CI:
# it takes most of an hour on 2 cores.
#
# It prints, every 10 seconds, each stage's throughput (repos listed and handled, events written,
# events indexed, rows in `record`), what each stream holds and Redis's memory; at 1M, 5M and 10M
# rows of `record` a checkpoint: the indexer timed alone on a backlog of 200,000 events, beside
# PostgreSQL's own INSERT … SELECT of exactly the rows it wrote, at that table size; and at the end
# Redis's peak memory, PostgreSQL's size on disk and verify's verdict against the oracle.
#
# Output: target/scale/run.log (everything), target/scale/progress.csv (one row per progress
# line) and target/scale/curve.svg (rows and indexed events/s over time, checkpoints marked).
#
# Environment (defaults in brackets):
#   SCALE_REPOS [42000]         repositories; with SCALE_MAX_RECORDS 2000 about 258 records each (10.8M)
#   SCALE_MAX_RECORDS [2000]    largest typical repo (log-uniform sizes, mean (max-1)/ln(max))
#   SCALE_PDS_HOSTS [40]        PDS hosts (each rate-limited by the backfiller's per-host defaults)
#   SCALE_CHECKPOINTS [1000000,5000000,10000000]
#   SCALE_LIVE_EVENTS [12000]   live firehose events, released at 10/s throughout
set -euo pipefail
cd "$(dirname "$0")/.."

repos="${SCALE_REPOS:-42000}"
max_records="${SCALE_MAX_RECORDS:-2000}"
pds_hosts="${SCALE_PDS_HOSTS:-40}"
checkpoints="${SCALE_CHECKPOINTS:-1000000,5000000,10000000}"
live_events="${SCALE_LIVE_EVENTS:-12000}"
out=target/scale
mkdir -p "$out"

bash ci/install.sh
echo "== cargo build --release (binaries)"
cargo build --release --workspace --bins

{
  echo "== scale run: $repos repos (max $max_records records) on $pds_hosts PDS hosts, $live_events live events, default settings"
  echo "machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), \
$(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo); commit $(git rev-parse --short HEAD); \
load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$out/run.log"

status=0
target/release/harness simulate \
    --repos "$repos" --max-records "$max_records" --pds-hosts "$pds_hosts" \
    --live-events "$live_events" --events-per-sec 10 --faults none \
    --stage-defaults --checkpoints "$checkpoints" \
    --progress-secs 10 --deadline-secs 10800 2>&1 | tee -a "$out/run.log" || status=$?

python3 - "$out/run.log" "$out/progress.csv" "$out/curve.svg" <<'PY'
import re, sys
log, csv_path, svg_path = sys.argv[1:4]
rows = []
checkpoints = []
for line in open(log, encoding="utf-8"):
    m = re.match(r"\[\s*(\d+)s\] script .*?indexed (\d+)/(\d+) \((\d+)/s\) \| records ~(-?\d+) \((-?\d+)/s\).*?redis (\d+) MiB", line)
    if m:
        t, indexed, written, rate, records, rrate, redis = map(int, m.groups())
        rows.append((t, indexed, written, rate, records, rrate, redis))
    c = re.match(r"\[\s*(\d+)s\] checkpoint at (\d+) rows in record: indexer (\d+) events/s.*?= (\d+) events/s \| ratio (\d+)%", line)
    if c:
        checkpoints.append(tuple(map(int, c.groups())))
with open(csv_path, "w") as f:
    f.write("seconds,events_indexed,events_written,indexed_per_sec,record_rows,record_rows_per_sec,redis_mib\n")
    for r in rows:
        f.write(",".join(map(str, r)) + "\n")
if not rows:
    sys.exit(0)
# A plain SVG: record rows (left axis) and indexed events/s (right axis) against time.
W, H, L, R, T, B = 900, 420, 70, 70, 30, 50
tmax = max(r[0] for r in rows) or 1
nmax = max(r[4] for r in rows) or 1
vmax = max([r[3] for r in rows] + [c[3] for c in checkpoints]) or 1
x = lambda t: L + (W - L - R) * t / tmax
yl = lambda n: H - B - (H - T - B) * n / nmax
yr = lambda v: H - B - (H - T - B) * v / vmax
rows_line = " ".join(f"{x(r[0]):.1f},{yl(r[4]):.1f}" for r in rows)
rate_line = " ".join(f"{x(r[0]):.1f},{yr(r[3]):.1f}" for r in rows)
parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
         f'<rect width="{W}" height="{H}" fill="white"/>',
         f'<line x1="{L}" y1="{H-B}" x2="{W-R}" y2="{H-B}" stroke="black"/>',
         f'<line x1="{L}" y1="{T}" x2="{L}" y2="{H-B}" stroke="black"/>',
         f'<line x1="{W-R}" y1="{T}" x2="{W-R}" y2="{H-B}" stroke="black"/>',
         f'<polyline points="{rows_line}" fill="none" stroke="#1f77b4" stroke-width="2"/>',
         f'<polyline points="{rate_line}" fill="none" stroke="#ff7f0e" stroke-width="1"/>',
         f'<text x="{L}" y="{T-10}" fill="#1f77b4">rows in record (max {nmax:,})</text>',
         f'<text x="{W-R}" y="{T-10}" fill="#ff7f0e" text-anchor="end">events indexed per second (max {vmax:,}); ● indexer alone, ○ PostgreSQL ceiling</text>',
         f'<text x="{(W)/2}" y="{H-15}" text-anchor="middle">seconds since the stages started (0 to {tmax})</text>']
for t, n, alone, ceiling, ratio in checkpoints:
    parts.append(f'<circle cx="{x(t):.1f}" cy="{yr(alone):.1f}" r="5" fill="#d62728"/>')
    parts.append(f'<circle cx="{x(t):.1f}" cy="{yr(ceiling):.1f}" r="5" fill="none" stroke="#d62728"/>')
    parts.append(f'<text x="{x(t)+8:.1f}" y="{yr(alone)+4:.1f}">{n/1e6:.0f}M rows: {ratio}%</text>')
parts.append("</svg>")
open(svg_path, "w").write("\n".join(parts))
PY
echo "== written: $out/run.log, $out/progress.csv, $out/curve.svg"
exit "$status"
