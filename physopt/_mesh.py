"""Evaluation meshes: structured meshes of boxes and triangulated point clouds.

A mesh here is ``(points, cells)``: ``points`` of shape ``(N, dim)`` and
``cells`` a list of ``(meshio_cell_type, connectivity)`` pairs, ready for
:func:`meshio.Mesh` once points are padded to three coordinates.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
from scipy.spatial import Delaunay

__all__ = ["Mesh", "structured_mesh", "structured_mesh_reference", "delaunay_mesh"]

_SIMPLEX = {1: "line", 2: "triangle", 3: "tetra"}


@dataclasses.dataclass
class Mesh:
    """Points (``(N, dim)``) and cells (meshio cell type, ``(C, k)`` int connectivity)."""

    points: np.ndarray
    cell_type: str
    cells: np.ndarray
    shape: tuple[int, ...] | None = None  # grid shape (points per axis) for structured meshes

    @property
    def dim(self) -> int:
        return self.points.shape[1]

    def points3d(self) -> np.ndarray:
        """Points padded with zeros to three coordinates (for VTK)."""
        out = np.zeros((len(self.points), 3))
        out[:, : min(3, self.dim)] = self.points[:, :3]
        return out


def _box(lo, hi, n):
    lo, hi = np.atleast_1d(np.asarray(lo, float)), np.atleast_1d(np.asarray(hi, float))
    n = np.broadcast_to(np.atleast_1d(np.asarray(n, int)), lo.shape)
    dim = lo.size
    if dim not in _SIMPLEX:
        raise ValueError(f"structured meshes exist for 1-3 dimensions, not {dim}")
    if np.any(n < 2):
        raise ValueError(f"need at least 2 points per axis, got {tuple(int(k) for k in n)}")
    return lo, hi, n, dim


def structured_mesh(lo, hi, n) -> Mesh:
    """Simplex mesh of the box ``[lo, hi]`` with ``n[i]`` points along axis ``i`` (1-3 D).

    Points are in C order (last axis fastest). 2D cells: two triangles per
    square; 3D: six tetrahedra per cube (Kuhn subdivision, conforming), all
    positively oriented. Numba kernels (:mod:`physopt.mesh._structured`); the
    same points and cells, in the same order, as :func:`structured_mesh_reference`.
    """
    # imported here: physopt.mesh imports this module
    from .mesh._structured import structured_cells, structured_points

    lo, hi, n, dim = _box(lo, hi, n)
    points = structured_points(lo, hi, n)
    cells = structured_cells(n, int(np.prod(np.sign(hi - lo))))
    return Mesh(points, _SIMPLEX[dim], cells, tuple(int(k) for k in n))


def structured_mesh_reference(lo, hi, n) -> Mesh:
    """Pure-NumPy reference of :func:`structured_mesh`."""
    lo, hi, n, dim = _box(lo, hi, n)
    axes = [np.linspace(lo[i], hi[i], n[i]) for i in range(dim)]
    grid = np.meshgrid(*axes, indexing="ij")
    points = np.stack([g.ravel() for g in grid], axis=-1)
    idx = np.arange(points.shape[0]).reshape(tuple(n))
    if dim == 1:
        cells = np.stack([idx[:-1], idx[1:]], axis=-1)
    elif dim == 2:
        a, b, c, d = idx[:-1, :-1], idx[1:, :-1], idx[1:, 1:], idx[:-1, 1:]
        cells = np.concatenate(
            [np.stack([a, b, c], -1).reshape(-1, 3), np.stack([a, c, d], -1).reshape(-1, 3)]
        )
    else:
        corner = {}
        for i in (0, 1):
            for j in (0, 1):
                for k in (0, 1):
                    corner[(i, j, k)] = idx[i : n[0] - 1 + i, j : n[1] - 1 + j, k : n[2] - 1 + k].ravel()
        tets = []
        for perm in itertools.permutations(range(3)):
            path = [(0, 0, 0)]
            for axis in perm:
                step = list(path[-1])
                step[axis] = 1
                path.append(tuple(step))
            tets.append(np.stack([corner[p] for p in path], -1))
        cells = np.concatenate(tets)
        # half of the Kuhn tetrahedra come out negatively oriented: swap two vertices
        e = points[cells[:, 1:]] - points[cells[:, :1]]
        negative = np.linalg.det(e) < 0
        cells[negative, 1], cells[negative, 2] = cells[negative, 2], cells[negative, 1].copy()
    return Mesh(points, _SIMPLEX[dim], cells.astype(np.int64), tuple(int(k) for k in n))


def delaunay_mesh(points: np.ndarray, keep=None) -> Mesh:
    """Delaunay triangulation (2D) / tetrahedralisation (3D) of a point cloud.

    ``keep(centroids) -> bool mask`` may drop cells, e.g. those outside a
    non-convex domain.
    """
    points = np.asarray(points, float)
    dim = points.shape[1]
    if dim == 1:
        order = np.argsort(points[:, 0])
        points = points[order]
        cells = np.stack([np.arange(len(points) - 1), np.arange(1, len(points))], -1)
    elif dim in (2, 3):
        cells = Delaunay(points).simplices
    else:
        raise ValueError(f"Delaunay meshes exist for 1-3 dimensions, not {dim}")
    if keep is not None:
        cells = cells[np.asarray(keep(points[cells].mean(axis=1)), bool)]
    return Mesh(points, _SIMPLEX[dim], np.asarray(cells, np.int64))
