r"""The TENG benchmarks: heat, Allen–Cahn and Burgers on the periodic square [0, 2π)².

All three are written as u_t = L[u] (:meth:`rhs`), so the residual is the
default u_t − L[u] and time-marching solvers can use L directly. They share
one smooth band-limited initial condition, :data:`IC_MODES`:

.. math:: u_0(x, y) = \sum_j a_j \cos(k_{x,j} x + k_{y,j} y + \varphi_j),
    \qquad |k|^2 \le 20,\ \max|u_0| \approx 0.52,

written once as a table, from which come both the torch function
:func:`initial_value` and the Fourier coefficients of the spectral solver
(:func:`problems._spectral.ic_coefficients`).

References (:mod:`problems._spectral`): heat in closed form (each mode decays
by e^{−ν|k|²t}); Allen–Cahn and Burgers by a 2/3-dealiased pseudo-spectral
integrating-factor RK4 on an ``n_grid``² grid. ``stepper_floor`` gives the
ideal explicit Euler / Heun / RK4 solution with a step ``dt``: what a
TENG-Euler/Heun/RK4 with that step reaches at best.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from physopt import grad, laplacian

from .. import _spectral as spectral
from .._conditions import Initial, Periodic
from .._domain import Box, TimeInterval
from .._problem import Problem
from .._registry import register

__all__ = ["IC_MODES", "initial_value", "Heat2D", "AllenCahn2D", "Burgers2D"]

#: The initial condition: (kx, ky, amplitude, phase) for amplitude·cos(kx x + ky y + phase).
IC_MODES: tuple = (
    (0, 0, 0.04, 0.0),
    (1, 0, 0.16, 0.3),
    (0, 1, 0.12, -1.1),
    (1, 1, 0.09, 0.7),
    (2, -1, 0.08, 2.0),
    (1, 3, 0.05, -0.4),
    (3, -2, 0.04, 1.3),
    (4, 2, 0.025, 0.5),
)

_SPACE = (0, 1)  # spatial coordinates, explicit so rhs works on (x, y) and on (x, y, t)


def initial_value(x: torch.Tensor) -> torch.Tensor:
    """u₀ at a point ``(x, y, ...)``, or on a batch ``(N, ≥2)`` (pointwise torch)."""
    out = 0.0
    for kx, ky, amp, phase in IC_MODES:
        out = out + amp * torch.cos(kx * x[..., 0] + ky * x[..., 1] + phase)
    return out


class _Periodic2D(Problem):
    """u_t = L[u] on [0, 2π)², periodic, with the library's initial condition (not registered)."""

    kind: str = ""
    domain = Box([0.0, 0.0], [2 * math.pi, 2 * math.pi])
    conditions = [Periodic(dim=0), Periodic(dim=1), Initial(initial_value)]

    @property
    def time(self) -> TimeInterval:
        if not self.t_end > 0:
            raise ValueError(f"{self.problem_name} needs t_end > 0, got {self.t_end}")
        return TimeInterval(0.0, self.t_end)

    @property
    def spectral(self) -> spectral.PeriodicPDE:
        """The problem for :mod:`problems._spectral` (kind, ν, grid, initial modes)."""
        return spectral.PeriodicPDE(self.kind, float(self.nu), int(self.n_grid), IC_MODES)

    # ----- helpers for time-marching solvers and reports ---------------------------------
    def initial_condition(self, x: torch.Tensor) -> torch.Tensor:
        """u₀ on a batch of spatial points ``(N, 2)`` → ``(N,)`` (same function as the Initial condition)."""
        return initial_value(torch.as_tensor(x))

    def _points(self, points) -> np.ndarray:
        p = points.detach().cpu().numpy() if torch.is_tensor(points) else np.asarray(points)
        return np.asarray(p, dtype=np.float64)

    def stepper_floor(self, method: str, dt: float, points) -> torch.Tensor:
        """The ideal stepper's solution at points ``(N, 3)`` = (x, y, t), float64 ``(N,)``.

        Explicit Euler / Heun / RK4 (``method`` ``"euler"``, ``"heun"``, ``"rk4"``)
        with step ``dt`` on the full pseudo-spectral right-hand side
        (``n_grid``², 2/3-dealiased): zero optimization error, only the stepper's.
        Every time must be a multiple of ``dt`` (``ValueError`` otherwise).
        """
        pde = self.spectral
        values = spectral.evaluate_at_points(
            self._points(points), lambda t, cache: spectral.stepper_snapshot(pde, method, dt, t, cache)
        )
        return torch.as_tensor(values, dtype=torch.float64)

    def stepper_floor_error(self, method: str, dt: float, times=None) -> np.ndarray:
        """Relative L2 of the ideal stepper against the reference at ``times`` (default: the error times).

        Computed on the ``n_grid``² spectral grid (Parseval), so it is the
        stepper's time error alone.
        """
        pde = self.spectral
        times = self.error_times() if times is None else np.atleast_1d(np.asarray(times, float))
        ref = [spectral.reference_snapshot(pde, t) for t in times]
        step = spectral.stepper_coefficients(pde, method, dt, times)
        return np.array([spectral.relative_l2(s, r) for s, r in zip(step, ref)])

    def error_times(self) -> np.ndarray:
        """The 5 times of the error points: T/5, 2T/5, …, T."""
        return self.t_end * np.arange(1, 6) / 5

    def error_points(self) -> torch.Tensor:
        """A uniform 64 × 64 grid of [0, 2π)² (right ends excluded) at :meth:`error_times`, float64."""
        g = 2 * np.pi * np.arange(64) / 64
        x, y = (a.ravel() for a in np.meshgrid(g, g, indexing="ij"))
        pts = [np.column_stack([x, y, np.full(x.size, t)]) for t in self.error_times()]
        return torch.as_tensor(np.concatenate(pts), dtype=torch.float64)

    def reference_solution(self, points) -> torch.Tensor:
        """The spectral reference at points ``(N, 3)`` = (x, y, t), float64 ``(N,)``.

        Distinct times are integrated in increasing order. The engine asks for
        the error times first and the 21 evaluation-mesh times next; so that one
        integration serves both, the first call also computes (and caches) those
        of them that lie below its latest time.
        """
        pde = self.spectral
        p = self._points(points)
        if len(p) and pde.kind != "heat":
            times = np.unique(p[:, 2])
            known = np.concatenate([self.error_times(), self.time.slices(21)])
            todo = np.union1d(times, known[known <= times[-1]])
            if len(todo) <= spectral.MAX_CACHED_TIMES:
                for t in todo:
                    spectral.reference_snapshot(pde, t)
        values = spectral.evaluate_at_points(p, lambda t, cache: spectral.reference_snapshot(pde, t, cache=cache))
        return torch.as_tensor(values, dtype=torch.float64)


@register("heat2d")
class Heat2D(_Periodic2D):
    r"""u_t = νΔu on [0,2π)² × [0,T], periodic, smooth band-limited u₀; exact (ν = 1/10, T = 4)."""

    kind = "heat"
    parameters = {"nu": 0.1, "n_grid": 64, "t_end": 4.0}

    def rhs(self, u, x):
        return self.nu * laplacian(u, _SPACE)(x)

    def exact(self, x):
        out = 0.0
        for kx, ky, amp, phase in IC_MODES:
            decay = torch.exp(-self.nu * (kx * kx + ky * ky) * x[2])
            out = out + amp * decay * torch.cos(kx * x[0] + ky * x[1] + phase)
        return out


@register("allen_cahn2d")
class AllenCahn2D(_Periodic2D):
    r"""u_t = νΔu + u − u³ on [0,2π)² × [0,T], periodic; pseudo-spectral reference (ν = 1/200, T = 4)."""

    kind = "allen_cahn"
    parameters = {"nu": 1 / 200, "n_grid": 384, "t_end": 4.0}

    def rhs(self, u, x):
        v = u(x)
        return self.nu * laplacian(u, _SPACE)(x) + v - v**3


@register("burgers2d")
class Burgers2D(_Periodic2D):
    r"""u_t = −u(u_x + u_y) + νΔu on [0,2π)² × [0,T], periodic; pseudo-spectral reference (ν = 1/100, T = 4)."""

    kind = "burgers"
    parameters = {"nu": 1 / 100, "n_grid": 384, "t_end": 4.0}

    def rhs(self, u, x):
        g = grad(u, _SPACE)(x)
        return -u(x) * (g[0] + g[1]) + self.nu * laplacian(u, _SPACE)(x)
