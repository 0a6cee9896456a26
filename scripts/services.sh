#!/usr/bin/env bash
# Make sure the PostgreSQL server the tests use is up, and its `test` database exists.
# Shared by local runs and .ci/run. Exits non-zero when the server cannot be reached.
set -euo pipefail

host=127.0.0.1
port=5432

pg_up() { pg_isready -q -h "$host" -p "$port" 2>/dev/null; }

if ! command -v pg_isready >/dev/null 2>&1; then
    echo "services: PostgreSQL client tools not found (install postgresql)" >&2
    exit 1
fi
if ! pg_up; then
    echo "services: PostgreSQL is down; starting it" >&2
    if command -v pg_ctlcluster >/dev/null 2>&1; then
        for version in $(ls /etc/postgresql 2>/dev/null); do
            pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
        done
    fi
    for _ in $(seq 1 30); do pg_up && break; sleep 1; done
fi
if ! pg_up; then
    echo "services: cannot reach PostgreSQL at $host:$port" >&2
    exit 1
fi
if ! psql -h "$host" -p "$port" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='test'" | grep -q 1; then
    psql -h "$host" -p "$port" -U postgres -c "CREATE DATABASE test" >/dev/null
fi
echo "services: PostgreSQL ready at $host:$port"
