#!/usr/bin/env bash
# `make bench`: run every benchmark in bench/ (each prints its figures and its baseline).
# Benchmarks need PostgreSQL and Redis like the tests; pass a name to run just one, e.g.
# `scripts/bench.sh rating`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
source scripts/infra.sh
ensure_redis
ensure_postgres
export PATH="$PWD/.venv/bin:$PATH"
for script in bench/bench_${1:-}*.py; do
  echo "==> $script"
  python "$script"
done
