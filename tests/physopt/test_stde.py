"""STDE: unbiased stochastic estimators, exactness at |J| = d, how samples are drawn, and PINN runs."""

import math

import pytest
import torch
from torch.func import jacrev, vmap

import physopt
from physopt import (
    ConfigurationError,
    STDEMode,
    biharmonic,
    derivative_mode,
    diagonal_derivative,
    laplacian,
    trace_hessian,
)
from problems import registered_problems
from solvers import PINN

from seeded import randn

D = 5


def A():
    """A fixed matrix, not symmetric (on the test's device)."""
    return randn(D, D, generator=torch.Generator().manual_seed(7), dtype=torch.float64)


def u(x):
    w = torch.arange(1, D + 1, dtype=x.dtype, device=x.device) / D
    return torch.exp(0.3 * (w * x).sum()) * torch.sin(x[0] + 2 * x[1]) + 0.1 * (x ** 4 * w).sum() + x[2] * x[3] ** 2 * x[4]


def X():
    return torch.tensor([0.3, -0.5, 0.7, 0.2, -0.4], dtype=torch.float64)

OPERATORS = {
    "laplacian": laplacian,
    "trace_hessian": lambda f: trace_hessian(f, A()),
    "biharmonic": biharmonic,
    "diagonal3": lambda f: diagonal_derivative(f, 3),
    "diagonal4": lambda f: diagonal_derivative(f, 4),
}


def exact_value(name):
    T2 = jacrev(jacrev(u))(X())
    if name == "laplacian":
        return torch.trace(T2)
    if name == "trace_hessian":
        return torch.einsum("ij,ji->", A(), T2)
    T3 = jacrev(jacrev(jacrev(u)))(X())
    if name == "diagonal3":
        return torch.einsum("iii->", T3)
    T4 = jacrev(jacrev(jacrev(jacrev(u))))(X())
    return torch.einsum("iijj->", T4) if name == "biharmonic" else torch.einsum("iiii->", T4)


@pytest.mark.parametrize("name", [n for n in OPERATORS if n != "biharmonic"])
def test_sparse_estimator_with_every_coordinate_is_exact(name):
    mode = STDEMode(samples=D, estimator="sparse")
    with derivative_mode(mode):
        got = vmap(OPERATORS[name](u))(X().expand(3, D))
    assert torch.allclose(got, exact_value(name).expand(3), rtol=1e-10, atol=1e-10)
    mode = STDEMode(samples=50)  # more samples than coordinates: all of them, once
    with derivative_mode(mode):
        assert torch.allclose(OPERATORS[name](u)(X()), exact_value(name), rtol=1e-10, atol=1e-10)


CASES = [("laplacian", e) for e in ("sparse", "rademacher", "gaussian")]
CASES += [("trace_hessian", e) for e in ("sparse", "rademacher", "gaussian")]
CASES += [("biharmonic", "gaussian"), ("diagonal3", "sparse"), ("diagonal4", "sparse")]


@pytest.mark.parametrize("name, estimator", CASES)
def test_estimators_are_unbiased(name, estimator):
    """M independent estimates at one point (per-point samples): their mean is within 5 standard errors."""
    torch.manual_seed(11)
    M = 4000
    mode = STDEMode(samples=2, estimator=estimator, per="point")
    with derivative_mode(mode):
        estimates = vmap(OPERATORS[name](u), randomness=mode.randomness)(X().expand(M, D))
    exact = exact_value(name)
    se = estimates.std() / math.sqrt(M)
    assert se > 1e-6 * (1 + exact.abs())  # a real estimator, not the exact value
    assert (estimates.mean() - exact).abs() < 5 * se, (estimates.mean().item(), exact.item(), se.item())


@pytest.mark.parametrize("estimator", ["sparse", "rademacher", "gaussian"])
def test_per_step_estimates_are_unbiased_over_steps(estimator):
    mode = STDEMode(samples=2, estimator=estimator, seed=1)
    estimates = []
    for _ in range(150):
        with derivative_mode(mode):
            estimates.append(laplacian(u)(X()))
        mode.resample()
    estimates = torch.stack(estimates)
    se = estimates.std() / math.sqrt(len(estimates))
    assert (estimates.mean() - exact_value("laplacian")).abs() < 5 * se


def test_per_step_directions_are_shared_by_points_and_resampled():
    H = jacrev(jacrev(u))(X())
    mode = STDEMode(samples=1, estimator="sparse", seed=3)
    xs = X().expand(4, D)
    seen = set()
    for _ in range(12):
        with derivative_mode(mode):
            est = vmap(laplacian(u))(xs)
        assert torch.allclose(est, est[0].expand(4))  # one coordinate j for every point
        j = int(torch.argmin((D * torch.diagonal(H) - est[0]).abs()))
        assert torch.allclose(est[0], D * H[j, j])
        with derivative_mode(mode):  # until resample(), the same draw
            assert torch.allclose(vmap(laplacian(u))(xs), est)
        seen.add(j)
        mode.resample()
    assert len(seen) > 1
    a, b = STDEMode(samples=2, estimator="gaussian", seed=5), STDEMode(samples=2, estimator="gaussian", seed=5)
    with derivative_mode(a):
        first = laplacian(u)(X())
        with a.independent():
            second = laplacian(u)(X())
    with derivative_mode(b):
        assert torch.equal(laplacian(u)(X()), first)  # same seed, same draws
    assert not torch.allclose(first, second)  # the independent stream draws other directions


def test_per_point_samples_need_vmap_randomness():
    mode = STDEMode(samples=2, per="point")
    assert mode.randomness == "different" and STDEMode().randomness == "error"
    with derivative_mode(mode), pytest.raises(RuntimeError, match="random"):
        vmap(laplacian(u))(X().expand(3, D))


@pytest.mark.parametrize("kwargs, phrase", [
    ({"estimator": "hutch"}, "stde_estimator"), ({"per": "batch"}, "stde_samples_per"),
    ({"loss": "mse"}, "stde_loss"), ({"samples": 0}, "samples"),
])
def test_bad_settings_are_configuration_errors(kwargs, phrase):
    with pytest.raises(ConfigurationError, match=phrase):
        STDEMode(**kwargs)


# ----- the PINN with the new modes -------------------------------------------------------------

SMALL = dict(points=32, boundary_points=8, width=8, depth=2, steps=4, optimizer="adam", error_every=0, checkpoint_every=0)


def poisson3():
    return registered_problems()["poisson_nd"](dim=3)


@pytest.mark.parametrize("kwargs", [
    {}, {"stde_estimator": "rademacher"}, {"stde_samples_per": "point", "stde_loss": "unbiased"},
])
def test_pinn_runs_with_stde(kwargs):
    solver = PINN(poisson3(), derivatives="stde", samples=2, **SMALL, **kwargs)
    assert isinstance(solver.mode, STDEMode) and solver.mode.samples == 2
    loss = solver.solve().info["final_loss"]
    assert math.isfinite(loss)


def test_pinn_stde_with_every_coordinate_matches_exact_under_lm():
    """|J| = d: the estimator is exact, so residuals, jet Jacobians and LM steps agree with the exact mode."""
    options = SMALL | {"optimizer": "adam:2,lm:2"}
    losses = [PINN(poisson3(), derivatives=d, samples=3, **options).solve().info["final_loss"] for d in ("exact", "stde")]
    assert abs(losses[0] - losses[1]) <= 1e-9 * losses[0]


def test_pinn_refuses_per_point_or_unbiased_stde_with_gauss_newton():
    with pytest.raises(ConfigurationError, match="first-order optimizers"):
        PINN(poisson3(), derivatives="stde", stde_loss="unbiased", **(SMALL | {"optimizer": "adam+lm"}))
    with pytest.raises(ConfigurationError, match="stde_estimator"):
        PINN(poisson3(), stde_estimator="nope", **SMALL)
    assert "stde" in physopt.available_derivative_modes()
