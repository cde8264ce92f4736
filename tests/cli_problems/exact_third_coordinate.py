"""exact(x) reads x[2] although the domain is 2-D."""

import torch

from physopt import laplacian
from problems import Box, Dirichlet, Problem


class ThirdCoordinate(Problem):
    domain = Box([0.0, 0.0], [1.0, 1.0])
    conditions = [Dirichlet(0.0)]

    def residual(self, u, x):
        return -laplacian(u)(x) - 1.0

    def exact(self, x):
        return torch.sin(x[0]) * x[2]
