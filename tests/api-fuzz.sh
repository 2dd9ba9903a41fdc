#!/usr/bin/env bash
# Property-based API testing: schemathesis (from PyPI) generates requests from the running server's
# /api/openapi.json and runs all of its checks with a valid token. Fails on any failure; prints the case count.
# Usage: tests/api-fuzz.sh [path to the blink binary]
set -euo pipefail
cd "$(dirname "$0")/.."
BLINK="${1:-${CARGO_TARGET_DIR:-target}/debug/blink}"
[ -x "$BLINK" ] || { echo "api-fuzz: $BLINK not built (run cargo build)" >&2; exit 1; }
python3 -m pip install --quiet --disable-pip-version-check "schemathesis==4.32.5" 2>&1 | grep -v "Running pip as the 'root' user" || true

WORK="$(mktemp -d)"
PORT=3466
cleanup() { [ -n "${PID:-}" ] && kill "$PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
export DATABASE_URL="sqlite://$WORK/fuzz.db" BLINK_LINKS__SCRAPE=false BLINK_RATE_LIMIT__ENABLED=false PORT
"$BLINK" migrate >/dev/null
TOKEN="$("$BLINK" tokens create --user api --scopes '*:*' --name fuzz --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')"
"$BLINK" >"$WORK/server.log" 2>&1 &
PID=$!
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done

status=0
schemathesis --config-file tests/schemathesis.toml run "http://127.0.0.1:$PORT/api/openapi.json" \
  --checks all -H "Authorization: Bearer $TOKEN" --max-examples 50 --seed 1 >"$WORK/report.txt" 2>&1 || status=$?
tail -n 40 "$WORK/report.txt"
cases="$(grep -Eo '[0-9]+ generated' "$WORK/report.txt" | head -n 1 || true)"
echo "schemathesis: ${cases:-no} test cases, exit status $status"
if grep -q '"level":"ERROR"' "$WORK/server.log"; then echo "api-fuzz: the server logged errors:" >&2; grep '"level":"ERROR"' "$WORK/server.log" | head -5 >&2; status=1; fi
exit "$status"
