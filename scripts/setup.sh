#!/usr/bin/env bash
# Create .venv (Python >= 3.11) and install the workbench into it: torch first, then the project, both under
# constraints.txt (the versions the test suite ran with).
# Usage: bash scripts/setup.sh [extra ...]   e.g. bash scripts/setup.sh test ray
#
# Environment:
#   PYTHON             the interpreter that creates .venv (default python3; must be 3.11 or newer)
#   TORCH_REQUIREMENT  the torch requirement installed first (default torch==2.13.0, the tested release;
#                      TORCH_VERSION=X.Y.Z still works as a shorthand for torch==X.Y.Z)
#   TORCH_INDEX_URL    a package index to take torch from besides pip's own, e.g. the wheel index of the CPU-only
#                      build or of your CUDA version; pip picks that index's build of the requested release
# torch is installed only into a .venv that lacks it, unless TORCH_REQUIREMENT or TORCH_INDEX_URL is set.
# To change the torch build of an existing .venv, remove .venv and run this again.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
CONSTRAINTS=constraints.txt

too_old() {  # true when the interpreter $1 is older than 3.11 (or does not run)
  ! "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null
}

if [ ! -x .venv/bin/python ]; then
  if too_old "$PYTHON"; then
    echo "error: $PYTHON is not Python 3.11 or newer; set PYTHON=/path/to/python3.11 (or newer)" >&2
    exit 2
  fi
  "$PYTHON" -m venv .venv
elif too_old .venv/bin/python; then
  echo "error: .venv uses Python $(.venv/bin/python -c 'import platform; print(platform.python_version())'); \
the workbench needs 3.11 or newer: remove .venv and run this again with PYTHON set to a 3.11+ interpreter" >&2
  exit 2
fi
PIP=(.venv/bin/python -m pip install --quiet -c "$CONSTRAINTS")
.venv/bin/python -m pip install --quiet --upgrade pip

# torch on its own first: a bare `torch` dependency would let pip choose the build (on Linux its default index
# serves a multi-GB CUDA build); this takes the tested release, from the index the user chose if any.
if [ -n "${TORCH_REQUIREMENT:-}${TORCH_INDEX_URL:-}" ] || ! .venv/bin/python -c "import torch" 2>/dev/null; then
  torch_args=("${TORCH_REQUIREMENT:-torch==${TORCH_VERSION:-2.13.0}}")
  if [ -n "${TORCH_INDEX_URL:-}" ]; then torch_args+=(--extra-index-url "$TORCH_INDEX_URL"); fi
  "${PIP[@]}" "${torch_args[@]}"
fi

extras=""
if [ "$#" -gt 0 ]; then extras="[$(IFS=,; echo "$*")]"; fi
"${PIP[@]}" -e ".${extras}"
