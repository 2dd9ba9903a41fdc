#!/usr/bin/env bash
# Installs the pinned Python and JavaScript plugin toolchains into DIR, which should lie outside any checkout:
#   DIR/componentize-py-<version>/   a venv holding componentize-py (PyPI)
#   DIR/componentize-js-<version>/   an npm prefix holding @bytecodealliance/componentize-js (npm)
# and prints the variables tests/plugin_authoring.rs reads, for `eval`. A toolchain already installed at its pinned
# version is kept, so a second run costs nothing. The versions are those the scaffolds of `blink plugin new
# --lang python|js` name (src/plugins/scaffold.rs; a unit test keeps the two equal).
set -euo pipefail
dir="${1:?usage: plugins/guest-tools.sh DIR}"
COMPONENTIZE_PY_VERSION=0.25.1
COMPONENTIZE_JS_VERSION=0.23.0
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"

py="$dir/componentize-py-$COMPONENTIZE_PY_VERSION"
if [ ! -e "$py/.installed" ]; then
  rm -rf "$py"
  python3 -m venv "$py"
  "$py/bin/pip" install --quiet --disable-pip-version-check "componentize-py==$COMPONENTIZE_PY_VERSION" >&2
  touch "$py/.installed"
fi

js="$dir/componentize-js-$COMPONENTIZE_JS_VERSION"
if [ ! -e "$js/.installed" ]; then
  rm -rf "$js"
  mkdir -p "$js"
  npm install --prefix "$js" --no-audit --no-fund --loglevel=error \
    "@bytecodealliance/componentize-js@$COMPONENTIZE_JS_VERSION" >&2
  touch "$js/.installed"
fi

echo "export BLINK_TEST_COMPONENTIZE_PY='$py/bin/componentize-py'"
echo "export BLINK_TEST_COMPONENTIZE_JS='$js/node_modules/.bin/componentize-js'"
