#!/usr/bin/env bash
# Create .venv (Python >= 3.10) and install the workbench into it, CPU torch first.
# Usage: bash scripts/setup.sh [extra ...]   e.g. bash scripts/setup.sh test
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
# A bare `torch` requirement would pull a multi-GB CUDA build; take the pinned CPU-capable wheel first.
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  .venv/bin/python -m pip install --quiet "torch==${TORCH_VERSION:-2.13.0}"
fi
extras=""
if [ "$#" -gt 0 ]; then extras="[$(IFS=,; echo "$*")]"; fi
.venv/bin/python -m pip install --quiet -e ".${extras}"
