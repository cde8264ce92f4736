"""Optimizers on the same PINNs: relative L2 after a wall-time budget, and time to 1e-4.

Problems and networks (float64): ``poisson2d`` and ``heat1d`` with a 2-64-1 tanh
MLP, 900 interior + 120 boundary points, conditions as penalties (the
ENGD/K-FAC set-up in REFERENCES.md); ``--hidden 64,64,48,48`` gives the
~10k-parameter network. Every optimizer runs in the same process on the same
points from the same initial network, for the same wall-time budget; the
relative L2 error is measured every 10 steps.

    OMP_NUM_THREADS=1 python benchmarks/optimizers.py [--budget 60] [--seeds 0 1 2] [--quick]
    OMP_NUM_THREADS=1 python benchmarks/optimizers.py --hidden 64,64,48,48 --budget 300 --problems poisson2d \
        --methods "lm (woodbury)" kfac adam --seeds 0 --out benchmarks/results/optimizers_10k.json

Writes ``benchmarks/results/optimizers.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from pathlib import Path

import torch

from problems import registered_problems
from solvers import PINN, Callback, StopTraining

METHODS = {
    "adam": {"optimizer": "adam", "lr": 1e-3, "lr_final": 1e-5},
    "adam+lbfgs": {"optimizer": "adam:1000,lbfgs:1000000", "lr": 1e-3, "lr_final": 1e-4},
    "lm": {"optimizer": "lm", "damping": 1e-3},  # 1e-3 measured better than 1e-6 on heat1d (6.7e-6 vs 2.2e-5, seed 1)
    "engd (pinv)": {"optimizer": "engd", "engd_solver": "pinv", "engd_rcond": 1e-8},
    "engd (svd)": {"optimizer": "engd", "engd_solver": "svd"},
    "engd (woodbury)": {"optimizer": "engd", "engd_solver": "woodbury"},
    "lm (woodbury)": {"optimizer": "lm", "damping": 1e-6, "engd_solver": "woodbury"},
    "newton-cg": {"optimizer": "newton_cg", "damping": 1e-6},
    "kfac": {"optimizer": "kfac", "kfac_damping": 1e-3},
    "engd (cg)": {"optimizer": "engd", "engd_solver": "cg"},
    "multiadam": {"optimizer": "multiadam", "lr": 1e-3, "lr_final": 1e-5},
}
SETUP = {"hidden": "64", "points": 900, "boundary_points": 120, "sampling": "sobol", "resample_every": 0, "bc": "soft",
         "dtype": "float64", "error_every": 10}


class Budget(Callback):
    """Stop after ``seconds`` of training; remember when the error first reached ``threshold``."""

    def __init__(self, seconds: float, threshold: float = 1e-4):
        self.seconds, self.threshold, self.time_to_threshold = seconds, threshold, None

    def on_step(self, state, record):
        if record.error is not None and record.error <= self.threshold and self.time_to_threshold is None:
            self.time_to_threshold = record.wall_time
        if record.wall_time >= self.seconds:
            raise StopTraining(f"wall-time budget of {self.seconds:g} s used")


def run_one(problem_name: str, method: str, seed: int, budget: float, hidden: str = "64") -> dict:
    problem = registered_problems()[problem_name]()
    options = {**SETUP, **METHODS[method], "hidden": hidden, "seed": seed, "steps": 10**7}
    if method == "adam+lbfgs":
        options["steps"] = 0
    solver = PINN(problem, **options)
    clock = Budget(budget)
    t0 = time.perf_counter()
    solution = solver.solve([clock])
    errors = solution.errors()
    return {"problem": problem_name, "method": method, "seed": seed, "budget_s": budget, "hidden": hidden,
            "parameters": sum(p.numel() for p in solver.model.parameters()),
            "rel_l2": errors["rel_l2"], "time_to_1e-4_s": clock.time_to_threshold, "steps": solution.info["steps"],
            "wall_s": time.perf_counter() - t0, "stop_reason": solution.info["stop_reason"]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=60.0, help="wall-time seconds per run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--problems", nargs="+", default=["poisson2d", "heat1d"])
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    parser.add_argument("--hidden", default="64", help="hidden widths, e.g. 64,64,48,48 (the ~10k-parameter net)")
    parser.add_argument("--quick", action="store_true", help="1 s budgets, one seed, two methods (a smoke run)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "optimizers.json"))
    args = parser.parse_args(argv)
    if args.quick:
        args.budget, args.seeds, args.methods, args.problems = 1.0, [0], ["adam", "engd (pinv)"], ["poisson2d"]
    unknown = set(args.methods) - set(METHODS)
    if unknown:
        parser.error(f"unknown methods {sorted(unknown)}; choose from {list(METHODS)}")
    rows = []
    print(f"{'problem':<10} {'method':<16} {'seed':>4} {'rel L2':>10} {'t(1e-4) s':>10} {'steps':>7}")
    for problem_name in args.problems:
        for method in args.methods:
            for seed in args.seeds:
                row = run_one(problem_name, method, seed, args.budget, args.hidden)
                rows.append(row)
                t = row["time_to_1e-4_s"]
                print(f"{problem_name:<10} {method:<16} {seed:>4} {row['rel_l2']:>10.2e} {('%.1f' % t) if t else '—':>10} {row['steps']:>7}", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    result = {"benchmark": "PINN optimizers at equal wall time, float64", "setup": {**SETUP, "hidden": args.hidden},
              "budget_s": args.budget,
              "torch": torch.__version__, "threads": torch.get_num_threads(),
              "machine": platform.processor() or platform.machine(), "rows": rows}
    out.write_text(json.dumps(result, indent=2, default=lambda x: None if isinstance(x, float) and math.isnan(x) else x) + "\n")
    print(f"wrote {out}")
    return result


if __name__ == "__main__":
    main()
