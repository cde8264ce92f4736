r"""Structured simplex meshes of intervals, rectangles and boxes (Numba kernels).

The NumPy reference is :func:`physopt._mesh.structured_mesh_reference`.

With ``n`` points per axis, point :math:`(i_0, .., i_{d-1})` has flat index
:math:`(i_0 n_1 + i_1) n_2 + i_2` (C order, last axis fastest) and coordinates
``linspace(lo, hi, n)`` per axis, computed as NumPy does (:math:`i\,h + lo`,
last point exactly ``hi``). Cells, block by block in the reference's order:
1-D, segments :math:`(i, i+1)`; 2-D, per square (C order) first all triangles
:math:`(a, b, c)`, then all :math:`(a, c, d)` with
:math:`a = (i, j), b = (i+1, j), c = (i+1, j+1), d = (i, j+1)`; 3-D, six Kuhn
tetrahedra per cube, one block per permutation :math:`\pi` of the axes (in
``itertools.permutations`` order), each the path from corner (0,0,0) stepping
along :math:`\pi_0, \pi_1, \pi_2`. Its orientation is
:math:`\operatorname{sign}\pi \cdot \prod_a \operatorname{sign}(hi_a - lo_a)`;
vertices 1 and 2 of the negative ones are swapped.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["structured_points", "structured_cells"]

# the six axis permutations in itertools.permutations(range(3)) order, and their signs
_PERMUTATIONS = np.array([[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]], np.int64)
_PERMUTATION_SIGNS = np.array([1, -1, -1, 1, 1, -1], np.int64)


def _check_shape(n) -> np.ndarray:
    n = np.atleast_1d(np.asarray(n, np.int64))
    if n.ndim != 1 or n.size not in (1, 2, 3):
        raise ValueError(f"structured meshes exist for 1-3 dimensions, not {n.size}")
    if np.any(n < 2):
        raise ValueError(f"need at least 2 points per axis, got {tuple(int(k) for k in n)}")
    return n


@numba.njit(cache=True)
def _linspace(lo, hi, num):
    """``np.linspace(lo, hi, num)`` rounded exactly as NumPy rounds it (num >= 2)."""
    out = np.empty(num)
    div = num - 1
    delta = hi - lo
    step = delta / div
    for i in range(num):
        if step == 0.0:  # NumPy's branch for denormal steps
            out[i] = (i / div) * delta + lo
        else:
            out[i] = i * step + lo
    out[num - 1] = hi
    return out


@numba.njit(parallel=True, cache=True)
def _points(lo, hi, n, out):
    dim = n.shape[0]
    longest = 0
    for a in range(dim):
        longest = max(longest, n[a])
    axes = np.empty((dim, longest))
    for a in range(dim):
        axes[a, : n[a]] = _linspace(lo[a], hi[a], n[a])
    stride = np.ones(dim, np.int64)
    for a in range(dim - 2, -1, -1):
        stride[a] = stride[a + 1] * n[a + 1]
    for p in numba.prange(out.shape[0]):
        for a in range(dim):
            out[p, a] = axes[a, (p // stride[a]) % n[a]]


@numba.njit(cache=True)
def _cells1(n0, out):
    for i in range(n0 - 1):
        out[i, 0] = i
        out[i, 1] = i + 1


@numba.njit(parallel=True, cache=True)
def _cells2(n0, n1, out):
    squares = (n0 - 1) * (n1 - 1)
    for i in numba.prange(n0 - 1):
        for j in range(n1 - 1):
            s = i * (n1 - 1) + j
            a = i * n1 + j
            b = a + n1
            c = b + 1
            d = a + 1
            out[s, 0] = a
            out[s, 1] = b
            out[s, 2] = c
            out[squares + s, 0] = a
            out[squares + s, 1] = c
            out[squares + s, 2] = d


@numba.njit(parallel=True, cache=True)
def _cells3(n0, n1, n2, orientation, permutations, signs, out):
    cubes = (n0 - 1) * (n1 - 1) * (n2 - 1)
    stride = np.array([n1 * n2, n2, 1], np.int64)
    for i in numba.prange(n0 - 1):
        for j in range(n1 - 1):
            for k in range(n2 - 1):
                s = (i * (n1 - 1) + j) * (n2 - 1) + k
                origin = i * stride[0] + j * stride[1] + k
                for p in range(6):
                    row = p * cubes + s
                    v = origin
                    out[row, 0] = v
                    for m in range(3):
                        v += stride[permutations[p, m]]
                        out[row, m + 1] = v
                    if signs[p] * orientation < 0:
                        t = out[row, 1]
                        out[row, 1] = out[row, 2]
                        out[row, 2] = t


def structured_points(lo, hi, n) -> np.ndarray:
    """Grid points ``(prod(n), dim)`` of the box ``[lo, hi]``, C order (as ``np.meshgrid(..., indexing="ij")``)."""
    n = _check_shape(n)
    lo = np.ascontiguousarray(np.broadcast_to(np.asarray(lo, np.float64), n.shape))
    hi = np.ascontiguousarray(np.broadcast_to(np.asarray(hi, np.float64), n.shape))
    out = np.empty((int(np.prod(n)), n.size))
    _points(lo, hi, n, out)
    return out


def structured_cells(n, orientation: int = 1) -> np.ndarray:
    """Simplex connectivity ``(C, dim + 1)`` of the grid with ``n`` points per axis, in the reference's order.

    ``orientation`` (3-D only) is the sign of :math:`\\prod_a (hi_a - lo_a)`: 1 (every axis
    increasing) makes all tetrahedra positively oriented for such boxes; -1 does so for boxes
    with an odd number of decreasing axes; 0 (a flat box) swaps nothing.
    """
    n = _check_shape(n)
    if n.size == 1:
        out = np.empty((n[0] - 1, 2), np.int64)
        _cells1(n[0], out)
    elif n.size == 2:
        out = np.empty((2 * (n[0] - 1) * (n[1] - 1), 3), np.int64)
        _cells2(n[0], n[1], out)
    else:
        out = np.empty((6 * int(np.prod(n - 1)), 4), np.int64)
        _cells3(n[0], n[1], n[2], int(np.sign(orientation)), _PERMUTATIONS, _PERMUTATION_SIGNS, out)
    return out
