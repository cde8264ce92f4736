"""Training-step speed and peak memory of high-dimensional PINN Laplacians (STDE paper, Table 1 set-up).

Two-body Allen–Cahn on the unit ball, u = (1 − ‖x‖²)·MLP(x), MLP d-128-128-128-1
tanh, float32, 100 points, Adam. One *training step* is the residual
:math:`\\Delta u + u - u^3 - g` at the points, the loss, its backward pass and the
Adam update, on a fixed batch whose forcing g is computed beforehand (sampling
and forcing are timed apart, ``sample_s``: they are the same for every method).
The Laplacian, four ways:

- ``exact``: the exact trace of the Hessian, by the collapsed forward Laplacian
  over all d coordinates (Taylor mode: the cheapest exact method here; reverse-over-reverse
  Hessians are slower still, benchmarks/derivatives.py);
- ``sdgd``: SDGD-style, |J| = 16 sampled coordinates, one reverse-mode pass for
  ∇u and one more per coordinate for ∂²u/∂x_j² (a loop of backward passes, as the
  paper's PyTorch SDGD baseline);
- ``stde-nested``: sparse STDE, |J| = 16, each ∂²u[e_j, e_j] by nested
  ``torch.func.jvp`` through the opaque field;
- ``stde-collapsed``: sparse STDE, |J| = 16, physopt's default: one collapsed
  forward-Laplacian pass through the MLP (``physopt.NetworkField``);
- ``stde-compiled``: the same loss and its backward through ``torch.compile``
  (the PINN's ``compile`` option; ``reduce-overhead``, i.e. CUDA graphs, on a GPU,
  ``default`` on the CPU); the compile time falls in the two untimed warm-up steps (``warmup_s``).

Every (method, d) runs in its own subprocess; peak memory is the growth of the
process's peak resident set over its state just before the first step
(``ru_maxrss``; on CUDA ``torch.cuda.max_memory_allocated``). Steps: 2 warm-up,
then until ``--steps`` steps or ``--seconds`` seconds. A cell whose tensors would
not fit (``exact`` beyond 10⁴ needs N·d·128 floats per layer) is skipped with
the estimate stated.

    OMP_NUM_THREADS=2 python benchmarks/high_dim.py [--dims 100 1000 10000 100000] [--quick]

Writes ``benchmarks/results/high_dim.json`` and prints a table with ratios to
``sdgd`` and ``stde-nested``.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

METHODS = ("exact", "sdgd", "stde-nested", "stde-collapsed", "stde-compiled")
POINTS, WIDTH, SAMPLES = 100, 128, 16


def _memory_estimate_gb(method: str, d: int) -> float:
    """Bytes of the largest per-layer tensors (float32), for skipping cells that cannot fit."""
    if method == "exact":
        return POINTS * d * WIDTH * 4 * 12 / 1e9  # (N, d, h) jets, several live for the backward
    return 0.0


def _cell(method: str, d: int, steps: int, seconds: float, device: str) -> dict:
    """One (method, d) measurement in this process."""
    from torch.func import vmap

    from physopt import STDEMode, derivative_mode, laplacian
    from problems import PROBLEMS
    from solvers import PINN

    problem = PROBLEMS.get("allen_cahn_ball")(d=d)
    solver = PINN(problem, device=device, seed=0, derivatives="stde", samples=SAMPLES)
    t0 = time.perf_counter()
    batch = solver.sample()
    sample_s = time.perf_counter() - t0
    x, forcing = batch.interior, batch.interior_data["forcing"]
    field = solver.field
    model = solver.model
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    mode = STDEMode(samples=SAMPLES, seed=0)

    def residual_stde(u):
        with derivative_mode(mode), problem.layout():
            return vmap(lambda y, g: problem.residual(u, y, forcing=g))(x, forcing)

    def residual_exact():
        with derivative_mode("taylor"), problem.layout():
            return vmap(lambda y, g: problem.residual(field, y, forcing=g))(x, forcing)

    def residual_sdgd():
        xs = x.detach().requires_grad_()
        u = (1 - (xs * xs).sum(-1)) * model(xs).squeeze(-1)
        (grad,) = torch.autograd.grad(u.sum(), xs, create_graph=True)
        chosen = mode.rng.choice(d, size=min(SAMPLES, d), replace=False)
        second = sum(torch.autograd.grad(grad[:, j].sum(), xs, create_graph=True)[0][:, j] for j in chosen)
        return d / len(chosen) * second + u - u**3 - forcing

    compute = {"exact": residual_exact, "sdgd": residual_sdgd,
               "stde-nested": lambda: residual_stde(lambda y: field(y)),  # opaque: nested jvp per direction
               "stde-collapsed": lambda: residual_stde(field), "stde-compiled": lambda: residual_stde(field)}[method]

    def loss_of_step():
        return compute().square().mean()

    if method == "stde-compiled":
        loss_of_step = torch.compile(loss_of_step, mode="reduce-overhead" if device.startswith("cuda") else "default")

    def step():
        mode.resample()
        loss = loss_of_step()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return float(loss)

    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    base_rss = _reset_peak_rss()
    t0 = time.perf_counter()
    for _ in range(2):
        step()
    sync()
    warmup_s = time.perf_counter() - t0
    done, t0 = 0, time.perf_counter()
    while done < steps and time.perf_counter() - t0 < seconds:
        step()
        done += 1
    sync()
    elapsed = time.perf_counter() - t0
    if device.startswith("cuda"):
        peak_mb = (torch.cuda.max_memory_allocated() - base) / 2**20
    else:
        peak_mb = (_status_kib("VmHWM") - base_rss) / 1024
    return {"method": method, "d": d, "steps": done, "it_per_s": done / elapsed, "step_ms": 1e3 * elapsed / done,
            "peak_mb_over_setup": peak_mb, "peak_rss_mb": _status_kib("VmHWM") / 1024 if device == "cpu" else None,
            "sample_s": sample_s, "warmup_s": warmup_s, "device": device}


def _status_kib(key: str) -> int:
    """A ``/proc/self/status`` entry in KiB (VmRSS: resident now, VmHWM: peak resident)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _reset_peak_rss() -> int:
    """Hand freed heap memory back (glibc ``malloc_trim``), then reset the peak resident set to the current one
    (Linux: ``5 > /proc/self/clear_refs``); return it in KiB. Without the trim, memory freed during set-up (the
    forcing's temporaries) would be reused by the steps unseen."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    return _status_kib("VmRSS")


def _run_cell_subprocess(method, d, steps, seconds, device) -> dict:
    code = (f"import json, sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import high_dim as b; "
            f"print('RESULT', json.dumps(b._cell({method!r}, {d}, {steps}, {seconds}, {device!r})))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
    return {"method": method, "d": d, "skipped": f"failed (exit {done.returncode}): {' | '.join(tail)}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", type=int, nargs="*", default=[100, 1_000, 10_000, 100_000])
    parser.add_argument("--methods", nargs="*", default=list(METHODS))
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--max-gb", type=float, default=12.0, help="skip cells estimated to need more")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quick", action="store_true", help="d = 100, 1000; 5 steps")
    parser.add_argument("--out", default="benchmarks/results/high_dim.json")
    args = parser.parse_args()
    if args.quick:
        args.dims, args.steps, args.seconds = [100, 1000], 5, 5.0

    rows = []
    for d in args.dims:
        for method in args.methods:
            need = _memory_estimate_gb(method, d)
            if need > args.max_gb:
                rows.append({"method": method, "d": d, "skipped": f"needs about {need:.0f} GB (> --max-gb {args.max_gb:g})"})
            else:
                rows.append(_run_cell_subprocess(method, d, args.steps, args.seconds, args.device))
            print(json.dumps(rows[-1]), flush=True)

    speed = {(r["method"], r["d"]): r["it_per_s"] for r in rows if "it_per_s" in r}
    print(f"\n{'d':>8} {'method':>15} {'it/s':>9} {'MB':>8} {'vs sdgd':>8} {'vs nested':>9}")
    for r in rows:
        if "it_per_s" not in r:
            print(f"{r['d']:>8} {r['method']:>15}  {r['skipped']}")
            continue
        ratios = [speed[(r["method"], r["d"])] / speed[(m, r["d"])] if (m, r["d"]) in speed else float("nan")
                  for m in ("sdgd", "stde-nested")]
        r["vs_sdgd"], r["vs_stde_nested"] = ratios
        print(f"{r['d']:>8} {r['method']:>15} {r['it_per_s']:>9.2f} {r['peak_mb_over_setup']:>8.0f} "
              f"{ratios[0]:>8.1f} {ratios[1]:>9.2f}")
    out = {"setup": {"points": POINTS, "width": WIDTH, "depth": 3, "samples": SAMPLES, "dtype": "float32",
                     "problem": "allen_cahn_ball (two-body)", "steps": args.steps, "seconds": args.seconds},
           "torch": torch.__version__, "threads": torch.get_num_threads(),
           "machine": platform.processor() or platform.machine(), "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
