"""Why TENG's step fits stall on the nonlinear problems: span against conditioning of the network.

float64. After the initial fit to u₀ (the same for the three problems), for each
problem the step increment r = dt·L[u_θ] on the TENG grid is

* projected onto the span of the Jacobian J (SVD, singular values above
  ``rcond``·σ_max): the misfit a linear model could reach;
* solved by the truncated least squares the solver uses, δ = J⁺r, and the
  network is evaluated at θ + sδ for s = 1, 0.1, 0.01: the misfit it actually
  reaches next to the linear prediction, and |δ|.

A small projected misfit but a large actual one means the increment is in the
span only along ill-conditioned directions, where the network is far from linear.

    OMP_NUM_THREADS=1 python benchmarks/teng_conditioning.py          # 64² grid, 300 initial LM steps (~2 min)

Writes ``benchmarks/results/teng_conditioning.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import torch

from problems import registered_problems
from solvers import TENG, TENGOptions


def analyse(solver: TENG, dt: float, rconds) -> dict:
    """Span and Gauss–Newton-step misfits of the increment dt·L[u_θ] at the solver's current θ."""
    taps = solver.model.taps(solver.x)
    u = taps.u
    J = solver.model.jacobian_columns(taps, torch.arange(solver.n_params))
    increment = dt * solver.rhs_values()
    target_norm = float((u + increment).norm())
    U, S, _ = torch.linalg.svd(J, full_matrices=False)
    coef = U.T @ increment
    theta = solver.flat.vector()
    out = {"increment_misfit": float(increment.norm()) / target_norm, "rcond": []}
    for rcond in rconds:
        keep = S > rcond * S[0]
        span = increment - U[:, keep] @ coef[keep]
        delta = torch.linalg.lstsq(J, increment[:, None], rcond=rcond, driver="gelsy").solution[:, 0]
        steps = []
        for s in (1.0, 0.1, 0.01):
            actual = solver.flat.call(theta + s * delta, solver.x) - (u + increment)
            linear = increment - s * (J @ delta)
            steps.append({"step": s, "misfit": float(actual.norm()) / target_norm,
                          "linear_misfit": float(linear.norm()) / target_norm})
        out["rcond"].append({"rcond": rcond, "rank": int(keep.sum()), "span_misfit": float(span.norm()) / target_norm,
                             "delta_norm": float(delta.norm()), "steps": steps})
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", nargs="+", default=["heat2d", "allen_cahn2d", "burgers2d"])
    parser.add_argument("--dt", type=float, default=0.005)
    parser.add_argument("--grid", type=int, default=64)
    parser.add_argument("--init-iterations", type=int, default=300)
    parser.add_argument("--rcond", type=float, nargs="+", default=[1e-9, 1e-6])
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "teng_conditioning.json"))
    args = parser.parse_args(argv)
    options = TENGOptions(grid=args.grid, init_iterations=args.init_iterations)
    first = TENG(registered_problems()[args.problems[0]](t_end=args.dt), options)
    misfit, iterations = first.fit_initial(first.initial_values())
    print(f"initial fit: relative misfit {misfit:.2e} after {iterations} LM steps", flush=True)
    state = {k: v.clone() for k, v in first.model.state_dict().items()}
    rows = []
    for name in args.problems:
        solver = TENG(registered_problems()[name](t_end=args.dt), options)
        solver.model.load_state_dict(state)
        row = {"problem": name, **analyse(solver, args.dt, args.rcond)}
        rows.append(row)
        for r in row["rcond"]:
            full = r["steps"][0]
            print(f"{name:13s} rcond {r['rcond']:.0e}: increment {row['increment_misfit']:.1e}, in span to {r['span_misfit']:.1e}; "
                  f"GN step |δ| {r['delta_norm']:.2g}: misfit {full['misfit']:.1e} (linear {full['linear_misfit']:.1e}), "
                  f"a tenth of it {r['steps'][1]['misfit']:.1e}", flush=True)
    result = {"benchmark": "teng_conditioning", "dtype": "float64", "settings": {k: v for k, v in vars(args).items() if k != "out"},
              "initial_fit_rel_l2": misfit, "initial_fit_iterations": iterations,
              "machine": {"python": platform.python_version(), "torch": torch.__version__}, "rows": rows}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(result, indent=2))
    tmp.replace(out)
    print(f"wrote {out}")
    return result


if __name__ == "__main__":
    main()
