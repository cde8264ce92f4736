"""Diagonal-curvature optimizers on the curvature layer: AdaHessian and Sophia-H."""

from __future__ import annotations

import copy
import io

import pytest
import torch
import torch.nn.functional as F

from physopt import ConfigurationError
from physopt.curvature import FlatParameters
from physopt.optim import LeastSquaresObjective
from physopt.optim._adahessian import AdaHessian, hessian_diagonal_estimate
from physopt.optim._sophia import Sophia

from seeded import rand, randn

OPTIMIZERS = [AdaHessian, Sophia]


class Params(torch.nn.Module):
    def __init__(self, values):
        super().__init__()
        self.theta = torch.nn.Parameter(torch.as_tensor(values, dtype=torch.float64).clone())


class ScalarObjective:
    """Any scalar loss of the flat parameters: the optimizers only use ``.flat`` and ``.loss``."""

    def __init__(self, module, loss):
        self.flat = FlatParameters(module)
        self._loss = loss

    def loss(self, theta):
        return self._loss(theta)


def closure_for(obj):
    return lambda: obj.loss(obj.flat.vector())


def run(opt, obj, steps):
    closure = closure_for(obj)
    trajectory = []
    for _ in range(steps):
        opt.step(closure)
        trajectory.append(obj.flat.vector())
    return torch.stack(trajectory)


def quadratic(n=6, seed=0):
    r"""Least-squares form of :math:`\tfrac12\theta^\top A\theta - b^\top\theta` with ``A`` SPD, strictly diagonally dominant.

    With :math:`A = R^\top R` (Cholesky) and :math:`R^\top c = b`,
    :math:`\|R\theta - c\|^2 = 2(\tfrac12\theta^\top A\theta - b^\top\theta) + \|c\|^2`: same minimiser :math:`A^{-1}b`.
    """
    g = torch.Generator().manual_seed(seed)
    M = randn(n, n, generator=g, dtype=torch.float64) * 0.3
    A = (M + M.T) / 2 + torch.diag(torch.linspace(2.0, 5.0, n, dtype=torch.float64))
    b = randn(n, generator=g, dtype=torch.float64)
    off = (A - torch.diag(A.diagonal())).abs().sum(1)
    assert bool((A.diagonal() > off).all())  # so every one-probe Hutchinson estimate of diag(2A) is positive
    R = torch.linalg.cholesky(A).T
    c = torch.linalg.solve(R.T, b)
    return R, c, torch.linalg.solve(A, b)


def quadratic_problem(seed=0, start=None):
    R, c, x_star = quadratic(seed=seed)
    module = Params(torch.zeros(len(c)) if start is None else start)
    return module, LeastSquaresObjective(FlatParameters(module), lambda th: R @ th - c), x_star


# ---------------------------------------------------------------------------------------------- (1) convex quadratic


@pytest.mark.parametrize(("cls", "steps", "kw"), [
    (AdaHessian, 600, dict(lr=0.5, lr_final=1e-2)),
    (Sophia, 2000, dict(lr=0.05, lr_final=1e-3, update_every=5)),
])
def test_convex_quadratic_reaches_the_known_optimum(cls, steps, kw):
    module, obj, x_star = quadratic_problem()
    opt = cls(module.parameters(), obj, steps=steps, **kw)
    first = opt.step(closure_for(obj))
    run(opt, obj, steps - 1)
    assert first == pytest.approx(float(obj.loss(torch.zeros(len(x_star), dtype=torch.float64))))
    assert torch.allclose(module.theta.detach(), x_star, rtol=0, atol=1e-6)
    assert opt.stop_reason is None


# ------------------------------------------------------------------- (2) exact Hutchinson diagonal for separable losses


def separable_problem():
    a = torch.tensor([0.5, 2.0, -1.5, 3.0], dtype=torch.float64)
    c = torch.tensor([1.0, -0.5, 0.25, 2.0], dtype=torch.float64)
    residual = lambda th: a * (th - c) + 0.3 * torch.sin(th) ** 2  # noqa: E731  r_i depends on theta_i only
    module = Params([0.2, -1.0, 0.7, 0.1])
    return module, LeastSquaresObjective(FlatParameters(module), residual)


def test_hutchinson_diagonal_is_exact_for_a_diagonal_hessian():
    module, obj = separable_problem()
    theta = obj.flat.vector()
    H = torch.func.hessian(obj.loss)(theta)
    assert torch.equal(H, torch.diag(H.diagonal()))
    for seed in range(5):
        estimate = hessian_diagonal_estimate(obj.loss, theta, 1, torch.Generator(theta.device).manual_seed(seed))
        assert torch.allclose(estimate, H.diagonal(), rtol=1e-13, atol=1e-13)
    # what the optimizers store after their first step (Sophia has no bias correction: h = (1 - beta2) diag)
    ada = AdaHessian(module.parameters(), obj)
    ada.step(closure_for(obj))
    assert torch.allclose(ada.last_diagonal, H.diagonal(), rtol=1e-13, atol=1e-13)
    module2, obj2 = separable_problem()
    sophia = Sophia(module2.parameters(), obj2, seed=7)
    sophia.step(closure_for(obj2))
    assert torch.allclose(sophia.h, 0.01 * H.diagonal(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("power", [1.0, 0.5])
def test_adahessian_first_two_updates_follow_the_formula(power):
    """With an exact diagonal, AdaHessian is Adam with |diag H|^power in place of sqrt(v) (bias-corrected)."""
    module, obj = separable_problem()
    lr, decay_to, b1, b2, eps = 0.3, 0.03, 0.9, 0.999, 1e-8
    opt = AdaHessian(module.parameters(), obj, lr=lr, lr_final=decay_to, steps=2, betas=(b1, b2), eps=eps, hessian_power=power)
    theta0 = obj.flat.vector()
    g0 = torch.func.grad(obj.loss)(theta0)
    D0 = torch.func.hessian(obj.loss)(theta0).diagonal()
    opt.step(closure_for(obj))
    expected1 = theta0 - lr * g0 / (D0.abs() ** power + eps)  # m_hat = g, v_hat = D^2
    assert torch.allclose(obj.flat.vector(), expected1, rtol=1e-13, atol=1e-14)

    theta1 = obj.flat.vector()
    g1 = torch.func.grad(obj.loss)(theta1)
    D1 = torch.func.hessian(obj.loss)(theta1).diagonal()
    m = b1 * (1 - b1) * g0 + (1 - b1) * g1
    v = b2 * (1 - b2) * D0**2 + (1 - b2) * D1**2
    m_hat, v_hat = m / (1 - b1**2), v / (1 - b2**2)
    lr1 = lr * (decay_to / lr) ** 0.5
    opt.step(closure_for(obj))
    expected2 = theta1 - lr1 * m_hat / (v_hat ** (power / 2) + eps)
    assert torch.allclose(obj.flat.vector(), expected2, rtol=1e-13, atol=1e-14)
    assert opt.lr == pytest.approx(decay_to)


def test_adahessian_first_step_on_a_separable_quadratic_is_the_newton_step():
    a = torch.tensor([0.1, 1.0, 30.0], dtype=torch.float64)
    c = torch.tensor([5.0, -2.0, 0.5], dtype=torch.float64)
    module = Params([0.0, 0.0, 0.0])
    obj = LeastSquaresObjective(FlatParameters(module), lambda th: a * (th - c))
    AdaHessian(module.parameters(), obj, lr=1.0, eps=0.0).step(closure_for(obj))
    assert torch.allclose(module.theta.detach(), c, rtol=1e-14, atol=1e-14)


# --------------------------------------------------------------------------------------------- (3) Sophia's clipping


@pytest.mark.parametrize("curvature", [1e-6, -1.0])
def test_sophia_moves_every_coordinate_by_exactly_lr_when_the_ratio_is_huge(curvature):
    """Huge gradient, tiny (or negative) curvature: the clipped step is sign descent of length lr."""
    s = torch.tensor([1.0, -1.0, 1.0, 1.0, -1.0], dtype=torch.float64)
    module = Params(torch.linspace(-1, 1, 5))
    obj = ScalarObjective(module, lambda th: 1e6 * (s @ th) + curvature * (th @ th))
    lr = 1e-3
    opt = Sophia(module.parameters(), obj, lr=lr, update_every=2)
    for _ in range(6):
        before = obj.flat.vector()
        opt.step(closure_for(obj))
        step = obj.flat.vector() - before
        assert torch.allclose(step, -lr * s, rtol=0, atol=1e-15)
        assert opt.last_clipped == 1.0


@pytest.mark.parametrize("cls", OPTIMIZERS)
def test_decoupled_weight_decay_shrinks_the_parameters(cls):
    module = Params([1.0, -2.0, 4.0])
    obj = ScalarObjective(module, lambda th: 0.0 * th.sum())  # zero gradient and curvature: only the decay acts
    opt = cls(module.parameters(), obj, lr=0.1, weight_decay=0.5)
    opt.step(closure_for(obj))
    assert torch.allclose(module.theta.detach(), torch.tensor([1.0, -2.0, 4.0], dtype=torch.float64) * 0.95, rtol=1e-14)


# ----------------------------------------------------------------------------------------- (4) state_dict round trip


@pytest.mark.parametrize(("cls", "kw"), [
    (AdaHessian, dict(lr=0.3, lr_final=0.01, steps=15, probes=2)),
    (Sophia, dict(lr=0.05, lr_final=0.01, steps=15, update_every=3, weight_decay=1e-2)),
])
@pytest.mark.parametrize("via", ["deepcopy", "torch.save"])
def test_resuming_from_a_state_dict_matches_an_uninterrupted_run(cls, kw, via):
    module, obj, _ = quadratic_problem()
    opt = cls(module.parameters(), obj, seed=3, **kw)
    run(opt, obj, 7)
    saved_params = obj.flat.vector()
    if via == "deepcopy":
        saved_state = copy.deepcopy(opt.state_dict())
    else:
        buffer = io.BytesIO()
        torch.save(opt.state_dict(), buffer)
        buffer.seek(0)
        saved_state = torch.load(buffer, weights_only=True)
    uninterrupted = run(opt, obj, 8)

    module2, obj2, _ = quadratic_problem(start=saved_params)
    resumed_opt = cls(module2.parameters(), obj2, seed=99, **kw)  # the seed is overridden by the loaded generator
    resumed_opt.load_state_dict(saved_state)
    resumed = run(resumed_opt, obj2, 8)
    assert torch.equal(resumed, uninterrupted)
    assert resumed_opt.state_dict()["t"] == opt.state_dict()["t"] == 15


# ---------------------------------------------------------------------------------------------- (5) configuration


@pytest.mark.parametrize("cls", OPTIMIZERS)
def test_missing_objective_is_a_configuration_error(cls):
    module = Params([1.0, 2.0])
    with pytest.raises(ConfigurationError, match=cls.name):
        cls(module.parameters())
    with pytest.raises(ConfigurationError, match="loss"):
        cls(module.parameters(), objective=object())


@pytest.mark.parametrize("cls", OPTIMIZERS)
@pytest.mark.parametrize(("option", "value"), [("lr", 0.0), ("lr_final", -1.0), ("probes", 0), ("steps", 0),
                                                ("betas", (0.9, 1.0)), ("weight_decay", -1.0)])
def test_invalid_options_are_configuration_errors(cls, option, value):
    module, obj, _ = quadratic_problem()
    with pytest.raises(ConfigurationError, match="learning rate" if option == "lr" else option):
        cls(module.parameters(), obj, **{option: value})


def test_method_specific_options_are_validated():
    module, obj, _ = quadratic_problem()
    with pytest.raises(ConfigurationError, match="hessian_power"):
        AdaHessian(module.parameters(), obj, hessian_power=1.5)
    with pytest.raises(ConfigurationError, match="gamma"):
        Sophia(module.parameters(), obj, gamma=0.0)
    with pytest.raises(ConfigurationError, match="update_every"):
        Sophia(module.parameters(), obj, update_every=0)


@pytest.mark.parametrize("cls", OPTIMIZERS)
def test_step_calls_the_closure_once_and_returns_the_loss_before_the_step(cls):
    module, obj, _ = quadratic_problem()
    calls = []

    def closure():
        calls.append(1)
        return obj.loss(obj.flat.vector())

    before = float(obj.loss(obj.flat.vector()))
    opt = cls(module.parameters(), obj, lr=0.1)
    assert opt.step(closure) == pytest.approx(before)
    assert len(calls) == 1 and float(obj.loss(obj.flat.vector())) < before
    current = float(obj.loss(obj.flat.vector()))
    assert opt.step(None) == pytest.approx(current, rel=1e-14)  # no closure: the objective's own loss value


# ---------------------------------------------------------------------------------------------- (6) reproducibility


@pytest.mark.parametrize(("cls", "kw"), [(AdaHessian, dict(lr=0.3)), (Sophia, dict(lr=0.05, update_every=1))])
def test_same_seed_same_trajectory_different_seed_different(cls, kw):
    def trajectory(seed):
        module, obj, _ = quadratic_problem()
        return run(cls(module.parameters(), obj, seed=seed, **kw), obj, 20)

    assert torch.equal(trajectory(5), trajectory(5))
    assert not torch.allclose(trajectory(5), trajectory(6), rtol=0, atol=1e-10)


# ------------------------------------------------------------------------- (7) logistic regression (not least squares)


def logistic_problem():
    g = torch.Generator().manual_seed(3)
    n, d = 200, 5
    X = randn(n, d, generator=g, dtype=torch.float64)
    X[:, 0] = 1.0  # intercept
    w_true = torch.tensor([0.3, 1.0, -2.0, 0.5, 1.5], dtype=torch.float64)
    y = torch.where(rand(n, generator=g, dtype=torch.float64) < torch.sigmoid(X @ w_true), 1.0, -1.0).double()
    lam = 1e-2

    def loss(theta):
        return F.softplus(-y * (X @ theta)).mean() + 0.5 * lam * theta @ theta

    theta = torch.zeros(d, dtype=torch.float64)  # Newton's method: strictly convex, converges from 0
    for _ in range(25):
        theta = theta - torch.linalg.solve(torch.func.hessian(loss)(theta), torch.func.grad(loss)(theta))
    assert float(torch.func.grad(loss)(theta).norm()) < 1e-14
    return loss, theta


@pytest.mark.parametrize(("cls", "steps", "kw"), [
    (AdaHessian, 600, dict(lr=0.5, lr_final=1e-2)),
    (Sophia, 1200, dict(lr=0.05, lr_final=1e-3, update_every=5)),
])
def test_logistic_regression_reaches_the_newton_optimum(cls, steps, kw):
    loss, theta_star = logistic_problem()
    module = Params(torch.zeros(len(theta_star)))
    obj = ScalarObjective(module, loss)
    opt = cls(module.parameters(), obj, steps=steps, **kw)
    losses = [opt.step(closure_for(obj)) for _ in range(steps)]
    assert losses[-1] < losses[0]
    assert torch.allclose(module.theta.detach(), theta_star, rtol=0, atol=1e-5)
    assert float(loss(module.theta.detach())) == pytest.approx(float(loss(theta_star)), rel=1e-10)
