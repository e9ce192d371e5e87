#!/usr/bin/env bash
# The environment `make run` uses: ports, peer URLs, SQLite storage under var/, and generated
# secrets kept in var/ so they survive restarts. Any variable already set wins.
mkdir -p var

export TOLLGATE_VAR_DIR=${TOLLGATE_VAR_DIR:-$PWD/var}
export TOLLGATE_GATEWAY_PORT=${TOLLGATE_GATEWAY_PORT:-8080}
export TOLLGATE_CDR_PORT=${TOLLGATE_CDR_PORT:-8081}
export TOLLGATE_RATING_PORT=${TOLLGATE_RATING_PORT:-8082}
export TOLLGATE_BALANCE_PORT=${TOLLGATE_BALANCE_PORT:-8083}
export TOLLGATE_NOTIFY_PORT=${TOLLGATE_NOTIFY_PORT:-8084}
export TOLLGATE_CDR_URL=${TOLLGATE_CDR_URL:-http://127.0.0.1:$TOLLGATE_CDR_PORT}
export TOLLGATE_RATING_URL=${TOLLGATE_RATING_URL:-http://127.0.0.1:$TOLLGATE_RATING_PORT}
export TOLLGATE_BALANCE_URL=${TOLLGATE_BALANCE_URL:-http://127.0.0.1:$TOLLGATE_BALANCE_PORT}
export TOLLGATE_NOTIFY_URL=${TOLLGATE_NOTIFY_URL:-http://127.0.0.1:$TOLLGATE_NOTIFY_PORT}
export TOLLGATE_REDIS_PORT=${TOLLGATE_REDIS_PORT:-6379}
export TOLLGATE_REDIS_URL=${TOLLGATE_REDIS_URL:-redis://127.0.0.1:$TOLLGATE_REDIS_PORT/0}
export GUNICORN_WORKERS=${GUNICORN_WORKERS:-2}

secret() {
  local file="var/$1"
  [ -s "$file" ] || .venv/bin/python -c "import secrets; print('$2' + secrets.token_urlsafe(32))" > "$file"
  chmod 600 "$file"
  cat "$file"
}
export TOLLGATE_INTERNAL_TOKEN=${TOLLGATE_INTERNAL_TOKEN:-$(secret internal.token "")}
export TOLLGATE_ADMIN_KEY=${TOLLGATE_ADMIN_KEY:-$(secret admin.key tg_)}
