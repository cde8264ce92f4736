"""Poisson on a polygon with a hole: the difference of two polygons, against a finite-element reference.

-Δu = 1 in the unit square minus the square hole [0.4, 0.6]², u = 0 on both boundaries. The domain is
``Polygon(outer) - Polygon(hole)``. The hole's four corners are re-entrant (u ≈ 0.1285 r^{2/3} sin(2θ/3)
there, the factor from the extraction formula on the reference). The reference is a P1 finite-element solution on a 401 × 401 grid of the square with the hole's
cells removed (the hole's edges lie on grid lines); it is within about 2e-4 of the exact solution
(401² vs 801² differ by 3.4e-4, order 1.4).

A smooth network approximates r^{2/3} badly, and its error spreads over the whole domain: the plain PINN
stops near 1e-2 (docs/problems.md, "Holes"). With ``enrichment="corners"`` the network is u = N + Σ γ_k S_k,
S_k the corner's singular function (harmonic, no cut-off; problems.CornerFunctions) and γ_k trained. The
boundary is a penalty (the enrichment needs one) with weight 100; the rest are the PINN's defaults (the stall
rule ends LM after about 1000 steps). Measured in docs/problems.md ("Holes").
"""

import functools

import numpy as np
import torch

from physopt import laplacian, structured_mesh
from physopt.mesh import PointLocator, boundary_nodes, interpolate, p1_poisson
from problems import Dirichlet, Polygon, Problem
from solvers import PINN

OUTER = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]
HOLE = [(0.4, 0.4), (0.6, 0.4), (0.6, 0.6), (0.4, 0.6)]
# against the P1 reference at the evaluation mesh's nodes, float64: measured 5.2e-4, LM stalled at step 1070
# (4.3 min; seed 1: 5.8e-4 at step 960); all 2000 steps (stall_window=0): 4.65e-4 (seed 1: 4.89e-4);
# without the enrichment 8.9e-3
CLAIMED_REL_L2 = 1e-3
# the test suite's fast run (measured 1.7e-2, seed 1: 7.4e-3; with 1024 points 1.9e-2, 5.2e-3; the plain MLP 0.35)
QUICK = {"steps": 150, "points": 512, "claimed": 0.05}


@functools.lru_cache(maxsize=1)
def finite_element_reference(n: int = 401):
    """P1 solution of -Δu = 1, u = 0, on the ``n × n`` grid of the square without the hole's cells."""
    mesh = structured_mesh([0.0, 0.0], [1.0, 1.0], [n, n])
    centroids = mesh.points[mesh.cells].mean(1)
    in_hole = np.all((centroids > 0.4) & (centroids < 0.6), axis=1)
    cells = mesh.cells[~in_hole]
    used = np.unique(cells)
    index = np.full(len(mesh.points), -1)
    index[used] = np.arange(len(used))
    points, cells = mesh.points[used], index[cells]
    values = p1_poisson(points, cells, lambda x: np.ones(len(x)), boundary_nodes(cells), 0.0)
    return points, cells, values, PointLocator(points, cells)


class SquareWithHole(Problem):
    """-Δu = 1 in the unit square minus the square [0.4, 0.6]², u = 0 on the boundary."""

    domain = Polygon(OUTER) - Polygon(HOLE)
    conditions = [Dirichlet(0.0, weight=100.0)]  # measured with the enrichment: weight 10 1.5e-3, 100 1.3e-3

    def residual(self, u, x):
        return -laplacian(u)(x) - 1.0

    def reference_solution(self, points):
        _, cells, values, locator = finite_element_reference()
        found, weights = locator.locate(np.asarray(points.detach().cpu(), dtype=float), tol=1e-9)
        return torch.as_tensor(interpolate(cells, found, weights, values))


def main(steps: int = 2000, seed: int = 0, claimed: float = CLAIMED_REL_L2, points: int = 1024) -> float:
    # the corners' singular functions added to the network (with them the conditions are penalties)
    solution = PINN(SquareWithHole(), steps=steps, points=points, boundary_points=points // 4, dtype="float64",
                    seed=seed, enrichment="corners").solve()
    rel_l2 = solution.errors()["rel_l2"]
    print(f"square with a square hole: relative L2 = {rel_l2:.2e} against P1 ({solution.info['stop_reason']})")
    assert rel_l2 <= claimed, rel_l2
    return rel_l2


if __name__ == "__main__":
    main()
