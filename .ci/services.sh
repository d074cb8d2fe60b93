#!/usr/bin/env bash
# Start PostgreSQL and Redis from Debian's packages on loopback, for the test suite.
# Idempotent: safe to run when they are already up. Prints only the `export` lines, for `eval`;
# everything else the servers' tools print (e.g. pg_ctlcluster's "Removed stale pid file.") goes to stderr.
set -euo pipefail
exec 3>&1 1>&2
ver=$(ls /usr/lib/postgresql | sort -V | tail -n1)
if ! pg_lsclusters -h | grep -q online; then
  pg_lsclusters -h | grep -q . || pg_createcluster "$ver" main >/dev/null
  pg_ctlcluster "$ver" main start 3>&-   # the server must not hold the eval pipe open
fi
for _ in $(seq 30); do su postgres -c "pg_isready -q -h 127.0.0.1" && break; sleep 0.5; done
su postgres -c "psql -q -c \"ALTER USER postgres PASSWORD 'postgres'\"" >/dev/null
su postgres -c "psql -tAc \"SELECT 1 FROM pg_database WHERE datname='shop_test'\"" | grep -q 1 \
  || su postgres -c "createdb shop_test"
if ! redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then
  redis-server --bind 127.0.0.1 --port 6379 --daemonize yes --save '' --appendonly no >/dev/null 3>&-
  for _ in $(seq 30); do redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && break; sleep 0.2; done
fi
echo >&3 "export TEST_DATABASE_URL=postgresql+asyncpg://postgres:postgres@127.0.0.1:5432/shop_test"
echo >&3 "export TEST_REDIS_URL=redis://127.0.0.1:6379/15"
