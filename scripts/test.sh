#!/usr/bin/env bash
# Set up .venv and run the test suite. Extra arguments go to pytest
# (e.g. `bash scripts/test.sh -k operators`, or `--run-slow` for the long checks).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-env.sh
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
exec .venv/bin/python -m pytest "$@"
