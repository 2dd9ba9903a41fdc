#!/usr/bin/env bash
# Redirect benchmark: Blink (release) on SQLite and PostgreSQL with 10,000 links, cached and uncached, against
# a minimal poem server answering a fixed 301 (the ceiling on this machine). Prints requests/s, p50/p99 and the
# ratio Blink/ceiling. Usage: bench/run.sh [seconds per run, default 15]. Needs PostgreSQL (../shared/services-up).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-15}"
CONNECTIONS=64
THREADS=2
LINKS=10000

command -v wrk >/dev/null || { apt-get update -qq >/dev/null; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
if [ -x ../shared/services-up ]; then eval "$(../shared/services-up)"; fi
PG_ADMIN="${BLINK_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/blink_test}"

cargo build --release --quiet --bin blink --example ceiling
BLINK="$PWD/target/release/blink"
CEILING="$PWD/target/release/examples/ceiling"
WORK="$(mktemp -d)"
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

python3 - "$LINKS" > "$WORK/urls.txt" <<'PY'
import sys
for i in range(int(sys.argv[1])):
    print(f"https://bench-{i % 97}.example/articles/{i}?ref=bench")
PY

wait_ready() { for _ in $(seq 1 200); do curl -fs "http://127.0.0.1:$1/healthz" >/dev/null && return 0; sleep 0.05; done; echo "server on $1 did not start" >&2; exit 1; }
wait_port() { for _ in $(seq 1 200); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 did not open" >&2; exit 1; }

# run_wrk NAME PORT: one measured wrk run; prints and records "NAME rps p50 p99".
run_wrk() {
  local line
  line=$(SLUGS_FILE="$WORK/slugs.txt" wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency -s bench/slugs.lua "http://127.0.0.1:$2" | grep '^BENCH')
  echo "$1 $line" | tee -a "$WORK/results"
}

# start_blink DATABASE_URL PORT [extra env...]
start_blink() {
  local url="$1" port="$2"; shift 2
  env DATABASE_URL="$url" PORT="$port" BASE_URL="http://bench.blink.example" LOG_LEVEL=info "$@" "$BLINK" >"$WORK/blink-$port.log" 2>&1 &
  PIDS+=($!)
  wait_ready "$port"
}

stop_last() { local pid="${PIDS[-1]}"; kill "$pid"; wait "$pid" 2>/dev/null || true; unset 'PIDS[-1]'; }

bench_backend() {
  local name="$1" url="$2"
  env DATABASE_URL="$url" BASE_URL="http://bench.blink.example" "$BLINK" links import "$WORK/urls.txt" >/dev/null
  env DATABASE_URL="$url" BASE_URL="http://bench.blink.example" "$BLINK" links list --limit "$LINKS" --json \
    | python3 -c 'import json,sys; print("\n".join(l["slug"] for l in json.load(sys.stdin)))' > "$WORK/slugs.txt"
  [ "$(wc -l < "$WORK/slugs.txt")" -eq "$LINKS" ] || { echo "expected $LINKS slugs" >&2; exit 1; }

  start_blink "$url" 3101
  SLUGS_FILE="$WORK/slugs.txt" wrk -t"$THREADS" -c"$CONNECTIONS" -d5s -s bench/slugs.lua http://127.0.0.1:3101 >/dev/null  # warm the cache
  run_wrk "blink-$name-cached" 3101
  stop_last

  start_blink "$url" 3102 BLINK_CACHE__ENABLED=false
  run_wrk "blink-$name-uncached" 3102
  stop_last
}

PORT=3200 "$CEILING" & PIDS+=($!)
wait_port 3200
bench_backend sqlite "sqlite://$WORK/bench.db"
psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS blink_bench WITH (FORCE)" -c "CREATE DATABASE blink_bench" >/dev/null
bench_backend postgres "${PG_ADMIN%/*}/blink_bench"
run_wrk ceiling 3200

echo
python3 - "$WORK/results" "$(nproc)" "$DURATION" <<'PY'
import sys
rows = {}
for line in open(sys.argv[1]):
    name, _, *fields = line.split()
    rows[name] = dict(f.split("=") for f in fields)
ceiling = float(rows["ceiling"]["rps"])
print(f"{sys.argv[2]} cores, wrk -t2 -c64 -d{sys.argv[3]}s, 10,000 links, random slugs")
print(f"{'run':28} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'x ceiling':>10}")
for name, r in rows.items():
    rps = float(r["rps"])
    bad = f"  ({r['non_3xx']} non-3xx!)" if r["non_3xx"] != "0" else ""
    print(f"{name:28} {rps:9.0f} {int(r['p50_us'])/1000:8.3f} {int(r['p99_us'])/1000:8.3f} {rps/ceiling:10.2f}{bad}")
PY
