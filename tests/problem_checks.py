"""Checking a problem in tests: the residual of its exact solution at points."""

from __future__ import annotations

from torch.func import vmap


def residual_of_exact(problem, xs):
    def exact_field(x):
        return problem.exact(x)

    with problem.layout():
        return vmap(lambda x: problem.residual(exact_field, x))(xs)
