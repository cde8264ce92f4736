# bump.py
import torch
from problems import Problem, Box, Dirichlet
from physopt import laplacian

class Bump(Problem):
    """-Δu = f on the unit square, u = 0 on the boundary."""
    domain = Box([0.0, 0.0], [1.0, 1.0])
    conditions = [Dirichlet(0.0)]

    def residual(self, u, x):            # u: the unknown field, x: one point (vmapped for you)
        return -laplacian(u)(x) - 2 * torch.pi**2 * torch.sin(torch.pi * x[0]) * torch.sin(torch.pi * x[1])

    def exact(self, x):                   # optional: enables error reports
        return torch.sin(torch.pi * x[0]) * torch.sin(torch.pi * x[1])
