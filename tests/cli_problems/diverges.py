"""A residual that is infinite everywhere: training must stop as diverged."""

import torch

from problems import Box, Dirichlet, Problem


class Diverges(Problem):
    domain = Box([0.0, 0.0], [1.0, 1.0])
    conditions = [Dirichlet(0.0)]

    def residual(self, u, x):
        return torch.log(u(x) ** 2 + 1.0) * float("inf") + float("inf")

    def exact(self, x):
        return x[0] * x[1]
