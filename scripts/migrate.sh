#!/usr/bin/env bash
# Migrate every service's database to its latest revision (each reads its own *_DATABASE_URL).
set -euo pipefail
cd "$(dirname "$0")/.."
for service in gateway cdr-service rating-service balance-service notify-service; do
  (cd "$service" && ../.venv/bin/alembic upgrade head)
done
