"""Evaluation of :mod:`problems._spectral` coefficients at arbitrary points (the trigonometric interpolant)."""

from __future__ import annotations

import numpy as np

from ._spectral_ops import wavenumbers

MAX_CACHED_TIMES = 64  # more distinct times per call: computed in one pass, not cached


def _basis(k: np.ndarray, nyquist: np.ndarray, x: np.ndarray) -> np.ndarray:
    """e^{i k x}, with cos(k x) at the Nyquist wavenumber (the real, symmetric interpolant)."""
    phase = np.outer(x, k)
    out = np.exp(1j * phase)
    if nyquist.any():
        out[:, nyquist] = np.cos(phase[:, nyquist])
    return out


def evaluate(coeffs: np.ndarray, x, y, tol: float = 1e-15, chunk: int = 8192) -> np.ndarray:
    """The trigonometric interpolant of ``rfft2`` coefficients at points ``(x, y)``.

    u(x, y) = n⁻² Σ w_ky Re[c_k A_kx(x) B_ky(y)] with A, B = e^{ikx} (cos at the
    Nyquist wavenumber, which makes the interpolant real and symmetric) and
    w = 1 at ky = 0 and n/2, else 2; equal to the grid values on the grid.
    Only the rows and columns of wavenumbers carrying more than ``tol`` of the
    total amplitude Σ w|c| are summed (the dropped part is at most ``tol``
    times that total, in max norm), which keeps ~10⁵ points fast.
    """
    coeffs = np.asarray(coeffs)
    n = coeffs.shape[0]
    if coeffs.shape != (n, n // 2 + 1) or n % 2:
        raise ValueError(f"expected rfft2 coefficients of shape (n, n//2+1) with n even, got {coeffs.shape}")
    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same number of points, got {x.size} and {y.size}")
    kx, ky = (k.ravel() for k in wavenumbers(n))
    w = np.full(n // 2 + 1, 2.0)
    w[0] = w[-1] = 1.0
    weighted = coeffs * w
    mag = np.abs(weighted)
    total = mag.sum()
    if total == 0.0 or x.size == 0:
        return np.zeros(x.size)
    # drop whole rows / columns of wavenumbers, smallest first, within half the budget each
    budget = 0.5 * tol * total
    row_mass = mag.sum(axis=1)
    order = np.argsort(row_mass, kind="stable")
    keep_x = np.ones(n, bool)
    keep_x[order[np.cumsum(row_mass[order]) <= budget]] = False
    col_mass = mag[keep_x].sum(axis=0)
    order = np.argsort(col_mass, kind="stable")
    keep_y = np.ones(n // 2 + 1, bool)
    keep_y[order[np.cumsum(col_mass[order]) <= budget]] = False
    block = weighted[np.ix_(keep_x, keep_y)] / (n * n)
    kxs, kys = kx[keep_x], ky[keep_y]
    nyq_x, nyq_y = np.abs(kxs) == n // 2, kys == n // 2
    out = np.empty(x.size)
    ux, ix = np.unique(x, return_inverse=True)
    uy, iy = np.unique(y, return_inverse=True)
    if max(len(ux), len(uy)) <= chunk:
        # few distinct coordinates (a grid, or few points): basis per distinct value, gather per point
        a = _basis(kxs, nyq_x, ux)
        g = _basis(kys, nyq_y, uy) @ block.T
        ix, iy = ix.ravel(), iy.ravel()
        step = 4096
        for s in range(0, x.size, step):
            out[s : s + step] = np.einsum("pa,pa->p", a[ix[s : s + step]], g[iy[s : s + step]]).real
        return out
    for s in range(0, x.size, chunk):
        a = _basis(kxs, nyq_x, x[s : s + chunk])
        b = _basis(kys, nyq_y, y[s : s + chunk])
        out[s : s + chunk] = np.einsum("pa,pa->p", a, b @ block.T).real
    return out


def evaluate_at_points(points, snapshot) -> np.ndarray:
    """Values at points ``(N, 3)`` = (x, y, t); ``snapshot(t, cache)`` gives the coefficients at time t.

    Distinct times are visited in increasing order (one pass of a time
    integrator); with more than :data:`MAX_CACHED_TIMES` of them ``cache`` is
    ``False``, so they are not all kept.
    """
    p = np.asarray(points, dtype=float)
    if p.ndim != 2 or p.shape[1] != 3:
        raise ValueError(f"points must have shape (N, 3) = (x, y, t), got {p.shape}")
    out = np.empty(len(p))
    if len(p) == 0:
        return out
    times, inverse = np.unique(p[:, 2], return_inverse=True)
    inverse = inverse.ravel()
    cache = len(times) <= MAX_CACHED_TIMES
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(len(times) + 1))
    for i, t in enumerate(times):
        idx = order[bounds[i] : bounds[i + 1]]
        out[idx] = evaluate(snapshot(float(t), cache), p[idx, 0], p[idx, 1])
    return out
