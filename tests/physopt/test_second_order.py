"""Second-order optimizers on the curvature layer: ENGD and Levenberg–Marquardt."""

import math

import pytest
import torch

from physopt import ConfigurationError
from physopt.curvature import FlatParameters
from physopt.optim import (
    ENGD,
    OPTIMIZERS,
    LazyNewton,
    LeastSquaresObjective,
    LevenbergMarquardt,
    NewtonCG,
    conjugate_gradient,
    grid_line_search,
    steihaug_cg,
)

from seeded import randint, randn


class Params(torch.nn.Module):
    def __init__(self, values):
        super().__init__()
        self.theta = torch.nn.Parameter(torch.tensor(values, dtype=torch.float64))


def objective_for(module, residual):
    flat = FlatParameters(module)
    return LeastSquaresObjective(flat, lambda th: residual(th))


def run(opt_cls, module, obj, steps, **kw):
    opt = opt_cls(module.parameters(), obj, **kw)
    closure = lambda: obj.loss(obj.flat.vector())  # noqa: E731
    for _ in range(steps):
        opt.step(closure)
        if opt.stop_reason:
            break
    return opt


@pytest.mark.parametrize("solver", ["svd", "woodbury", "gram", "cg"])
@pytest.mark.parametrize("opt_cls", [ENGD, LevenbergMarquardt])
def test_linear_least_squares_reaches_the_known_optimum(opt_cls, solver):
    g = torch.Generator().manual_seed(0)
    A = randn(30, 5, generator=g, dtype=torch.float64)
    b = randn(30, generator=g, dtype=torch.float64)
    x_star = torch.linalg.lstsq(A, b).solution
    module = Params([0.0] * 5)
    obj = objective_for(module, lambda th: A @ th - b)
    run(opt_cls, module, obj, 30, solver=solver)
    assert torch.allclose(module.theta.detach(), x_star, atol=1e-7)


@pytest.mark.parametrize("opt_cls", [NewtonCG, LazyNewton])
def test_hessian_based_methods_reach_the_linear_least_squares_optimum(opt_cls):
    g = torch.Generator().manual_seed(0)
    A = randn(30, 5, generator=g, dtype=torch.float64)
    b = randn(30, generator=g, dtype=torch.float64)
    x_star = torch.linalg.lstsq(A, b).solution
    module = Params([0.0] * 5)
    obj = objective_for(module, lambda th: A @ th - b)
    run(opt_cls, module, obj, 60)
    assert torch.allclose(module.theta.detach(), x_star, atol=1e-7)


@pytest.mark.parametrize("opt_cls, kw", [(ENGD, {}), (LevenbergMarquardt, {}), (NewtonCG, {}),
                                          (LazyNewton, {}), (LazyNewton, {"curvature": "hessian", "reuse": 3})])
def test_rosenbrock_residuals_converge(opt_cls, kw):
    module = Params([-1.2, 1.0])
    obj = objective_for(module, lambda th: torch.stack([10 * (th[1] - th[0] ** 2), 1 - th[0]]))
    run(opt_cls, module, obj, 300, **kw)
    assert torch.allclose(module.theta.detach(), torch.ones(2, dtype=torch.float64), atol=1e-8)


def test_engd_rejects_steps_that_raise_the_loss_and_says_why():
    """At an exact minimum no step length helps: the step must be rejected, not taken."""
    module = Params([1.0, 1.0])
    obj = objective_for(module, lambda th: torch.stack([10 * (th[1] - th[0] ** 2), 1 - th[0]]))
    opt = run(ENGD, module, obj, 50)
    assert torch.equal(module.theta.detach(), torch.ones(2, dtype=torch.float64))
    assert opt.stop_reason is not None and "engd" in opt.stop_reason


def test_grid_line_search_returns_zero_when_every_trial_rises():
    f = lambda th: (th**2).sum()  # noqa: E731
    theta = torch.zeros(3, dtype=torch.float64)
    eta, value = grid_line_search(f, theta, torch.ones(3, dtype=torch.float64), current=0.0)
    assert eta == 0.0 and value == 0.0
    eta, value = grid_line_search(f, torch.ones(3, dtype=torch.float64), -torch.ones(3, dtype=torch.float64) * 1.9, 3.0)
    assert eta == 0.5 and math.isclose(value, 3 * 0.05**2)


def test_conjugate_gradient_solves_spd_systems():
    g = torch.Generator().manual_seed(1)
    M = randn(20, 20, generator=g, dtype=torch.float64)
    A = M @ M.T + 20 * torch.eye(20, dtype=torch.float64)
    b = randn(20, generator=g, dtype=torch.float64)
    x, k = conjugate_gradient(lambda v: A @ v, b, iterations=100, rtol=1e-12)
    assert torch.allclose(A @ x, b, atol=1e-9) and k <= 20


def test_engd_needs_an_objective_and_a_known_solver():
    module = Params([0.0])
    with pytest.raises(ConfigurationError, match="least-squares objective"):
        ENGD(module.parameters())
    obj = objective_for(module, lambda th: th - 1)
    with pytest.raises(ConfigurationError, match="unknown engd solver"):
        ENGD(module.parameters(), obj, solver="magic")
    assert OPTIMIZERS["engd"] is ENGD and OPTIMIZERS["lm"] is LevenbergMarquardt


@pytest.mark.parametrize("optimizer", ["engd", "lm", "newton_cg", "lazy_newton"])
def test_pinn_with_second_order_optimizer_beats_adam_at_equal_steps(optimizer):
    from problems import registered_problems
    from solvers import PINN

    problem = registered_problems()["poisson2d"]()
    common = dict(width=16, depth=1, points=256, boundary_points=64, sampling="grid", seed=0)
    second = PINN(problem, optimizer=optimizer, steps=40, **common).solve()
    adam = PINN(problem, optimizer="adam", steps=40, lr=1e-2, **common).solve()
    assert second.errors()["rel_l2"] < 1e-3
    assert second.errors()["rel_l2"] < adam.errors()["rel_l2"] / 10


def _two_group_objective(module, scale):
    def groups(th):
        return {"a": scale * (th[:2] ** 2 - 1.0), "b": torch.tanh(th[1:]) - 0.3}

    flat = FlatParameters(module)
    return LeastSquaresObjective(flat, lambda th: torch.cat(list(groups(th).values())), groups)


def test_multiadam_update_is_invariant_to_scaling_one_loss_group():
    from physopt.optim import MultiAdam

    results = []
    for scale in (1.0, 1e3):
        module = Params([0.3, -0.7, 1.1])
        obj = _two_group_objective(module, scale)
        opt = MultiAdam(module.parameters(), obj, lr=1e-2, eps=1e-14)
        for _ in range(20):
            opt.step(lambda: obj.loss(obj.flat.vector()))
        results.append(module.theta.detach().clone())
    assert torch.allclose(results[0], results[1], atol=1e-10)


def test_multiadam_with_one_group_is_adam():
    from physopt import Adam
    from physopt.optim import MultiAdam

    def residual(th):
        return torch.stack([th[0] - 2.0, 3 * (th[1] + 1.0), th[0] * th[1]])

    m1, m2 = Params([0.5, 0.5]), Params([0.5, 0.5])
    obj = LeastSquaresObjective(FlatParameters(m1), residual, lambda th: {"all": residual(th)})
    multi = MultiAdam(m1.parameters(), obj, lr=1e-2, betas=(0.9, 0.999), eps=1e-8)
    adam = Adam(m2.parameters(), lr=1e-2, betas=(0.9, 0.999))

    def closure():
        m2.theta.grad = None
        loss = (residual(m2.theta) ** 2).sum()
        loss.backward()
        return loss

    for _ in range(25):
        multi.step(lambda: obj.loss(obj.flat.vector()))
        adam.step(closure)
    assert torch.allclose(m1.theta.detach(), m2.theta.detach(), atol=1e-12)


def test_multiadam_minimises_a_convex_problem():
    from physopt.optim import MultiAdam

    g = torch.Generator().manual_seed(3)
    A = randn(12, 4, generator=g, dtype=torch.float64)
    x_star = randn(4, generator=g, dtype=torch.float64)
    b = A @ x_star  # consistent: every group has its optimum at x_star (as PDE and boundary terms do at the solution)
    module = Params([0.0] * 4)

    def groups(th):
        r = A @ th - b
        return {"first": r[:6], "second": r[6:]}

    obj = LeastSquaresObjective(FlatParameters(module), lambda th: A @ th - b, groups)
    opt = MultiAdam(module.parameters(), obj, lr=0.05, lr_final=1e-5, steps=3000)
    for _ in range(3000):
        opt.step(lambda: obj.loss(obj.flat.vector()))
    assert torch.allclose(module.theta.detach(), x_star, atol=1e-4)


def test_steihaug_stops_at_the_boundary_on_negative_curvature():
    H = torch.diag(torch.tensor([1.0, -2.0], dtype=torch.float64))
    g = torch.tensor([1.0, 1.0], dtype=torch.float64)
    p, why = steihaug_cg(lambda v: H @ v, g, radius=0.5)
    assert why in ("negative curvature", "trust-region boundary")
    assert abs(float(p.norm()) - 0.5) < 1e-12
    p, why = steihaug_cg(lambda v: 4 * v, g, radius=10.0)  # interior Newton step
    assert why == "converged" and torch.allclose(p, -g / 4)


def _linear_layer_problem():
    """r_{n,k} = ((W x_n + b) - y_n)_k: the Gram matrix is exactly I ⊗ Σ ã ã^T, one Kronecker product."""
    from physopt.curvature import KroneckerBlock

    gen = torch.Generator().manual_seed(3)
    layer = torch.nn.Linear(3, 2).double()
    x = randn(40, 3, generator=gen, dtype=torch.float64)
    y = randn(40, 2, generator=gen, dtype=torch.float64)
    flat = FlatParameters(layer)

    def residual(theta):
        return (flat.call(theta, x) - y).reshape(-1)

    def kronecker(theta):
        a = torch.cat([x, torch.ones(40, 1, dtype=torch.float64)], 1)
        return [KroneckerBlock("weight", "bias", [(a.T @ a / 40, 40 * torch.eye(2, dtype=torch.float64))])]

    a = torch.cat([x, torch.ones(40, 1, dtype=torch.float64)], 1)
    best = torch.linalg.lstsq(a, y).solution  # (4, 2): rows W^T then b
    return layer, LeastSquaresObjective(flat, residual, kronecker_fn=kronecker), best


@pytest.mark.parametrize("step_rule", ["auto", "line_search"])
def test_kfac_solves_a_problem_whose_gram_matrix_is_one_kronecker_product(step_rule):
    from physopt.optim import KFAC

    layer, obj, best = _linear_layer_problem()
    opt = KFAC(layer.parameters(), obj, damping=1e-12, step_rule=step_rule)
    for _ in range(3):
        opt.step(lambda: obj.loss(obj.flat.vector()))
    assert torch.allclose(layer.weight.detach(), best[:3].T, atol=1e-8)
    assert torch.allclose(layer.bias.detach(), best[3], atol=1e-8)


def test_kfac_needs_kronecker_factors_and_saves_its_state():
    from physopt.optim import KFAC

    module = Params([1.0, 2.0])
    with pytest.raises(ConfigurationError, match="Kronecker factors"):
        KFAC(module.parameters(), objective_for(module, lambda th: th))
    layer, obj, _ = _linear_layer_problem()
    opt = KFAC(layer.parameters(), obj)
    opt.step(lambda: obj.loss(obj.flat.vector()))
    state = opt.state_dict()
    again = KFAC(layer.parameters(), obj)
    again.load_state_dict(state)
    assert again.damping == opt.damping and torch.equal(again.factors[0].pairs[0][0], opt.factors[0].pairs[0][0])
    assert "kfac" in OPTIMIZERS


@pytest.mark.parametrize("n_residuals, n_params", [(12, 5), (5, 40)])
def test_engd_pinv_direction_is_the_pseudo_inverse_step(n_residuals, n_params):
    """Tall J: thin SVD; wide J (4N <= P): the kernel form J^T (JJ^T)^+. Both -J^+ r."""
    gen = torch.Generator().manual_seed(4)
    A = randn(n_residuals, n_params, generator=gen, dtype=torch.float64)
    b = randn(n_residuals, generator=gen, dtype=torch.float64)
    module = Params([0.0] * n_params)
    obj = objective_for(module, lambda th: A @ th - b)
    opt = ENGD(module.parameters(), obj, solver="pinv", rcond=1e-8)
    theta = obj.flat.vector()
    delta, _ = opt.direction(theta, obj.residual(theta))
    assert torch.allclose(delta, -torch.linalg.pinv(A) @ (A @ theta - b), atol=1e-10)


def test_engd_pinv_reaches_the_least_squares_optimum_and_loosens_its_cutoff_on_rejection():
    gen = torch.Generator().manual_seed(5)
    A = randint(-5, 6, (30, 6), generator=gen).to(torch.float64)
    optimum = randint(-3, 4, (6,), generator=gen).to(torch.float64)
    b = A @ optimum  # integers: the residual is exactly zero at the optimum
    module = Params([0.0] * 6)
    obj = objective_for(module, lambda th: A @ th - b)
    opt = run(ENGD, module, obj, 1, solver="pinv")  # linear residual: one full step
    assert torch.allclose(obj.flat.vector(), optimum, atol=1e-10)
    assert opt.last_step["eta"] == 1.0 and opt.rcond == 1e-8
    # at the exact optimum the loss is 0.0 and no step can decrease it (at the rounded one a last-bit
    # decrease may be found, on some BLAS): each rejection loosens the cut-off
    obj.flat.assign(optimum)
    for expected in (1e-7, 1e-6):
        opt.step(lambda: obj.loss(obj.flat.vector()))
        assert opt.last_step["eta"] == 0.0 and opt.rcond == pytest.approx(expected)
    with pytest.raises(ConfigurationError, match="pinv"):
        LevenbergMarquardt(module.parameters(), obj, solver="pinv")


def test_lm_geodesic_acceleration_is_the_second_order_correction():
    """Quadratic residual r_i = a_i·θ + ½ θᵀB_iθ - c_i: the finite difference gives r_vv = [δᵀB_iδ] exactly."""
    gen = torch.Generator().manual_seed(6)
    A = randn(8, 3, generator=gen, dtype=torch.float64)
    B = randn(8, 3, 3, generator=gen, dtype=torch.float64)
    B = B + B.transpose(1, 2)
    c = randn(8, generator=gen, dtype=torch.float64)

    def residual(th):
        return A @ th + 0.5 * torch.einsum("i,kij,j->k", th, B, th) - c

    module = Params([0.3, -0.2, 0.1])
    obj = objective_for(module, residual)
    theta = obj.flat.vector()
    opt = LevenbergMarquardt(module.parameters(), obj, solver="svd", damping=1e-3)
    r = residual(theta)
    J = torch.autograd.functional.jacobian(residual, theta)
    delta, lam = opt.direction(theta, r)
    r_vv = torch.einsum("i,kij,j->k", delta, B, delta)
    acceleration = -0.5 * torch.linalg.solve(J.T @ J + lam * torch.eye(3, dtype=torch.float64), J.T @ r_vv)
    assert torch.allclose(delta, -torch.linalg.solve(J.T @ J + lam * torch.eye(3, dtype=torch.float64), J.T @ r), atol=1e-12)
    opt.step(lambda: obj.loss(obj.flat.vector()))
    assert 2 * acceleration.norm() <= 0.75 * delta.norm()  # this start takes the corrected step
    assert opt.last_step["eta"] == 1.0
    assert torch.allclose(obj.flat.vector(), theta + delta + acceleration, atol=1e-9)
    assert opt.last_step["acceleration_ratio"] == pytest.approx(float(2 * acceleration.norm() / delta.norm()), rel=1e-6)


@pytest.mark.parametrize("solver", ["gram", "woodbury"])
def test_dense_directions_reuse_one_factorisation_for_a_second_right_hand_side(solver):
    """direction(θ, r) and direction(θ, r, rhs=v) (LM's geodesic solve) are the damped Gauss–Newton solves
    with one Jacobian and one Cholesky factor."""
    gen = torch.Generator().manual_seed(8)
    n = 12 if solver == "gram" else 2
    A = randn(n, 4, generator=gen, dtype=torch.float64)
    c = randn(n, generator=gen, dtype=torch.float64)

    def residual(th):
        return A @ torch.sin(th) - c

    module = Params([0.3, -0.2, 0.1, 0.5])
    obj = objective_for(module, residual)
    opt = ENGD(module.parameters(), obj, solver=solver, damping=1e-3)
    theta = obj.flat.vector()
    r, v = residual(theta), randn(n, generator=gen, dtype=torch.float64)
    J = torch.autograd.functional.jacobian(residual, theta)
    calls = []
    obj.jacobian = lambda th, f=obj.jacobian: calls.append(1) or f(th)
    delta, lam = opt.direction(theta, r)
    second, lam2 = opt.direction(theta, r, rhs=v)
    assert len(calls) == 1 and lam2 == lam
    # the power iteration for the top eigenvalue stops once it changes by < 1e-3 (it only scales λ)
    assert lam == pytest.approx(1e-3 * float(torch.linalg.eigvalsh(J.T @ J)[-1]), rel=1e-3)
    damped = J.T @ J + lam * torch.eye(4, dtype=torch.float64)
    assert torch.allclose(delta, -torch.linalg.solve(damped, J.T @ r), atol=1e-10)
    assert torch.allclose(second, -torch.linalg.solve(damped, J.T @ v), atol=1e-10)


def test_damped_solver_falls_back_to_the_eigendecomposition_where_cholesky_fails():
    from physopt.optim._engd import _DampedSolver

    Q = torch.linalg.qr(randn(5, 5, generator=torch.Generator().manual_seed(9), dtype=torch.float64))[0]
    e = torch.tensor([-1e-12, 0.0, 1e-3, 1.0, 2.0], dtype=torch.float64)  # round-off made G slightly indefinite
    solve, b = _DampedSolver(Q @ torch.diag(e) @ Q.T), torch.arange(1.0, 6.0, dtype=torch.float64)
    x = solve(b, 1e-14)
    assert solve._factor is None  # Cholesky of G + λI broke down
    assert torch.allclose(x, Q @ ((Q.T @ b) / (e.clamp_min(0) + 1e-14)), rtol=1e-6)
    assert torch.allclose(solve(b, 0.5), torch.linalg.solve(Q @ torch.diag(e + 0.5) @ Q.T, b), atol=1e-12)
    assert solve._factor is not None


def test_lazy_newton_resumes_with_the_curvature_it_was_reusing():
    """The factorisation in use is part of the state: a resumed run reuses it, as the uninterrupted one does."""
    import copy

    def rosenbrock(module):
        return objective_for(module, lambda th: torch.stack([10 * (th[1] - th[0] ** 2), 1 - th[0]]))

    module = Params([-1.2, 1.0])
    obj = rosenbrock(module)
    opt = LazyNewton(module.parameters(), obj)
    for _ in range(21):
        opt.step(lambda: obj.loss(obj.flat.vector()))
    assert 1 <= opt._age < opt.reuse  # mid-reuse: the next step uses the stored factorisation
    state = copy.deepcopy(opt.state_dict())
    again = Params(module.theta.detach().tolist())
    obj2 = rosenbrock(again)
    resumed = LazyNewton(again.parameters(), obj2)
    resumed.load_state_dict(state)
    opt.step(lambda: obj.loss(obj.flat.vector()))
    resumed.step(lambda: obj2.loss(obj2.flat.vector()))
    assert torch.allclose(again.theta.detach(), module.theta.detach(), rtol=1e-12, atol=0)
