#!/usr/bin/env bash
# `make run`: install, start Redis if needed, migrate, then run every service, worker and
# simulator in the foreground (Ctrl-C stops them all). Storage: SQLite files under var/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
source scripts/infra.sh
source scripts/env.sh
export PATH="$PWD/.venv/bin:$PATH"
ensure_redis
ensure_postgres   # the simulated FusionPBX keeps its CDRs in real PostgreSQL, as FusionPBX does
ensure_database "$TOLLGATE_SIM_FUSIONPBX_DB"
tollgate-sim fusionpbx-init --db-url "$TOLLGATE_SIM_FUSIONPBX_DB"
scripts/migrate.sh

cat <<BANNER

  Tollgate is starting.
  Gateway:   http://127.0.0.1:${TOLLGATE_GATEWAY_PORT}
  Admin key: ${TOLLGATE_ADMIN_KEY}
  Try:       curl -H "Authorization: Bearer \$(cat var/admin.key)" http://127.0.0.1:${TOLLGATE_GATEWAY_PORT}/readyz

BANNER
exec honcho -f Procfile start
