#!/usr/bin/env bash
# The README's main-job command, until the pipeline's stages run end to end: reads every real
# reference-PDS repo in ../shared/fixtures/realpds, verifies it completely (block hashes, MST, the
# commit's signature against the key in the captured DID documents), prints a summary line per repo,
# then decodes the captured firehose and counts its frames by type.
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${SHARED_DIR:-$(cd .. && pwd)/shared}
fixtures=$shared/fixtures/realpds
[ -d "$fixtures" ] || { echo "no fixtures at $fixtures (set SHARED_DIR)" >&2; exit 1; }

cargo build --release -q -p inspect
inspect=target/release/inspect

records=0
for car in "$fixtures"/repos/*.car; do
  line=$("$inspect" car "$car" --did-doc "$fixtures/did-docs.json" --summary-only)
  echo "$line"
  n=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["summary"]["records"])' "$line")
  records=$((records + n))
done
echo "repos verified: $(ls "$fixtures"/repos/*.car | wc -l), records: $records"

echo "firehose capture, frames by type:"
"$inspect" frames "$fixtures/firehose.frames" \
  | python3 -c 'import collections,json,sys; c=collections.Counter(json.loads(l)["header"].get("t","error") for l in sys.stdin); [print(f"  {k}: {v}") for k,v in sorted(c.items())]'
