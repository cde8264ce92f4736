# interrupted_on_rank_zero.py: Ctrl-C reaches rank 0 of a data-parallel run during its residual evaluation number
# $INTERRUPT_AT (tests/test_distributed.py); without that variable, an ordinary problem
import os
import signal

import torch
from problems import Problem, Box, Dirichlet
from physopt import laplacian


class InterruptedOnRankZero(Problem):
    """-u'' = π² sin(πx) on [0, 1], u = 0 at both ends; u = sin(πx)."""
    domain = Box([0.0], [1.0])
    conditions = [Dirichlet(0.0)]
    calls = 0

    def residual(self, u, x):
        InterruptedOnRankZero.calls += 1
        if os.environ.get("RANK") == "0" and str(InterruptedOnRankZero.calls) == os.environ.get("INTERRUPT_AT"):
            os.kill(os.getpid(), signal.SIGINT)
        return -laplacian(u)(x) - torch.pi**2 * torch.sin(torch.pi * x[0])

    def exact(self, x):
        return torch.sin(torch.pi * x[0])
