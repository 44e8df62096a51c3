#!/usr/bin/env bash
# Installs what the demo page's browser test (tests/test_browser.py, `make test-browser`) needs:
# Debian's chromium and chromium-driver (apt-get, as root or through sudo) and selenium in the
# project's venv. Idempotent: anything already present is left alone.
#   VENV=.venv   the venv to install selenium into
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]} (apt-get)"
  sudo=$([ "$(id -u)" = 0 ] || echo sudo)
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -q
  $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "no venv at $VENV: run \`make venv\` first" >&2
  exit 1
fi
if ! "$VENV/bin/python" -c 'import selenium' 2>/dev/null; then
  echo "installing selenium into $VENV"
  "$VENV/bin/python" -m pip install --quiet 'selenium>=4.10,<5'
fi

echo "browser test prerequisites: $(chromium --version 2>/dev/null), $(chromedriver --version 2>/dev/null | cut -d' ' -f1-2), selenium $("$VENV/bin/python" -c 'import selenium; print(selenium.__version__)')"
