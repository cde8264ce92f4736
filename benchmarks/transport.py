"""Transport failure modes: PINN, PINN + curriculum and LPINN side by side (issue 19).

Cases: ``convection1d`` at β ∈ {10, 30, 50, 100}, ``convection_diffusion1d`` at
c ∈ {10, 50} (ν = 0.01) and ``burgers_shock1d`` (u₀ = sin x + 1, ν = 0.01). Every
method gets the same budget — optimizer steps, collocation points, network
(tanh, 3 × 32 per network; LPINN has two) — in float64, once with Adam and once
with ``adam+lm`` (Adam for a quarter of the steps, then Levenberg–Marquardt, the
core's best second-order method, until it stalls: the PINN's default), and is
measured on the same grid (256 x × 100 t, relative L2). The curriculum
(Krishnapriyan et al. 2021) trains at a third and two thirds of the hard
parameter (β or c; ν from 0.1 and 0.03 for Burgers) before the target, the
budget split in three equal parts.

    OMP_NUM_THREADS=1 python benchmarks/transport.py [--quick] [--cases convection1d:50 ...] [--optimizers adam lm]

Writes ``benchmarks/results/transport.json`` and prints the table.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

CASES = ["convection1d:10", "convection1d:30", "convection1d:50", "convection1d:100",
         "convection_diffusion1d:10", "convection_diffusion1d:50", "burgers_shock1d:0.01"]
PARAMETER = {"convection1d": "beta", "convection_diffusion1d": "c", "burgers_shock1d": "nu"}
METHODS = ("pinn", "pinn+curriculum", "lpinn")


def curriculum(problem: str, value: float) -> str:
    """The easier stages before ``value``: thirds of β/c, or ν = 0.1, 0.03 above Burgers' ν."""
    name = PARAMETER[problem]
    stages = [10 * value, 3 * value] if name == "nu" else [value / 3, 2 * value / 3]
    return f"{name}={','.join(f'{v:g}' for v in stages)}"


def run(problem_name: str, value: float, method: str, optimizer: str, steps: int, points: int, seed: int) -> dict:
    from problems import PROBLEMS
    from solvers import LPINN, PINN

    problem = PROBLEMS.get(problem_name)(**{PARAMETER[problem_name]: value})
    common = {"optimizer": optimizer, "points": points, "width": 32, "depth": 3, "dtype": "float64", "seed": seed,
              "error_every": 0, "checkpoint_every": 0}
    t0 = time.perf_counter()
    if method == "lpinn":
        solver = LPINN(problem, steps=steps, **common)
    elif method == "pinn":
        solver = PINN(problem, steps=steps, resample_every=0, **common)
    else:
        stage = steps // 3
        solver = PINN(problem, steps=steps - 2 * stage, curriculum=curriculum(problem_name, value),
                      curriculum_steps=stage, resample_every=0, **common)
    solution = solver.solve()
    errors = solution.errors()
    return {"problem": problem_name, PARAMETER[problem_name]: value, "method": method, "optimizer": optimizer,
            "steps": steps, "points": points, "rel_l2": errors["rel_l2"], "max_abs": errors["max_abs"],
            "wall_s": time.perf_counter() - t0, "stop_reason": solution.info["stop_reason"]}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="*", default=CASES, help="PROBLEM:VALUE of its hard parameter")
    parser.add_argument("--methods", nargs="*", default=list(METHODS))
    parser.add_argument("--optimizers", nargs="*", default=["adam", "adam+lm"])
    parser.add_argument("--adam-steps", type=int, default=1500, help="steps of the adam runs")
    parser.add_argument("--lm-steps", type=int, default=600, help="steps of the other schedules (adam+lm, lm, ...)")
    parser.add_argument("--points", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="convection1d at β = 30 only, 9 Adam / 8 adam+lm steps, 64 points")
    parser.add_argument("--out", default="benchmarks/results/transport.json")
    args = parser.parse_args(argv)
    if args.quick:
        args.cases, args.adam_steps, args.lm_steps, args.points = ["convection1d:30"], 9, 8, 64
    rows = []
    for case in args.cases:
        name, value = case.split(":")
        for optimizer in args.optimizers:
            steps = args.adam_steps if optimizer == "adam" else args.lm_steps
            for method in args.methods:
                rows.append(run(name, float(value), method, optimizer, steps, args.points, args.seed))
                r = rows[-1]
                print(f"{name:>22} {PARAMETER[name]}={float(value):<6g} {method:>16} {optimizer:>5} "
                      f"rel L2 {r['rel_l2']:.2e}  {r['wall_s']:7.1f} s", flush=True)
    out = {"setup": {"width": 32, "depth": 3, "dtype": "float64", "points": args.points, "adam_steps": args.adam_steps,
                     "lm_steps": args.lm_steps, "grid": "256 x 100", "seed": args.seed},
           "quick": args.quick, "torch": torch.__version__, "threads": torch.get_num_threads(),
           "machine": platform.processor() or platform.machine(), "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    return out


if __name__ == "__main__":
    main()
