"""1D periodic convection, the classic PINN failure mode (Krishnapriyan et al. 2021)."""

from __future__ import annotations

import math

import numpy as np
import torch

from physopt import partial, time_derivative

from .._conditions import Initial, Periodic
from .._domain import Interval, TimeInterval
from .._problem import Problem
from .._registry import register


@register("convection1d")
class Convection1D(Problem):
    r"""u_t + β u_x = 0 on [0,2π]×[0,1], u₀ = sin x, periodic; u = sin(x − βt) (parameter beta)."""

    parameters = {"beta": 30.0}
    domain = Interval(0.0, 2 * math.pi)
    time = TimeInterval(0.0, 1.0)
    conditions = [Initial(lambda x: torch.sin(x[0])), Periodic(dim=0)]

    def residual(self, u, x):
        return time_derivative(u)(x) + self.beta * partial(u, 0)(x)

    def exact(self, x):
        return torch.sin(x[0] - self.beta * x[1])

    def error_points(self):
        """The benchmark grid: 256 x-points (right end excluded) × 100 times in [0, 1]."""
        xs = np.linspace(0.0, 2 * math.pi, 256, endpoint=False)
        ts = np.linspace(0.0, 1.0, 100)
        grid = np.stack(np.meshgrid(xs, ts, indexing="ij"), -1).reshape(-1, 2)
        return torch.as_tensor(grid, dtype=torch.float64)
