#!/usr/bin/env bash
# The environment `make run` uses: ports, peer URLs, SQLite storage under var/, and generated
# secrets kept in var/ so they survive restarts. Any variable already set wins.
export TOLLGATE_VAR_DIR=${TOLLGATE_VAR_DIR:-$PWD/var}
mkdir -p "$TOLLGATE_VAR_DIR"
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
# Database 2 is Tollgate's own on a developer's Redis (0 and 1 are left to others, 4-15 to tests).
export TOLLGATE_REDIS_URL=${TOLLGATE_REDIS_URL:-redis://127.0.0.1:$TOLLGATE_REDIS_PORT/2}
export GUNICORN_WORKERS=${GUNICORN_WORKERS:-2}

secret() {
  local file="$TOLLGATE_VAR_DIR/$1"
  [ -s "$file" ] || .venv/bin/python -c "${3:-import secrets; print('$2' + secrets.token_urlsafe(32))}" > "$file"
  chmod 600 "$file"
  cat "$file"
}
export TOLLGATE_INTERNAL_TOKEN=${TOLLGATE_INTERNAL_TOKEN:-$(secret internal.token "")}
export TOLLGATE_ADMIN_KEY=${TOLLGATE_ADMIN_KEY:-$(secret admin.key tg_)}

# Simulators of the systems Tollgate talks to (WHMCS, FusionPBX, Vodia, LesNet, an SMTP sink).
export TOLLGATE_SIM_WHMCS_PORT=${TOLLGATE_SIM_WHMCS_PORT:-8090}
export TOLLGATE_SIM_FUSIONPBX_PORT=${TOLLGATE_SIM_FUSIONPBX_PORT:-8091}
export TOLLGATE_SIM_VODIA_PORT=${TOLLGATE_SIM_VODIA_PORT:-8092}
export TOLLGATE_SIM_LESNET_PORT=${TOLLGATE_SIM_LESNET_PORT:-8093}
export TOLLGATE_SIM_SMTP_HTTP_PORT=${TOLLGATE_SIM_SMTP_HTTP_PORT:-8094}
export TOLLGATE_SIM_SMTP_PORT=${TOLLGATE_SIM_SMTP_PORT:-2525}
export TOLLGATE_SIM_ESL_PORT=${TOLLGATE_SIM_ESL_PORT:-8021}
export TOLLGATE_SIM_ESL_PASSWORD=${TOLLGATE_SIM_ESL_PASSWORD:-ClueCon}
export TOLLGATE_SIM_FUSIONPBX_DB=${TOLLGATE_SIM_FUSIONPBX_DB:-postgresql://postgres@127.0.0.1:5432/tollgate_demo_fusionpbx}
export TOLLGATE_SIM_FUSIONPBX_KEY=${TOLLGATE_SIM_FUSIONPBX_KEY:-$(secret fusionpbx.key "")}

# The demo's service settings: a Fernet key sealing server credentials (kept in var/ so the demo
# servers stay readable across restarts), plain-HTTP CDR links on 127.0.0.1 for the LesNet
# simulator (never set this in production), and notify-service sending to the SMTP sink.
export CDR_SECRET_KEY=${CDR_SECRET_KEY:-$(secret cdr-secret.key "" "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())")}
export CDR_ALLOW_HTTP_LOOPBACK=${CDR_ALLOW_HTTP_LOOPBACK:-true}
export NOTIFY_SMTP_HOST=${NOTIFY_SMTP_HOST:-127.0.0.1}
export NOTIFY_SMTP_PORT=${NOTIFY_SMTP_PORT:-$TOLLGATE_SIM_SMTP_PORT}
export NOTIFY_ADMIN_EMAIL=${NOTIFY_ADMIN_EMAIL:-noc@tollgate.example}
