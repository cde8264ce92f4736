r"""Poisson on the L-shaped domain, a mesh domain with a finite-element reference.

:math:`-\Delta u = 1` in :math:`\Omega = (-1, 1)^2 \setminus [0, 1)^2`, :math:`u = 0`
on :math:`\partial\Omega`. The solution has a corner singularity
(:math:`u \sim r^{2/3}\sin(2\theta/3)` near the re-entrant corner) and no closed
form; the reference is a P1 finite-element solution on a fine mesh (193 × 193
grid of the square, 55,296 triangles, 0.4 s), computed once per process. Its
relative distance to the solution on the 97 × 97 grid is 1.1e-3 at the
coarse nodes; with the corner's :math:`h^{4/3}` rate that puts its own error
near 7e-4, the floor of errors reported against it.
The domain is the small mesh shipped in ``data/lshape.vtu`` (384 triangles),
read with meshio like any user mesh.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch

from physopt import laplacian, structured_mesh
from physopt.mesh import PointLocator, boundary_nodes, interpolate, p1_poisson

from .._conditions import Dirichlet
from .._mesh_domain import MeshDomain
from .._problem import Problem
from .._registry import register

MESH_FILE = Path(__file__).parent / "data" / "lshape.vtu"


def l_shape_mesh(n: int):
    """Triangles of ``(-1, 1)^2`` minus the quadrant ``[0, 1)^2`` from an ``n x n`` grid (n odd), unused points dropped."""
    mesh = structured_mesh([-1.0, -1.0], [1.0, 1.0], [n, n])
    centroids = mesh.points[mesh.cells].mean(1)
    domain = MeshDomain(mesh.points, mesh.cells[~((centroids[:, 0] > 0) & (centroids[:, 1] > 0))])
    return domain.points, domain.cells


@functools.lru_cache(maxsize=2)
def finite_element_reference(n: int = 193):
    """``(points, cells, nodal values)`` of the P1 solution on the ``n x n``-grid L-shape mesh."""
    points, cells = l_shape_mesh(n)
    values = p1_poisson(points, cells, lambda x: np.ones(len(x)), boundary_nodes(cells), 0.0)
    return points, cells, values, PointLocator(points, cells)


@register("lshape_poisson")
class LShapePoisson(Problem):
    r"""-Δu = 1 on the L-shape (−1,1)² \ [0,1)² (a shipped .vtu mesh), u = 0; P1 finite-element reference."""

    domain = MeshDomain.from_file(MESH_FILE)
    conditions = [Dirichlet(0.0)]

    def residual(self, u, x):
        return -laplacian(u)(x) - 1.0

    def reference_solution(self, points):
        p = np.asarray(points.detach().cpu() if torch.is_tensor(points) else points, dtype=np.float64)
        fe_points, cells, values, locator = finite_element_reference()
        found, weights = locator.locate(p, tol=1e-10)
        return torch.as_tensor(interpolate(cells, found, weights, values))
