"""Accuracy of the high-dimensional PINN set-ups against the STDE paper, time to result included.

Trains the PINN with the problem's suggested options (``Problem.solver_defaults``:
the paper's MLP d-128-128-128-1, Adam, 100 fresh points per step, sparse STDE with
|J| = 16, float32) plus any ``--set`` overrides, for ``--steps`` steps or until
``--budget`` seconds of training. Then, on the ball problems, the relative L2
error on ``--n-test`` test points of the paper's law (chunked: 20k points at
d = 10⁴ are 1.6 GB of float64), beside the *constant floor* — the error of the
best fit :math:`K(1 - \\|x\\|^2)`, which a network reaches by learning one number
— and the error of the non-constant part, :math:`\\|u - u^*\\| / \\|u^* - K(1 - \\|x\\|^2)\\|`.
On the parabolic problems: the value at (x = 0, t = T) against the published
multilevel-Picard reference.

    OMP_NUM_THREADS=2 python benchmarks/high_dim_accuracy.py --problem allen_cahn_ball --d 10000 --budget 900
    OMP_NUM_THREADS=2 python benchmarks/high_dim_accuracy.py --problem semilinear_heat --d 100 --budget 600

Appends one row per run to ``benchmarks/results/high_dim_accuracy.json`` (``--out``).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from pathlib import Path

import torch

from optimizers import Budget  # benchmarks/optimizers.py: stop after a wall-time budget
from problems import PROBLEMS
from solvers import PINN


def ball_errors(problem, solution, n_test: int) -> dict:
    """Relative L2 on ``n_test`` test points, the constant floor and the non-constant part's error, chunk by chunk."""
    floor = problem.constant_floor(problem.test_chunks(n_test))
    k = floor["K"]
    err2 = ref2 = nonconst2 = 0.0
    for chunk in problem.test_chunks(n_test):
        exact = problem.solution_at(chunk)[:, 0]
        predicted = solution(chunk).double().cpu()[:, 0]
        err2 += float((predicted - exact).square().sum())
        ref2 += float(exact.square().sum())
        nonconst2 += float((exact - k * (1 - chunk.square().sum(-1))).square().sum())
    return {"rel_l2": math.sqrt(err2 / ref2), "floor_rel_l2": floor["rel_l2"], "K": k,
            "nonconstant_rel_l2": math.sqrt(err2 / nonconst2), "n_test": n_test}


def parabolic_errors(problem, solution) -> dict:
    """u(0, T) against the published reference value."""
    point = torch.zeros(1, problem.n_coordinates, dtype=torch.float64)
    point[0, -1] = problem.time.t1
    value = float(solution(point)[0, 0])
    reference = problem.reference_value
    return {"u(0,T)": value, "reference": reference, "abs_error": abs(value - reference),
            "rel_error": abs(value - reference) / abs(reference)}


def parse_set(items: list[str]) -> dict:
    out = {}
    for item in items:
        key, _, value = item.partition("=")
        out[key] = value
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problem", default="allen_cahn_ball")
    parser.add_argument("--d", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--budget", type=float, default=900.0, help="training seconds at most")
    parser.add_argument("--n-test", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", nargs="*", default=[], help="PINN options key=value over the problem's suggestions")
    parser.add_argument("--out", default="benchmarks/results/high_dim_accuracy.json")
    args = parser.parse_args()

    problem = PROBLEMS.get(args.problem)(d=args.d)
    base = PINN.Options(**problem.solver_defaults.get("pinn", {}))
    options = PINN.Options.from_strings({**{k: str(v) for k, v in vars(base).items()}, "steps": str(args.steps),
                                         "seed": str(args.seed), **parse_set(args.set)})
    t0 = time.perf_counter()
    solver = PINN(problem, options)
    solution = solver.solve(callbacks=[Budget(args.budget)])
    train_time = solution.info["train_time_s"]
    row = {"problem": args.problem, "d": args.d, "steps": solution.info["steps"], "train_time_s": round(train_time, 1),
           "it_per_s": round(solution.info["steps"] / train_time, 2), "stop_reason": solution.info["stop_reason"],
           "options": {k: v for k, v in vars(options).items() if k in parse_set(args.set) or k in ("steps", "seed")},
           "dtype": options.dtype, "derivatives": options.derivatives, "samples": options.samples,
           "output_scale": options.output_scale,
           "torch": torch.__version__, "threads": torch.get_num_threads(), "machine": platform.processor() or platform.machine()}
    if hasattr(problem, "constant_floor"):
        row.update(ball_errors(problem, solution, args.n_test))
    else:
        row.update(parabolic_errors(problem, solution))
    row["wall_time_s"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(row, indent=1))
    out = Path(args.out)
    rows = json.loads(out.read_text()) if out.exists() else []
    rows.append(row)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
