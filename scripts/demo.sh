#!/usr/bin/env bash
# The main job: set up .venv, solve the default problem (poisson2d, PINN, float64,
# Adam then Levenberg-Marquardt), write a run directory with fields (VTU) and pictures (PNG).
# Extra arguments go to `physopt solve`, e.g. `bash scripts/demo.sh heat1d --steps 1000`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-env.sh
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
problem="${1:-poisson2d}"
shift || true
exec .venv/bin/physopt solve "$problem" "$@"
