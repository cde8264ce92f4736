"""Inverse problems: identified coefficients, their reported 95 % intervals, and the intervals' coverage (float64).

- ``lorenz_inverse``: σ, ρ, β (true 10, 15, 8/3; initial guesses 1) from 100 samples of the trajectory
  on [0, 3]; noiseless (target: within 1e-3 relative), and with 1 % noise over seeds (target: the
  truth inside the reported 95 % intervals; the coverage is reported);
- ``diffusion_reaction_inverse``: D, k (true 0.1, 2) from 30 samples of u with 1 % noise, over seeds
  (target: within 1e-2 relative; coverage reported), and from 100 samples (30 put the 1e-2 target
  near one standard error of D);
- ``heat_conductivity_inverse``: the conductivity field κ(x, y) (a second network) from 200 samples of
  u with 1 % noise, over seeds: its relative L2 error on the evaluation mesh.

Every run is the PINN's default schedule (Adam, then Levenberg–Marquardt until it stalls) on the
library problem, float64, one thread. With DeepXDE installed (the optional ``peers`` extra), its
Lorenz example (an FNN 1-40-40-40-3, Adam at 1e-3, 400 residual points, DeepXDE 1.x's own setup)
runs on the same noiseless samples for the same wall-clock time as ours.

    OMP_NUM_THREADS=1 python benchmarks/inverse.py [--seeds 0 1 2 3 4] [--only PROBLEM ...] [--quick]

Writes ``benchmarks/results/inverse.json`` (``--only``: replaces those problems' runs in it) and prints a table.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import platform
import random
import time
from pathlib import Path

import numpy as np
import torch

from problems import resolve_problem
from solvers import PINN

HERE = Path(__file__).resolve().parent
TRUTH = {"lorenz_inverse": {"sigma": 10.0, "rho": 15.0, "beta": 8.0 / 3.0},
         "diffusion_reaction_inverse": {"D": 0.1, "k": 2.0},
         "heat_conductivity_inverse": {}}  # a field: its relative L2 error instead


def identify(problem: str, params: dict, options: dict) -> dict:
    """One run: each unknown's value, standard error, interval, relative error and whether the interval covers the truth."""
    start = time.perf_counter()
    solver = PINN(resolve_problem(problem)(**params), dtype="float64", **options)
    solution = solver.solve()
    seconds = time.perf_counter() - start
    found = solution.info["unknowns"]
    rows = {}
    for name, truth in TRUTH[problem].items():
        entry = found[name]
        low, high = entry.get("ci95", [float("nan")] * 2)
        rows[name] = {"value": entry["value"], "std_error": entry.get("std_error"), "ci95": [low, high],
                      "relative_error": abs(entry["value"] - truth) / abs(truth), "covered": bool(low <= truth <= high)}
    fields = {name: {"rel_l2": entry["rel_l2"]} for name, entry in found.items() if entry.get("field")}
    return {"problem": problem, **params, "seconds": seconds, "steps": solution.info["steps"],
            "rel_l2": (solution.errors() or {}).get("rel_l2"), "unknowns": rows, "fields": fields}


@contextlib.contextmanager
def process_state_kept():
    """Restore torch's default dtype and device and the torch, NumPy and ``random`` generators on exit.

    DeepXDE sets them process-wide (``set_default_float``, ``set_random_seed``; on import, the CUDA device as
    torch's default): without this, every later solve in the process ran in float64 with other seeds.
    """
    dtype, device = torch.get_default_dtype(), torch.get_default_device()
    torch_rng, numpy_rng, python_rng = torch.get_rng_state(), np.random.get_state(), random.getstate()
    try:
        yield
    finally:
        torch.set_default_dtype(dtype)
        torch.set_default_device(None if device == torch.device("cpu") else device)
        torch.set_rng_state(torch_rng)
        np.random.set_state(numpy_rng)
        random.setstate(python_rng)


def deepxde_lorenz(budget_s: float, samples: int = 100) -> dict:
    """DeepXDE's Lorenz inverse example on our noiseless samples, Adam until ``budget_s`` seconds have passed
    (the process's torch defaults and random generators are left as they were)."""
    with process_state_kept():
        return _deepxde_lorenz(budget_s, samples)


def _deepxde_lorenz(budget_s: float, samples: int) -> dict:
    os.environ.setdefault("DDE_BACKEND", "pytorch")
    import deepxde as dde

    from problems._library.inverse import lorenz_trajectory

    problem = resolve_problem("lorenz_inverse")(samples=samples)
    times = np.linspace(0.0, 3.0, samples)
    states = lorenz_trajectory(times, 10.0, 15.0, 8.0 / 3.0, problem.start)
    dde.config.set_default_float("float64")
    dde.config.set_random_seed(0)
    C1, C2, C3 = dde.Variable(1.0), dde.Variable(1.0), dde.Variable(1.0)

    def system(x, y):
        y1, y2, y3 = y[:, 0:1], y[:, 1:2], y[:, 2:]
        d1, d2, d3 = (dde.grad.jacobian(y, x, i=i) for i in range(3))
        return [d1 - C1 * (y2 - y1), d2 - y1 * (C2 - y3) + y2, d3 - y1 * y2 + C3 * y3]

    geometry = dde.geometry.TimeDomain(0.0, 3.0)
    constant = lambda v: (lambda X: v)  # noqa: E731
    initial = [dde.icbc.IC(geometry, constant(v), lambda _, on_initial: on_initial, component=i)
               for i, v in enumerate(problem.start)]
    observed = [dde.icbc.PointSetBC(times[:, None], states[:, i:i + 1], component=i) for i in range(3)]
    data = dde.data.PDE(geometry, system, initial + observed, num_domain=400, num_boundary=2, anchors=times[:, None])
    model = dde.Model(data, dde.nn.FNN([1] + [40] * 3 + [3], "tanh", "Glorot uniform"))
    model.compile("adam", lr=0.001, external_trainable_variables=[C1, C2, C3])

    class Budget(dde.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.start, self.iterations = time.perf_counter(), 0

        def on_batch_end(self):
            self.iterations += 1
            if time.perf_counter() - self.start >= budget_s:
                self.model.stop_training = True

    budget = Budget()
    model.train(iterations=10**8, callbacks=[budget], display_every=10**9, verbose=0)
    found = {"sigma": float(C1), "rho": float(C2), "beta": float(C3)}
    return {"problem": "lorenz_inverse", "solver": f"deepxde {dde.__version__} (adam, lr 1e-3)", "noise": 0.0,
            "seconds": time.perf_counter() - budget.start, "iterations": budget.iterations,
            "unknowns": {n: {"value": v, "relative_error": abs(v - TRUTH["lorenz_inverse"][n]) / TRUTH["lorenz_inverse"][n]}
                         for n, v in found.items()}}


def report(run: dict) -> dict:
    """Print one run's line; return the run."""
    cells = [f"{n} = {u['value']:.6g} ± {u.get('std_error') or float('nan'):.2g} (rel. error {u['relative_error']:.1e}"
             + ("" if "covered" not in u else f", {'covered' if u['covered'] else 'NOT covered'}") + ")"
             for n, u in run["unknowns"].items()]
    cells += [f"{n}(x): relative L2 {f['rel_l2']:.2e}" for n, f in run.get("fields", {}).items()]
    who = f" [{run['solver']}]" if "solver" in run else ""
    print(f"{run['problem']:27s}{who} noise {run['noise']:.2f} samples {run.get('samples', '-')} seed {run.get('seed', 0)}: "
          f"{' · '.join(cells)} · {run['seconds']:.0f} s", flush=True)
    return run


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--field-seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds of the conductivity field")
    parser.add_argument("--only", nargs="+", choices=sorted(TRUTH), help="run these problems; keep the others' runs")
    parser.add_argument("--no-peer", action="store_true", help="skip DeepXDE's Lorenz example")
    parser.add_argument("--quick", action="store_true", help="diffusion-reaction only, one seed, a short schedule")
    parser.add_argument("--out", default=str(HERE / "results" / "inverse.json"))
    args = parser.parse_args(argv)
    wanted = set(args.only or TRUTH)
    runs, peer = [], None
    if args.quick:
        options = {"hidden": "16,16", "points": 128, "optimizer": "adam:300,lm:150"}
        runs.append(report(identify("diffusion_reaction_inverse", {"noise": 0.01, "seed": 0}, options)))
    else:
        if "lorenz_inverse" in wanted:
            noiseless = report(identify("lorenz_inverse", {"noise": 0.0}, {}))
            runs.append(noiseless)
            for seed in args.seeds:
                runs.append(report(identify("lorenz_inverse", {"noise": 0.01, "seed": seed}, {})))
            if importlib.util.find_spec("deepxde") is None:
                peer = "deepxde not installed (pip install -e '.[peers]' for DeepXDE's Lorenz example beside ours)"
            elif not args.no_peer:
                peer = report(deepxde_lorenz(noiseless["seconds"]))
        if "diffusion_reaction_inverse" in wanted:
            for samples in (30, 100):
                for seed in args.seeds:
                    runs.append(report(identify("diffusion_reaction_inverse",
                                                {"noise": 0.01, "seed": seed, "samples": samples}, {})))
        if "heat_conductivity_inverse" in wanted:
            for seed in args.field_seeds:
                runs.append(report(identify("heat_conductivity_inverse", {"noise": 0.01, "seed": seed}, {})))
    out = Path(args.out)
    if args.only and out.is_file():  # keep the other problems' runs (and the peer, unless Lorenz ran again)
        previous = json.loads(out.read_text())
        runs = [r for r in previous["runs"] if r["problem"] not in wanted] + runs
        peer = peer if "lorenz_inverse" in wanted else previous.get("peer")
    coverage = summarise(runs)
    result = {"benchmark": "inverse", "machine": {"torch": torch.__version__, "python": platform.python_version()},
              "quick": args.quick, "runs": runs, "coverage": coverage, "peer": peer}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return result


def summarise(runs: list[dict]) -> dict:
    """Per problem (and sample count) with noise: intervals covering the truth, the worst relative error, and the
    worst field error."""
    coverage = {}
    for problem in TRUTH:
        for samples in sorted({r.get("samples") for r in runs if r["problem"] == problem}, key=str):
            noisy = [r for r in runs if r["problem"] == problem and r["noise"] > 0 and r.get("samples") == samples]
            if not noisy:
                continue
            key = problem if samples in (None, 30) else f"{problem} (samples {samples})"
            covered = [u["covered"] for r in noisy for u in r["unknowns"].values()]
            entry = {"runs": len(noisy), "intervals": len(covered), "covered": sum(covered)}
            if covered:
                entry.update({"coverage": sum(covered) / len(covered),
                              "worst_relative_error": max(u["relative_error"] for r in noisy for u in r["unknowns"].values())})
                print(f"{key}: {sum(covered)} of {len(covered)} intervals cover the truth; worst relative error "
                      f"{entry['worst_relative_error']:.1e}")
            fields = [f["rel_l2"] for r in noisy for f in r.get("fields", {}).values()]
            if fields:
                entry["worst_field_rel_l2"] = max(fields)
                print(f"{key}: the field's relative L2 error is at most {max(fields):.2e} over {len(noisy)} seeds")
            coverage[key] = entry
    return coverage


if __name__ == "__main__":
    main()
