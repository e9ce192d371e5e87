#!/usr/bin/env bash
# `make test`: make sure Redis and PostgreSQL run (installing them if the machine lacks them),
# run every suite against them on throwaway databases, then the SQLite smoke pass.
# Extra arguments go to every pytest run (e.g. `scripts/test.sh -x -k readyz`).
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh || exit 1
source scripts/infra.sh
ensure_redis || exit 1
ensure_postgres || exit 1
export PATH="$PWD/.venv/bin:$PATH"

SUITES=(common gateway cdr-service rating-service balance-service notify-service simulators tests)
reports=$(mktemp -d)
trap 'rm -rf "$reports"' EXIT
failed=0

run_suite() {
  local label=$1 folder=$2 path=$3
  shift 3
  echo "==> $label: $path"
  # Each suite gets its own rootdir so the `gateway/` folder cannot shadow the `gateway` package.
  pytest -c pyproject.toml --rootdir "$folder" "$path" --junitxml "$reports/$label-${folder//\//_}.xml" -q "$@"
  local status=$?
  # Exit 5 means the suite has no test of this selection (e.g. no smoke test): not a failure.
  if [ $status -ne 0 ] && [ $status -ne 5 ]; then
    failed=1
  fi
}

for suite in "${SUITES[@]}"; do
  path="$suite/tests"
  [ "$suite" = tests ] && path=tests
  [ -d "$path" ] || continue
  run_suite postgres "$suite" "$path" "$@"
done
for suite in "${SUITES[@]}"; do
  path="$suite/tests"
  [ "$suite" = tests ] && path=tests
  [ -d "$path" ] || continue
  TOLLGATE_TEST_STORAGE=sqlite run_suite sqlite-smoke "$suite" "$path" -m smoke "$@"
done

python3 - "$reports" <<'PY'
import pathlib, sys, xml.etree.ElementTree as ET
totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
for report in pathlib.Path(sys.argv[1]).glob("*.xml"):
    for suite in ET.parse(report).getroot().iter("testsuite"):
        for key in totals:
            totals[key] += int(suite.get(key, 0))
passed = totals["tests"] - totals["failures"] - totals["errors"] - totals["skipped"]
print()
print(f"{passed} passed, {totals['failures'] + totals['errors']} failed")
PY
exit $failed
