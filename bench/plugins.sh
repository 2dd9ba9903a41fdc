#!/usr/bin/env bash
# Plugin benchmark: the cost of one call of each hook with the example plugins, and cached-redirect throughput
# with the click-tally analytics plugin against none (SQLite, 10,000 links; plugin key-value entries in Redis,
# as a deployment with analytics would run). Usage: [MODE=together|turns] bench/plugins.sh [seconds].
# MODE=together (the default) loads both servers at the same time, each with its own wrk, and reports per-round
# ratios and server CPU time per request; MODE=turns measures them one after the other.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-10}" CONNECTIONS=64 LINKS=10000
source bench/lib.sh
if [ -x ../shared/services-up ]; then eval "$(../shared/services-up)"; fi
export REDIS_URL="${BLINK_TEST_REDIS_URL:-redis://127.0.0.1:6379}"
plugins/build.sh >/dev/null
cargo build --release --quiet --bin blink --example plugin_calls

echo "== per-call cost (release build, one plugin per host)"
target/release/examples/plugin_calls 20000
echo

url="sqlite://$WORK/bench.db"
seed_links "$url"
start_blink "$url" 3111
cat > "$WORK/blink.toml" <<TOML
[[plugins]]
name = "click-tally"
path = "$PWD/plugins/target/wasm32-wasip2/release/click_tally.wasm"
TOML
start_blink "$url" 3112
warm 3111; warm 3112
# Redis's own time for the plugin's counters (it shares this host's cores with wrk), reported below.
redis() { if command -v redis-cli >/dev/null; then redis-cli -u "$REDIS_URL" "$@"; fi; }
redis config resetstat >/dev/null
if [ "${MODE:-together}" = together ]; then
  run_together redirects-no-plugins=3111 redirects-click-tally=3112
else
  run_rounds redirects-no-plugins=3111 redirects-click-tally=3112
fi
stop_last
grep -h 'click queue stats' "$WORK"/blink-3112.log | tail -n 1 || echo "(no click queue statistics logged)"
redis info commandstats | grep -E '^cmdstat_(evalsha|eval|incrby):' || true
echo
report redirects-no-plugins "${MODE:-together}"
