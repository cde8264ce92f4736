"""Inverse problems: identified coefficients, their reported 95 % intervals, and the intervals' coverage (float64).

- ``lorenz_inverse``: σ, ρ, β (true 10, 15, 8/3; initial guesses 1) from 100 samples of the trajectory
  on [0, 3]; noiseless (target: within 1e-3 relative), and with 1 % noise over seeds (target: the
  truth inside the reported 95 % intervals; the coverage is reported);
- ``diffusion_reaction_inverse``: D, k (true 0.1, 2) from 30 samples of u with 1 % noise, over seeds
  (target: within 1e-2 relative; coverage reported).

Every run is the PINN's default schedule (Adam, then Levenberg–Marquardt until it stalls) on the
library problem, float64, one thread. DeepXDE's Lorenz example beside ours needs the optional
``peers`` extra; without DeepXDE the table says so.

    OMP_NUM_THREADS=1 python benchmarks/inverse.py [--seeds 0 1 2 3 4] [--quick]

Writes ``benchmarks/results/inverse.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import time
from pathlib import Path

import torch

from problems import resolve_problem
from solvers import PINN

HERE = Path(__file__).resolve().parent
TRUTH = {"lorenz_inverse": {"sigma": 10.0, "rho": 15.0, "beta": 8.0 / 3.0},
         "diffusion_reaction_inverse": {"D": 0.1, "k": 2.0}}


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
    return {"problem": problem, **params, "seconds": seconds, "steps": solution.info["steps"],
            "rel_l2": (solution.errors() or {}).get("rel_l2"), "unknowns": rows}


def report(run: dict) -> dict:
    """Print one run's line; return the run."""
    cells = " · ".join(f"{n} = {u['value']:.6g} ± {u['std_error'] or float('nan'):.2g} (rel. error "
                       f"{u['relative_error']:.1e}, {'covered' if u['covered'] else 'NOT covered'})"
                       for n, u in run["unknowns"].items())
    print(f"{run['problem']:27s} noise {run['noise']:.2f} seed {run.get('seed', 0)}: {cells} · {run['seconds']:.0f} s",
          flush=True)
    return run


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--quick", action="store_true", help="diffusion-reaction only, one seed, a short schedule")
    parser.add_argument("--out", default=str(HERE / "results" / "inverse.json"))
    args = parser.parse_args(argv)
    runs = []
    if args.quick:
        options = {"hidden": "16,16", "points": 128, "optimizer": "adam:300,lm:150"}
        runs.append(report(identify("diffusion_reaction_inverse", {"noise": 0.01, "seed": 0}, options)))
    else:
        runs.append(report(identify("lorenz_inverse", {"noise": 0.0}, {})))
        for seed in args.seeds:
            runs.append(report(identify("lorenz_inverse", {"noise": 0.01, "seed": seed}, {})))
        for seed in args.seeds:
            runs.append(report(identify("diffusion_reaction_inverse", {"noise": 0.01, "seed": seed}, {})))
    coverage = {}
    for problem in TRUTH:
        noisy = [r for r in runs if r["problem"] == problem and r["noise"] > 0]
        if noisy:
            covered = [u["covered"] for r in noisy for u in r["unknowns"].values()]
            worst = max(u["relative_error"] for r in noisy for u in r["unknowns"].values())
            coverage[problem] = {"runs": len(noisy), "intervals": len(covered), "covered": sum(covered),
                                 "coverage": sum(covered) / len(covered), "worst_relative_error": worst}
            print(f"{problem}: {sum(covered)} of {len(covered)} intervals cover the truth; worst relative error {worst:.1e}")
    peer = "deepxde not installed (pip install -e '.[peers]' for DeepXDE's Lorenz example beside ours)"
    if importlib.util.find_spec("deepxde") is not None:
        peer = "deepxde is installed; its Lorenz example is not run by this script yet"
    print(peer)
    result = {"benchmark": "inverse", "machine": {"torch": torch.__version__, "python": platform.python_version()},
              "quick": args.quick, "runs": runs, "coverage": coverage, "peer": peer}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
