"""1D periodic convection, the classic PINN failure mode (Krishnapriyan et al. 2021)."""

from __future__ import annotations

import torch

from .._conditions import Initial, Periodic
from .._registry import register
from .transport import TransportProblem


@register("convection1d")
class Convection1D(TransportProblem):
    r"""u_t + β u_x = 0 on [0,2π]×[0,1], u₀ = sin x, periodic; u = sin(x − βt) (parameter beta)."""

    parameters = {"beta": 30.0}
    conditions = [Initial(lambda x: torch.sin(x[0])), Periodic(dim=0)]

    def transport_velocity(self, x, t, u):
        return self.beta * torch.ones_like(u)

    def exact(self, x):
        return torch.sin(x[0] - self.beta * x[1])
