"""PINN terms through MLP jets: same residuals and Jacobians as the exact path, exact fallback, K-FAC."""

import math

import pytest
import torch
from torch.func import jacrev

from physopt import ConfigurationError, biharmonic
from physopt.curvature import FlatParameters
from problems import Dirichlet, Interval, Problem, registered_problems
from solvers import PINN
from solvers._pinn_jets import JetResiduals, jets_for

from seeded import randn
from test_pinn import MixedBC1D, PeriodicHelmholtz, TwoFields

SMALL = dict(points=48, boundary_points=24, hidden="6,5", dtype="float64")


class Beam(Problem):
    """u'''' = π⁴ sin πx on [0, 1] (fourth order: no jet form of order ≤ 2)."""

    domain = Interval(0.0, 1.0)
    conditions = [Dirichlet(0.0)]

    def residual(self, u, x):
        return biharmonic(u)(x) - math.pi**4 * torch.sin(math.pi * x[0])


def _jets(solver):
    flat = FlatParameters(solver.model)
    theta = flat.vector() + 0.05 * randn(flat.size, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    jets = JetResiduals(solver, flat)
    return jets, flat, theta


@pytest.mark.parametrize("problem, bc", [
    (registered_problems()["poisson2d"](), "soft"), (registered_problems()["poisson2d"](), "hard"),
    (registered_problems()["heat1d"](), "soft"), (registered_problems()["burgers1d"](), "soft"),
    (MixedBC1D(), "soft"), (TwoFields(), "soft"),
])
def test_jet_residuals_and_jacobian_equal_the_exact_ones(problem, bc):
    solver = PINN(problem, bc=bc, **SMALL)
    jets, flat, theta = _jets(solver)
    assert all(jets.check(theta).values())
    exact = torch.cat(list(solver.residual_terms(solver.field_at(flat, theta)).values()))
    assert torch.allclose(jets.residual(theta), exact, atol=1e-12)
    dense = jacrev(lambda th: torch.cat(list(solver.residual_terms(solver.field_at(flat, th)).values())))(theta)
    assert torch.allclose(jets.jacobian(theta), dense, atol=1e-11)


def test_terms_without_a_jet_form_keep_the_exact_path():
    periodic = PINN(PeriodicHelmholtz(), **SMALL)
    jets, flat, theta = _jets(periodic)
    assert jets.check(theta) == {"residual": True, "periodic": False}
    dense = jacrev(lambda th: torch.cat(list(periodic.residual_terms(periodic.field_at(flat, th)).values())))(theta)
    assert torch.allclose(jets.jacobian(theta), dense, atol=1e-11)
    with pytest.raises(ConfigurationError, match="periodic"):
        jets.kronecker(theta)
    beam = PINN(Beam(), bc="soft", **SMALL)
    jets, flat, theta = _jets(beam)
    assert jets.check(theta) == {"residual": False, "dirichlet": True}  # u'''' is not in a 2-jet: caught
    assert jets_for(PINN(Beam(), bc="hard", **SMALL), flat, theta) is None


def test_kronecker_blocks_cover_every_layer_with_psd_factors():
    solver = PINN(registered_problems()["heat1d"](), bc="soft", **SMALL)
    jets, flat, theta = _jets(solver)
    blocks = jets.kronecker(theta).blocks
    assert [(b.weight, b.bias) for b in blocks] == [(f"layers.{i}.weight", f"layers.{i}.bias") for i in (0, 2, 4)]
    for block in blocks:
        assert len(block.pairs) == 2  # PDE residual, conditions
        for A, B in block.pairs:
            assert torch.linalg.eigvalsh(A).min() > -1e-12 and torch.linalg.eigvalsh(B).min() > -1e-12


def test_kfac_trains_a_pinn_faster_than_adam():
    problem = registered_problems()["poisson2d"]()
    setup = dict(steps=150, points=256, boundary_points=64, hidden="16,16", bc="soft", error_every=50)
    kfac = PINN(problem, optimizer="kfac", **setup).solve().errors()["rel_l2"]
    adam = PINN(problem, optimizer="adam", **setup).solve().errors()["rel_l2"]
    assert kfac < 2e-2 and kfac < adam / 10  # measured 9.2e-3 and 1.6


def test_kfac_explains_when_it_does_not_apply():
    with pytest.raises(ConfigurationError, match="kfac"):
        PINN(PeriodicHelmholtz(), optimizer="kfac", steps=2, **SMALL).solve()


def test_kronecker_pass_gives_the_residual_gradient_and_jacobian_products():
    solver = PINN(TwoFields(), bc="soft", **SMALL)  # two residual components per point
    jets, flat, theta = _jets(solver)
    curvature = jets.kronecker(theta)
    exact = torch.cat(list(solver.residual_terms(solver.field_at(flat, theta)).values()))
    J = jacrev(lambda th: torch.cat(list(solver.residual_terms(solver.field_at(flat, th)).values())))(theta)
    V = randn(3, flat.size, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    assert torch.allclose(curvature.residual, exact, atol=1e-12)
    assert torch.allclose(curvature.gradient(), J.T @ exact, atol=1e-11)
    assert torch.allclose(curvature.jvp(V), V @ J.T, atol=1e-11)


def test_least_squares_value_reuses_the_last_loss_evaluation_only_when_it_applies():
    solver = PINN(registered_problems()["poisson2d"](), bc="soft", resample_every=1, **SMALL)
    objective = solver.least_squares()
    theta = objective.flat.vector()
    solver.loss()
    remembered = objective.value(theta)
    assert remembered is solver._residual_value[2]
    assert torch.allclose(remembered, objective.residual(theta), atol=1e-14)
    moved = theta + 1e-3
    assert torch.allclose(objective.value(moved), objective.residual(moved), atol=1e-14)  # other parameters: computed
    solver.batch = solver.sample()  # new points: the remembered value no longer applies
    assert objective.value(theta) is not remembered


@pytest.mark.parametrize("bc", ["soft", "hard"])
def test_output_scale_reaches_the_jet_path(bc):
    """output_scale multiplies the network before the ansatz in every path: field, exact residuals, jets, Jacobian."""
    problem = registered_problems()["poisson2d"]()
    solver = PINN(problem, bc=bc, output_scale=2.5, **SMALL)
    x = solver.batch.interior[:3]
    raw = solver.model(x).squeeze(-1) * 2.5
    expected = raw if solver.hard is None else torch.func.vmap(solver.hard.ansatz)(x, raw)
    torch.testing.assert_close(torch.func.vmap(solver.field)(x), expected)
    jets, flat, theta = _jets(solver)
    assert all(jets.check(theta).values())
    exact = torch.cat(list(solver.residual_terms(solver.field_at(flat, theta)).values()))
    assert torch.allclose(jets.residual(theta), exact, atol=1e-12)
    dense = jacrev(lambda th: torch.cat(list(solver.residual_terms(solver.field_at(flat, th)).values())))(theta)
    assert torch.allclose(jets.jacobian(theta), dense, atol=1e-10)
