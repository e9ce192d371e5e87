#!/usr/bin/env bash
# `make run`: install, start Redis (and PostgreSQL for the simulated FusionPBX) if needed, migrate,
# run every service, worker and simulator under honcho, seed the demo once the gateway is ready,
# and print the gateway URL and admin key. Ctrl-C (or SIGTERM) stops them all. Storage: SQLite
# files under var/ (TOLLGATE_VAR_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
source scripts/infra.sh
fresh_state=true
[ -s "${TOLLGATE_VAR_DIR:-var}/admin.key" ] && fresh_state=false
source scripts/env.sh
export PATH="$PWD/.venv/bin:$PATH"

ensure_redis
if $fresh_state; then
  # Jobs are keyed by business keys (a day's autobill, a slot's sync); a new var/ must not find
  # the finished jobs of an earlier one, so Tollgate's Redis database starts empty with it.
  echo "==> new state in $TOLLGATE_VAR_DIR: emptying Tollgate's Redis database ($TOLLGATE_REDIS_URL)"
  .venv/bin/python -c "import redis, sys; redis.Redis.from_url(sys.argv[1]).flushdb()" "$TOLLGATE_REDIS_URL"
fi
ensure_postgres   # the simulated FusionPBX keeps its CDRs in real PostgreSQL, as FusionPBX does
ensure_database "$TOLLGATE_SIM_FUSIONPBX_DB"
tollgate-sim fusionpbx-init --db-url "$TOLLGATE_SIM_FUSIONPBX_DB"
scripts/migrate.sh

GATEWAY_URL="http://127.0.0.1:${TOLLGATE_GATEWAY_PORT}"
READY_TIMEOUT_SECONDS=${READY_TIMEOUT_SECONDS:-180}

# honcho stops every process when one exits, so the seeding runs here, beside it, not in the Procfile.
honcho -f Procfile start &
honcho_pid=$!

stop() {
  trap - INT TERM
  echo "==> stopping Tollgate"
  kill -TERM "$honcho_pid" 2>/dev/null || true
  wait "$honcho_pid" 2>/dev/null || true
  exit "$1"
}
trap 'stop 130' INT
trap 'stop 143' TERM

gateway_ready() {
  python3 - "$GATEWAY_URL/readyz" <<'PY'
import sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=2) as response:
        sys.exit(0 if response.status == 200 else 1)
except OSError:
    sys.exit(1)
PY
}

wait_until_ready() {
  local deadline=$((SECONDS + READY_TIMEOUT_SECONDS)) port
  for port in "$TOLLGATE_SIM_WHMCS_PORT" "$TOLLGATE_SIM_VODIA_PORT" "$TOLLGATE_SIM_LESNET_PORT" \
    "$TOLLGATE_SIM_SMTP_HTTP_PORT" "$TOLLGATE_SIM_ESL_PORT"; do
    until port_open "$port"; do
      kill -0 "$honcho_pid" 2>/dev/null || return 1
      [ "$SECONDS" -lt "$deadline" ] || return 1
      sleep 0.5
    done
  done
  until gateway_ready; do
    kill -0 "$honcho_pid" 2>/dev/null || return 1
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 1
  done
}

if wait_until_ready; then
  if tollgate --url "$GATEWAY_URL" --key "$TOLLGATE_ADMIN_KEY" demo seed; then
    seeded="seeded (tollgate demo show)"
  else
    seeded="NOT seeded: see the error above; retry with: .venv/bin/tollgate demo seed"
  fi
  cat <<BANNER

  Tollgate is running; Ctrl-C stops it.
  Gateway:   ${GATEWAY_URL}   (API: ${GATEWAY_URL}/openapi.json)
  Admin key: ${TOLLGATE_ADMIN_KEY}   (also in var/admin.key)
  SMTP sink: http://127.0.0.1:${TOLLGATE_SIM_SMTP_HTTP_PORT}/messages
  WHMCS sim: http://127.0.0.1:${TOLLGATE_SIM_WHMCS_PORT}/includes/api.php
  Demo:      ${seeded}
  Try:       .venv/bin/tollgate demo show     (walk-through: docs/demo.md)

BANNER
elif kill -0 "$honcho_pid" 2>/dev/null; then
  echo "!! the gateway did not become ready within ${READY_TIMEOUT_SECONDS} s: ${GATEWAY_URL}/readyz" >&2
  echo "   the demo is not seeded; once it is ready: .venv/bin/tollgate demo seed" >&2
fi

set +e
wait "$honcho_pid"
status=$?
exit "$status"
