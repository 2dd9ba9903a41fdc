#!/usr/bin/env bash
# Memory under load (issue #14): LINKS links stored (default 1,000,000, SQLite), HOT of them (default 100,000)
# requested at random for DURATION seconds, with the default configuration (in-process cache of 100,000 slugs,
# click analytics on). Prints the server's resident memory (VmRSS) and its peak (VmHWM) after start, after the
# load, and the requests served. Usage: [LINKS=n] [HOT=n] bench/memory.sh [seconds of load, default 30].
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-30}" CONNECTIONS=64 LINKS="${LINKS:-1000000}" HOT="${HOT:-100000}"
source bench/lib.sh
cargo build --release --quiet --bin blink

sqlite="sqlite://$WORK/bench.db"
start=$(date +%s)
seed_links "$sqlite"
echo "seeded $LINKS links in $(( $(date +%s) - start )) s"
shuf -n "$HOT" --random-source=<(yes) "$WORK/slugs.txt" > "$WORK/hot.txt"

memory() { awk '/^VmRSS|^VmHWM/ { printf "%s %.1f MB  ", $1, $2 / 1024 }' "/proc/$1/status"; echo; }
start_blink "$sqlite" 3131
pid="${PID_OF[3131]}"
echo -n "after start:      "; memory "$pid"
SLUGS_FILE="$WORK/hot.txt" "${ON_WRK_CPU[@]}" wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency \
  -s bench/slugs.lua http://127.0.0.1:3131 | grep '^BENCH'
echo -n "after the load:   "; memory "$pid"
curl -s http://127.0.0.1:3131/metrics | grep -E '^blink_(cache_(hits|misses)_total|clicks_dropped_total)' || true
