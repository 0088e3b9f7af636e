#!/usr/bin/env bash
# Check the CUDA path on a machine with a GPU and write the figures to docs/gpu.md, in one call:
#   1. workbench doctor --json          devices, versions, memory, precisions, self-test per device
#   2. pytest -m cuda                   the CUDA tests (they skip, saying why, where no GPU is seen)
#   3. workbench bench --device cuda --json   images/s per side and precision, conv throughput, writer, fidelity
#   4. workbench bench --writer --json  PNG levels and writer cells/s per pool size on this host
#   5. scripts/gpu_report.py            renders the four into docs/gpu.md
# Usage: bash scripts/gpu-check.sh [bench flags ...]   e.g. bash scripts/gpu-check.sh --resolution 424 848
#
# The interpreter: .venv/bin/python when its torch sees a GPU; otherwise a python3 on PATH whose torch does
# (a GPU image's own PyTorch), with this checkout on PYTHONPATH. Project packages that interpreter lacks can
# travel as wheels in .whl/ (installed into /tmp/site). Without .venv and without such a python3 it runs
# `bash scripts/setup.sh test` first. Raw results go to runs/gpu-check/ (and to $OUT when that is set).
set -uo pipefail
cd "$(dirname "$0")/.."
RESULTS=runs/gpu-check
mkdir -p "$RESULTS"
export PYTHONUNBUFFERED=1

sees_gpu() {  # true when interpreter $1 imports torch and torch sees a CUDA device
  "$1" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null
}

PY=""
if [ -x .venv/bin/python ] && sees_gpu .venv/bin/python; then
  PY=.venv/bin/python
elif command -v python3 >/dev/null && sees_gpu python3; then
  PY=python3
  if [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
      || { echo "error: installing the wheels in .whl/ failed" >&2; exit 2; }
    export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
  fi
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
elif [ ! -x .venv/bin/python ]; then
  bash scripts/setup.sh test || exit 2
  PY=.venv/bin/python
else
  PY=.venv/bin/python  # no GPU seen: the report says so (doctor), the CUDA tests skip, the bench refuses
fi
echo "gpu-check: python $("$PY" -c 'import sys, torch; print(sys.version.split()[0], "torch", torch.__version__)')"

missing=$("$PY" - <<'EOF'
import importlib
names = ["numpy", "cv2", "PIL", "pydantic", "sqlite_utils", "safetensors", "tqdm", "psutil", "scipy", "skimage",
         "pytest"]
print(" ".join(n for n in names if importlib.util.find_spec(n) is None))
EOF
)
if [ -n "$missing" ]; then
  echo "error: $PY lacks $missing; carry their wheels in .whl/ (see /work/.library/device/README.md) or use a .venv" >&2
  exit 2
fi

status=0
"$PY" -m core.cli.main doctor --json >"$RESULTS/doctor.json" 2>"$RESULTS/doctor.err" || status=1
# The files that hold CUDA tests (the others need the app's packages, which a GPU image may lack).
CUDA_TESTS=$(grep -l "cuda_only\|mark.cuda" tests/test_*.py)
# shellcheck disable=SC2086
"$PY" -m pytest -m cuda -q -p no:cacheprovider -rs $CUDA_TESTS >"$RESULTS/cuda-tests.txt" 2>&1
rc=$?
if [ "$rc" -ne 0 ] && [ "$rc" -ne 5 ]; then status=1; fi  # 5: no test selected
"$PY" -m core.cli.main bench --device cuda --json "$@" >"$RESULTS/bench.json" 2>"$RESULTS/bench.err" || status=1
"$PY" -m core.cli.main bench --writer --json >"$RESULTS/writer.json" 2>"$RESULTS/writer.err" || status=1
"$PY" scripts/gpu_report.py --doctor "$RESULTS/doctor.json" --tests "$RESULTS/cuda-tests.txt" \
  --bench "$RESULTS/bench.json" --bench-error "$RESULTS/bench.err" --writer "$RESULTS/writer.json" \
  --out docs/gpu.md || status=1
tail -n 3 "$RESULTS/cuda-tests.txt"
cat docs/gpu.md
if [ -n "${OUT:-}" ] && [ -d "$OUT" ]; then
  cp docs/gpu.md "$RESULTS"/doctor.json "$RESULTS"/bench.json "$RESULTS"/writer.json "$RESULTS"/cuda-tests.txt \
    "$OUT"/ 2>/dev/null
  cp "$RESULTS"/bench.err "$OUT"/bench.err.txt 2>/dev/null
fi
exit "$status"
