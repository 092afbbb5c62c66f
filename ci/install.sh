#!/usr/bin/env bash
# Installs, idempotently, what building and testing need on a fresh machine of this project's kind
# (Debian with a Rust toolchain; PostgreSQL 15 and Redis 7 binaries present). Safe to run again.
set -euo pipefail

need_apt=()
command -v redis-server >/dev/null || need_apt+=(redis-server)
command -v redis-benchmark >/dev/null || need_apt+=(redis-tools)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
command -v psql >/dev/null || need_apt+=(postgresql-client)
command -v runuser >/dev/null || need_apt+=(util-linux)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "== apt-get install ${need_apt[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi

# The lint gate's tools come with rustup's default profile; add them where a toolchain lacks them
# (this can only work where rustup's own server is reachable: ci/test.sh says so if they are missing).
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
  echo "== rustup component add rustfmt clippy"
  rustup component add rustfmt clippy || true
fi

# ci/check-compose.py reads the compose file with PyYAML; without it that check is skipped, not failed.
if ! python3 -c 'import yaml' 2>/dev/null; then
  echo "== pip install pyyaml"
  python3 -m pip install --quiet pyyaml || echo "PyYAML could not be installed: the compose check will be skipped" >&2
fi

if ! cargo nextest --version >/dev/null 2>&1; then
  echo "== cargo install cargo-nextest"
  cargo install --locked cargo-nextest
fi
