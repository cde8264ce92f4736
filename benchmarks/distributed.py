"""Data-parallel scaling: one process against 2 ranks (gloo, this CPU), Adam and LM, 3-D Poisson with 10⁵ points.

``poisson_nd`` with ``dim=3`` (boundary values in the ansatz, so every row is a residual point),
a 3-16-16-1 tanh MLP (353 parameters), float64, one thread per process:

- strong scaling: the same 10⁵ points on 1 process and on 2 ranks (5·10⁴ each);
- weak scaling: 5·10⁴ points per process, 1 process against 2 ranks (10⁵ in all);
- for reference, 1 process with 2 threads (the other way to use both cores).

Per configuration: seconds per step (median over the timed steps, after two warm-up
steps), the part of it spent in communication (all_reduce/broadcast calls, waiting for
the slower rank included), the bytes reduced per step, and the ratios to 1 process.
The ranks are started by ``torch.distributed``'s launcher, as ``physopt solve --nproc``
starts them.

    OMP_NUM_THREADS=1 python benchmarks/distributed.py [--points 100000] [--quick]

Writes ``benchmarks/results/distributed.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
OPTIMIZERS = {"adam": {"optimizer": "adam", "lr": 1e-3, "steps": 12}, "lm": {"optimizer": "lm", "steps": 6}}
WARMUP = 2


def worker(spec: dict) -> None:
    """One process of a configuration: train, time each step, write rank 0's figures to ``spec["out"]``."""
    import torch

    from physopt import distributed
    from problems import resolve_problem
    from solvers import PINN, Callback

    ranks = distributed.initialize("cpu")
    torch.set_num_threads(spec["threads"])

    class Timer(Callback):
        def __init__(self):
            self.rows = []

        def on_step(self, state, record):
            self.rows.append((record.wall_time, ranks.stats["seconds"], ranks.stats["bytes"], ranks.stats["calls"]))

    timer = Timer()
    options = {**OPTIMIZERS[spec["optimizer"]], "points": spec["points"], "hidden": "16,16", "dtype": "float64",
               "device": "cpu", "error_every": 0, "sampling": "uniform", "seed": 0}
    if spec["optimizer"] == "adam":
        options["steps"] = spec.get("adam_steps", options["steps"])
    else:
        options["steps"] = spec.get("lm_steps", options["steps"])
    solver = PINN(resolve_problem("poisson_nd")(dim=3), **options)
    solver.solve([timer])
    rows = timer.rows[WARMUP - 1:]  # differences from the end of the last warm-up step
    diffs = [[b - a for a, b in zip(r0, r1)] for r0, r1 in zip(rows, rows[1:])]
    final_loss = solver.ranks.sum(solver.loss()[0].detach()).item()  # a reduction: every rank takes part
    if ranks.is_main:
        Path(spec["out"]).write_text(json.dumps({
            "seconds_per_step": statistics.median(d[0] for d in diffs),
            "communication_s_per_step": statistics.median(d[1] for d in diffs),
            "bytes_per_step": statistics.median(d[2] for d in diffs),
            "reductions_per_step": statistics.median(d[3] for d in diffs),
            "timed_steps": len(diffs), "parameters": sum(p.numel() for p in solver.model.parameters()),
            "final_loss": final_loss,
        }))
    distributed.exit_rank(0)


def run_configuration(optimizer: str, points: int, nproc: int, threads: int, extra: dict) -> dict:
    """Start 1 plain process (``nproc=1``) or ``nproc`` ranks through the launcher; return rank 0's figures."""
    out = Path(tempfile.mkdtemp(prefix="physopt-distributed-")) / "result.json"
    spec = json.dumps({"optimizer": optimizer, "points": points, "threads": threads, "out": str(out), **extra})
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    if nproc == 1:
        command = [sys.executable, __file__, "--worker", spec]
    else:
        command = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc-per-node", str(nproc),
                   "--rdzv-backend", "c10d", "--rdzv-endpoint", "localhost:0", "--rdzv-id", str(uuid.uuid4()),
                   __file__, "--worker", spec]
    run = subprocess.run(command, capture_output=True, text=True, env=env, cwd=HERE.parent)
    if run.returncode != 0:
        raise RuntimeError(f"{optimizer} on {nproc} process(es) failed:\n{run.stderr[-3000:]}")
    return {"optimizer": optimizer, "points": points, "processes": nproc, "threads_per_process": threads,
            **json.loads(out.read_text())}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=100_000, help="points of the strong-scaling runs")
    parser.add_argument("--optimizers", nargs="+", default=list(OPTIMIZERS), choices=list(OPTIMIZERS))
    parser.add_argument("--quick", action="store_true", help="2,000 points, 4 steps, no 2-thread run: a smoke test")
    parser.add_argument("--out", default=str(HERE / "results" / "distributed.json"))
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:
        worker(json.loads(args.worker))
        return {}
    extra = {"adam_steps": 4, "lm_steps": 4} if args.quick else {}
    n = 2000 if args.quick else args.points
    rows = []
    for optimizer in args.optimizers:
        configurations = [("strong", n, 1, 1), ("strong", n, 2, 1), ("weak", n // 2, 1, 1)]
        configurations += [] if args.quick else [("threads", n, 1, 2)]
        for kind, points, nproc, threads in configurations:
            row = {"scaling": kind, **run_configuration(optimizer, points, nproc, threads, extra)}
            rows.append(row)
            print(f"{optimizer:5s} {kind:7s} {points:>7d} points · {nproc} process(es) × {threads} thread(s): "
                  f"{row['seconds_per_step']:.3f} s/step, communication {row['communication_s_per_step']:.4f} s, "
                  f"{row['bytes_per_step'] / 1e3:.1f} kB/step", flush=True)
    summary = []
    for optimizer in args.optimizers:
        mine = {(r["scaling"], r["processes"], r["threads_per_process"]): r for r in rows if r["optimizer"] == optimizer}
        one, two = mine[("strong", 1, 1)], mine[("strong", 2, 1)]
        weak_one = mine[("weak", 1, 1)]
        summary.append({
            "optimizer": optimizer,
            "strong_speedup_2_ranks": one["seconds_per_step"] / two["seconds_per_step"],
            "strong_efficiency": one["seconds_per_step"] / two["seconds_per_step"] / 2,
            "weak_efficiency": weak_one["seconds_per_step"] / two["seconds_per_step"],
            "speedup_2_threads": (one["seconds_per_step"] / mine[("threads", 1, 2)]["seconds_per_step"]
                                  if ("threads", 1, 2) in mine else None),
            "communication_fraction_2_ranks": two["communication_s_per_step"] / two["seconds_per_step"],
            "bytes_per_step_2_ranks": two["bytes_per_step"],
            "final_loss_ratio_2_ranks_to_1": two["final_loss"] / one["final_loss"],
        })
    print(f"\n{'optimizer':9s} {'strong ×':>9s} {'strong eff':>10s} {'weak eff':>9s} {'2 threads ×':>12s} "
          f"{'comm share':>10s} {'kB/step':>9s}")
    for s in summary:
        print(f"{s['optimizer']:9s} {s['strong_speedup_2_ranks']:9.2f} {s['strong_efficiency']:10.2f} "
              f"{s['weak_efficiency']:9.2f} {s['speedup_2_threads'] or float('nan'):12.2f} "
              f"{s['communication_fraction_2_ranks']:10.3f} "
              f"{s['bytes_per_step_2_ranks'] / 1e3:9.1f}")
    import torch

    result = {"benchmark": "distributed", "problem": "poisson_nd (dim=3), 3-16-16-1 tanh MLP, float64, gloo",
              "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                          "torch": torch.__version__, "python": platform.python_version()},
              "quick": args.quick, "rows": rows, "summary": summary}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    if "--worker" in sys.argv:  # a rank: its folder (benchmarks/) is not a package; the repository root is
        sys.path.insert(0, str(HERE.parent))
    main()
