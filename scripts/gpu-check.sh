#!/usr/bin/env bash
# The one command to run on a CUDA machine: an environment report, the test suite on CUDA
# (`pytest --device cuda`), then the GPU-sized benchmarks (benchmarks/gpu.py) against the same
# runs on that machine's CPU; JSON and logs under benchmarks/results/gpu/. Sized to finish
# within 8 minutes on one H200.
#
#   bash scripts/gpu-check.sh                 # on a CUDA machine
#   bash scripts/gpu-check.sh --quick         # the CPU smoke form (the test suite runs it)
#   PYTHON=/usr/bin/python3 bash scripts/gpu-check.sh --out /tmp/gpu
#
# It installs nothing: it uses $PYTHON, else .venv/bin/python, else python3, which needs torch,
# numpy, scipy, numba, h5py, matplotlib, meshio and tqdm. PyVista is optional (solving never needs
# it; without it the tests that draw pictures are skipped, and say so).
set -uo pipefail
cd "$(dirname "$0")/.."
quick=0
out=benchmarks/results/gpu
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) quick=1 ;;
        --out) out="${2:?--out needs a folder}"; shift ;;
        *) echo "gpu-check: unknown argument '$1' (use --quick, --out DIR)" >&2; exit 2 ;;
    esac
    shift
done
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
    if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
mkdir -p "$out"
start=$SECONDS

echo "== environment"
"$PY" - "$quick" <<'PY' 2>&1 | tee "$out/environment.txt"
import importlib, platform, sys
quick = sys.argv[1] == "1"
missing = []
print(f"python {platform.python_version()} ({sys.executable})")
for name in ("torch", "numpy", "scipy", "numba", "h5py", "matplotlib", "meshio", "tqdm", "pyvista"):
    try:
        module = importlib.import_module(name)
        print(f"{name:<10} {getattr(module, '__version__', '?')}")
    except ImportError:
        note = "not installed: tests that draw pictures are skipped" if name == "pyvista" else "MISSING"
        print(f"{name:<10} {note}")
        if name != "pyvista":
            missing.append(name)
if missing:
    print(f"gpu-check: install {', '.join(missing)} for this Python first (pip install ...)")
    sys.exit(3)
import torch
print(f"torch CUDA build: {torch.version.cuda}; CUDA available: {torch.cuda.is_available()}")
for i in range(torch.cuda.device_count()):
    p = torch.cuda.get_device_properties(i)
    print(f"cuda:{i} {p.name}, {p.total_memory / 2**30:.1f} GiB, compute capability {p.major}.{p.minor}")
print(f"float32 matmul precision: {torch.get_float32_matmul_precision()} (TF32 off for accuracy work)")
if not quick and not torch.cuda.is_available():
    print("gpu-check: no CUDA device visible to this torch; run `bash scripts/gpu-check.sh --quick` for the CPU form")
    sys.exit(4)
PY
status=${PIPESTATUS[0]}
[ "$status" -eq 0 ] || exit "$status"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader

if [ "$quick" -eq 1 ]; then
    device=cpu
    tests=(tests/physopt/test_devices.py)
else
    device=cuda
    tests=()
fi

echo "== tests on $device"
timeout "${GPU_CHECK_TEST_TIMEOUT:-330}" "$PY" -m pytest -q -p no:cacheprovider --device "$device" "${tests[@]}" 2>&1 \
    | tee "$out/tests.log" | grep -E "passed|failed|error|FAILED|ERROR|no CUDA"
test_status=${PIPESTATUS[0]}
[ "$test_status" -eq 124 ] && echo "gpu-check: the test run hit its time limit (GPU_CHECK_TEST_TIMEOUT=${GPU_CHECK_TEST_TIMEOUT:-330} s)"

echo "== benchmarks on $device"
bench=(benchmarks/gpu.py --device "$device" --out "$out")
[ "$quick" -eq 1 ] && bench+=(--quick)
"$PY" "${bench[@]}" 2>&1 | tee "$out/benchmarks.log"
bench_status=${PIPESTATUS[0]}

echo "== gpu-check: tests exit $test_status, benchmarks exit $bench_status, $((SECONDS - start)) s; results in $out"
[ "$test_status" -eq 0 ] && [ "$bench_status" -eq 0 ]
