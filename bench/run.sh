#!/usr/bin/env bash
# Redirect benchmark: Blink (release) on SQLite and PostgreSQL with 10,000 links, cached and uncached, against
# a minimal poem server answering a fixed 301 (the ceiling on this machine). Prints requests/s, p50/p99 and the
# ratio to the ceiling. Usage: [PIN=0|1] [ROUNDS=n] bench/run.sh [seconds per run, default 10].
# Needs PostgreSQL (../shared/services-up).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-10}" CONNECTIONS=64 LINKS=10000
source bench/lib.sh
if [ -x ../shared/services-up ]; then eval "$(../shared/services-up)"; fi
PG_ADMIN="${BLINK_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/blink_test}"
cargo build --release --quiet --bin blink --example ceiling

PORT=3200 "${ON_SERVER_CPU[@]}" target/release/examples/ceiling & PIDS+=($!)
wait_port 3200
sqlite="sqlite://$WORK/bench.db"
seed_links "$sqlite"
psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS blink_bench WITH (FORCE)" -c "CREATE DATABASE blink_bench" >/dev/null
postgres="${PG_ADMIN%/*}/blink_bench"
seed_links "$postgres"

# Cached redirects and the ceiling: all three servers up at once, measured in turn, round after round.
start_blink "$sqlite" 3101
start_blink "$postgres" 3103
for port in 3200 3101 3103; do warm "$port"; done
run_rounds ceiling=3200 blink-sqlite-cached=3101 blink-postgres-cached=3103
stop_last; stop_last

# Uncached: every request is a database query.
start_blink "$sqlite" 3102 BLINK_CACHE__ENABLED=false
start_blink "$postgres" 3104 BLINK_CACHE__ENABLED=false
ROUNDS=1 run_rounds blink-sqlite-uncached=3102 blink-postgres-uncached=3104
echo
report ceiling
