r"""Extreme eigenvalues and spectral densities of symmetric operators, matrix-free.

- :func:`power_iteration`: the eigenvalue of largest magnitude (sharpness of a loss Hessian).
- :func:`lanczos`: ``m`` steps with full reorthogonalisation; the Ritz values of the
  tridiagonal matrix approximate the extreme eigenvalues (:func:`lanczos_eigenvalues`).
- :func:`spectral_density`: stochastic Lanczos quadrature, a Gaussian-smoothed
  eigenvalue density averaged over random start vectors.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

__all__ = ["power_iteration", "lanczos", "lanczos_eigenvalues", "spectral_density"]

MatVec = Callable[[torch.Tensor], torch.Tensor]


def _apply(matvec: MatVec, v: torch.Tensor) -> torch.Tensor:
    return matvec(v[None])[0]


def power_iteration(matvec: MatVec, dim: int, iterations: int = 100, tol: float = 1e-10, generator=None,
                    dtype=torch.float64, device=None) -> tuple[float, torch.Tensor]:
    """Dominant eigenpair ``(eigenvalue, unit eigenvector)`` by power iteration (Rayleigh quotient)."""
    v = torch.randn(dim, generator=generator, dtype=dtype, device=device)
    v = v / v.norm()
    value = 0.0
    for _ in range(iterations):
        w = _apply(matvec, v)
        new = float(v @ w)
        norm = w.norm()
        if norm == 0:
            return 0.0, v
        v = w / norm
        if abs(new - value) <= tol * max(abs(new), 1e-300):
            value = new
            break
        value = new
    return value, v


def lanczos(matvec: MatVec, dim: int, steps: int = 30, start: torch.Tensor | None = None, generator=None,
            dtype=torch.float64, device=None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""Lanczos tridiagonalisation :math:`Q^\top A Q = T`; returns ``(alpha, beta, Q)``.

    Full reorthogonalisation keeps ``Q`` orthonormal in floating point. Stops
    early when an invariant subspace is found.
    """
    steps = min(steps, dim)
    q = torch.randn(dim, generator=generator, dtype=dtype, device=device) if start is None else start.to(dtype)
    q = q / q.norm()
    Q = torch.zeros(steps, dim, dtype=dtype, device=device)
    alpha = torch.zeros(steps, dtype=dtype, device=device)
    beta = torch.zeros(max(steps - 1, 0), dtype=dtype, device=device)
    Q[0] = q
    for j in range(steps):
        w = _apply(matvec, Q[j])
        alpha[j] = Q[j] @ w
        w = w - Q[: j + 1].T @ (Q[: j + 1] @ w)  # full reorthogonalisation (twice is enough)
        w = w - Q[: j + 1].T @ (Q[: j + 1] @ w)
        if j == steps - 1:
            break
        b = w.norm()
        if b <= 1e-12 * max(float(alpha[: j + 1].abs().max()), 1e-300):
            return alpha[: j + 1], beta[:j], Q[: j + 1]
        beta[j] = b
        Q[j + 1] = w / b
    return alpha, beta, Q


def _tridiagonal(alpha, beta):
    return torch.diag(alpha) + torch.diag(beta, 1) + torch.diag(beta, -1)


def lanczos_eigenvalues(matvec: MatVec, dim: int, steps: int = 30, generator=None, dtype=torch.float64, device=None) -> torch.Tensor:
    """Ritz values (ascending): the extreme ones converge first."""
    alpha, beta, _ = lanczos(matvec, dim, steps, generator=generator, dtype=dtype, device=device)
    return torch.linalg.eigvalsh(_tridiagonal(alpha, beta))


def spectral_density(matvec: MatVec, dim: int, grid: torch.Tensor, steps: int = 30, vectors: int = 4, sigma: float | None = None,
                     generator=None, dtype=torch.float64, device=None) -> torch.Tensor:
    r"""Stochastic Lanczos quadrature estimate of the eigenvalue density on ``grid``.

    :math:`\phi(t) \approx \frac{1}{n_v}\sum_v \sum_k \tau_k^2\, \mathcal{N}(t; \theta_k, \sigma^2)`
    with Ritz values :math:`\theta_k` and weights :math:`\tau_k^2` (squared first
    components of the eigenvectors of :math:`T`). Integrates to about 1.
    """
    grid = grid.to(dtype)
    density = torch.zeros_like(grid)
    if sigma is None:
        sigma = float(grid[-1] - grid[0]) / 100
    for _ in range(vectors):
        start = torch.randint(0, 2, (dim,), generator=generator, device=device).to(dtype) * 2 - 1
        alpha, beta, _ = lanczos(matvec, dim, steps, start=start, dtype=dtype, device=device)
        theta, S = torch.linalg.eigh(_tridiagonal(alpha, beta))
        weights = S[0] ** 2
        density += (weights[None, :] * torch.exp(-((grid[:, None] - theta[None, :]) ** 2) / (2 * sigma**2))).sum(-1)
    return density / (vectors * sigma * math.sqrt(2 * math.pi))
