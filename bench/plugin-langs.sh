#!/usr/bin/env bash
# The same plugin in Rust, Python and JavaScript: `blink plugin new --hooks link-policy,redirect-rules` in each
# language (outside the repository), built with the scaffold's own command, then per language: the component's
# size, its first load with an empty compile cache and from the cache, and `blink plugin try --n 1000` of
# link-policy (allowed and denied URL) and redirect-rules, ROUNDS times (default 3). The Python and JavaScript
# tools come from plugins/guest-tools.sh, into TOOLS (default: $CARGO_TARGET_DIR/guest-tools).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS="${ROUNDS:-3}"
target="${CARGO_TARGET_DIR:-$PWD/target}"
eval "$(plugins/guest-tools.sh "${TOOLS:-$target/guest-tools}")"
cargo build --release --locked --quiet --bin blink
blink="$target/release/blink"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

for lang in rust python js; do
  "$blink" plugin new "bench-$lang" --hooks link-policy,redirect-rules --lang "$lang" --dir "$work/$lang" >/dev/null
done
(cd "$work/rust" && CARGO_TARGET_DIR="$work/rust/target" cargo build --quiet --release --target wasm32-wasip2)
cp "$work/rust/target/wasm32-wasip2/release/bench_rust.wasm" "$work/rust/"
(cd "$work/python" && "$BLINK_TEST_COMPONENTIZE_PY" -d wit -w link-policy-redirect-rules-plugin componentize app \
  -o bench_python.wasm >/dev/null)
(cd "$work/js" && "$BLINK_TEST_COMPONENTIZE_JS" app.js --wit wit --world-name link-policy-redirect-rules-plugin \
  --disable http fetch-event -o bench_js.wasm >/dev/null)

seconds() { local start=$EPOCHREALTIME; "$@" >/dev/null; echo "$EPOCHREALTIME - $start" | bc; }
for lang in rust python js; do
  wasm="$work/$lang/bench_$lang.wasm"
  try=("$blink" plugin try "$wasm" --memory 64MiB --timeout 1s)
  export XDG_CACHE_HOME="$work/cache-$lang"
  echo "== $lang: $(stat -c %s "$wasm") bytes"
  echo "first load and one call, compiling: $(seconds "${try[@]}" --hook link-policy --url https://example.com/ --n 1) s"
  echo "first load and one call, cached:    $(seconds "${try[@]}" --hook link-policy --url https://example.com/ --n 1) s"
  for _ in $(seq "$ROUNDS"); do
    "${try[@]}" --hook link-policy --url https://example.com/ --n 1000 | sed -n 's/^ *1000 call/link-policy allow: 1000 call/p'
    "${try[@]}" --hook link-policy --url https://evil.example/login --n 1000 | sed -n 's/^ *1000 call/link-policy deny:  1000 call/p'
    "${try[@]}" --hook redirect-rules --url https://example.com/ --header 'User-Agent: (iPhone)' --n 1000 \
      | sed -n 's/^ *1000 call/redirect-rules:    1000 call/p'
  done
done
