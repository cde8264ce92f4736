r"""A domain given by a simplex mesh: from arrays or any file meshio reads.

Interior samples pick a cell with probability proportional to its measure
(one unit coordinate, inverted through the cumulative measures) and a
uniform point in it (the spacings of the remaining ``d`` sorted unit
coordinates are uniform barycentric coordinates); boundary samples do the same
on the boundary facets, with the facets' outward normals. So both are uniform
by measure, for random and quasi-random unit points alike.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from physopt import ConfigurationError, Mesh
from physopt.mesh import PointLocator, boundary_facets, cell_measures, facet_normals

from ._domain import AbstractDomain

__all__ = ["MeshDomain"]

_SIMPLEX = {1: "line", 2: "triangle", 3: "tetra"}


def _uniform_in_simplex(unit: np.ndarray) -> np.ndarray:
    """Barycentric coordinates ``(n, k + 1)`` uniform on the k-simplex from ``k`` unit coordinates ``(n, k)``."""
    s = np.sort(unit, axis=1)
    edges = np.concatenate([np.zeros((len(s), 1)), s, np.ones((len(s), 1))], axis=1)
    return np.diff(edges, axis=1)


def _facet_measures(points: np.ndarray, facets: np.ndarray) -> np.ndarray:
    k = facets.shape[1]
    if k == 1:
        return np.ones(len(facets))
    edges = points[facets[:, 1:]] - points[facets[:, :1]]  # (F, k-1, d)
    gram = edges @ np.transpose(edges, (0, 2, 1))
    return np.sqrt(np.clip(np.linalg.det(gram), 0, None)) / np.prod(np.arange(1, k))


class MeshDomain(AbstractDomain):
    """The region covered by a simplex mesh (``points (N, d)``, ``cells (C, d + 1)``), d = 1, 2, 3."""

    has_boundary_factor = False

    def __init__(self, points, cells):
        points = np.asarray(points, dtype=np.float64)
        cells = np.asarray(cells, dtype=np.int64)
        if points.ndim != 2 or points.shape[1] not in _SIMPLEX:
            raise ConfigurationError(f"MeshDomain needs points of shape (N, 1|2|3), got {points.shape}")
        self.dim = points.shape[1]
        if cells.ndim != 2 or cells.shape[1] != self.dim + 1:
            raise ConfigurationError(
                f"MeshDomain needs simplex cells with {self.dim + 1} vertices for {self.dim}-D points, got {cells.shape}"
            )
        if cells.min() < 0 or cells.max() >= len(points):
            raise ConfigurationError("MeshDomain: cells refer to points that do not exist")
        used = np.unique(cells)
        if len(used) < len(points):  # drop points no cell uses (they are not in the domain)
            remap = np.full(len(points), -1, np.int64)
            remap[used] = np.arange(len(used))
            points, cells = points[used], remap[cells]
        self.points, self.cells = points, cells
        self.n_unit_interior, self.n_unit_boundary = self.dim + 1, self.dim
        self._measures = cell_measures(points, cells)
        self._cumulative = np.cumsum(self._measures) / self._measures.sum()
        self.facets, facet_cell, facet_opposite = boundary_facets(cells, len(points))
        self.normals = facet_normals(points, cells, facet_cell, facet_opposite)
        self._facet_measures = _facet_measures(points, self.facets)
        self._facet_cumulative = np.cumsum(self._facet_measures) / self._facet_measures.sum()
        self._locator = None

    @classmethod
    def from_file(cls, path) -> "MeshDomain":
        """Read any mesh meshio reads (``.msh``, ``.vtu``, ``.xdmf``, ...); the highest-dimensional simplices make the domain."""
        import meshio

        path = Path(path)
        if not path.exists():
            raise ConfigurationError(f"mesh file {path} does not exist")
        mesh = meshio.read(path)
        for dim, kind in ((3, "tetra"), (2, "triangle"), (1, "line")):
            blocks = [b.data for b in mesh.cells if b.type == kind]
            if blocks:
                points = mesh.points[:, :dim]
                if dim < mesh.points.shape[1] and np.abs(mesh.points[:, dim:]).max() > 0:
                    raise ConfigurationError(f"{path}: {kind} cells with points off the {dim}-D coordinate plane")
                return cls(points, np.concatenate(blocks))
        raise ConfigurationError(f"{path}: no line, triangle or tetra cells (found: {[b.type for b in mesh.cells]})")

    def __repr__(self):
        return f"MeshDomain({len(self.points)} points, {len(self.cells)} {_SIMPLEX[self.dim]} cells)"

    @property
    def measure(self):
        return float(self._measures.sum())

    @property
    def boundary_measure(self):
        return float(self._facet_measures.sum())

    @property
    def bounds(self):
        return self.points.min(0), self.points.max(0)

    def map_interior(self, unit):
        cell = np.minimum(np.searchsorted(self._cumulative, unit[:, 0], side="right"), len(self.cells) - 1)
        bary = _uniform_in_simplex(unit[:, 1:])
        return np.einsum("nk,nkd->nd", bary, self.points[self.cells[cell]])

    def map_boundary(self, unit):
        facet = np.minimum(np.searchsorted(self._facet_cumulative, unit[:, 0], side="right"), len(self.facets) - 1)
        bary = _uniform_in_simplex(unit[:, 1:])
        points = np.einsum("nk,nkd->nd", bary, self.points[self.facets[facet]])
        return points, self.normals[facet]

    def contains(self, points, tol=1e-12):
        if self._locator is None:
            self._locator = PointLocator(self.points, self.cells)
        return self._locator.locate(np.atleast_2d(np.asarray(points, dtype=np.float64)), tol=max(tol, 1e-12))[0] >= 0

    def boundary_factor(self, x: torch.Tensor) -> torch.Tensor:
        raise ConfigurationError(
            "a mesh domain has no smooth boundary factor for --bc hard; use --bc soft (the default 'auto' does), "
            "or give the problem a HardConstraint"
        )

    def evaluation_mesh(self, resolution=None):
        return Mesh(self.points, _SIMPLEX[self.dim], self.cells)
