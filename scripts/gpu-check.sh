#!/usr/bin/env bash
# The one command to run on a CUDA machine: an environment report, the test suite on CUDA
# (`pytest --device cuda`), then the GPU-sized benchmarks (benchmarks/gpu.py) against the same
# runs on that machine's CPU; JSON and logs under benchmarks/results/gpu/. Sized to finish
# within 8 minutes on one H200.
#
#   bash scripts/gpu-check.sh                 # on a CUDA machine
#   bash scripts/gpu-check.sh --quick         # the CPU smoke form (the test suite runs it)
#   bash scripts/gpu-check.sh --device cpu    # the full check on the CPU (the same tests and benchmarks)
# The tests run in GPU_CHECK_SHARDS (6) parallel pytest processes, each limited to
# GPU_CHECK_TEST_TIMEOUT (300) seconds; GPU_CHECK_TESTS="files or folders" runs a subset.
#   PYTHON=/usr/bin/python3 bash scripts/gpu-check.sh --out /tmp/gpu
#
# It installs nothing: it uses $PYTHON, else .venv/bin/python, else python3, which needs torch,
# numpy, scipy, numba, h5py, matplotlib, meshio and tqdm. PyVista is optional (solving never needs
# it; without it the tests that draw pictures are skipped, and say so).
set -uo pipefail
cd "$(dirname "$0")/.."
quick=0
device=cuda
out=benchmarks/results/gpu
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) quick=1 ;;
        --out) out="${2:?--out needs a folder}"; shift ;;
        --device) device="${2:?--device needs a device}"; shift ;;
        *) echo "gpu-check: unknown argument '$1' (use --quick, --device DEV, --out DIR)" >&2; exit 2 ;;
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
"$PY" - "$quick" "$device" <<'PY' 2>&1 | tee "$out/environment.txt"
import importlib, platform, sys
quick = sys.argv[1] == "1" or not sys.argv[2].startswith("cuda")
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
    shards=1
    files=(tests/physopt/test_devices.py)
else
    shards="${GPU_CHECK_SHARDS:-6}"  # parallel pytest processes (one GPU, many CPU cores)
    if [ -n "${GPU_CHECK_TESTS:-}" ]; then
        read -r -a files <<< "$GPU_CHECK_TESTS"  # a subset, e.g. GPU_CHECK_TESTS="tests/physopt tests/solvers"
    else
        mapfile -t files < <(find tests -name 'test_*.py' -printf '%s %p\n' | sort -rn | awk '{print $2}')
    fi
fi
groups=()
for i in "${!files[@]}"; do  # largest files first, dealt round-robin: shards of similar length
    k=$((i % shards))
    groups[k]="${groups[k]:-} ${files[i]}"
done

echo "== tests on $device ($shards process(es))"
pids=()
for k in "${!groups[@]}"; do
    # shellcheck disable=SC2086
    timeout "${GPU_CHECK_TEST_TIMEOUT:-300}" "$PY" -m pytest -q -p no:cacheprovider --device "$device" ${groups[k]} \
        > "$out/tests-$k.log" 2>&1 &
    pids+=($!)
done
test_status=0
for k in "${!pids[@]}"; do
    wait "${pids[k]}"
    code=$?
    [ "$code" -eq 124 ] && echo "gpu-check: test shard $k hit its time limit (GPU_CHECK_TEST_TIMEOUT=${GPU_CHECK_TEST_TIMEOUT:-300} s)"
    [ "$code" -ne 0 ] && test_status=$code
    grep -E '^(FAILED|ERROR) ' "$out/tests-$k.log" | head -20
    echo "shard $k: $(tail -n 1 "$out/tests-$k.log")"
done
cat "$out"/tests-*.log > "$out/tests.log"

echo "== benchmarks on $device"
bench=(benchmarks/gpu.py --device "$device" --out "$out")
[ "$quick" -eq 1 ] && bench+=(--quick)
"$PY" "${bench[@]}" 2>&1 | tee "$out/benchmarks.log"
bench_status=${PIPESTATUS[0]}

if [ "$quick" -eq 0 ]; then  # issue 18: collapsed STDE it/s against the paper's A100 numbers, d = 10^2 .. 10^6
    echo "== high-dimensional PINN steps on $device"
    "$PY" benchmarks/high_dim.py --device "$device" --dims 100 1000 10000 100000 1000000 \
        --methods sdgd stde-collapsed stde-compiled --steps 200 --seconds 8 --max-gb 60 --out "$out/high_dim.json" 2>&1 \
        | tee "$out/high_dim.log"
    [ "${PIPESTATUS[0]}" -eq 0 ] || bench_status=1
fi

echo "== gpu-check: tests exit $test_status, benchmarks exit $bench_status, $((SECONDS - start)) s; results in $out"
[ "$test_status" -eq 0 ] && [ "$bench_status" -eq 0 ]
