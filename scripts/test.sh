#!/usr/bin/env bash
# Set up .venv and run the test suite. Extra arguments go to pytest
# (e.g. `bash scripts/test.sh -k operators`, or `--run-slow` for the long checks).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-env.sh
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
# pytest-xdist workers, one per core up to 4 (PHYSOPT_TEST_WORKERS=N to choose, 0 or 1 for one process;
# `-n N` among the arguments wins). Measured on 2 cores: 542 s with two workers, 1152 s in one process.
workers="${PHYSOPT_TEST_WORKERS:-$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc 2>/dev/null || echo 1)}"
case "$workers" in
    ''|*[!0-9]*) echo "PHYSOPT_TEST_WORKERS must be a whole number (0 or 1: one process), got '$workers'" >&2; exit 2 ;;
esac
[ "$workers" -gt 4 ] && [ -z "${PHYSOPT_TEST_WORKERS:-}" ] && workers=4
parallel=()
[ "$workers" -gt 1 ] && parallel=(-n "$workers")
exec .venv/bin/python -m pytest ${parallel[@]+"${parallel[@]}"} "$@"
