"""physopt vs DeepXDE on the same Poisson problem, same network, points and dtype, in one run.

-Δu = 2π² sin πx sin πy on [0,1]², u = 0 on the boundary; 2-32-32-32-1 tanh,
1000 interior + 200 boundary points (DeepXDE's uniform samplers; physopt's
Sobol points), float64.

- DeepXDE (PyTorch backend): its usual recipe, Adam (lr 1e-3) for 5000
  iterations, then L-BFGS with its default settings.
- physopt: its defaults on the same network and points (boundary values built
  into the network, ``bc="auto"``), Adam for 1000 steps then Levenberg–Marquardt
  (``--optimizer`` to change), for at most DeepXDE's total wall time.

Reports both final relative L2 errors (on the same 101×101 grid), both wall
times, and when physopt first reached DeepXDE's final error. Needs the
optional ``deepxde`` package (``pip install -e .[peers]``); without it the
script says so and exits 0.

    OMP_NUM_THREADS=1 python benchmarks/peers.py [--quick]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from physopt import relative_l2


def run_deepxde(adam_iterations: int, lbfgs_iterations: int | None, grid: np.ndarray, exact: np.ndarray) -> dict:
    os.environ.setdefault("DDE_BACKEND", "pytorch")
    import deepxde as dde

    dde.config.set_default_float("float64")
    dde.config.set_random_seed(0)
    pi = math.pi

    def pde(x, y):
        lap = dde.grad.hessian(y, x, i=0, j=0) + dde.grad.hessian(y, x, i=1, j=1)
        return -lap - 2 * pi**2 * torch.sin(pi * x[:, 0:1]) * torch.sin(pi * x[:, 1:2])

    geometry = dde.geometry.Rectangle([0.0, 0.0], [1.0, 1.0])
    boundary = dde.icbc.DirichletBC(geometry, lambda x: 0.0, lambda _, on_boundary: on_boundary)
    data = dde.data.PDE(geometry, pde, boundary, num_domain=1000, num_boundary=200)
    net = dde.nn.FNN([2, 32, 32, 32, 1], "tanh", "Glorot normal")
    model = dde.Model(data, net)
    t0 = time.perf_counter()
    model.compile("adam", lr=1e-3)
    model.train(iterations=adam_iterations, display_every=10**9, verbose=0)
    adam_time = time.perf_counter() - t0
    adam_error = relative_l2(model.predict(grid)[:, 0], exact)
    if lbfgs_iterations is not None:
        dde.optimizers.config.set_LBFGS_options(maxiter=lbfgs_iterations)
    model.compile("L-BFGS")
    model.train(display_every=10**9, verbose=0)
    total = time.perf_counter() - t0
    error = relative_l2(model.predict(grid)[:, 0], exact)
    return {"adam_rel_l2": adam_error, "adam_s": adam_time, "rel_l2": error, "wall_s": total, "version": dde.__version__}


def run_physopt(budget_s: float, target: float, optimizer: str) -> dict:
    from problems import registered_problems
    from solvers import PINN, Callback, StopTraining

    class Clock(Callback):
        def __init__(self):
            self.reached = None

        def on_step(self, state, record):
            if record.error is not None and record.error <= target and self.reached is None:
                self.reached = record.wall_time
            if record.wall_time >= budget_s:
                raise StopTraining(f"DeepXDE's wall time ({budget_s:.0f} s) used")

    clock = Clock()
    problem = registered_problems()["poisson2d"]()
    solver = PINN(problem, width=32, depth=3, points=1000, boundary_points=200, dtype="float64",
                  optimizer=optimizer, error_every=20, seed=0)
    t0 = time.perf_counter()
    solution = solver.solve([clock])
    return {"optimizer": optimizer, "rel_l2": solution.errors()["rel_l2"], "wall_s": time.perf_counter() - t0, "time_to_deepxde_error_s": clock.reached,
            "stop_reason": solution.info["stop_reason"]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs (a smoke test)")
    parser.add_argument("--optimizer", default="adam:1000,lm:1000000", help="physopt's optimizer schedule")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "peers.json"))
    args = parser.parse_args(argv)
    if importlib.util.find_spec("deepxde") is None:
        print("deepxde is not installed (pip install -e .[peers]); nothing to compare")
        return None
    from problems import registered_problems

    problem = registered_problems()["poisson2d"]()
    grid = problem.error_points().numpy()
    exact = problem.solution_at(torch.as_tensor(grid)).numpy()[:, 0]
    adam_iterations, lbfgs_iterations = (200, 50) if args.quick else (5000, None)
    theirs = run_deepxde(adam_iterations, lbfgs_iterations, grid, exact)
    print(f"DeepXDE {theirs['version']}: Adam {adam_iterations} it -> {theirs['adam_rel_l2']:.2e} ({theirs['adam_s']:.0f} s); "
          f"+ L-BFGS -> {theirs['rel_l2']:.2e} after {theirs['wall_s']:.0f} s")
    ours = run_physopt(theirs["wall_s"], theirs["rel_l2"], args.optimizer)
    reached = ours["time_to_deepxde_error_s"]
    print(f"physopt ({args.optimizer}): {ours['rel_l2']:.2e} after {ours['wall_s']:.0f} s; reached DeepXDE's final error "
          + (f"after {reached:.1f} s ({theirs['wall_s'] / reached:.1f}x sooner)" if reached else "never"))
    print(f"final error ratio DeepXDE / physopt: {theirs['rel_l2'] / ours['rel_l2']:.0f}x")
    result = {"benchmark": "poisson2d, 2-32x3-1 tanh, 1000+200 points, float64", "deepxde": theirs, "physopt": ours,
              "speedup_to_deepxde_error": (theirs["wall_s"] / reached) if reached else None,
              "final_error_ratio": theirs["rel_l2"] / ours["rel_l2"], "torch": torch.__version__,
              "threads": torch.get_num_threads(), "machine": platform.processor() or platform.machine(), "quick": args.quick}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return result


if __name__ == "__main__":
    main()
