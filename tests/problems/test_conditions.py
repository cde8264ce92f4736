"""The condition contract: a condition owns its points, residual, term name, order and checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from physopt import ProblemDefinitionError, laplacian
from problems import (
    AbstractCondition,
    Box,
    Dirichlet,
    HardConstraint,
    Initial,
    Interval,
    Neumann,
    Periodic,
    PointSampler,
    Problem,
    Robin,
    TimeInterval,
)
from problems._conditions import term_names


def test_term_names_are_the_kinds_with_rates_and_repeats_numbered():
    conditions = [Dirichlet(0.0), Initial(0.0), Initial(0.0, order=1), Initial(0.0, order=2), Dirichlet(1.0),
                  Neumann(0.0), Periodic(0), Periodic(1), Robin(1.0, 1.0), Robin(0.0, 1.0)]
    assert term_names(conditions) == ["dirichlet", "initial", "initial_dt", "initial_dt2", "dirichlet_2",
                                      "neumann", "periodic", "periodic_2", "robin", "robin_2"]


def test_derivative_orders():
    orders = [c.derivative_order for c in (Dirichlet(0.0), Neumann(0.0), Robin(1.0, 1.0), Periodic(0),
                                           Initial(0.0), Initial(0.0, order=1), Initial(0.0, order=2))]
    assert orders == [0, 1, 1, None, 0, 1, 2]


def test_hard_constraints_name_kinds_classes_or_objects():
    rate = Initial(0.0, order=1)
    legacy = HardConstraint(lambda x, n: n, replaces=("dirichlet", "initial"))
    by_class = HardConstraint(lambda x, n: n, replaces=(Dirichlet, Initial))
    for hard in (legacy, by_class):
        assert hard.covers(Dirichlet(0.0)) and hard.covers(Initial(0.0))
        assert not hard.covers(rate) and not hard.covers(Neumann(0.0)) and not hard.covers(Robin(1.0, 1.0))
    assert HardConstraint(lambda x, n: n, replaces=rate).covers(rate)
    with pytest.raises(ProblemDefinitionError, match="unknown condition kinds"):
        HardConstraint(lambda x, n: n, replaces=("dirichlet", "outflow"))
    with pytest.raises(ProblemDefinitionError, match="condition kinds"):
        HardConstraint(lambda x, n: n, replaces=(HardConstraint,))


def _sampler(count=5, seed=0):
    rng = np.random.default_rng(seed)

    def unit_cube(n, dim):
        return rng.random((n, dim))

    def space_time(n, n_unit, mapper):
        out = mapper(unit_cube(n, n_unit))
        return out if isinstance(out, tuple) else (out,)

    return PointSampler(count, space_time, unit_cube)


class _Square(Problem):
    domain = Box([0.0, -1.0], [2.0, 1.0])

    def residual(self, u, x):
        return -laplacian(u)(x)


def test_conditions_sample_their_own_points():
    problem = _Square()
    periodic = Periodic(1).sample(problem, _sampler())
    assert list(periodic) == ["points", "partner"]
    assert np.all(periodic["points"][:, 1] == -1.0) and np.all(periodic["partner"][:, 1] == 1.0)
    assert np.array_equal(periodic["points"][:, 0], periodic["partner"][:, 0])
    right = Neumann(0.0, where=lambda p: np.isclose(p[:, 0], 2.0)).sample(problem, _sampler(count=4))
    assert list(right) == ["points", "normals"] and len(right["points"]) == 4
    assert np.allclose(right["points"][:, 0], 2.0) and np.allclose(right["normals"], [1.0, 0.0])
    assert list(Dirichlet(0.0).sample(problem, _sampler())) == ["points"]
    with pytest.raises(ProblemDefinitionError, match="selects none"):
        Dirichlet(0.0, where=lambda p: p[:, 0] > 5).sample(problem, _sampler())


def test_conditions_validate_themselves_against_the_problem():
    with pytest.raises(ProblemDefinitionError, match="has an Initial condition but no `time"):
        Initial(0.0).validate(_Square())
    with pytest.raises(ProblemDefinitionError, match=r"Periodic\(dim=2\) but the domain has 2"):
        Periodic(2).validate(_Square())


class Pinned(AbstractCondition):
    """A user condition: u(x0) = value at one point (e.g. to fix the constant of a pure Neumann problem)."""

    kind = "pinned"
    derivative_order = 0

    def __init__(self, point, value=0.0, weight=1.0):
        self.point, self.value, self.weight = np.asarray(point, dtype=float), float(value), weight

    def sample(self, problem, sampler):
        return {"points": np.tile(self.point, (1, 1))}

    def residual(self, u, x):
        return u(x) - self.value

    def __repr__(self):
        return f"Pinned({self.point.tolist()}, {self.value})"


def test_a_user_condition_plugs_into_the_pinn_without_solver_changes():
    from solvers import PINN

    class PureNeumann(Problem):
        domain = Interval(0.0, 1.0)
        conditions = [Neumann(0.0), Pinned([0.5], 2.0, weight=4.0)]

        def residual(self, u, x):
            return -laplacian(u)(x)

    solver = PINN(PureNeumann(), width=8, depth=2, points=16, boundary_points=4, steps=0)
    assert solver.term_names == ["neumann", "pinned"]
    assert solver.enforcement()[1] == {"condition": "Pinned([0.5], 2.0)", "enforced": "penalty", "term": "pinned"}
    u_mid = solver.field(torch.tensor([0.5], dtype=torch.float64))
    torch.testing.assert_close(solver.residual_terms()["pinned"], (u_mid - 2.0).reshape(1) * 2.0)  # sqrt(4 / 1)
    assert "pinned" in HardConstraint(lambda x, n: n, replaces=("pinned",)).replaces


def test_an_evolution_problem_samples_initial_points_at_t0():
    class Heat(Problem):
        domain = Interval(-1.0, 1.0)
        time = TimeInterval(0.5, 1.0)
        conditions = [Initial(0.0)]

        def residual(self, u, x):
            return u(x)

    points = Initial(0.0).sample(Heat(), _sampler(count=6))["points"]
    assert points.shape == (6, 2) and np.all(points[:, 1] == 0.5) and np.all(np.abs(points[:, 0]) <= 1)
