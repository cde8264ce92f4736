"""TENG on the periodic benchmarks: relative L2 against time, next to the stepper floor and a PINN.

float64 throughout. For each problem (``heat2d``, ``allen_cahn2d``, ``burgers2d``)
and method (TENG-Euler, TENG-Heun): the error of the marched network against
the spectral reference at every step on the TENG grid, the ideal stepper's
error with the same method and dt (the floor no TENG run can beat), and a
space-time PINN (Levenberg–Marquardt with geodesic acceleration from the first
step: the best optimizer of ``benchmarks/optimizers.py``, and at these budgets
better without Adam first) given the wall time of the TENG-Heun run, measured at
the final time; its row also keeps the error over space and time every 10 steps
against wall time (``curve``), so it can be read at any other budget.

    OMP_NUM_THREADS=1 python benchmarks/teng.py                 # CPU size: 64² grid, T = 0.1, dt = 0.005
    OMP_NUM_THREADS=1 python benchmarks/teng.py --paper         # T = 4, the paper's 20/40x5 network and fits (hours)
    OMP_NUM_THREADS=1 python benchmarks/teng.py --quick         # a smoke run (heat2d, T = 0.01, small net)

The default recipe: step fits by Levenberg–Marquardt on all columns (8
iterations for Heun's predictor, 50 for a step's last fit), the misfit carried
into the next target (``carry_misfit``), a 913-parameter network (8 features per
axis, one hidden layer of 48), 200 initial-fit steps. The paper's fits on the
default network of the solver (625 parameters):

    OMP_NUM_THREADS=1 python benchmarks/teng.py --step-fit qr --iterations 7 --corrector-iterations 5 \
        --no-carry-misfit --width 32 --init-iterations 1000

Prints a table and merges each finished row into ``benchmarks/results/teng.json``
as soon as it is measured (a row with the same problem, solver, step fit, carried
misfit or not, width, dt and T is replaced; other rows are kept), so problems can
run one at a time or side by side:

    OMP_NUM_THREADS=1 python benchmarks/teng.py --problems allen_cahn2d &
    OMP_NUM_THREADS=1 python benchmarks/teng.py --problems burgers2d &
"""

from __future__ import annotations

import argparse
import fcntl
import json
import math
import platform
import time
from pathlib import Path

import numpy as np
import torch

from problems import registered_problems
from solvers import PINN, STEP_FITS, TENG, Callback, StopTraining, TENGOptions


class Budget(Callback):
    """Stop the PINN after ``seconds`` of training."""

    def __init__(self, seconds: float):
        self.seconds = seconds

    def on_step(self, state, record):
        if record.wall_time >= self.seconds:
            raise StopTraining(f"wall-time budget of {self.seconds:g} s used")


class Trace(Callback):
    """Per step: time t, fit misfit, relative L2 error (TENG measures it every step here)."""

    def __init__(self):
        self.rows = []

    def on_step(self, state, record):
        self.rows.append({"step": record.step, "t": record.extra.get("t"), "fit": record.loss, "rel_l2": record.error,
                          "wall_s": record.wall_time})


DEFAULT_OUT = str(Path(__file__).parent / "results" / "teng.json")


def final_points(problem) -> torch.Tensor:
    pts = problem.error_points()
    return pts[pts[:, -1] == pts[:, -1].max()]


def offgrid_points(problem, n: int = 128) -> torch.Tensor:
    """At the final time, the n² grid shifted by half a cell: for n = 128 none of its points is on the 64² grid
    that TENG fits and the errors are measured on, so this error shows how the network does between its points."""
    t = float(final_points(problem)[0, -1])
    g = 2 * np.pi * (np.arange(n) + 0.5) / n
    x, y = (a.ravel() for a in np.meshgrid(g, g, indexing="ij"))
    return torch.as_tensor(np.column_stack([x, y, np.full(x.size, t)]), dtype=torch.float64)


def run_teng(problem_name, method, args, params) -> dict:
    problem = registered_problems()[problem_name](**params)
    options = TENGOptions(method=method, dt=args.dt, grid=args.grid, features=args.features, width=args.width,
                          depth=args.depth, error_every=args.error_every, init_iterations=args.init_iterations,
                          step_fit=args.step_fit, iterations=args.iterations, corrector_iterations=args.corrector_iterations,
                          carry_misfit=args.carry_misfit, rcond=args.rcond, init_columns=args.init_columns,
                          device=args.device)
    # the row records the iterations each stage fit got: Euler's one fit, also its last, gets the larger count
    iterations = max(args.iterations, args.corrector_iterations) if method == "euler" else args.iterations
    trace = Trace()
    t0 = time.perf_counter()
    solution = TENG(problem, options).solve([trace])
    wall = time.perf_counter() - t0
    measured = [r for r in trace.rows[1:] if r["rel_l2"] is not None]
    floor = problem.stepper_floor_error(method, args.dt, np.array([r["t"] for r in measured]))
    for row, f in zip(measured, floor):
        row["floor_rel_l2"] = float(f)
    step_walls = [b["wall_s"] - a["wall_s"] for a, b in zip(trace.rows[:-1], trace.rows[1:])]
    errors = solution.errors(final_points(problem))
    return {"problem": problem_name, "solver": f"teng-{method}", "step_fit": args.step_fit, "iterations": iterations,
            "corrector_iterations": args.corrector_iterations, "dt": args.dt, "t_end": params["t_end"],
            "carry_misfit": args.carry_misfit, "init_iterations": args.init_iterations,
            "rel_l2_final": errors["rel_l2"], "floor_rel_l2_final": errors.get("floor_rel_l2"),
            "rel_l2_final_offgrid": solution.errors(offgrid_points(problem))["rel_l2"],
            "initial_fit_rel_l2": solution.info["initial_fit_rel_l2"], "initial_fit_s": trace.rows[0]["wall_s"],
            "seconds_per_step": float(np.mean(step_walls)) if step_walls else None, "steps": len(trace.rows) - 1,
            "device": args.device, "grid": args.grid,
            "initial_fit_iterations": solution.info["initial_fit_iterations"],
            "parameters": sum(p.numel() for p in solution.model.parameters()), "wall_s": wall, "trace": trace.rows}


def run_pinn(problem_name, budget, params, step_fit, error_every=10, carry_misfit=False) -> dict:
    """The space-time PINN with Levenberg–Marquardt from the first step: at these budgets (minutes) it beat Adam
    first (Allen–Cahn, 200 s: LM 6.0e-5, Adam 200 + LM 1.1e-4, Adam 1000 + LM ~1.5e-4 at T)."""
    problem = registered_problems()[problem_name](**params)
    solver = PINN(problem, optimizer="lm:1000000", steps=10**7, width=32, depth=3, points=2000,
                  boundary_points=256, dtype="float64", damping=1e-3, error_every=error_every)
    trace = Trace()
    t0 = time.perf_counter()
    solution = solver.solve([trace, Budget(budget)])  # trace first: the step that ends the budget is in the curve
    errors = solution.errors(final_points(problem))
    curve = [{"step": r["step"], "wall_s": r["wall_s"], "rel_l2_space_time": r["rel_l2"]} for r in trace.rows
             if r["rel_l2"] is not None]
    return {"problem": problem_name, "solver": "pinn (lm)", "t_end": params["t_end"], "rel_l2_final": errors["rel_l2"],
            "rel_l2_final_offgrid": solution.errors(offgrid_points(problem))["rel_l2"],
            "budget_s": budget, "budget_of": f"teng-heun, step fit {step_fit}" + (", carried misfit" if carry_misfit else ""),
            "step_fit": step_fit, "carry_misfit": carry_misfit,
            "steps": solution.info["steps"], "wall_s": time.perf_counter() - t0, "curve": curve}


def row_key(row) -> tuple:
    return (row["problem"], row["solver"], row.get("step_fit", "qr"), row.get("carry_misfit", False),
            row.get("settings", {}).get("width"), row.get("dt"), row.get("t_end"))


def merge_row(out: Path, row: dict) -> None:
    """Add ``row`` to the JSON file ``out`` (replacing the row with the same key), under a lock, atomically."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.with_name(out.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        result = json.loads(out.read_text()) if out.exists() else {"benchmark": "teng", "dtype": "float64", "rows": []}
        result["machine"] = {"python": platform.python_version(), "torch": torch.__version__,
                             "cpu": platform.processor(), "threads": torch.get_num_threads()}
        result["rows"] = [r for r in result["rows"] if row_key(r) != row_key(row)] + [row]
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text(json.dumps(result, indent=2, default=lambda o: None if isinstance(o, float) and math.isnan(o) else o))
        tmp.replace(out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", nargs="+", default=["heat2d", "allen_cahn2d", "burgers2d"])
    parser.add_argument("--methods", nargs="+", default=["euler", "heun"])
    parser.add_argument("--dt", type=float, default=0.005)
    parser.add_argument("--t-end", type=float, default=None, help="final time (default 0.1; --paper: 4)")
    parser.add_argument("--grid", type=int, default=64)
    parser.add_argument("--features", type=int, default=TENGOptions.features)
    parser.add_argument("--width", type=int, default=48)
    parser.add_argument("--depth", type=int, default=TENGOptions.depth)
    parser.add_argument("--init-iterations", type=int, default=200, help="the carried misfit makes up for a short initial fit")
    parser.add_argument("--step-fit", choices=STEP_FITS, default="lm",
                        help="least squares of the step fits: qr (column subsets, the paper) or lm (all columns)")
    parser.add_argument("--iterations", type=int, default=8, help="per stage fit but a step's last (qr: the paper's 7)")
    parser.add_argument("--corrector-iterations", type=int, default=50,
                        help="for a step's last fit (qr: the paper's 5); Euler's one fit gets the larger of the two counts")
    parser.add_argument("--carry-misfit", action=argparse.BooleanOptionalAction, default=True,
                        help="march the grid values: each step's target keeps the last fit's misfit")
    parser.add_argument("--rcond", type=float, default=TENGOptions.rcond, help="cut-off of the column-subset solves")
    parser.add_argument("--init-columns", type=int, default=TENGOptions.init_columns)
    parser.add_argument("--error-every", type=int, default=None, help="measure the error every N steps (default 1; --paper: every 0.5)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, ...")
    parser.add_argument("--no-pinn", action="store_true", help="skip the PINN comparison")
    parser.add_argument("--paper", action="store_true",
                        help="T = 4 (unless --t-end) on the paper's 256² grid and network (20 features, 40 x 5) with its "
                             "fits (column subsets 1,536 / 1,024, 7 / 5 iterations) solved by the normal equations, "
                             "TENG-Heun, the error every 0.5; into results/teng_paper.json")
    parser.add_argument("--quick", action="store_true", help="heat2d, T = 0.01, a small net: a smoke run")
    parser.add_argument("--out", default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    if args.paper:  # the paper's grid, network and fits: LM on all of its 8,361 parameters would take hours per step
        args.t_end = 4.0 if args.t_end is None else args.t_end
        args.grid, args.features, args.width, args.depth = 256, 20, 40, 5
        args.step_fit = "gram" if args.step_fit == "lm" else args.step_fit
        args.iterations, args.corrector_iterations, args.rcond = 7, 5, 1e-6
        args.init_iterations, args.no_pinn = 400, True
        args.methods = ["heun"] if args.methods == ["euler", "heun"] else args.methods
        args.error_every = args.error_every or max(1, round(0.5 / args.dt))
        if args.out == DEFAULT_OUT:
            args.out = str(Path(DEFAULT_OUT).with_name("teng_paper.json"))
    args.t_end = 0.1 if args.t_end is None else args.t_end
    args.error_every = args.error_every or 1
    if args.quick:
        args.problems, args.methods, args.t_end, args.grid = ["heat2d"], ["heun"], 0.01, 32
        args.width, args.init_iterations, args.no_pinn = 16, 100, True
    out = Path(args.out)
    settings = {k: v for k, v in vars(args).items() if k not in ("out", "problems")}
    rows = []

    def record(row):
        rows.append(dict(row, settings=settings))
        merge_row(out, rows[-1])

    for name in args.problems:
        params = {"t_end": args.t_end}
        heun_wall = None
        for method in args.methods:
            row = run_teng(name, method, args, params)
            record(row)
            heun_wall = row["wall_s"] if method == "heun" else heun_wall
            print(f"{name:13s} teng-{method:5s} ({args.step_fit}) rel L2 at T = {row['rel_l2_final']:.2e}  floor {row['floor_rel_l2_final']:.2e}"
                  f"  ratio {row['rel_l2_final'] / row['floor_rel_l2_final']:.1f}  off-grid {row['rel_l2_final_offgrid']:.2e}  init fit {row['initial_fit_rel_l2']:.1e}"
                  f"  {row['wall_s']:.0f} s ({row['seconds_per_step']:.2f} s per step)", flush=True)
        if not args.no_pinn:
            row = run_pinn(name, heun_wall or 60.0, params, args.step_fit, carry_misfit=args.carry_misfit)
            record(row)
            print(f"{name:13s} pinn        rel L2 at T = {row['rel_l2_final']:.2e}  off-grid {row['rel_l2_final_offgrid']:.2e}  ({row['steps']} steps, {row['wall_s']:.0f} s)",
                  flush=True)
    print(f"wrote {out}")
    return {"benchmark": "teng", "dtype": "float64", "settings": settings, "rows": rows}


if __name__ == "__main__":
    main()
