"""The PINN's default run on every library problem, under two schedules: before/after a change of default.

Each row is ``physopt solve PROBLEM`` with the PINN's defaults except the
options named by ``--before``/``--after`` (same seed, same points, float64): the
relative L2 error, steps, training time and stop reason. The loss of every step
is kept (``losses``) so that a different stall rule can be replayed on it
without training again (:func:`replay_stall`).

    OMP_NUM_THREADS=1 python benchmarks/defaults.py                       # adam+lbfgs (old default) vs the default
    OMP_NUM_THREADS=1 python benchmarks/defaults.py --problems poisson2d heat1d --which after
    OMP_NUM_THREADS=1 python benchmarks/defaults.py --quick               # a smoke run (the test suite runs it)

Writes ``benchmarks/results/defaults.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from physopt import OPTIMIZERS, StallRule
from problems import registered_problems
from solvers import PINN, Callback, PINNOptions

SCHEDULES = {
    "before": {"optimizer": "adam+lbfgs", "stall_window": 0},  # the default until issue 16 (no stall rule then)
    "after": {},  # today's defaults
}
QUICK = {"steps": 40, "points": 64, "boundary_points": 16, "width": 8, "depth": 2, "error_every": 20, "stall_window": 10}


class Trajectory(Callback):
    """Keeps the phase, loss and measured error of every step."""

    def __init__(self):
        self.rows: list[list] = []

    def on_step(self, state, record):
        self.rows.append([record.step, record.phase, record.loss, round(record.wall_time, 3), record.error])


def replay_stall(row: dict, rtol: float, window: int) -> dict:
    """What ``row``'s run would have ended at under another stall rule (the latest measured error before the stop)."""
    rule, error, phase = StallRule(rtol, window), None, None
    for step, name, loss, wall, err in row["losses"]:
        if name != phase:
            rule.restart()
            phase = name
        error = err if err is not None else error
        if OPTIMIZERS[name].second_order and rule.update(name, loss):
            return {"step": step, "time_s": wall, "rel_l2_measured": error}
    return {"step": row["steps"], "time_s": row["train_time_s"], "rel_l2_measured": row["rel_l2"]}


def run_one(problem_name: str, which: str, seed: int, extra: dict) -> dict:
    problem = registered_problems()[problem_name]()
    options = {"seed": seed, **extra, **SCHEDULES[which]}
    solver = PINN(problem, **options)
    trajectory = Trajectory()
    t0 = time.perf_counter()
    solution = solver.solve([trajectory])
    errors = solution.errors() if (problem.has_exact or problem.has_reference) else {}
    return {"problem": problem_name, "which": which, "optimizer": solver.options.optimizer, "seed": seed,
            "options": {k: v for k, v in options.items()}, "rel_l2": errors.get("rel_l2"), "steps": solution.info["steps"],
            "train_time_s": round(solution.info["train_time_s"], 2), "wall_s": round(time.perf_counter() - t0, 2),
            "stop_reason": solution.info["stop_reason"], "losses": trajectory.rows}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", nargs="+", default=None, help="library problems (default: all)")
    parser.add_argument("--which", nargs="+", default=list(SCHEDULES), choices=list(SCHEDULES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", nargs="*", default=[], metavar="OPTION=VALUE", help="options for every run")
    parser.add_argument("--quick", action="store_true", help="tiny networks and 40 steps (a smoke test)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "defaults.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    names = args.problems or sorted(registered_problems())
    extra = dict(QUICK) if args.quick else {}
    for item in args.set:
        key, _, value = item.partition("=")
        extra[key] = PINNOptions.field_types()[key](value)
    rows = []
    for name in names:
        for which in args.which:
            row = run_one(name, which, args.seed, extra)
            rows.append(row)
            error = "—" if row["rel_l2"] is None else f"{row['rel_l2']:.2e}"
            print(f"{name:<15} {which:<7} {row['optimizer']:<11} rel_l2 {error:>9}  {row['steps']:>5} steps "
                  f"{row['train_time_s']:>7.1f} s  | {row['stop_reason']}", flush=True)
    result = {"machine": platform.processor() or platform.machine(), "torch": torch.__version__,
              "threads": torch.get_num_threads(), "seed": args.seed, "extra": extra, "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
