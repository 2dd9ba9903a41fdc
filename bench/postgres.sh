#!/usr/bin/env bash
# Cache-miss redirects on PostgreSQL against `pgbench -S` on the same server (issue #14): Blink with its
# in-process cache off (every redirect is one indexed SELECT by id or slug) over LINKS links (default 100,000),
# and pgbench's built-in select-only script (one SELECT by primary key per transaction) with the same number of
# clients, taking turns for ROUNDS rounds. The PostgreSQL server is shared and floats on both cores; Blink runs on
# CPU 0 and each load generator on CPU 1. Usage: [ROUNDS=n] [LINKS=n] bench/postgres.sh [seconds per run, default 10].
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-10}" CONNECTIONS=64 LINKS="${LINKS:-100000}"
source bench/lib.sh
if [ -x ../shared/services-up ]; then eval "$(../shared/services-up)"; fi
PG_ADMIN="${BLINK_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
PG_BASE="${PG_ADMIN%/*}"
drop_databases() { psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS blink_bench_miss WITH (FORCE)" -c "DROP DATABASE IF EXISTS pgbench_bench WITH (FORCE)" >/dev/null 2>&1 || true; }
trap 'cleanup; drop_databases' EXIT
cargo build --release --quiet --bin blink

drop_databases
psql "$PG_ADMIN" -qc "CREATE DATABASE blink_bench_miss" -c "CREATE DATABASE pgbench_bench" >/dev/null
# Scale 1 holds 100,000 accounts: the same number of rows as Blink's links.
pgbench -q -i -s $((LINKS / 100000 > 0 ? LINKS / 100000 : 1)) "$PG_BASE/pgbench_bench" 2>/dev/null
seed_links "$PG_BASE/blink_bench_miss"
# Blink keeps its default pool of 10 connections (POOL=n to change it); pgbench has one connection per client.
start_blink "$PG_BASE/blink_bench_miss" 3121 BLINK_CACHE__ENABLED=false ANALYTICS_ENABLED=false BLINK_DATABASE__MAX_CONNECTIONS="${POOL:-10}"
warm 3121

pgbench_run() {
  "${ON_WRK_CPU[@]}" pgbench -n -S -M prepared -c "$CONNECTIONS" -j 1 -T "$DURATION" "$PG_BASE/pgbench_bench" 2>/dev/null \
    | awk '/^tps/ { printf "pgbench-S BENCH rps=%.0f p50_us=0 p99_us=0 non_3xx=0\n", $3 }' | tee -a "$WORK/results"
}
for _ in $(seq 1 "$ROUNDS"); do
  run_wrk blink-postgres-uncached 3121
  pgbench_run
done
echo
report pgbench-S
