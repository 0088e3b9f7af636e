#!/usr/bin/env bash
# Set up .venv with the test extras, make sure Chromium is there for the browser tests, run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test ray
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "note: chromium not found and not root: browser tests will be skipped" >&2
  fi
fi
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
