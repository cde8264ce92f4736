r"""Gaussian random fields: the input-function distributions of operator learning (issue 21).

- :func:`periodic_grf`: on the periodic box :math:`[0, 1)^d` sampled on an
  :math:`n^d` grid, covariance :math:`\sigma^2(-\Delta + \tau^2 I)^{-\gamma}` (Fourier
  multiplier :math:`\sigma^2 (4\pi^2|k|^2 + \tau^2)^{-\gamma}` per mode), mean zero;
  drawn by FFT: :math:`u = \sum_k \sqrt{\lambda_k}\, \xi_k e^{2\pi i k\cdot x}` with
  complex normal :math:`\xi_k` made Hermitian, so u is real. The zero mode is kept
  (variance :math:`\sigma^2\tau^{-2\gamma}`).
- :func:`rbf_grf`: on points of an interval, covariance
  :math:`k(x, y) = \sigma^2 \exp(-|x - y|^2 / (2\ell^2))`, by a Cholesky factor
  with a small jitter (SciPy).

Both take a NumPy ``Generator`` and return float64 arrays ``(samples, ...)``.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from physopt import ProblemDefinitionError

__all__ = ["periodic_grf", "periodic_grf_spectrum", "rbf_grf"]


def periodic_grf_spectrum(n: int, dim: int, sigma: float, tau: float, gamma: float) -> np.ndarray:
    r"""The variance :math:`\lambda_k = \sigma^2 (4\pi^2|k|^2 + \tau^2)^{-\gamma}` of each Fourier mode, ``(n,)*dim``."""
    k = np.fft.fftfreq(n, d=1.0 / n)
    grids = np.meshgrid(*[k] * dim, indexing="ij")
    ksq = sum(g**2 for g in grids)
    return sigma**2 * (4 * np.pi**2 * ksq + tau**2) ** (-gamma)


def periodic_grf(samples: int, n: int, rng: np.random.Generator, dim: int = 1, sigma: float = 1.0, tau: float = 5.0,
                 gamma: float = 2.0) -> np.ndarray:
    r"""``samples`` draws ``(samples, n, ..., n)`` of the periodic GRF :math:`N(0, \sigma^2(-\Delta+\tau^2 I)^{-\gamma})`
    on the grid :math:`x_j = j/n` of :math:`[0, 1)^d` (module docstring)."""
    if samples < 1 or n < 2 or dim < 1 or sigma <= 0 or tau <= 0 or gamma <= 0:
        raise ProblemDefinitionError(f"periodic_grf: need samples >= 1, n >= 2, dim >= 1 and positive sigma, tau, gamma; "
                                     f"got {samples}, {n}, {dim}, {sigma}, {tau}, {gamma}")
    variance = periodic_grf_spectrum(n, dim, sigma, tau, gamma)
    shape = (samples,) + (n,) * dim
    # real white noise's FFT is Hermitian with E|W_k|² = n^d; scaled by sqrt(n^d λ_k), the inverse FFT (which divides
    # by n^d) is real with E|u_j|² = Σ_k λ_k and Fourier coefficients of variance λ_k, as the series above
    white = rng.standard_normal(shape)
    coefficients = np.fft.fftn(white, axes=tuple(range(1, dim + 1))) * np.sqrt(variance * n**dim)
    return np.fft.ifftn(coefficients, axes=tuple(range(1, dim + 1))).real


def rbf_grf(samples: int, points: np.ndarray, rng: np.random.Generator, length_scale: float = 0.2,
            sigma: float = 1.0, jitter: float = 1e-10) -> np.ndarray:
    r"""``samples`` draws ``(samples, len(points))`` of the GRF with covariance :math:`\sigma^2 e^{-|x-y|^2/2\ell^2}`."""
    points = np.asarray(points, float).reshape(len(points), -1)
    if samples < 1 or length_scale <= 0 or sigma <= 0:
        raise ProblemDefinitionError(f"rbf_grf: need samples >= 1 and positive length_scale, sigma; got {samples}, "
                                     f"{length_scale}, {sigma}")
    sq = ((points[:, None, :] - points[None, :, :]) ** 2).sum(-1)
    covariance = sigma**2 * np.exp(-sq / (2 * length_scale**2)) + jitter * sigma**2 * np.eye(len(points))
    factor = scipy.linalg.cholesky(covariance, lower=True)
    return rng.standard_normal((samples, len(points))) @ factor.T
