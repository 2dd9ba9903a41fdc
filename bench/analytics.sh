#!/usr/bin/env bash
# Cached redirects with the built-in click analytics on and off, side by side (issue #14): req/s, p50/p99 and the
# server's CPU time per request, on SQLite with 10,000 links. Every redirect of the "on" server is classified,
# hashed and counted into the database once a second; the "off" server records no click at all.
# USER_AGENT=… makes every visit a person's (top tables and unique visitors are written too).
# Usage: [PIN=0|1] [ROUNDS=n] [LINKS=n] [USER_AGENT=…] bench/analytics.sh [seconds per run, default 10].
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-10}" CONNECTIONS=64 LINKS="${LINKS:-10000}"
source bench/lib.sh
cargo build --release --quiet --bin blink

sqlite="sqlite://$WORK/bench.db"
seed_links "$sqlite"
start_blink "$sqlite" 3111 ANALYTICS_ENABLED=true
start_blink "$sqlite" 3112 ANALYTICS_ENABLED=false
warm 3111; warm 3112
run_rounds analytics-on=3111 analytics-off=3112
echo
report analytics-off
# What the "on" server counted, from its own /metrics: every redirect, none dropped.
curl -s http://127.0.0.1:3111/metrics | grep -E '^blink_(clicks_queued|clicks_dropped|analytics_clicks_counted|analytics_rows_written)_total'
