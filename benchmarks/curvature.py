"""Curvature products: batched (vmap) vs looped, and the cost of a natural-gradient step.

1. Hessian-vector products of k = 32 vectors on a PINN loss (Poisson, Laplacian
   residual) for MLPs of about 10^3 - 10^5 parameters: one ``vmap`` over the
   32 tangents vs a Python loop of 32 single products. Target: batched >= 4x.
2. One damped Gauss–Newton (ENGD) direction: dense (SVD of the Jacobian) vs
   matrix-free conjugate gradients on Gram-vector products, same points.

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
            times[solver] = best_time(lambda: opt.direction(theta, r), repeats)
        row = {"params": flat.size, "points": n_points, "dense_svd_s": times["svd"], "cg_s": times["cg"],
               "cg_over_dense": times["cg"] / times["svd"]}
        step_rows.append(row)
        print(f"ENGD direction P={flat.size:>6}: dense SVD {times['svd'] * 1e3:8.1f} ms, CG(100 it) {times['cg'] * 1e3:8.1f} ms, ratio {row['cg_over_dense']:5.2f}")

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    result = {"benchmark": "curvature products, float64", "torch": torch.__version__, "threads": torch.get_num_threads(),
              "machine": platform.processor() or platform.machine(), "hvp": hvp_rows, "engd_direction": step_rows}
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return result


if __name__ == "__main__":
    main()
