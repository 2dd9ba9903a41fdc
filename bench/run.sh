#!/usr/bin/env bash
# Redirect benchmark: Blink (release) on SQLite and PostgreSQL with 10,000 links, cached and uncached, against
# a minimal poem server answering a fixed 301 (the ceiling on this machine). Prints requests/s, p50/p99 and the
# ratio to the ceiling. Usage: bench/run.sh [seconds per run, default 15]. Needs PostgreSQL (../shared/services-up).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-15}" CONNECTIONS=64 THREADS=2 LINKS=10000
WORK="$(mktemp -d)"
source bench/lib.sh
trap cleanup EXIT
ensure_wrk
if [ -x ../shared/services-up ]; then eval "$(../shared/services-up)"; fi
PG_ADMIN="${BLINK_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/blink_test}"
cargo build --release --quiet --bin blink --example ceiling

bench_backend() {
  local name="$1" url="$2"
  seed_links "$url"
  start_blink "$url" 3101
  warm 3101
  run_wrk "blink-$name-cached" 3101
  stop_last
  start_blink "$url" 3102 BLINK_CACHE__ENABLED=false
  run_wrk "blink-$name-uncached" 3102
  stop_last
}

PORT=3200 target/release/examples/ceiling & PIDS+=($!)
wait_port 3200
bench_backend sqlite "sqlite://$WORK/bench.db"
psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS blink_bench WITH (FORCE)" -c "CREATE DATABASE blink_bench" >/dev/null
bench_backend postgres "${PG_ADMIN%/*}/blink_bench"
run_wrk ceiling 3200
echo
report ceiling
