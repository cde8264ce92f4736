"""Shared test cases: tiny problems with exact solutions, and the tiny run of every registered solver.

A solver's conformance run uses its class's ``tiny_options`` on the first
problem of :data:`TINY_PROBLEMS` it accepts, so a new solver needs no edit here.
"""

from __future__ import annotations

import math

import torch

from physopt import ConfigurationError, ProblemDefinitionError, laplacian
from problems import (Box, DensityTransport, Dirichlet, Initial, Observations, Periodic, Problem, TimeInterval,
                      TransportProblem)
from problems import FAMILIES
from solvers import Callback, StopTraining

__all__ = ["Poisson1D", "PeriodicHeat2D", "Advection1D", "MovingBlob", "TINY_PROBLEMS", "tiny_solver", "StopAt", "InterruptAt"]


class Poisson1D(Problem):
    """-u'' = π² sin πx on [0, 1], u(0) = u(1) = 0; u* = sin πx."""

    domain = Box([0.0], [1.0])
    conditions = [Dirichlet(0.0)]

    def residual(self, u, x):
        return -laplacian(u)(x) - math.pi**2 * torch.sin(math.pi * x[0])

    def exact(self, x):
        return torch.sin(math.pi * x[0])


class PeriodicHeat2D(Problem):
    """u_t = ν Δu on [0, 2π)², periodic, two Fourier modes; exact solution (for time-marching solvers)."""

    domain = Box([0.0, 0.0], [2 * math.pi, 2 * math.pi])
    parameters = {"t_end": 0.02}
    conditions = [Periodic(0), Periodic(1), Initial(lambda x: torch.sin(x[0]) + 0.5 * torch.cos(x[0] + x[1]))]
    nu = 0.1

    @property
    def time(self) -> TimeInterval:
        return TimeInterval(0.0, self.t_end)

    def rhs(self, u, x):
        return self.nu * laplacian(u)(x)

    def exact(self, x):
        t = x[2]
        return torch.exp(-self.nu * t) * torch.sin(x[0]) + 0.5 * torch.exp(-2 * self.nu * t) * torch.cos(x[0] + x[1])


class Advection1D(TransportProblem):
    """u_t + u_x = 0.05 u_xx on [0, 2π] × [0, 0.2], periodic, u₀ = sin x; u* = e^{-νt} sin(x − t) (transport solvers)."""

    time = TimeInterval(0.0, 0.2)
    conditions = [Initial(lambda x: torch.sin(x[0])), Periodic(0)]
    diffusion = 0.05

    def transport_velocity(self, x, t, u):
        return torch.ones_like(u)

    def exact(self, x):
        return torch.exp(-self.diffusion * x[1]) * torch.sin(x[0] - x[1])


class MovingBlob(DensityTransport):
    """A Gaussian blob (σ = 0.5) moving at v = (0.4, −0.2) in (−2, 2)², observed on a small grid (density fitters)."""

    half_width = 2.0
    time = TimeInterval(0.0, 0.5)
    velocity = (0.4, -0.2)

    @property
    def conditions(self):
        axis = torch.linspace(-1.2, 1.2, 6, dtype=torch.float64)
        grid = torch.stack(torch.meshgrid(axis, axis, torch.tensor([0.0, 0.25, 0.5], dtype=torch.float64),
                                          indexing="ij"), -1).reshape(-1, 3)
        values = torch.stack([self.exact(p)[0] for p in grid])
        return [Observations(grid.numpy(), values.numpy(), ["log_rho"])]

    def exact(self, x):
        v = torch.tensor(self.velocity, dtype=x.dtype, device=x.device)
        centre = v * x[2]
        log_rho = -((x[:2] - centre) ** 2).sum() / (2 * 0.25) - math.log(2 * math.pi * 0.25)
        return torch.cat([log_rho[None], v])


TINY_PROBLEMS = (Poisson1D, PeriodicHeat2D, Advection1D, MovingBlob)


def tiny_solver(solver_cls, **overrides):
    """``solver_cls`` with its ``tiny_options`` on the first tiny problem (or problem family) it accepts."""
    errors = []
    for problem_cls in (*TINY_PROBLEMS, FAMILIES["antiderivative"]):
        try:
            return solver_cls(problem_cls(), **{**solver_cls.tiny_options, **overrides})
        except (ConfigurationError, ProblemDefinitionError) as exc:
            errors.append(f"{problem_cls.__name__}: {exc}")
    raise AssertionError(f"solver '{solver_cls.name}' accepts none of the tiny problems in tests/cases.py: {errors}")


class StopAt(Callback):
    """Ends a run after step ``step`` by :class:`StopTraining` (the run's checkpointer saves on the way out)."""

    exception = StopTraining

    def __init__(self, step: int):
        self.step = step

    def on_step(self, state, record):
        if record.step == self.step:
            raise self.exception("paused by the test")


class InterruptAt(StopAt):
    """Interrupts a run after step ``step`` as Ctrl-C would (``KeyboardInterrupt``)."""

    exception = KeyboardInterrupt
