#!/usr/bin/env bash
# Prints the configuration reference (every environment variable of every binary, with its default and
# meaning) as Markdown, from the binaries' own --help, so the README cannot drift from the code.
# Usage: ci/config-reference.sh > /tmp/config.md   (builds the binaries first)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q -p ingester -p backfiller -p indexer -p verify
for bin in ingester backfiller indexer verify; do
  echo "### \`$bin\`"
  echo
  echo "| variable | default | meaning |"
  echo "|---|---|---|"
  "target/debug/$bin" --help | python3 -c '
import re, sys
blocks, cur = [], None
for line in sys.stdin:
    if re.match(r"^\s+(-\w, )?--", line):
        cur = {"desc": [], "env": None, "default": ""}
        blocks.append(cur)
    elif cur is not None:
        s = line.strip()
        m = re.match(r"\[env: ([A-Z0-9_]+)[=\]]", s)
        d = re.match(r"\[default: (.*)\]$", s)
        if m: cur["env"] = m.group(1)
        elif d: cur["default"] = d.group(1)
        elif s and not s.startswith("[") and not s.startswith("Possible values") and not s.startswith("- "):
            cur["desc"].append(s)
for b in blocks:
    if b["env"]:
        desc = " ".join(b["desc"]).replace("|", "\\|")
        default = "`" + b["default"] + "`" if b["default"] else ""
        env = b["env"]
        print(f"| `{env}` | {default} | {desc} |")
'
  echo
done
