#!/usr/bin/env bash
# Create (or update) the project's virtual environment in .venv.
# torch is pinned to the CPU build 2.13.0 unless a torch is already installed in .venv
# (install a CUDA build there first to keep it: see README, "GPU").
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
"$PYTHON" - <<'PY' || { echo "physopt needs Python >= 3.10 (set PYTHON=/path/to/python3.11)" >&2; exit 1; }
import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)
PY
if [ ! -x .venv/bin/python ]; then
    echo "creating .venv with $("$PYTHON" --version)"
    "$PYTHON" -m venv .venv
    .venv/bin/python -m pip install --quiet --upgrade pip
fi
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
    # pinned; PHYSOPT_TORCH_INDEX=<PyTorch's CPU wheel index> forces the CPU build where the
    # default index would serve a CUDA one (on this project's machines pip finds the CPU build)
    echo "installing torch==2.13.0"
    .venv/bin/python -m pip install --quiet "torch==2.13.0" ${PHYSOPT_TORCH_INDEX:+--index-url "$PHYSOPT_TORCH_INDEX"}
fi
stamp=.venv/.physopt-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "installing physopt and its dependencies into .venv"
    .venv/bin/python -m pip install --quiet -e ".[test]"
    touch "$stamp"
fi
