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
# The real-browser suites run in a process of their own, after the rest, so that no state an
# earlier test leaves in the test process (AppTest's __main__, environment) reaches the app they start.
# Exit 5 (nothing selected, e.g. only browser files named) is not a failure of either part.
status=0
for marks in "not browser" "browser"; do
  rc=0
  .venv/bin/python -m pytest -q -p no:cacheprovider -m "$marks" "$@" || rc=$?
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 5 ]; then status=$rc; fi
done
exit "$status"
