#!/usr/bin/env python3
"""Checks deploy/docker-compose.yml as far as this machine allows (it has no Docker engine and no
`docker compose`): the file parses; every service built from the pipeline's image runs one of the
workspace's binaries, in its command and in its health check; and every environment variable it
sets is a setting some binary reads, a stage's own (`INDEXER_…`) the one it runs (from their
`--help`), so a renamed setting cannot linger in the deployment.

Usage: ci/check-compose.py BIN_DIR   (the folder holding the built binaries, e.g. target/debug)
Exits 0 when the file holds, 1 with each problem otherwise, 2 when PyYAML is missing.
"""
import re
import subprocess
import sys
from pathlib import Path

try:
    import yaml
except ImportError:
    print("check-compose: PyYAML is not installed; not checked", file=sys.stderr)
    sys.exit(2)

BINARIES = ["ingester", "backfiller", "indexer", "verify", "inspect"]
COMPOSE = Path(__file__).resolve().parent.parent / "deploy" / "docker-compose.yml"


def settings_of(bin_dir: Path, binary: str) -> set:
    """The environment variables `binary --help` lists, its subcommands' included."""
    help_text = subprocess.run(
        [str(bin_dir / binary), "--help"], capture_output=True, text=True, check=True
    ).stdout
    names = set(re.findall(r"\[env: ([A-Z0-9_]+)", help_text))
    _, has_commands, commands = help_text.partition("Commands:")
    subcommands = re.findall(r"^  ([a-z][a-z-]+)  ", commands, re.M) if has_commands else []
    for sub in subcommands:
        if sub == "help":
            continue
        sub_help = subprocess.run(
            [str(bin_dir / binary), sub, "--help"], capture_output=True, text=True
        ).stdout
        names |= set(re.findall(r"\[env: ([A-Z0-9_]+)", sub_help))
    return names


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    bin_dir = Path(sys.argv[1])
    compose = yaml.safe_load(COMPOSE.read_text())
    settings = {b: settings_of(bin_dir, b) for b in BINARIES}
    problems = []
    checked = 0
    for name, service in compose.get("services", {}).items():
        if service.get("image") != "bsky-pipeline":
            continue
        checked += 1
        command = service.get("command") or []
        binary = command[0] if command else None
        if binary not in BINARIES:
            problems.append(f"{name}: command {command!r} runs no workspace binary")
            continue
        health = (service.get("healthcheck") or {}).get("test")
        if health and not (service.get("healthcheck") or {}).get("disable"):
            if health[:1] != ["CMD"] or health[1:2] == [] or health[1] not in BINARIES:
                problems.append(f"{name}: health check {health!r} runs no workspace binary")
            elif health[2:3] != ["healthcheck"]:
                problems.append(f"{name}: health check {health!r} is not `<binary> healthcheck`")
        for variable in (service.get("environment") or {}):
            # The shared block (`x-pipeline`) sets what any stage reads; a stage's own setting
            # (its prefix) must be one this binary reads.
            own = variable.startswith(tuple(f"{b.upper()}_" for b in BINARIES))
            if variable not in set().union(*settings.values()):
                problems.append(f"{name}: {variable} is no binary's setting")
            elif own and variable not in settings[binary]:
                problems.append(f"{name}: {variable} is not a setting of `{binary}`")
    for problem in problems:
        print(f"check-compose: {problem}", file=sys.stderr)
    if checked == 0:
        print("check-compose: no service uses the pipeline's image", file=sys.stderr)
        return 1
    print(f"check-compose: {checked} pipeline services checked, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
