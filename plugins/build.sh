#!/usr/bin/env bash
# Builds every plugin guest (examples and test guests) into
#   plugins/target/wasm32-wasip2/release/*.wasm
# Adds the wasm32-wasip2 target first when it is missing. Used by the host
# tests, CI and developers alike.
set -euo pipefail
cd "$(dirname "$0")"
if ! rustup target list --installed | grep -qx wasm32-wasip2; then
    rustup target add wasm32-wasip2
fi
# The guests always land in plugins/target, where the tests look, even when CARGO_TARGET_DIR points elsewhere.
export CARGO_TARGET_DIR="$PWD/target"
cargo build --release --target wasm32-wasip2 --workspace --exclude blink-plugin-sdk "$@"
ls -1 target/wasm32-wasip2/release/*.wasm
