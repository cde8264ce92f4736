"""Heat equation problems."""

from __future__ import annotations

import math

import torch

from physopt import laplacian, time_derivative

from .._conditions import Dirichlet, Initial
from .._domain import Interval, TimeInterval
from .._problem import Problem
from .._registry import register


@register("heat1d")
class Heat1D(Problem):
    r"""u_t = κ u_xx on [0,1]×[0,1], u₀ = sin πx, u(0)=u(1)=0; u = e^{-κπ²t} sin πx (κ = 1/4)."""

    parameters = {"kappa": 0.25}
    domain = Interval(0.0, 1.0)
    time = TimeInterval(0.0, 1.0)
    conditions = [Dirichlet(0.0), Initial(lambda x: torch.sin(torch.pi * x[0]))]

    def residual(self, u, x):
        return time_derivative(u)(x) - self.kappa * laplacian(u)(x)

    def exact(self, x):
        return torch.exp(-self.kappa * math.pi**2 * x[1]) * torch.sin(torch.pi * x[0])
