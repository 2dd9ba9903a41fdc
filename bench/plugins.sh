#!/usr/bin/env bash
# Plugin benchmark: the cost of one call of each hook with the example plugins, and cached-redirect throughput
# with the click-tally analytics plugin against none (SQLite, 10,000 links; plugin key-value entries in Redis,
# as a deployment with analytics would run). Usage: bench/plugins.sh [seconds].
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-10}" CONNECTIONS=64 LINKS=10000
WORK="$(mktemp -d)"
source bench/lib.sh
trap cleanup EXIT
ensure_wrk
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
run_rounds redirects-no-plugins=3111 redirects-click-tally=3112
stop_last
grep -h 'click queue stats' "$WORK"/blink-3112.log | tail -n 1 || echo "(no click queue statistics logged)"
echo
report redirects-no-plugins
