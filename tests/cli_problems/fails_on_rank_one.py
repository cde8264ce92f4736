# fails_on_rank_one.py: rank 1 of a data-parallel run fails in its first residual (tests/test_distributed.py)
import os

import torch
from problems import Problem, Box, Dirichlet
from physopt import laplacian


class FailsOnRankOne(Problem):
    """-u'' = π² sin(πx) on [0, 1], u = 0 at both ends; rank 1 raises a few steps into training."""
    domain = Box([0.0], [1.0])
    conditions = [Dirichlet(0.0)]
    calls = 0

    def residual(self, u, x):
        FailsOnRankOne.calls += 1  # once per evaluation of the vmapped loss (after the set-up checks)
        if os.environ.get("RANK") == "1" and FailsOnRankOne.calls > 12:
            raise ValueError("rank one fails on purpose")
        return -laplacian(u)(x) - torch.pi**2 * torch.sin(torch.pi * x[0])
