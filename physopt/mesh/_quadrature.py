r"""Element measures, quadrature on simplices, and discrete L2/H1 errors (Numba kernels, NumPy references).

Rules are given in barycentric coordinates with weights summing to one, so
:math:`\int_K f \approx |K| \sum_q w_q f(x_q)`; each is exact for polynomials up
to its stated degree (lines: Gauss–Legendre, any degree; triangles: degree
1, 2, 3, 5 — centroid, three-point, Strang–Fix/Hammer four-point, Radon seven-point;
tetrahedra: 1, 2, 3 — centroid, Keast four- and five-point).
"""

from __future__ import annotations

import itertools
import math

import numba
import numpy as np

__all__ = ["simplex_quadrature", "cell_measures", "cell_measures_reference", "p1_gradients", "l2_error", "h1_error",
           "l2_error_reference"]


def _permutations(*bary):
    """All distinct orderings of each barycentric tuple (a symmetric orbit of quadrature points)."""
    return [perm for b in bary for perm in sorted(set(itertools.permutations(tuple(b))))]


def simplex_quadrature(dim: int, degree: int) -> tuple[np.ndarray, np.ndarray]:
    """``(barycentric (Q, dim + 1), weights (Q,))`` exact to ``degree`` on a ``dim``-simplex (weights sum to 1)."""
    if degree < 0:
        raise ValueError(f"quadrature degree must be >= 0, got {degree}")
    if dim == 1:
        x, w = np.polynomial.legendre.leggauss(max(1, math.ceil((degree + 1) / 2)))
        t = (x + 1) / 2
        return np.stack([1 - t, t], -1), w / 2
    if dim == 2:
        if degree <= 1:
            return np.array([[1 / 3, 1 / 3, 1 / 3]]), np.array([1.0])
        if degree == 2:
            return np.array(_permutations((2 / 3, 1 / 6, 1 / 6))), np.full(3, 1 / 3)
        if degree == 3:
            points = [(1 / 3, 1 / 3, 1 / 3)] + _permutations((0.6, 0.2, 0.2))
            return np.array(points), np.array([-27 / 48] + [25 / 48] * 3)
        if degree <= 5:
            r = math.sqrt(15)
            a, b = (6 - r) / 21, (6 + r) / 21
            A, B = (155 - r) / 1200, (155 + r) / 1200  # weights for the unit-area-normalised rule
            points = [(1 / 3, 1 / 3, 1 / 3)] + _permutations((1 - 2 * a, a, a)) + _permutations((1 - 2 * b, b, b))
            return np.array(points), np.array([9 / 40] + [A] * 3 + [B] * 3)
    if dim == 3:
        if degree <= 1:
            return np.full((1, 4), 0.25), np.array([1.0])
        if degree == 2:
            a, b = 0.5854101966249685, 0.1381966011250105
            return np.array(_permutations((a, b, b, b))), np.full(4, 0.25)
        if degree == 3:
            points = [(0.25,) * 4] + _permutations((0.5, 1 / 6, 1 / 6, 1 / 6))
            return np.array(points), np.array([-0.8] + [0.45] * 4)
    raise ValueError(f"no quadrature rule of degree {degree} for {dim}-simplices here (lines: any; triangles: <= 5; "
                     "tetrahedra: <= 3)")


@numba.njit(parallel=True, cache=True)
def _measures(points, cells, out):
    d = points.shape[1]
    factorial = 1.0
    for i in range(2, d + 1):
        factorial *= i
    for c in numba.prange(cells.shape[0]):
        T = np.empty((d, d))
        for i in range(d):
            for j in range(d):
                T[i, j] = points[cells[c, j + 1], i] - points[cells[c, 0], i]
        out[c] = abs(np.linalg.det(T)) / factorial


def cell_measures(points: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """Length/area/volume of every simplex, ``(C,)``."""
    out = np.empty(len(cells))
    _measures(np.ascontiguousarray(points, np.float64), np.ascontiguousarray(cells, np.int64), out)
    return out


def cell_measures_reference(points: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """Pure-NumPy reference of :func:`cell_measures`."""
    v0 = points[cells[:, 0]]
    T = np.stack([points[cells[:, i]] - v0 for i in range(1, cells.shape[1])], -1)
    return np.abs(np.linalg.det(T)) / math.factorial(points.shape[1])


def p1_gradients(points: np.ndarray, cells: np.ndarray, values: np.ndarray) -> np.ndarray:
    r"""Gradient of the P1 interpolant of nodal ``values`` on every cell, ``(C, d)``: :math:`T^{-\top}(u_i - u_0)_i`."""
    from ._locate import inverse_edge_matrices

    inverse = inverse_edge_matrices(points, cells)
    du = values[cells[:, 1:]] - values[cells[:, :1]]  # (C, d)
    return np.einsum("cji,cj->ci", inverse, du)


def _quadrature_points(points, cells, dim, degree):
    bary, weights = simplex_quadrature(dim, degree)
    x = np.einsum("qm,cmd->cqd", bary, points[cells])  # (C, Q, d)
    return bary, weights, x


@numba.njit(parallel=True, cache=True)
def _l2_sum(cells, values, bary, weights, measures, exact, out):
    for c in numba.prange(cells.shape[0]):
        s = 0.0
        for q in range(bary.shape[0]):
            uh = 0.0
            for m in range(cells.shape[1]):
                uh += bary[q, m] * values[cells[c, m]]
            e = exact[c, q] - uh
            s += weights[q] * e * e
        out[c] = measures[c] * s


def l2_error(points: np.ndarray, cells: np.ndarray, values: np.ndarray, exact, degree: int = 5) -> float:
    r""":math:`\|u - u_h\|_{L^2}` of a callable ``exact(x (M, d)) -> (M,)`` against the P1 field of nodal ``values``."""
    points = np.ascontiguousarray(points, np.float64)
    cells = np.ascontiguousarray(cells, np.int64)
    degree = min(degree, {1: 99, 2: 5, 3: 3}[points.shape[1]])
    bary, weights, x = _quadrature_points(points, cells, points.shape[1], degree)
    exact_values = np.asarray(exact(x.reshape(-1, points.shape[1])), np.float64).reshape(x.shape[:2])
    out = np.empty(len(cells))
    _l2_sum(cells, np.ascontiguousarray(values, np.float64), bary, weights, cell_measures(points, cells),
            np.ascontiguousarray(exact_values), out)
    return float(math.sqrt(out.sum()))


def l2_error_reference(points, cells, values, exact, degree: int = 5) -> float:
    """Pure-NumPy reference of :func:`l2_error`."""
    degree = min(degree, {1: 99, 2: 5, 3: 3}[points.shape[1]])
    bary, weights, x = _quadrature_points(points, cells, points.shape[1], degree)
    uh = np.einsum("qm,cm->cq", bary, values[cells])
    e = np.asarray(exact(x.reshape(-1, points.shape[1]))).reshape(x.shape[:2]) - uh
    return float(math.sqrt((cell_measures_reference(points, cells) * (e**2 @ weights)).sum()))


def h1_error(points: np.ndarray, cells: np.ndarray, values: np.ndarray, exact_gradient, degree: int = 5) -> float:
    r""":math:`|u - u_h|_{H^1} = \|\nabla u - \nabla u_h\|_{L^2}` with ``exact_gradient(x (M, d)) -> (M, d)``."""
    degree = min(degree, {1: 99, 2: 5, 3: 3}[points.shape[1]])
    bary, weights, x = _quadrature_points(points, cells, points.shape[1], degree)
    grad_h = p1_gradients(points, cells, np.asarray(values, np.float64))  # (C, d), constant per cell
    g = np.asarray(exact_gradient(x.reshape(-1, points.shape[1]))).reshape(x.shape)
    e = ((g - grad_h[:, None, :]) ** 2).sum(-1)
    return float(math.sqrt((cell_measures(points, cells) * (e @ weights)).sum()))
