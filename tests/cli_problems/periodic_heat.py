"""u_t = ν Δu on [0, 2π)², periodic, four Fourier modes: a small problem for TENG tests."""

import math

import torch

from physopt import laplacian
from problems import Box, Initial, Periodic, Problem, TimeInterval

NU = 0.1
MODES = ((1, 0, 0.3), (1, 1, 0.2), (0, 2, -0.15), (2, -1, 0.1))


class SmallHeat(Problem):
    """u_t = ν Δu on [0, 2π)², a few Fourier modes, exact solution."""

    domain = Box([0.0, 0.0], [2 * math.pi, 2 * math.pi])
    parameters = {"t_end": 0.04}
    conditions = [Periodic(0), Periodic(1), Initial(lambda x: sum(c * torch.sin(a * x[0] + b * x[1] + 0.3) for a, b, c in MODES))]

    @property
    def time(self) -> TimeInterval:
        return TimeInterval(0.0, self.t_end)

    def rhs(self, u, x):
        return NU * laplacian(u)(x)

    def exact(self, x):
        return sum(c * torch.exp(-NU * (a * a + b * b) * x[2]) * torch.sin(a * x[0] + b * x[1] + 0.3) for a, b, c in MODES)
