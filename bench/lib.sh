# Shared by the benchmark scripts: building, seeding links, starting servers and running wrk.
# Expects DURATION, CONNECTIONS, THREADS, LINKS and WORK to be set by the caller.

BLINK="$PWD/target/release/blink"
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$WORK"; }

ensure_wrk() {
  command -v wrk >/dev/null || { apt-get update -qq >/dev/null; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
}

wait_ready() { for _ in $(seq 1 200); do curl -fs "http://127.0.0.1:$1/healthz" >/dev/null && return 0; sleep 0.05; done; echo "server on $1 did not start" >&2; exit 1; }
wait_port() { for _ in $(seq 1 200); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 did not open" >&2; exit 1; }

# seed_links DATABASE_URL: LINKS links, their slugs in $WORK/slugs.txt.
seed_links() {
  python3 - "$LINKS" > "$WORK/urls.txt" <<'PY'
import sys
for i in range(int(sys.argv[1])):
    print(f"https://bench-{i % 97}.example/articles/{i}?ref=bench")
PY
  env DATABASE_URL="$1" BASE_URL="http://bench.blink.example" "$BLINK" links import "$WORK/urls.txt" >/dev/null
  env DATABASE_URL="$1" BASE_URL="http://bench.blink.example" "$BLINK" links list --limit "$LINKS" --json \
    | python3 -c 'import json,sys; print("\n".join(l["slug"] for l in json.load(sys.stdin)))' > "$WORK/slugs.txt"
  [ "$(wc -l < "$WORK/slugs.txt")" -eq "$LINKS" ] || { echo "expected $LINKS slugs" >&2; exit 1; }
}

# start_blink DATABASE_URL PORT [extra env...]: runs the release binary from $WORK (where a blink.toml may be).
start_blink() {
  local url="$1" port="$2"; shift 2
  # exec: the recorded PID is blink's own, so stopping it delivers SIGTERM to the server, not to a subshell.
  (cd "$WORK" && exec env DATABASE_URL="$url" PORT="$port" BASE_URL="http://bench.blink.example" LOG_LEVEL=info "$@" "$BLINK" >"$WORK/blink-$port.log" 2>&1) &
  PIDS+=($!)
  wait_ready "$port"
}

stop_last() { local pid="${PIDS[-1]}"; kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; unset 'PIDS[-1]'; }

warm() { SLUGS_FILE="$WORK/slugs.txt" wrk -t"$THREADS" -c"$CONNECTIONS" -d5s -s bench/slugs.lua "http://127.0.0.1:$1" >/dev/null; }

# run_wrk NAME PORT: one measured run; prints and records "NAME BENCH rps=... p50_us=... p99_us=...".
run_wrk() {
  local line
  line=$(SLUGS_FILE="$WORK/slugs.txt" wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency -s bench/slugs.lua "http://127.0.0.1:$2" | grep '^BENCH')
  echo "$1 $line" | tee -a "$WORK/results"
}

# report BASELINE: a table of every run with its ratio to the BASELINE run.
report() {
  python3 - "$WORK/results" "$1" "$(nproc)" "$DURATION" "$CONNECTIONS" <<'PY'
import sys
rows = {}
for line in open(sys.argv[1]):
    name, _, *fields = line.split()
    rows[name] = dict(f.split("=") for f in fields)
base = float(rows[sys.argv[2]]["rps"])
print(f"{sys.argv[3]} cores, wrk -t2 -c{sys.argv[5]} -d{sys.argv[4]}s, random slugs; ratio against {sys.argv[2]}")
print(f"{'run':34} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'ratio':>7}")
for name, r in rows.items():
    rps = float(r["rps"])
    bad = f"  ({r['non_3xx']} non-3xx!)" if r["non_3xx"] != "0" else ""
    print(f"{name:34} {rps:9.0f} {int(r['p50_us'])/1000:8.3f} {int(r['p99_us'])/1000:8.3f} {rps/base:7.2f}{bad}")
PY
}
