r"""Periodic 1-D transport on :math:`[0, 2\pi] \times [0, 1]`: the PINN failure-mode suite (LPINN benchmarks).

Every problem here is :math:`u_t + f(x, t, u)\, u_x = g\, u_{xx}` and declares
its transport velocity :meth:`transport_velocity` f and diffusion :attr:`diffusion` g,
so a Lagrangian solver (``solvers.lpinn``) rewrites it along the characteristics
:math:`X_t = f`, :math:`D_t u = g\, u_{XX}` without special cases:

- ``convection_diffusion1d``: :math:`u_t + c u_x = \nu u_{xx}`, a Gaussian pulse
  :math:`u_0 = e^{-2(x-\pi)^2}`; exact by Fourier series,
  :math:`\hat u(k, t) = \hat u_0(k)\, e^{-\nu k^2 t - i c k t}`;
- ``burgers_shock1d``: :math:`u_t + u u_x = \nu u_{xx}`, :math:`u_0 = \sin x + c`:
  a shock forms at t ≈ 1 and travels at speed c; reference by a dealiased
  Fourier–Galerkin solve (1,024 modes, SciPy's DOP853 at rtol 1e-11), cached in memory.

(``convection1d``, :math:`f = \beta`, g = 0, lives in :mod:`.convection`.)
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import scipy.integrate
import torch

from physopt import partial, time_derivative

from .._conditions import Initial, Periodic
from .._domain import Interval, TimeInterval
from .._problem import Problem
from .._registry import register

__all__ = ["fourier_series", "gaussian_pulse", "burgers_coefficients", "transport_grid", "TransportProblem"]

PULSE_WIDTH = 0.5  # σ of the convection–diffusion pulse u0 = exp(−(x − π)²/(2σ²))


def transport_grid() -> torch.Tensor:
    """The benchmark grid (Krishnapriyan et al.): 256 x-points (right end excluded) × 100 times in [0, 1]."""
    xs = np.linspace(0.0, 2 * math.pi, 256, endpoint=False)
    ts = np.linspace(0.0, 1.0, 100)
    return torch.as_tensor(np.stack(np.meshgrid(xs, ts, indexing="ij"), -1).reshape(-1, 2), dtype=torch.float64)


def gaussian_pulse(x):
    """The convection–diffusion initial value :math:`e^{-(x-\\pi)^2/(2\\sigma^2)}` (torch or NumPy)."""
    lib = torch if torch.is_tensor(x) else np
    return lib.exp(-((x - math.pi) ** 2) / (2 * PULSE_WIDTH**2))


def fourier_series(coefficients: np.ndarray, x: np.ndarray) -> np.ndarray:
    r""":math:`\sum_k \hat c_k e^{ikx}` from ``numpy.fft.rfft`` coefficients of an n-point grid (n even), at points ``x``.

    ``coefficients`` ``(..., n//2 + 1)``, broadcast against ``x`` ``(...)``; the Nyquist mode counts once (cos only).
    """
    c = np.asarray(coefficients)
    m = c.shape[-1] - 1
    n = 2 * m
    k = np.arange(m + 1)
    weight = np.where((k == 0) | (k == m), 1.0, 2.0) / n
    phase = np.asarray(x)[..., None] * k
    return np.sum(weight * (c.real * np.cos(phase) - c.imag * np.sin(phase)), axis=-1)


def _convection_diffusion(x: np.ndarray, t: np.ndarray, c: float, nu: float, n: int = 256) -> np.ndarray:
    grid = 2 * math.pi * np.arange(n) / n
    k = np.arange(n // 2 + 1)
    c0 = np.fft.rfft(gaussian_pulse(grid))
    coefficients = c0 * np.exp(-(nu * k**2 + 1j * c * k) * np.asarray(t)[..., None])
    return fourier_series(coefficients, x)


@lru_cache(maxsize=16)
def burgers_coefficients(c: float, nu: float, times: tuple[float, ...], n: int = 1024) -> np.ndarray:
    r"""``rfft`` coefficients ``(len(times), n//2 + 1)`` of the Burgers solution with :math:`u_0 = \sin x + c`.

    Fourier–Galerkin: :math:`\hat u_t = -\tfrac{ik}{2}\widehat{u^2} - \nu k^2 \hat u`, the product
    dealiased by the 2/3 rule (modes :math:`|k| \ge n/3` kept at zero), integrated by SciPy's
    DOP853 (rtol 1e-11, atol 1e-13) in real variables; one solve per (c, ν, times), cached.
    """
    grid = 2 * math.pi * np.arange(n) / n
    k = np.arange(n // 2 + 1)
    keep = k < n // 3
    start = np.fft.rfft(np.sin(grid) + c) * keep
    m = keep.sum()

    def rhs(_, y):
        u_hat = np.zeros(n // 2 + 1, complex)
        u_hat[:m] = y[:m] + 1j * y[m:]
        u = np.fft.irfft(u_hat, n)
        du = (-0.5j * k * np.fft.rfft(u * u) - nu * k**2 * u_hat)[:m]
        return np.concatenate([du.real, du.imag])

    y0 = np.concatenate([start[:m].real, start[:m].imag])
    solved = scipy.integrate.solve_ivp(rhs, (0.0, max(times)), y0, method="DOP853", t_eval=sorted(set(times)),
                                       rtol=1e-11, atol=1e-13)
    if not solved.success:  # pragma: no cover - a numerical failure of the reference, not of the user
        raise RuntimeError(f"burgers_shock1d reference: {solved.message}")
    by_time = dict(zip(solved.t, solved.y.T))
    out = np.zeros((len(times), n // 2 + 1), complex)
    for i, t in enumerate(times):
        y = by_time[t]
        out[i, :m] = y[:m] + 1j * y[m:]
    return out


class TransportProblem(Problem):
    r""":math:`u_t + f(x, t, u)\, u_x = g\, u_{xx}` on :math:`[0, 2\pi] \times [0, 1]`, periodic in x.

    Subclasses give :meth:`transport_velocity` f (periodic in x) and :attr:`diffusion` g;
    the residual follows. Errors on :func:`transport_grid`.
    """

    domain = Interval(0.0, 2 * math.pi)
    time = TimeInterval(0.0, 1.0)
    diffusion: float = 0.0

    def transport_velocity(self, x, t, u):
        """f(x, t, u), the speed of the characteristics through (x, t) carrying the value u."""
        raise NotImplementedError

    def residual(self, u, x):
        value = u(x)
        out = time_derivative(u)(x) + self.transport_velocity(x[0], x[1], value) * partial(u, 0)(x)
        return out - self.diffusion * partial(u, 0, 0)(x) if self.diffusion else out

    def error_points(self):
        return transport_grid()


@register("convection_diffusion1d")
class ConvectionDiffusion1D(TransportProblem):
    r"""u_t + c u_x = ν u_xx on [0,2π]×[0,1], periodic, Gaussian pulse u₀ = exp(−2(x−π)²); exact by Fourier series."""

    parameters = {"c": 10.0, "nu": 0.01}
    conditions = [Initial(lambda x: gaussian_pulse(x[0])), Periodic(dim=0)]

    @property
    def diffusion(self) -> float:
        return self.nu

    def transport_velocity(self, x, t, u):
        return self.c * torch.ones_like(u)

    def reference_solution(self, points):
        p = np.asarray(points.detach().cpu() if torch.is_tensor(points) else points, dtype=float)
        return torch.as_tensor(_convection_diffusion(p[:, 0], p[:, 1], self.c, self.nu))


@register("burgers_shock1d")
class BurgersShock1D(TransportProblem):
    r"""u_t + u u_x = ν u_xx on [0,2π]×[0,1], periodic, u₀ = sin x + c (a shock forms at t ≈ 1); spectral reference."""

    parameters = {"c": 1.0, "nu": 0.01}

    @property
    def conditions(self):
        return [Initial(lambda x: torch.sin(x[0]) + self.c), Periodic(dim=0)]

    @property
    def diffusion(self) -> float:
        return self.nu

    def transport_velocity(self, x, t, u):
        return u

    def reference_solution(self, points):
        p = np.asarray(points.detach().cpu() if torch.is_tensor(points) else points, dtype=float)
        times, where = np.unique(p[:, 1], return_inverse=True)
        coefficients = burgers_coefficients(float(self.c), float(self.nu), tuple(float(t) for t in times))
        return torch.as_tensor(fourier_series(coefficients[where], p[:, 0]))
