"""Poisson problems with manufactured exact solutions."""

from __future__ import annotations

import torch

from physopt import laplacian

from .._conditions import Dirichlet
from .._domain import Box
from .._problem import Problem
from .._registry import register


@register("poisson2d")
class Poisson2D(Problem):
    r"""-Δu = 2π² sin(πx) sin(πy) on [0,1]², u = 0 on the boundary; u = sin(πx) sin(πy)."""

    domain = Box([0.0, 0.0], [1.0, 1.0])
    conditions = [Dirichlet(0.0)]

    def residual(self, u, x):
        return -laplacian(u)(x) - self.source(x)

    def source(self, x):
        return 2 * torch.pi**2 * torch.sin(torch.pi * x[0]) * torch.sin(torch.pi * x[1])

    def exact(self, x):
        return torch.sin(torch.pi * x[0]) * torch.sin(torch.pi * x[1])


@register("poisson_nd")
class PoissonND(Problem):
    r"""-Δu = π² Σ sin(πx_i) on [0,1]^d, u = u* on the boundary; u* = Σ_i sin(πx_i) (parameter dim)."""

    parameters = {"dim": 5}
    conditions = [Dirichlet(lambda x: torch.sin(torch.pi * x).sum())]

    @property
    def domain(self):
        if self.dim < 1:
            raise ValueError(f"poisson_nd needs dim >= 1, got {self.dim}")
        return Box([0.0] * self.dim, [1.0] * self.dim)

    def residual(self, u, x):
        return -laplacian(u)(x) - torch.pi**2 * torch.sin(torch.pi * x).sum()

    def exact(self, x):
        return torch.sin(torch.pi * x).sum()
