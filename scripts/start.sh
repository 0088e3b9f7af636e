#!/usr/bin/env bash
# Set up .venv, build the demo data, run the demo sweep and open the workbench on it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/workbench demo "$@"
