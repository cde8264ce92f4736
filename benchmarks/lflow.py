"""Conserved densities from data: LFlow against a PINN baseline on the moving Gaussians (issue 20).

``moving_gaussians`` (2-D by default): noisy log-density observations on two
quadrants at 21 times in [0, 1]; tested on the other two quadrants at 100 times
in [0, 1.2] (extrapolation in time). Both methods see the same observations,
float64, Adam, the same number of steps:

- ``lflow``: the Lagrangian flow network with its defaults (4 affine couplings,
  2 × 64 tanh conditioners, SVD-linear layers, an 8-Gaussian base, density
  misfit, time curriculum), continuity exact by construction;
- ``pinn``: an MLP (4 × 64 tanh) for (log ρ, v) with the continuity residual
  ∂ₜlog ρ + v·∇log ρ + ∇·v penalised at collocation points in the box × [0, 1.2],
  and the same data misfit.

Reported per seed: R² of ρ on the test set, the continuity residual
‖∂ₜρ + ∇·(ρv)‖ / ‖∂ₜρ‖ by autodiff at 500 test points, and the wall time.

    OMP_NUM_THREADS=1 python benchmarks/lflow.py [--seeds 0 1 2] [--steps 3000] [--dim 2] [--quick]

Writes ``benchmarks/results/lflow.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch
from torch.func import vmap


def continuity(field, points: torch.Tensor) -> float:
    from problems._library.density import continuity_residual

    residual, dt_rho = vmap(lambda q: continuity_residual(field, q))(points)
    return float((residual.norm() / dt_rho.norm()).detach())


def run(method: str, dim: int, seed: int, steps: int, grid: int) -> dict:
    from problems import PROBLEMS
    from solvers import PINN, LFlow

    problem = PROBLEMS.get("moving_gaussians")(dim=dim, seed=seed, grid=grid)
    t0 = time.perf_counter()
    if method == "lflow":
        solver = LFlow(problem, steps=steps, seed=seed, error_every=0, checkpoint_every=0)
    else:
        solver = PINN(problem, optimizer="adam", steps=steps, seed=seed, width=64, depth=4, points=1024, lr=3e-3,
                      error_every=0, checkpoint_every=0)
    solution = solver.solve()
    wall = time.perf_counter() - t0
    errors = solution.errors()
    test = problem.error_points()
    picked = test[np.random.default_rng(0).choice(len(test), min(500, len(test)), replace=False)]
    with problem.layout():
        residual = continuity(solution.field, picked.to(torch.float64))
    return {"method": method, "dim": dim, "seed": seed, "steps": steps, "r2_rho": errors["r2_rho"],
            "rel_l2_log_rho": errors["rel_l2_log_rho"], "continuity_residual": residual, "wall_s": wall,
            "observations": len(problem.observations()[0].points), "test_points": len(test)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--dim", type=int, default=2)
    parser.add_argument("--grid", type=int, default=0, help="observation grid per axis (0: the problem's default)")
    parser.add_argument("--quick", action="store_true", help="one seed, 5 steps, an 8-point grid")
    parser.add_argument("--out", default="benchmarks/results/lflow.json")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.steps, args.grid = [0], 5, 8
    rows = []
    for seed in args.seeds:
        for method in ("lflow", "pinn"):
            rows.append(run(method, args.dim, seed, args.steps, args.grid))
            r = rows[-1]
            print(f"seed {seed} {method:>6}: R² of ρ {r['r2_rho']:.4f}, continuity residual {r['continuity_residual']:.2e}, "
                  f"{r['wall_s']:.0f} s", flush=True)
    summary = {}
    for method in ("lflow", "pinn"):
        mine = [r for r in rows if r["method"] == method]
        summary[method] = {"r2_rho_mean": float(np.mean([r["r2_rho"] for r in mine])),
                           "r2_rho_min": float(np.min([r["r2_rho"] for r in mine])),
                           "continuity_residual_max": float(np.max([r["continuity_residual"] for r in mine]))}
        print(f"{method:>6}: mean R² {summary[method]['r2_rho_mean']:.4f} (min {summary[method]['r2_rho_min']:.4f}), "
              f"largest continuity residual {summary[method]['continuity_residual_max']:.2e}")
    out = {"setup": {"problem": f"moving_gaussians dim={args.dim}", "steps": args.steps, "seeds": args.seeds,
                     "dtype": "float64", "optimizer": "adam"},
           "quick": args.quick, "torch": torch.__version__, "threads": torch.get_num_threads(),
           "machine": platform.processor() or platform.machine(), "rows": rows, "summary": summary}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    return out


if __name__ == "__main__":
    main()
