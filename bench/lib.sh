# Shared by the benchmark scripts: building, seeding links, starting servers and running wrk. Sourcing it makes the
# work directory $WORK, removed with the servers on exit (a script with a trap of its own calls `cleanup` in it), and
# installs wrk if it is missing. Expects DURATION, CONNECTIONS and LINKS to be set by the caller.

BLINK="$PWD/target/release/blink"
PIDS=()
declare -A PID_OF # port -> PID of the Blink server started on it
# PIN=1 (the default): servers run on CPU 0 and one wrk thread on CPU 1, so the load generator neither steals
# the server's core nor adds its own scheduling to the latencies. PIN=0: everything shares both cores.
# ROUNDS: how often each measured run is repeated, interleaved with the others; the report shows medians, which
# keeps a noisy neighbour on a shared host from deciding a ratio.
ROUNDS="${ROUNDS:-5}"
if [ "${PIN:-1}" = 1 ]; then
  ON_SERVER_CPU=(taskset -c 0); ON_WRK_CPU=(taskset -c 1); THREADS=1
else
  ON_SERVER_CPU=(); ON_WRK_CPU=(); THREADS=2
fi
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
  (cd "$WORK" && exec env DATABASE_URL="$url" PORT="$port" BASE_URL="http://bench.blink.example" LOG_LEVEL=info "$@" "${ON_SERVER_CPU[@]}" "$BLINK" >"$WORK/blink-$port.log" 2>&1) &
  PIDS+=($!)
  PID_OF[$port]=$!
  wait_ready "$port"
}

stop_last() { local pid="${PIDS[-1]}"; kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; unset 'PIDS[-1]'; }

warm() { SLUGS_FILE="$WORK/slugs.txt" "${ON_WRK_CPU[@]}" wrk -t"$THREADS" -c"$CONNECTIONS" -d5s -s bench/slugs.lua "http://127.0.0.1:$1" >/dev/null; }

# cpu_ticks PORT: user + system CPU time used so far by the server started on PORT (clock ticks), or nothing.
cpu_ticks() { if [ -n "${PID_OF[$1]:-}" ]; then awk '{ print $14 + $15 }' "/proc/${PID_OF[$1]}/stat"; fi; }

# record NAME PORT TICKS_BEFORE WRK_OUTPUT: prints and records "NAME BENCH rps=... p50_us=... p99_us=..." and,
# for a Blink server, its CPU time per request in the run ("cpu_us=...").
record() {
  local line rps after cpu=""
  line=$(grep '^BENCH' "$4")
  after=$(cpu_ticks "$2")
  if [ -n "$3" ] && [ -n "$after" ]; then
    rps=$(sed -E 's/.*rps=([0-9]+).*/\1/' <<<"$line")
    cpu=" cpu_us=$(python3 -c "print(round(($after - $3) / $(getconf CLK_TCK) * 1e6 / max(1, $rps * $DURATION), 2))")"
  fi
  echo "$1 $line$cpu" | tee -a "$WORK/results"
}

# load PORT OUTPUT: one wrk run against PORT.
load() {
  SLUGS_FILE="$WORK/slugs.txt" "${ON_WRK_CPU[@]}" wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency \
    -s bench/slugs.lua "http://127.0.0.1:$1" > "$2"
}

# run_wrk NAME PORT: one measured run.
run_wrk() {
  local before; before=$(cpu_ticks "$2")
  load "$2" "$WORK/wrk.out"
  record "$1" "$2" "$before" "$WORK/wrk.out"
}

# run_rounds NAME=PORT...: ROUNDS rounds, each measuring every NAME once, in turn.
run_rounds() {
  local round target
  for round in $(seq 1 "$ROUNDS"); do
    for target in "$@"; do run_wrk "${target%%=*}" "${target#*=}"; done
  done
}

# run_together NAME=PORT...: ROUNDS rounds in which every server is loaded at the same time, each by its own
# wrk, so that the host's drift hits all alike.
run_together() {
  local round target i before loads
  for round in $(seq 1 "$ROUNDS"); do
    before=(); loads=(); i=0
    for target in "$@"; do
      before[i]=$(cpu_ticks "${target#*=}")
      load "${target#*=}" "$WORK/wrk-$i.out" &
      loads[i]=$!; i=$((i + 1))
    done
    wait "${loads[@]}"
    i=0
    for target in "$@"; do record "${target%%=*}" "${target#*=}" "${before[i]}" "$WORK/wrk-$i.out"; i=$((i + 1)); done
  done
}

# report BASELINE [together]: every run's medians over its rounds, with the ratio of its median req/s to
# BASELINE's; "together" when the runs were measured with run_together (adds the per-round ratios).
report() {
  python3 - "$WORK/results" "$1" "$(nproc)" "$DURATION" "$CONNECTIONS" "$THREADS" "${ON_SERVER_CPU[*]:-}" "${2:-}" <<'PY'
import statistics, sys
results, baseline, cores, duration, connections, threads, pinned, mode = sys.argv[1:]
together = mode == "together"
runs = {}
for line in open(results):
    name, _, *fields = line.split()
    runs.setdefault(name, []).append(dict(f.split("=") for f in fields))
median = lambda name, key: statistics.median(float(r[key]) for r in runs[name])
base = median(baseline, "rps")
where = "server on CPU 0, wrk on CPU 1" if pinned else "server and wrk sharing all cores"
if together:
    where = f"servers loaded at the same time, {where.replace('server ', 'sharing ')}, a wrk each"
print(f"{cores} cores ({where}), wrk -t{threads} -c{connections} -d{duration}s, random slugs;"
      f" medians over rounds; ratio against {baseline}")
cpu = any("cpu_us" in r for rounds in runs.values() for r in rounds)
print(f"{'run':34} {'rounds':>6} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'ratio':>7}" + (" CPU µs/req" if cpu else ""))
for name, rounds in runs.items():
    rps = median(name, "rps")
    bad = sum(int(r["non_3xx"]) for r in rounds)
    note = f"  ({bad} non-3xx!)" if bad else ""
    per_request = f" {median(name, 'cpu_us'):10.2f}" if all("cpu_us" in r for r in rounds) else ""
    print(f"{name:34} {len(rounds):6} {rps:9.0f} {median(name, 'p50_us')/1000:8.3f} {median(name, 'p99_us')/1000:8.3f}"
          f" {rps/base:7.2f}{per_request}{note}")
if together:
    # Runs that shared the same seconds: the ratio of each round is fairer than the ratio of medians.
    for name, rounds in runs.items():
        if name != baseline:
            ratios = [float(r["rps"]) / float(b["rps"]) for r, b in zip(rounds, runs[baseline])]
            print(f"{name}: per-round req/s ratios " + ", ".join(f"{x:.2f}" for x in ratios))
PY
}

WORK="$(mktemp -d)"
trap cleanup EXIT
ensure_wrk
