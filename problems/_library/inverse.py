"""Inverse problems: coefficients identified from measurements, with standard errors (docs/problems.md)."""

from __future__ import annotations

import numpy as np
import torch

from physopt import grad, jacobian, laplacian

from .._conditions import Dirichlet, Robin
from .._data import Data
from .._domain import Box, Interval
from .._problem import Problem
from .._registry import register
from .._unknowns import Unknown, UnknownField


def _mode_sum(x):
    """u*(x) = sin(πx) + ½ sin(3πx), and -u*''(x)."""
    s1, s3 = torch.sin(torch.pi * x), torch.sin(3 * torch.pi * x)
    return s1 + 0.5 * s3, torch.pi**2 * s1 + 4.5 * torch.pi**2 * s3


@register("diffusion_reaction_inverse")
class DiffusionReactionInverse(Problem):
    """-D u'' + k u = f on [0,1], u = 0 at both ends; D and k identified from noisy samples of u (synthetic data)."""

    domain = Box([0.0], [1.0])
    parameters = {"D_true": 0.1, "k_true": 2.0, "samples": 30, "noise": 0.01, "seed": 0}
    unknown_parameters = {"D": Unknown(0.5, positive=True), "k": Unknown(0.5, positive=True)}

    def __init__(self, **params):
        super().__init__(**params)
        if self.samples < 3:
            raise ValueError(f"diffusion_reaction_inverse needs samples >= 3, got {self.samples}")
        rng = np.random.default_rng(self.seed)
        x = np.sort(rng.uniform(0.0, 1.0, self.samples))[:, None]
        u = np.sin(np.pi * x) + 0.5 * np.sin(3 * np.pi * x)
        sigma = self.noise * float(np.abs(u).max()) if self.noise > 0 else None  # noise relative to max |u*|
        values = u + (rng.normal(0.0, sigma, u.shape) if sigma else 0.0)
        self.conditions = [Dirichlet(0.0), Data(x, values, ("u",), noise=sigma)]

    def residual(self, u, x):
        exact, minus_second = _mode_sum(x[0])
        f = self.D_true * minus_second + self.k_true * exact
        return -self.D * laplacian(u)(x) + self.k * u(x) - f

    def exact(self, x):
        return _mode_sum(x[0])[0]


def lorenz_trajectory(times: np.ndarray, sigma: float, rho: float, beta: float, start) -> np.ndarray:
    """The Lorenz system's solution ``(len(times), 3)`` by SciPy's DOP853 at tolerance 1e-12."""
    from scipy.integrate import solve_ivp

    def field(t, s):
        x, y, z = s
        return [sigma * (y - x), x * (rho - z) - y, x * y - beta * z]

    solution = solve_ivp(field, (0.0, float(times[-1])), list(start), method="DOP853", t_eval=times, rtol=1e-12, atol=1e-12)
    return solution.y.T


@register("lorenz_inverse")
class LorenzInverse(Problem):
    """Lorenz system x' = σ(y−x), y' = x(ρ−z) − y, z' = xy − βz on t ∈ [0,3]; σ, ρ, β from trajectory samples."""

    domain = Interval(0.0, 3.0)  # the coordinate is time t
    unknowns = ("x", "y", "z")
    parameters = {"sigma_true": 10.0, "rho_true": 15.0, "beta_true": 8.0 / 3.0, "samples": 100, "noise": 0.0, "seed": 0}
    unknown_parameters = {"sigma": 1.0, "rho": 1.0, "beta": 1.0}  # DeepXDE's example starts all three at 1
    start = (-8.0, 7.0, 27.0)
    solver_defaults = {"pinn": {"output_scale": 10.0, "points": 512}}

    def __init__(self, **params):
        super().__init__(**params)
        if self.samples < 4:
            raise ValueError(f"lorenz_inverse needs samples >= 4, got {self.samples}")
        times = np.linspace(0.0, 3.0, self.samples)
        states = lorenz_trajectory(times, self.sigma_true, self.rho_true, self.beta_true, self.start)
        rng = np.random.default_rng(self.seed)
        sigma = self.noise * states.std(axis=0) if self.noise > 0 else None  # noise relative to each component's spread
        values = states + (rng.normal(size=states.shape) * sigma if sigma is not None else 0.0)
        self.data_noise = sigma
        # Data has one noise level: the relative noise scaled by the components' mean spread
        self.conditions = [Data([[0.0]], [list(self.start)], self.unknowns),
                           Data(times[:, None], values, self.unknowns,
                                noise=None if sigma is None else float(np.mean(sigma)))]

    def residual(self, u, x):
        s = u(x)
        ds = jacobian(u)(x)[:, 0]
        X, Y, Z = s[0], s[1], s[2]
        return ds - torch.stack([self.sigma * (Y - X), X * (self.rho - Z) - Y, X * Y - self.beta * Z])

    def reference_solution(self, points: torch.Tensor) -> torch.Tensor:
        t = points[:, 0].detach().double().cpu().numpy()
        order = np.argsort(t)
        states = np.empty((len(t), 3))
        states[order] = lorenz_trajectory(np.maximum(t[order], 0.0), self.sigma_true, self.rho_true, self.beta_true,
                                          self.start) if t.max() > 0 else np.tile(self.start, (len(t), 1))
        return torch.as_tensor(states, dtype=points.dtype, device=points.device)


def _plate_temperature(x):
    """u*(x, y) = sin(πx) sin(πy)."""
    return torch.sin(torch.pi * x[0]) * torch.sin(torch.pi * x[1])


def _plate_conductivity(x):
    """κ*(x, y) = 1 + ½ sin(πx) sin(2πy) (between ½ and 3/2; 1 on the boundary)."""
    return 1.0 + 0.5 * torch.sin(torch.pi * x[0]) * torch.sin(2 * torch.pi * x[1])


def _outward_normal(x):
    """The unit square's outward normal at a boundary point (zero inside)."""
    eps = 1e-9
    return torch.stack([(x[0] > 1 - eps).to(x.dtype) - (x[0] < eps).to(x.dtype),
                        (x[1] > 1 - eps).to(x.dtype) - (x[1] < eps).to(x.dtype)])


def _plate_heat_source(x):
    """f = -∇·(κ*∇u*) at one point."""
    flux = lambda y: _plate_conductivity(y) * grad(_plate_temperature)(y)  # noqa: E731
    return -torch.func.jacrev(flux)(x).trace()


@register("heat_conductivity_inverse")
class HeatConductivityInverse(Problem):
    """-∇·(κ∇u) = f on [0,1]², u = 0 and the heat flux κ ∂u/∂n measured on the boundary; the conductivity field
    κ(x, y) (a second network) identified from noisy temperature samples in the plate (synthetic data)."""

    domain = Box([0.0, 0.0], [1.0, 1.0])
    parameters = {"samples": 200, "noise": 0.01, "seed": 0}
    unknown_parameters = {"kappa": UnknownField(1.0, positive=True)}

    def __init__(self, **params):
        super().__init__(**params)
        if self.samples < 10:
            raise ValueError(f"heat_conductivity_inverse needs samples >= 10, got {self.samples}")
        rng = np.random.default_rng(self.seed)
        x = rng.uniform(0.0, 1.0, (self.samples, 2))
        u = np.sin(np.pi * x[:, :1]) * np.sin(np.pi * x[:, 1:])
        sigma = self.noise * float(np.abs(u).max()) if self.noise > 0 else None  # noise relative to max |u*|
        values = u + (rng.normal(0.0, sigma, u.shape) if sigma else 0.0)
        measured_flux = lambda y: _plate_conductivity(y) * (grad(_plate_temperature)(y) @ _outward_normal(y))  # noqa: E731
        self.conditions = [Dirichlet(0.0),
                           Robin(0.0, lambda y: self.kappa(y), measured_flux),  # κ ∂u/∂n = measured flux
                           Data(x, values, ("u",), noise=sigma)]

    def point_data(self, points):
        return {"f": torch.vmap(_plate_heat_source)(points)}

    def residual(self, u, x, f=None):
        f = _plate_heat_source(x) if f is None else f
        return -(grad(self.kappa)(x) @ grad(u)(x) + self.kappa(x) * laplacian(u)(x)) - f

    def exact(self, x):
        return _plate_temperature(x)

    def reference_unknown(self, name: str, points: torch.Tensor) -> torch.Tensor:
        """The true conductivity κ* at ``points`` (the field the data were made with)."""
        if name != "kappa":
            raise KeyError(f"heat_conductivity_inverse has no unknown field '{name}'")
        return torch.vmap(_plate_conductivity)(points)
