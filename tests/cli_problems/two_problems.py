"""Two Problem subclasses in one file: the CLI must ask for file.py:ClassName."""

import torch

from physopt import laplacian
from problems import Box, Dirichlet, Problem


class Plateau(Problem):
    """-Δu = 1 on the unit square, u = 0 on the boundary (no exact solution)."""

    domain = Box([0.0, 0.0], [1.0, 1.0])
    conditions = [Dirichlet(0.0)]

    def residual(self, u, x):
        return -laplacian(u)(x) - 1.0


class Wave(Problem):
    """-Δu = 2π² sin πx sin πy on the unit square, u = 0 on the boundary."""

    domain = Box([0.0, 0.0], [1.0, 1.0])
    conditions = [Dirichlet(0.0)]

    def residual(self, u, x):
        return -laplacian(u)(x) - 2 * torch.pi**2 * torch.sin(torch.pi * x[0]) * torch.sin(torch.pi * x[1])

    def exact(self, x):
        return torch.sin(torch.pi * x[0]) * torch.sin(torch.pi * x[1])
