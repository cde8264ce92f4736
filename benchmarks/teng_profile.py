"""Where a TENG step's time goes at the paper's scale: seconds per step in each part, float64, one thread.

The paper's grid and network (256², 20 features per axis, 40 x 5: 8,361 parameters)
and fits (TENG-Heun, dt = 0.005, column subsets of 1,536 on a fit's first iteration
and 1,024 after, 7 predictor and 5 corrector iterations, cut-off 1e-6). After the
initial fit, ``--steps`` steps are timed, each part by wrapping the function that
does it: the Jacobian columns' banks, the subset Gram matrices (``gram``) or QR
solves (``qr``), the eigendecompositions, the forward/backward passes of the
trials, L[u] on the grid and the error checks. ``--qr-solves`` also times one QR
solve of a 1,536- and a 1,024-column subset on the same grid (what a ``qr`` fit
iteration costs; a whole ``qr`` step takes more than ten minutes here).

    OMP_NUM_THREADS=1 python benchmarks/teng_profile.py                     # gram, 4 steps (~4 min)
    OMP_NUM_THREADS=1 python benchmarks/teng_profile.py --qr-solves         # and the QR solves (~2 min more)
    OMP_NUM_THREADS=1 python benchmarks/teng_profile.py --quick             # a smoke run (32², a small net)

Writes ``benchmarks/results/teng_profile.json``.
"""

from __future__ import annotations

import argparse
import collections
import json
import platform
import time
from pathlib import Path

import torch

import solvers._teng as teng
import solvers._teng_lstsq as lstsq
import solvers._teng_march as march
import solvers._teng_network as network
from problems import registered_problems
from solvers import TENG, Callback

PARTS = [(network.PeriodicMLP, "taps", "forward + backward passes (taps)"),
         (network.PeriodicMLP, "column_banks", "Jacobian column banks"),
         (lstsq, "normal_equations", "subset Gram matrices J_S^T J_S, J_S^T r"),
         (lstsq.torch.linalg, "eigh", "eigendecompositions"),
         (lstsq, "truncated_lstsq", "QR solves"),
         (teng.TENG, "rhs_values", "L[u] on the grid"),
         (march.TimeMarch, "error_at", "error checks")]


class StepClock(Callback):
    """Wall time of every step (step 0: the initial fit)."""

    def __init__(self):
        self.last, self.rows = time.perf_counter(), []

    def on_step(self, state, record):
        now = time.perf_counter()
        self.rows.append({"step": record.step, "wall_s": now - self.last, "fit": record.loss, "rel_l2": record.error})
        self.last = now


def wrap(owner, name, label, clock, calls, active, device: torch.device):
    """Replace ``owner.name`` by a timed call (while ``active[0]``); returns the undo."""
    inner = getattr(owner, name)

    def sync():
        if device.type == "cuda":  # the parts' kernels run asynchronously: time them to their end
            torch.cuda.synchronize(device)

    def timed(*args, **kwargs):
        if not active[0]:
            return inner(*args, **kwargs)
        sync()
        t = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            sync()
            clock[label] += time.perf_counter() - t
            calls[label] += 1

    setattr(owner, name, timed)
    return lambda: setattr(owner, name, inner)


def qr_solves(solver) -> dict:
    """One truncated-QR solve of a 1,536- and of a 1,024-column subset at the current parameters."""
    taps = solver.model.taps(solver.x)
    out = {}
    for m in (1536, 1024):
        columns = solver._columns(m)  # all of a smaller network's
        J = solver.model.jacobian_columns(taps, columns)
        t = time.perf_counter()
        lstsq.truncated_lstsq(J, solver.initial_values() - taps.u, 1e-6)
        out[f"qr_solve_{m}_s"], out[f"qr_solve_{m}_columns"] = time.perf_counter() - t, len(columns)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problem", default="heat2d")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--step-fit", choices=("gram", "qr"), default="gram")
    parser.add_argument("--init-iterations", type=int, default=300)
    parser.add_argument("--carry-misfit", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--qr-solves", action="store_true", help="also time one QR solve per subset size")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 32² grid, 4 features, 8 x 2, 2 steps")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "teng_profile.json"))
    args = parser.parse_args(argv)
    clock, calls, active = collections.defaultdict(float), collections.Counter(), [False]
    undo = [wrap(owner, name, label, clock, calls, active, torch.device(args.device)) for owner, name, label in PARTS]
    try:
        return profile(args, clock, calls, active)
    finally:
        for restore in undo:
            restore()


def profile(args, clock, calls, active) -> dict:
    dt = 0.005
    size = dict(grid=256, features=20, width=40, depth=5)
    if args.quick:
        size, args.steps, args.init_iterations = dict(grid=32, features=4, width=8, depth=2), 2, 5
    problem = registered_problems()[args.problem](t_end=args.steps * dt)
    solver = TENG(problem, **size, step_fit=args.step_fit, iterations=7, corrector_iterations=5, first_columns=1536,
                  columns=1024, rcond=1e-6, dt=dt, error_every=1, init_iterations=args.init_iterations,
                  carry_misfit=args.carry_misfit, device=args.device)
    steps = StepClock()

    class Start(Callback):  # the clocks run from the first time step on
        def on_step(self, state, record):
            active[0] = True

    solution = solver.solve([steps, Start()])
    timed = steps.rows[1:]
    per_step = sum(r["wall_s"] for r in timed) / len(timed)
    floor = problem.stepper_floor_error("heun", dt, [dt * r["step"] for r in timed])
    result = {"benchmark": "teng_profile", "problem": args.problem, "step_fit": args.step_fit, **size,
              "parameters": solver.n_params, "carry_misfit": args.carry_misfit, "dtype": "float64",
              "device": args.device, "threads": torch.get_num_threads(), "python": platform.python_version(),
              "torch": torch.__version__, "initial_fit_s": steps.rows[0]["wall_s"],
              "initial_fit_rel_l2": solution.info["initial_fit_rel_l2"],
              "initial_fit_iterations": solution.info["initial_fit_iterations"], "seconds_per_step": per_step,
              "parts_s_per_step": {k: v / len(timed) for k, v in sorted(clock.items(), key=lambda kv: -kv[1])},
              "calls_per_step": {k: v / len(timed) for k, v in calls.items()},
              "other_s_per_step": per_step - sum(clock.values()) / len(timed),
              "rejected_fit_steps": solver.rejected_steps,
              "steps": [dict(r, floor_rel_l2=float(f)) for r, f in zip(timed, floor)]}
    if args.qr_solves:
        active[0] = False
        result.update(qr_solves(solver))
    print(f"{args.problem}, step fit {args.step_fit}: {per_step:.1f} s per TENG-Heun step "
          f"(initial fit {result['initial_fit_s']:.0f} s to {result['initial_fit_rel_l2']:.2e})")
    for label, seconds in result["parts_s_per_step"].items():
        print(f"  {label:42s} {seconds:7.2f} s  ({result['calls_per_step'][label]:.1f} calls)")
    print(f"  {'other':42s} {result['other_s_per_step']:7.2f} s")
    for row in result["steps"]:
        print(f"  step {row['step']}: rel L2 {row['rel_l2']:.2e}, Heun floor {row['floor_rel_l2']:.2e}, fit {row['fit']:.1e}")
    for m in (1536, 1024):
        if f"qr_solve_{m}_s" in result:
            print(f"  one QR solve of {result[f'qr_solve_{m}_columns']} columns: {result[f'qr_solve_{m}_s']:.1f} s")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
