r"""Point location and barycentric interpolation in simplex meshes (Numba kernels, NumPy references).

A query point :math:`x` lies in the simplex with vertices :math:`v_0..v_d` when its
barycentric coordinates :math:`\lambda_{1..d} = T^{-1}(x - v_0)`,
:math:`\lambda_0 = 1 - \sum_i \lambda_i` (:math:`T = [v_1 - v_0, \dots, v_d - v_0]`)
are all :math:`\ge -\text{tol}`. Candidate cells come from a uniform bucket grid
over the mesh's bounding box (each cell listed in every bucket its bounding box
touches), so a query tests a handful of cells instead of all of them. The P1
interpolant's gradient is constant on a cell:
:math:`\nabla u_h = T^{-\top} (u_1 - u_0, \dots, u_d - u_0)`.
"""

from __future__ import annotations

import dataclasses

import numba
import numpy as np

from ._quadrature import p1_gradients

__all__ = ["PointLocator", "locate_reference", "interpolate", "interpolate_reference", "interpolate_gradient",
           "interpolate_gradient_reference", "inverse_edge_matrices"]


def inverse_edge_matrices(points: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """:math:`T^{-1}` per cell, ``(C, d, d)`` (raises for degenerate cells)."""
    v0 = points[cells[:, 0]]
    T = np.stack([points[cells[:, i]] - v0 for i in range(1, cells.shape[1])], axis=-1)  # (C, d, d): columns are edges
    det = np.linalg.det(T)
    if np.any(np.abs(det) <= 1e-14 * np.abs(T).reshape(len(T), -1).max(1) ** T.shape[1]):
        raise ValueError("the mesh has degenerate (zero-measure) cells; remove them before locating points")
    return np.linalg.inv(T)


@numba.njit(cache=True)
def _barycentric(points, cells, inverse, c, x, out):
    d = x.shape[0]
    v0 = cells[c, 0]
    total = 0.0
    for i in range(d):
        s = 0.0
        for j in range(d):
            s += inverse[c, i, j] * (x[j] - points[v0, j])
        out[i + 1] = s
        total += s
    out[0] = 1.0 - total


@numba.njit(cache=True)
def _build_buckets(points, cells, lo, size, shape):
    n_cells, k = cells.shape
    d = points.shape[1]
    n_buckets = 1
    for i in range(d):
        n_buckets *= shape[i]
    counts = np.zeros(n_buckets + 1, np.int64)
    first = np.empty((n_cells, d), np.int64)
    last = np.empty((n_cells, d), np.int64)
    for c in range(n_cells):
        for i in range(d):
            a = points[cells[c, 0], i]
            b = a
            for m in range(1, k):
                v = points[cells[c, m], i]
                a = min(a, v)
                b = max(b, v)
            first[c, i] = min(max(int((a - lo[i]) / size[i]), 0), shape[i] - 1)
            last[c, i] = min(max(int((b - lo[i]) / size[i]), 0), shape[i] - 1)
    # two passes over every cell's bucket range: count, then fill (CSR)
    index = np.zeros(d, np.int64)
    for fill in range(2):
        if fill == 1:
            for b in range(n_buckets):
                counts[b + 1] += counts[b]
            entries = np.empty(counts[n_buckets], np.int64)
            cursor = counts[:n_buckets].copy()
        for c in range(n_cells):
            for i in range(d):
                index[i] = first[c, i]
            while True:
                flat = 0
                for i in range(d):
                    flat = flat * shape[i] + index[i]
                if fill == 0:
                    counts[flat + 1] += 1
                else:
                    entries[cursor[flat]] = c
                    cursor[flat] += 1
                i = d - 1
                while i >= 0:
                    index[i] += 1
                    if index[i] <= last[c, i]:
                        break
                    index[i] = first[c, i]
                    i -= 1
                if i < 0:
                    break
    return counts, entries


@numba.njit(parallel=True, cache=True)
def _locate(points, cells, inverse, lo, size, shape, counts, entries, queries, tol, found, weights):
    d = queries.shape[1]
    for q in numba.prange(queries.shape[0]):
        lam = np.empty(d + 1)
        flat = 0
        inside = True
        for i in range(d):
            t = (queries[q, i] - lo[i]) / size[i]
            if t < -1e-9 or t > shape[i] + 1e-9:
                inside = False
            flat = flat * shape[i] + min(max(int(t), 0), shape[i] - 1)
        found[q] = -1
        if not inside:
            continue
        for e in range(counts[flat], counts[flat + 1]):
            c = entries[e]
            _barycentric(points, cells, inverse, c, queries[q], lam)
            ok = True
            for m in range(d + 1):
                if lam[m] < -tol:
                    ok = False
                    break
            if ok:
                found[q] = c
                for m in range(d + 1):
                    weights[q, m] = lam[m]
                break


@dataclasses.dataclass
class PointLocator:
    """Locate many points in a simplex mesh (``cells`` of ``d + 1`` vertices in ``d`` dimensions).

    Build once, query many times: :meth:`locate` returns, per query point, the
    containing cell (-1 outside the mesh) and its barycentric coordinates.
    """

    points: np.ndarray
    cells: np.ndarray
    buckets_per_cell: float = 1.0

    def __post_init__(self):
        self.points = np.ascontiguousarray(self.points, dtype=np.float64)
        self.cells = np.ascontiguousarray(self.cells, dtype=np.int64)
        n, d = self.points.shape
        if self.cells.ndim != 2 or self.cells.shape[1] != d + 1:
            raise ValueError(f"cells must be simplices of {d + 1} vertices for {d}-D points, got shape {self.cells.shape}")
        self.inverse = np.ascontiguousarray(inverse_edge_matrices(self.points, self.cells))
        self.lo = self.points.min(0)
        extent = np.maximum(self.points.max(0) - self.lo, 1e-300)
        per_axis = max(1, int(round((self.buckets_per_cell * len(self.cells)) ** (1 / d))))
        scale = extent / extent.max()
        self.shape = np.maximum(1, np.round(per_axis * scale / np.prod(scale) ** (1 / d))).astype(np.int64)
        self.size = extent / self.shape
        self.counts, self.entries = _build_buckets(self.points, self.cells, self.lo, self.size, self.shape)

    def locate(self, queries: np.ndarray, tol: float = 1e-12) -> tuple[np.ndarray, np.ndarray]:
        """``(cell, weights)``: containing cell per query (``-1``: outside) and barycentric weights ``(Q, d + 1)``."""
        queries = np.ascontiguousarray(queries, dtype=np.float64)
        if queries.ndim != 2 or queries.shape[1] != self.points.shape[1]:
            raise ValueError(f"queries must have shape (Q, {self.points.shape[1]}), got {queries.shape}")
        found = np.empty(len(queries), np.int64)
        weights = np.zeros((len(queries), self.cells.shape[1]))
        _locate(self.points, self.cells, self.inverse, self.lo, self.size, self.shape, self.counts, self.entries,
                queries, tol, found, weights)
        return found, weights


def locate_reference(points: np.ndarray, cells: np.ndarray, queries: np.ndarray, tol: float = 1e-12):
    """Pure-NumPy reference of :meth:`PointLocator.locate`: every query against every cell (first match wins)."""
    chunk = max(1, 4_000_000 // (len(cells) * cells.shape[1]))  # ~100 MB of temporaries per chunk
    inverse = inverse_edge_matrices(points, cells)
    v0 = points[cells[:, 0]]
    found = np.full(len(queries), -1, np.int64)
    weights = np.zeros((len(queries), cells.shape[1]))
    for start in range(0, len(queries), chunk):
        x = queries[start:start + chunk]
        lam = np.einsum("cij,qcj->qci", inverse, x[:, None, :] - v0[None])  # (q, C, d)
        lam = np.concatenate([1 - lam.sum(-1, keepdims=True), lam], -1)
        inside = (lam >= -tol).all(-1)
        hit = inside.any(1)
        first = inside.argmax(1)
        rows = np.nonzero(hit)[0]
        found[start + rows] = first[rows]
        weights[start + rows] = lam[rows, first[rows]]
    return found, weights


@numba.njit(parallel=True, cache=True)
def _interpolate(cells, found, weights, values, out):
    for q in numba.prange(found.shape[0]):
        c = found[q]
        for f in range(values.shape[1]):
            if c < 0:
                out[q, f] = np.nan
                continue
            s = 0.0
            for m in range(cells.shape[1]):
                s += weights[q, m] * values[cells[c, m], f]
            out[q, f] = s


def interpolate(cells: np.ndarray, found: np.ndarray, weights: np.ndarray, values: np.ndarray) -> np.ndarray:
    """P1 (barycentric) interpolation of nodal ``values`` ``(N,)`` or ``(N, F)`` at located points; NaN outside."""
    vals = np.ascontiguousarray(values, dtype=np.float64)
    flat = vals.reshape(len(vals), -1)
    out = np.empty((len(found), flat.shape[1]))
    _interpolate(np.ascontiguousarray(cells, dtype=np.int64), found, weights, np.ascontiguousarray(flat), out)
    return out.reshape((len(found),) + vals.shape[1:])


def interpolate_reference(cells: np.ndarray, found: np.ndarray, weights: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Pure-NumPy reference of :func:`interpolate`."""
    vals = np.asarray(values, dtype=np.float64)
    safe = np.where(found >= 0, found, 0)
    out = np.einsum("qm,qm...->q...", weights, vals[cells[safe]])
    out[found < 0] = np.nan
    return out


@numba.njit(parallel=True, cache=True)
def _interpolate_gradient(cells, inverse, found, values, out):
    d = inverse.shape[1]
    for q in numba.prange(found.shape[0]):
        c = found[q]
        if c < 0:
            out[q] = np.nan
            continue
        for f in range(values.shape[1]):
            u0 = values[cells[c, 0], f]
            for i in range(d):
                s = 0.0
                for j in range(d):
                    s += inverse[c, j, i] * (values[cells[c, j + 1], f] - u0)
                out[q, f, i] = s


def interpolate_gradient(points: np.ndarray, cells: np.ndarray, found: np.ndarray, values: np.ndarray,
                         inverse: np.ndarray | None = None) -> np.ndarray:
    """Gradient of the P1 interpolant of nodal ``values`` at located points; NaN outside.

    ``(Q, d)`` for ``values (N,)``, ``(Q, F, d)`` for ``(N, F)``. ``inverse``: the cells'
    :func:`inverse_edge_matrices`, e.g. ``PointLocator.inverse`` (computed when not given).
    """
    cells = np.ascontiguousarray(cells, dtype=np.int64)
    d = cells.shape[1] - 1
    if inverse is None:
        inverse = inverse_edge_matrices(np.asarray(points, np.float64), cells)
    if inverse.shape != (len(cells), d, d):
        raise ValueError(f"inverse must have shape {(len(cells), d, d)}, got {inverse.shape}")
    vals = np.ascontiguousarray(values, dtype=np.float64)
    flat = np.ascontiguousarray(vals.reshape(len(vals), -1))
    found = np.ascontiguousarray(found, dtype=np.int64)
    out = np.empty((len(found), flat.shape[1], d))
    _interpolate_gradient(cells, np.ascontiguousarray(inverse, dtype=np.float64), found, flat, out)
    return out.reshape((len(found),) + vals.shape[1:] + (d,))


def interpolate_gradient_reference(points: np.ndarray, cells: np.ndarray, found: np.ndarray,
                                   values: np.ndarray) -> np.ndarray:
    """Pure-NumPy reference of :func:`interpolate_gradient` (per-cell :func:`~physopt.mesh.p1_gradients`)."""
    vals = np.asarray(values, dtype=np.float64)
    flat = vals.reshape(len(vals), -1)
    grads = np.stack([p1_gradients(points, cells, flat[:, f]) for f in range(flat.shape[1])], 1)  # (C, F, d)
    out = grads[np.where(found >= 0, found, 0)]
    out[found < 0] = np.nan
    return out.reshape((len(found),) + vals.shape[1:] + (cells.shape[1] - 1,))
