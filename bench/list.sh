#!/usr/bin/env bash
# The admin UI's links list with 100,000 links: seeds a fresh SQLite file and a fresh PostgreSQL database, then
# times LinkService::list (the query path of the UI's list page and of GET /api/links) per case: first page, deep
# pages, searches, the "mine" filter, each sort; p50/p95 of the server time per call.
# Usage: [LINKS=n] [CALLS=n] [PROFILE=release|dev] bench/list.sh. Needs PostgreSQL (../shared/services-up).
set -euo pipefail
cd "$(dirname "$0")/.."
export LINKS="${LINKS:-100000}" CALLS="${CALLS:-100}"
PROFILE="${PROFILE:-release}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
if [ -x ../shared/services-up ]; then eval "$(../shared/services-up)"; fi
PG_ADMIN="${BLINK_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/blink_test}"
cargo build --profile "$PROFILE" --quiet --example list_bench
dir=$([ "$PROFILE" = dev ] && echo debug || echo "$PROFILE")
psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS blink_list_bench WITH (FORCE)" -c "CREATE DATABASE blink_list_bench" >/dev/null
"${CARGO_TARGET_DIR:-target}/$dir/examples/list_bench" "sqlite://$WORK/list.db" "${PG_ADMIN%/*}/blink_list_bench"
