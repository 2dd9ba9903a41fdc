#!/usr/bin/env bash
# Bulk import and export speed: LINKS links (default 100,000) imported with `blink links import` into an empty
# SQLite file and an empty PostgreSQL database, then exported; links/s from the wall-clock time of each command
# (the binary's start and migrations included). Figures go in bench/README.md.
#   [LINKS=n] [PROFILE=release|dev] [PG_ADMIN_URL=postgres://…] bench/import.sh
set -euo pipefail
cd "$(dirname "$0")/.."
LINKS="${LINKS:-100000}"
PROFILE="${PROFILE:-release}"
PG_ADMIN_URL="${PG_ADMIN_URL:-${BLINK_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}}"
WORK="$(mktemp -d)"
PG_DB="blink_bench_import_$$"
cleanup() {
  psql -q "$PG_ADMIN_URL" -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

if [ "$PROFILE" = release ]; then cargo build --release --locked --quiet; DIR=release; else cargo build --locked --quiet; DIR=debug; fi
BLINK="${CARGO_TARGET_DIR:-target}/$DIR/blink"

# A third of the links have a custom slug, a tenth a title with a comma: the CSV path a migration from a peer takes.
python3 - "$LINKS" > "$WORK/links.csv" <<'PY'
import sys
n = int(sys.argv[1])
print("url,slug,title")
for i in range(n):
    slug = f"bench-{i}" if i % 3 == 0 else ""
    title = f"\"Article {i}, part {i % 7}\"" if i % 10 == 0 else ""
    print(f"https://bench-{i % 97}.example/articles/{i}?ref=bench,{slug},{title}")
PY

# run NAME DATABASE_URL: import, import again (every link found), export as CSV; prints one line per step.
run() {
  local name="$1" url="$2" start end
  env DATABASE_URL="$url" BASE_URL=http://bench.blink.example "$BLINK" migrate >/dev/null
  start=$(date +%s.%N)
  env DATABASE_URL="$url" BASE_URL=http://bench.blink.example "$BLINK" links import "$WORK/links.csv" >/dev/null
  end=$(date +%s.%N)
  python3 -c "import sys; s=float(sys.argv[2])-float(sys.argv[1]); print(f'$name import   {$LINKS:>8} links {s:6.2f} s {$LINKS/s:>9,.0f} links/s')" "$start" "$end"
  start=$(date +%s.%N)
  env DATABASE_URL="$url" BASE_URL=http://bench.blink.example "$BLINK" links import "$WORK/links.csv" >/dev/null
  end=$(date +%s.%N)
  python3 -c "import sys; s=float(sys.argv[2])-float(sys.argv[1]); print(f'$name again    {$LINKS:>8} links {s:6.2f} s {$LINKS/s:>9,.0f} links/s (all found)')" "$start" "$end"
  start=$(date +%s.%N)
  env DATABASE_URL="$url" BASE_URL=http://bench.blink.example "$BLINK" links export --format csv -o "$WORK/out.csv" >/dev/null
  end=$(date +%s.%N)
  python3 -c "import sys; s=float(sys.argv[2])-float(sys.argv[1]); print(f'$name export   {$LINKS:>8} links {s:6.2f} s {$LINKS/s:>9,.0f} links/s')" "$start" "$end"
  [ "$(($(wc -l < "$WORK/out.csv") - 1))" -eq "$LINKS" ] || { echo "$name: expected $LINKS exported links" >&2; exit 1; }
}

run sqlite "sqlite://$WORK/bench.db"
if psql -q "$PG_ADMIN_URL" -c "CREATE DATABASE $PG_DB" >/dev/null 2>&1; then
  run postgres "$(python3 -c "import sys,urllib.parse as u; p=u.urlparse(sys.argv[1]); print(p._replace(path='/$PG_DB').geturl())" "$PG_ADMIN_URL")"
else
  echo "postgres: skipped (cannot create a database at $PG_ADMIN_URL)" >&2
fi
