#!/bin/sh
# PostgreSQL image init hook: one database per service, named in POSTGRES_MULTIPLE_DATABASES.
set -e
for database in $(echo "$POSTGRES_MULTIPLE_DATABASES" | tr ',' ' '); do
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" -c "CREATE DATABASE $database"
done
