#!/usr/bin/env bash
# Runs each cargo-fuzz target for a bounded time (default 20 s each), seeded with the real
# reference-PDS output. Usage: ci/fuzz.sh [SECONDS] [TARGET…]
# cargo-fuzz needs nightly-only flags; RUSTC_BOOTSTRAP lets the machine's one stable toolchain take them.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(car_reader repo_loader frame_decode)

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== cargo install cargo-fuzz"
  cargo install --locked cargo-fuzz
fi
export RUSTC_BOOTSTRAP=1

realpds=fixtures/realpds
seeds=$(mktemp -d)
trap 'rm -rf "$seeds"' EXIT
mkdir -p "$seeds/car" "$seeds/frames"
cp "$realpds"/repos/*.car "$seeds/car/"
# Split the frame capture (4-byte big-endian length, then the frame) into one seed per frame.
python3 - "$realpds/firehose.frames" "$seeds/frames" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
i = n = 0
while i + 4 <= len(data) and n < 200:
    (size,) = struct.unpack(">I", data[i:i + 4])
    open(f"{sys.argv[2]}/{n:04}", "wb").write(data[i + 4:i + 4 + size])
    i += 4 + size
    n += 1
PY

for t in "${targets[@]}"; do
  case $t in
    frame_decode) seed=$seeds/frames ;;
    *) seed=$seeds/car ;;
  esac
  corpus=fuzz/corpus/$t
  mkdir -p "$corpus"
  echo "== cargo fuzz run $t for ${seconds}s"
  log=$seeds/$t.log
  status=0
  cargo fuzz run "$t" "$corpus" "$seed" -- -max_total_time="$seconds" -rss_limit_mb=2048 \
    -max_len=1048576 >"$log" 2>&1 || status=$?
  grep -E '^(#[0-9]+ +(DONE|INITED)|==[0-9]+==|SUMMARY|Done [0-9]+ runs|Test unit written|error)' "$log" || true
  if [ "$status" -ne 0 ]; then
    tail -n 40 "$log" >&2
    echo "fuzz target $t failed (exit $status); the crashing input is under fuzz/artifacts/$t" >&2
    exit "$status"
  fi
done
