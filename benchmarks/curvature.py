"""Curvature products: batched (vmap) vs looped, and the cost of a natural-gradient step.

1. Hessian-vector products of k = 32 vectors on a PINN loss (Poisson, Laplacian
   residual) for MLPs of about 10^3 - 10^5 parameters: one ``vmap`` over the
   32 tangents vs a Python loop of 32 single products. Target: batched >= 4x.
2. One damped Gauss–Newton (ENGD) direction: dense (SVD of the Jacobian) vs
   matrix-free conjugate gradients on Gram-vector products, same points.
3. The dense PINN Jacobian (``poisson2d``, 900 + 120 points, penalties) from
   MLP jets (one backward pass through the layer copies) vs per-point reverse
   mode (``vmap`` of ``jacrev``), for 2-64-1, 2-32x3-1 and 2-64-64-48-48-1; the
   two must agree to 1e-10.

Same run, float64, ratios reported; writes ``benchmarks/results/curvature.json``.

    OMP_NUM_THREADS=1 python benchmarks/curvature.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch
from torch.func import vmap

from physopt import MLP, laplacian
from physopt.curvature import FlatParameters, hessian_vector_product
from physopt.optim import ENGD, LeastSquaresObjective
from problems import registered_problems
from solvers import PINN
from solvers._pinn_jets import jets_for


def best_time(fn, repeats):
    fn()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def pinn_residual(model, points):
    flat = FlatParameters(model)

    def residual(theta):
        def u(x):
            return flat.call(theta, x).squeeze(-1)

        return vmap(lambda x: laplacian(u)(x) + 2.0)(points) / points.shape[0] ** 0.5

    return flat, residual


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes only (a smoke run)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "curvature.json"))
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    k = 32
    widths = [(16, 2), (64, 2), (128, 3)] if not args.quick else [(8, 1)]
    repeats = 3 if not args.quick else 1
    n_points = 256 if not args.quick else 16
    hvp_rows = []
    for width, depth in widths:
        model = MLP(2, 1, width, depth).double()
        points = torch.rand(n_points, 2, dtype=torch.float64)
        flat, residual = pinn_residual(model, points)
        theta = flat.vector()
        V = torch.randn(k, flat.size, dtype=torch.float64)

        def loss(th):
            r = residual(th)
            return r @ r

        batched = best_time(lambda: hessian_vector_product(loss, theta, V), repeats)
        looped = best_time(lambda: torch.stack([hessian_vector_product(loss, theta, v) for v in V]), repeats)
        assert torch.allclose(hessian_vector_product(loss, theta, V), torch.stack([hessian_vector_product(loss, theta, v) for v in V]), atol=1e-9)
        row = {"params": flat.size, "width": width, "depth": depth, "points": n_points, "k": k,
               "batched_s": batched, "looped_s": looped, "speedup": looped / batched}
        hvp_rows.append(row)
        print(f"HVP x{k}  P={flat.size:>6}: batched {batched * 1e3:8.1f} ms, loop {looped * 1e3:8.1f} ms, speed-up {looped / batched:5.2f}x")

    step_rows = []
    for width, depth in widths:
        model = MLP(2, 1, width, depth).double()
        points = torch.rand(n_points, 2, dtype=torch.float64)
        flat, residual = pinn_residual(model, points)
        objective = LeastSquaresObjective(flat, residual)
        theta = flat.vector()
        r = residual(theta)
        times = {}
        for solver in ("svd", "cg"):
            opt = ENGD(model.parameters(), objective, solver=solver, damping=1e-6, cg_iterations=100)
            def direction(opt=opt):
                opt._factorisation = None  # time the whole direction, not the cached factorisation
                return opt.direction(theta, r)

            times[solver] = best_time(direction, repeats)
        row = {"params": flat.size, "points": n_points, "dense_svd_s": times["svd"], "cg_s": times["cg"],
               "cg_over_dense": times["cg"] / times["svd"]}
        step_rows.append(row)
        print(f"ENGD direction P={flat.size:>6}: dense SVD {times['svd'] * 1e3:8.1f} ms, CG(100 it) {times['cg'] * 1e3:8.1f} ms, ratio {row['cg_over_dense']:5.2f}")

    jacobian_rows = []
    for hidden in (["64", "32,32,32", "64,64,48,48"] if not args.quick else ["8,8"]):
        paths = {}
        for jets in (True, False):
            solver = PINN(registered_problems()["poisson2d"](), hidden=hidden, bc="soft", dtype="float64",
                          points=900 if not args.quick else 32, boundary_points=120 if not args.quick else 16, jets=jets)
            objective = solver.least_squares()
            theta = objective.flat.vector()
            if jets:  # the jet Jacobian itself (PINN.least_squares uses it from two hidden layers on)
                jet_residuals = jets_for(solver, objective.flat, theta)
                paths["jets"] = (jet_residuals.jacobian, theta)
            else:
                paths["reverse"] = (objective.jacobian, theta)
        J_jets, J_rev = paths["jets"][0](theta), paths["reverse"][0](theta)
        assert torch.allclose(J_jets, J_rev, rtol=1e-10, atol=1e-10 * float(J_rev.abs().max()))
        t_jets = best_time(lambda: paths["jets"][0](theta), repeats)
        t_rev = best_time(lambda: paths["reverse"][0](theta), repeats)
        row = {"hidden": hidden, "params": theta.numel(), "rows": J_rev.shape[0], "jets_s": t_jets, "reverse_s": t_rev,
               "speedup": t_rev / t_jets}
        jacobian_rows.append(row)
        print(f"PINN Jacobian {hidden:>12} P={theta.numel():>6}: jets {t_jets * 1e3:7.1f} ms, per-point reverse "
              f"{t_rev * 1e3:7.1f} ms, speed-up {row['speedup']:5.2f}x")

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    result = {"benchmark": "curvature products, float64", "torch": torch.__version__, "threads": torch.get_num_threads(),
              "machine": platform.processor() or platform.machine(), "hvp": hvp_rows, "engd_direction": step_rows,
              "pinn_jacobian": jacobian_rows}
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return result


if __name__ == "__main__":
    main()
