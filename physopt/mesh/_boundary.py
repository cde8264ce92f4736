r"""Boundary facets, boundary nodes and outward normals of simplex meshes (Numba kernel, NumPy reference).

A facet (a cell's face opposite one vertex) lies on the boundary when no other
cell shares it. Facets are keyed by their sorted vertex ids, sorted, and the
keys that occur once are kept. The outward unit normal of a boundary facet is
:math:`-\nabla\lambda_o / |\nabla\lambda_o|`, with :math:`\lambda_o` the
barycentric coordinate of the owning cell's opposite vertex.
"""

from __future__ import annotations

import numba
import numpy as np

from ._locate import inverse_edge_matrices

__all__ = ["boundary_facets", "boundary_facets_reference", "boundary_nodes", "facet_normals"]


@numba.njit(cache=True)
def _boundary(cells, n_points):
    n_cells, k = cells.shape
    keys = np.empty(n_cells * k, np.int64)
    for c in range(n_cells):
        for o in range(k):  # the facet opposite local vertex o
            v = np.empty(k - 1, np.int64)
            m = 0
            for j in range(k):
                if j != o:
                    v[m] = cells[c, j]
                    m += 1
            v.sort()
            key = 0
            for j in range(k - 1):
                key = key * n_points + v[j]
            keys[c * k + o] = key
    order = np.argsort(keys, kind="mergesort")
    keep = np.zeros(n_cells * k, np.bool_)
    i = 0
    n = n_cells * k
    while i < n:
        j = i + 1
        while j < n and keys[order[j]] == keys[order[i]]:
            j += 1
        if j - i == 1:
            keep[order[i]] = True
        i = j
    return keep


def boundary_facets(cells: np.ndarray, n_points: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(facets (F, d), cell (F,), opposite (F,))``: boundary facets' vertices (cell order), owning cell, local opposite vertex."""
    cells = np.ascontiguousarray(cells, np.int64)
    n_points = int(cells.max()) + 1 if n_points is None else int(n_points)
    k = cells.shape[1]
    if float(n_points) ** (k - 1) >= 2.0**62:
        return boundary_facets_reference(cells)
    keep = _boundary(cells, n_points)
    index = np.nonzero(keep)[0]
    cell, opposite = index // k, index % k
    return _facet_vertices(cells, cell, opposite), cell, opposite


def _facet_vertices(cells, cell, opposite):
    k = cells.shape[1]
    others = np.array([[j for j in range(k) if j != o] for o in range(k)])
    return cells[cell[:, None], others[opposite]]


def boundary_facets_reference(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pure-NumPy reference of :func:`boundary_facets` (``np.unique`` over sorted facets)."""
    k = cells.shape[1]
    cell = np.repeat(np.arange(len(cells)), k)
    opposite = np.tile(np.arange(k), len(cells))
    facets = np.sort(_facet_vertices(cells, cell, opposite), axis=1)
    _, inverse, counts = np.unique(facets, axis=0, return_inverse=True, return_counts=True)
    once = counts[inverse.reshape(-1)] == 1
    return _facet_vertices(cells, cell[once], opposite[once]), cell[once], opposite[once]


def boundary_nodes(cells: np.ndarray, n_points: int | None = None) -> np.ndarray:
    """Sorted ids of the vertices on the boundary."""
    return np.unique(boundary_facets(cells, n_points)[0])


def facet_normals(points: np.ndarray, cells: np.ndarray, cell: np.ndarray, opposite: np.ndarray) -> np.ndarray:
    r"""Outward unit normals ``(F, d)`` of the facets ``(cell, opposite)`` (e.g. from :func:`boundary_facets`)."""
    inverse = inverse_edge_matrices(points, cells[cell])  # rows: gradients of lambda_1..lambda_d
    grads = np.concatenate([-inverse.sum(1, keepdims=True), inverse], 1)  # (F, d + 1, d)
    g = grads[np.arange(len(cell)), opposite]
    return -g / np.linalg.norm(g, axis=1, keepdims=True)
