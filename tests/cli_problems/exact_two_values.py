"""exact(x) returns two values for a problem with one unknown."""

import torch

from physopt import laplacian
from problems import Box, Dirichlet, Problem


class TwoValues(Problem):
    domain = Box([0.0, 0.0], [1.0, 1.0])
    conditions = [Dirichlet(0.0)]

    def residual(self, u, x):
        return -laplacian(u)(x) - 1.0

    def exact(self, x):
        return torch.stack([x[0], x[1]])
