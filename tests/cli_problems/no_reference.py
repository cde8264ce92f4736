"""A problem without exact or reference solution."""

from physopt import laplacian
from problems import Box, Dirichlet, Problem


class NoReference(Problem):
    """-Δu = 1 on the unit square, u = 0 on the boundary."""

    domain = Box([0.0, 0.0], [1.0, 1.0])
    conditions = [Dirichlet(0.0)]

    def residual(self, u, x):
        return -laplacian(u)(x) - 1.0
