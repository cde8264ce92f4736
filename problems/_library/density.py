r"""Conserved densities fitted to observations: :math:`\partial_t\rho + \nabla\cdot(\rho v) = 0` (the LFlow benchmarks).

The unknowns are :math:`q = \log\rho` and the velocity :math:`v` (``log_rho, v0, v1[, v2]``);
the residual is the continuity equation divided by ρ,
:math:`\partial_t q + v\cdot\nabla q + \nabla\cdot v` (what a PINN penalises; a
Lagrangian flow network satisfies it by construction). Data enter as
:class:`problems.Observations` of ``log_rho`` (and, optionally, of ``v``).

- :class:`DensityData`: user data — arrays, or an NPZ/CSV of x, t, ρ[, v].
- ``moving_gaussians`` (2-D or 3-D): four Gaussians (σ = 0.3, at angles kπ/2 and
  radii 2/3, 1, 4/3, 5/3) carried by the flow map of Torres et al. (ICLR 2024),
  :math:`y = L\,\mathrm{artanh}(x_0/L)`, :math:`y' = (1 + t/2)(1 + t/10)\,R(2\pi t)(y + \sin(\pi t)\,b)`,
  :math:`x_t = L \tanh(y'/L)` with L = 4, b = (0.6, −0.6[, 0]) (3-D: rotation about
  the third axis). Exact density by change of variables and exact velocity
  :math:`\partial_t x_t` (forward-mode autodiff of the map). Training data: a grid
  on [−3, 3]^d at 21 times in [0, 1] in the quadrants :math:`x_0 x_1 > 0`, where
  ρ ≥ 10⁻³·max ρ₀, log ρ with Gaussian noise; test (the error points): the other two
  quadrants at 100 times in [0, 1.2] (time extrapolation past the data).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch.func import jvp

from physopt import ProblemDefinitionError, partial, time_derivative

from .._domain import Box, TimeInterval
from .._observations import Observations
from .._problem import Problem
from .._registry import register

__all__ = ["DensityTransport", "DensityData", "MovingGaussians", "continuity_residual", "r_squared"]

SQUASH = 4.0
SIGMA = 0.3
RADII = (2 / 3, 1.0, 4 / 3, 5 / 3)
T_TRAIN, T_TEST = 1.0, 1.2


def r_squared(predicted: torch.Tensor, reference: torch.Tensor) -> float:
    """Coefficient of determination :math:`1 - \\sum (p - r)^2 / \\sum (r - \\bar r)^2`."""
    p, r = predicted.double().reshape(-1), reference.double().reshape(-1)
    return float(1 - (p - r).square().sum() / (r - r.mean()).square().sum())


def continuity_residual(u, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    r""":math:`(\partial_t\rho + \nabla\cdot(\rho v),\ \partial_t\rho)` at one point ``x`` = (space, t) for a field
    ``u`` giving :math:`(\log\rho, v)`, by autodiff (for checking: the relative size of the first)."""
    d = x.shape[0] - 1

    def flux(y):  # (ρ v, ρ) at y
        out = u(y)
        rho = torch.exp(out[0])
        return torch.cat([rho * out[1:], rho[None]])

    jac = torch.func.jacfwd(flux)(x)  # rows: ρv_i, ρ; columns: x_j, t
    dt_rho = jac[d, d]
    return dt_rho + torch.diagonal(jac[:d, :d]).sum(), dt_rho


class DensityTransport(Problem):
    r"""Base of the conserved-density problems: unknowns ``log_rho, v0, …``, the continuity residual, a box in space."""

    parameters = {"dim": 2}
    half_width = SQUASH  # the box (−L, L)^d
    equations = 1  # one continuity equation for d + 1 unknowns: the data pick the solution

    @property
    def unknowns(self) -> tuple[str, ...]:
        return ("log_rho",) + tuple(f"v{i}" for i in range(self.dim))

    @property
    def domain(self):
        return Box([-self.half_width] * self.dim, [self.half_width] * self.dim)

    def residual(self, u, x):
        dt = time_derivative(u)(x)
        value = u(x)
        out = dt[0]
        for i in range(self.dim):
            out = out + value[1 + i] * partial(u, i)(x)[0] + partial(u, i)(x)[1 + i]
        return out

    primary_field = "rho"  # the run's main picture: the density
    overlay_field = "velocity"  # drawn as arrows over it

    def derived_fields(self, values: np.ndarray) -> dict[str, np.ndarray]:
        """Written beside the unknowns in a run's fields: ρ = exp(log ρ) and the velocity as one vector (arrows)."""
        return {"rho": np.exp(values[:, 0]), "velocity": np.ascontiguousarray(values[:, 1:1 + self.dim])}

    def observations(self) -> list[Observations]:
        return [c for c in self.conditions if isinstance(c, Observations)]


class DensityData(DensityTransport):
    r"""A conserved density to fit to your data: points ``(N, d)``, times ``(N,)``, densities ``(N,)`` (> 0) and,
    optionally, velocities ``(N, d)``; the box (−L, L)^d holds the points (L: ``half_width``, default from the data).

    ``DensityData.from_file("obs.npz")`` reads arrays ``x``, ``t``, ``rho`` (and ``v``); a CSV needs a header
    naming columns ``x0, x1[, x2], t, rho[, v0, v1[, v2]]``.
    """

    parameters = {}

    def __init__(self, points=None, times=None, rho=None, velocity=None, half_width: float | None = None, t_end=None):
        super().__init__()
        if points is None or times is None or rho is None:
            raise ProblemDefinitionError("DensityData needs points, times and rho (or DensityData.from_file(path))")
        points = np.asarray(points, float)
        points = points[:, None] if points.ndim == 1 else points
        rho = np.asarray(rho, float).reshape(-1)
        times = np.asarray(times, float).reshape(-1)
        if not (len(points) == len(times) == len(rho)):
            raise ProblemDefinitionError(f"DensityData: {len(points)} points, {len(times)} times and {len(rho)} densities")
        if (rho <= 0).any():
            raise ProblemDefinitionError("DensityData: densities must be > 0 (the fit is to log rho); drop or clip the "
                                         f"{int((rho <= 0).sum())} non-positive ones")
        self.dim = points.shape[1]
        self.params = {"dim": self.dim}
        self.half_width = float(half_width or 1.1 * np.abs(points).max())
        self._time = TimeInterval(float(min(0.0, times.min())), float(t_end or times.max()))
        full = np.column_stack([points, times])
        data = [Observations(full, np.log(rho), ["log_rho"])]
        if velocity is not None:
            data.append(Observations(full, np.asarray(velocity, float).reshape(len(full), -1),
                                     [f"v{i}" for i in range(self.dim)]))
        self._conditions = data

    @property
    def conditions(self):
        return self._conditions

    @property
    def time(self):
        return self._time

    @classmethod
    def from_file(cls, path, **kwargs) -> "DensityData":
        path = Path(path)
        if path.suffix == ".npz":
            with np.load(path) as f:
                arrays = {k: f[k] for k in f.files}
            missing = {"x", "t", "rho"} - set(arrays)
            if missing:
                raise ProblemDefinitionError(f"{path}: missing array(s) {sorted(missing)}; needs x, t, rho (and v)")
            return cls(arrays["x"], arrays["t"], arrays["rho"], arrays.get("v"), **kwargs)
        if path.suffix == ".csv":
            table = np.genfromtxt(path, delimiter=",", names=True)
            names = table.dtype.names
            space = sorted(n for n in names if n.startswith("x"))
            velocity = sorted(n for n in names if n.startswith("v"))
            if not space or "t" not in names or "rho" not in names:
                raise ProblemDefinitionError(f"{path}: the header must name x0[, x1, x2], t, rho[, v0, ...]; got {names}")
            v = np.column_stack([table[n] for n in velocity]) if velocity else None
            return cls(np.column_stack([table[n] for n in space]), table["t"], table["rho"], v, **kwargs)
        raise ProblemDefinitionError(f"{path}: give an .npz (arrays x, t, rho[, v]) or a .csv with a header")


# ----- the moving Gaussians --------------------------------------------------------------------
def _matrix(t: torch.Tensor, dim: int) -> torch.Tensor:
    """A(t) = (1 + t/2)(1 + t/10) R(2πt) (3-D: the rotation about the third axis)."""
    c, s = torch.cos(2 * math.pi * t), torch.sin(2 * math.pi * t)
    zero, one = torch.zeros_like(t), torch.ones_like(t)
    rows = [[c, -s], [s, c]] if dim == 2 else [[c, -s, zero], [s, c, zero], [zero, zero, one]]
    return (1 + t / 2) * (1 + t / 10) * torch.stack([torch.stack(r) for r in rows])


def _offset(t: torch.Tensor, dim: int) -> torch.Tensor:
    b = torch.tensor([0.6, -0.6, 0.0][:dim], dtype=t.dtype, device=t.device)
    return torch.sin(math.pi * t) * b


def flow_map(x0: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """x_t of the label x0 (one point ``(d,)``)."""
    y = SQUASH * torch.atanh(x0 / SQUASH)
    return SQUASH * torch.tanh(_matrix(t, len(x0)) @ (y + _offset(t, len(x0))) / SQUASH)


def inverse_flow_map(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """The label x0 that is at x at time t."""
    # inv, not linalg.solve: solve's forward-mode derivatives are wrong under vmap in torch 2.13 (solvers/_lflow.py)
    y = torch.linalg.inv(_matrix(t, len(x))) @ (SQUASH * torch.atanh(x / SQUASH)) - _offset(t, len(x))
    return SQUASH * torch.tanh(y / SQUASH)


def _initial_density(x0: torch.Tensor) -> torch.Tensor:
    dim = len(x0)
    angles = torch.arange(4, dtype=x0.dtype, device=x0.device) * math.pi / 2
    radii = torch.tensor(RADII, dtype=x0.dtype, device=x0.device)
    centres = torch.stack([radii * torch.cos(angles), radii * torch.sin(angles)] + [torch.zeros_like(radii)] * (dim - 2), -1)
    sq = ((x0 - centres) ** 2).sum(-1)
    return (torch.exp(-sq / (2 * SIGMA**2)) / (2 * math.pi * SIGMA**2) ** (dim / 2)).mean()


@register("moving_gaussians")
class MovingGaussians(DensityTransport):
    """Four Gaussians carried by a rotating, growing flow (Torres et al., ICLR 2024); exact density and velocity."""

    parameters = {"dim": 2, "noise": 0.05, "seed": 0, "grid": 0, "velocity_data": False}
    time = TimeInterval(0.0, T_TEST)

    def __init__(self, **params):
        super().__init__(**params)
        if self.dim not in (2, 3):
            raise ProblemDefinitionError(f"problem 'moving_gaussians': dim must be 2 or 3, got {self.dim}")
        if self.noise < 0:
            raise ProblemDefinitionError(f"problem 'moving_gaussians': noise must be >= 0, got {self.noise}")
        grid = self.grid or (32 if self.dim == 2 else 14)
        points, values = self._split(grid, np.linspace(0, T_TRAIN, 21), train=True)
        rng = np.random.default_rng(self.seed)
        observed = [Observations(points, values[:, :1] + self.noise * rng.standard_normal((len(points), 1)), ["log_rho"])]
        if self.velocity_data:
            v = values[:, 1:]
            observed.append(Observations(points, v + self.noise * rng.standard_normal(v.shape) * np.abs(v).std(),
                                         list(self.unknowns[1:])))
        self._conditions = observed
        self._test = self._split(grid, np.linspace(0, T_TEST, 100), train=False)[0]

    @property
    def conditions(self):
        return self._conditions

    def _split(self, n: int, times: np.ndarray, train: bool) -> tuple[np.ndarray, np.ndarray]:
        """Grid points at ``times`` in the training (x0·x1 > 0) or test quadrants where ρ ≥ 10⁻³ max ρ₀; (points, exact)."""
        axis = np.linspace(-3, 3, n)
        space = np.stack(np.meshgrid(*[axis] * self.dim, indexing="ij"), -1).reshape(-1, self.dim)
        space = space[(space[:, 0] * space[:, 1] > 0) == train]
        full = np.concatenate([np.column_stack([space, np.full(len(space), t)]) for t in times])
        exact = self.solution_at(torch.as_tensor(full)).numpy()
        peak = float(_initial_density(torch.tensor([RADII[0], 0.0] + [0.0] * (self.dim - 2), dtype=torch.float64)))
        keep = exact[:, 0] >= math.log(1e-3 * peak)
        return full[keep], exact[keep]

    def exact(self, x):
        space, t = x[:-1], x[-1]
        x0 = inverse_flow_map(space, t)
        # log det ∂x/∂x0 of x = L tanh(A(y + b)/L), y = L artanh(x0/L), in closed form (det A = ((1 + t/2)(1 + t/10))^d);
        # not slogdet of the Jacobian: det/slogdet/solve have wrong forward-mode derivatives under vmap in torch 2.13
        log_det = (torch.log1p(-(space / SQUASH) ** 2).sum() - torch.log1p(-(x0 / SQUASH) ** 2).sum()
                   + self.dim * torch.log((1 + t / 2) * (1 + t / 10)))
        log_rho = torch.log(_initial_density(x0)) - log_det
        velocity = jvp(lambda s: flow_map(x0, s), (t,), (torch.ones_like(t),))[1]
        return torch.cat([log_rho[None], velocity])

    def error_points(self):
        """The test set: the quadrants without data, 100 times in [0, 1.2] (extrapolation past t = 1)."""
        return torch.as_tensor(self._test)

    def extra_errors(self, points, predicted, reference) -> dict[str, float]:
        """R² of the density ρ = exp(log_rho) on the test set (the LFlow paper's metric)."""
        return {"r2_rho": r_squared(torch.exp(predicted[:, 0]), torch.exp(reference[:, 0]))}
