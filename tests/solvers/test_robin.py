"""Robin conditions alpha·u + beta·∂u/∂n = g: the pointwise residual and PINN solves with known solutions.

Robin is the proof of the condition contract: the PINN imposes it without
knowing it (it only loops over conditions: sample, residual, order, name).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from physopt import ProblemDefinitionError, laplacian
from problems import Box, Dirichlet, HardConstraint, Initial, Interval, Problem, Robin, TimeInterval
from solvers import PINN


def _exact_1d(x):
    return torch.exp(x[0]) * torch.sin(2 * x[0])


def _slope_1d(x):
    return torch.exp(x[0]) * (torch.sin(2 * x[0]) + 2 * torch.cos(2 * x[0]))


class RobinPoisson1D(Problem):
    """-u'' = f on [0, 1], u + 0.5 ∂u/∂n = g at both ends (outward normal -1 at 0, +1 at 1); u = e^x sin 2x."""

    domain = Interval(0.0, 1.0)
    conditions = [Robin(1.0, 0.5, lambda x: _exact_1d(x) + 0.5 * _slope_1d(x) * (2 * x[0] - 1))]

    def residual(self, u, x):
        return -laplacian(u)(x) + laplacian(_exact_1d)(x)

    def exact(self, x):
        return _exact_1d(x)


def _exact_2d(x):
    return torch.sin(x[0] + 0.5) * torch.exp(x[1])


def _left(p):
    return np.isclose(p[:, 0], 0.0)


def _alpha(x):
    return 1 + x[1]


class RobinPoisson2D(Problem):
    """-Δu = f on the unit square; Robin with a pointwise alpha on x = 0 (normal (-1, 0)), Dirichlet elsewhere."""

    domain = Box([0.0, 0.0], [1.0, 1.0])
    conditions = [
        Robin(_alpha, 0.5, lambda x: _alpha(x) * _exact_2d(x) - 0.5 * torch.cos(x[0] + 0.5) * torch.exp(x[1]), where=_left),
        Dirichlet(_exact_2d, where=lambda p: ~_left(p)),
    ]

    def residual(self, u, x):
        return -laplacian(u)(x) + laplacian(_exact_2d)(x)

    def exact(self, x):
        return _exact_2d(x)


SOLVE = dict(width=16, depth=2, optimizer="lm", steps=100, resample_every=20, error_every=0, dtype="float64")


def test_robin_residual_is_alpha_u_plus_beta_normal_derivative_minus_g():
    beta = lambda x: 0.25 + x[0] * x[1]  # noqa: E731
    g = lambda x: torch.cos(x[0]) - x[1]  # noqa: E731
    condition = Robin(_alpha, beta, g)
    problem = type("RobinSquare", (RobinPoisson2D,), {"conditions": [condition]})()
    solver = PINN(problem, width=8, depth=2, points=16, boundary_points=64, steps=0)
    (entry,) = solver.batch.conditions
    points, normals = entry["points"], entry["normals"]
    assert set(entry) == {"condition", "points", "normals"} and normals.shape == points.shape
    residual = torch.vmap(lambda x, n: condition.residual(solver.field, x, n))(points, normals)

    x = points.clone().requires_grad_(True)
    u = solver.field(x)  # the MLP maps a batch as well as one point
    (grad,) = torch.autograd.grad(u.sum(), x)
    a, b = 1 + points[:, 1], 0.25 + points[:, 0] * points[:, 1]
    by_hand = a * u.detach() + b * (grad * normals).sum(1) - (torch.cos(points[:, 0]) - points[:, 1])
    torch.testing.assert_close(residual, by_hand, rtol=1e-12, atol=1e-12)
    assert solver._pointwise_terms()[1][4] == 1  # the term takes first derivatives at its point


def test_pinn_solves_poisson_with_robin_conditions_at_both_ends():
    solution = PINN(RobinPoisson1D(), points=64, boundary_points=8, **SOLVE).solve()
    assert solution.errors()["rel_l2"] < 1e-6  # measured 9.4e-9


def test_pinn_solves_poisson_with_a_pointwise_robin_part_and_dirichlet_elsewhere():
    solver = PINN(RobinPoisson2D(), points=128, boundary_points=32, **SOLVE)
    assert solver.term_names == ["robin", "dirichlet"]
    assert solver.batch.conditions[0]["points"][:, 0].abs().max() < 1e-12  # sampled where `where` holds
    assert solver.solve().errors()["rel_l2"] < 1e-5  # measured 1.1e-7


@pytest.mark.parametrize("bc", ["auto", "hard"])
def test_robin_is_a_penalty_next_to_an_ansatz(bc):
    class Heat(Problem):
        domain = Interval(0.0, 1.0)
        time = TimeInterval(0.0, 1.0)
        conditions = [Initial(lambda x: torch.sin(x[0])), Robin(1.0, 2.0, 0.0)]

        def residual(self, u, x):
            return u(x)

    solver = PINN(Heat(), bc=bc, width=8, depth=2, points=16, boundary_points=8, steps=0)
    assert [(e["enforced"], e["term"]) for e in solver.enforcement()] == [("ansatz", ""), ("penalty", "robin")]
    assert set(solver.residual_terms()) == {"residual", "robin"}


def test_robin_alone_is_a_penalty_under_bc_auto_and_refused_by_bc_hard():
    solver = PINN(RobinPoisson1D(), width=8, depth=2, points=16, boundary_points=8, steps=0)
    assert solver.enforcement() == [{"condition": "Robin(1.0, 0.5, <function>)", "enforced": "penalty", "term": "robin"}]
    with pytest.raises(Exception, match="Dirichlet"):
        PINN(RobinPoisson1D(), bc="hard", width=8, depth=2, points=16, boundary_points=8, steps=0)


def test_robin_is_named_by_its_kind_or_class_in_a_hard_constraint():
    robin = Robin(1.0, 1.0)
    assert HardConstraint(lambda x, n: n, replaces=("robin",)).covers(robin)
    assert HardConstraint(lambda x, n: n, replaces=(Robin,)).covers(robin)
    assert not HardConstraint(lambda x, n: n, replaces=(Dirichlet,)).covers(robin)
    assert HardConstraint(lambda x, n: n, replaces=(Dirichlet,)).covers(Dirichlet(0.0))


def test_robin_checks_its_coefficients():
    with pytest.raises(ProblemDefinitionError, match="alpha or beta nonzero"):
        Robin(0.0, 0.0, 1.0)
    with pytest.raises(ProblemDefinitionError, match="Robin alpha"):
        Robin("a", 1.0)
    bad = type("BadRobin", (RobinPoisson2D,), {"conditions": [Robin(lambda x: x, 1.0, 0.0)]})
    with pytest.raises(ProblemDefinitionError, match="its alpha has 2 values per point .* use x\\[0\\]"):
        bad().validate()
