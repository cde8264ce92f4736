"""Optimizers: convergence on convex problems, visible stop reasons, schedules."""

import copy

import pytest
import torch

from physopt import LBFGS, OPTIMIZERS, Adam, ConfigurationError, parse_schedule


def quadratic(seed=0, n=6):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(n, n, generator=g, dtype=torch.float64)
    A = a @ a.T + n * torch.eye(n, dtype=torch.float64)
    b = torch.randn(n, generator=g, dtype=torch.float64)
    x_star = torch.linalg.solve(A, b)
    return A, b, x_star


def make_closure(x, A, b):
    def closure():
        x.grad = None
        loss = 0.5 * x @ A @ x - b @ x
        loss.backward()
        return loss

    return closure


@pytest.mark.parametrize("name, steps, tol", [("adam", 3000, 1e-6), ("lbfgs", 60, 1e-7)])
def test_optimizer_reaches_quadratic_optimum(name, steps, tol):
    A, b, x_star = quadratic()
    x = torch.zeros(len(b), dtype=torch.float64, requires_grad=True)
    opts = {"lr": 0.05, "lr_final": 1e-4, "steps": steps} if name == "adam" else {}
    opt = OPTIMIZERS[name]([x], **opts)
    closure = make_closure(x, A, b)
    for _ in range(steps):
        opt.step(closure)
        if opt.stop_reason:
            break
    assert torch.allclose(x.detach(), x_star, atol=tol, rtol=0)


def test_lbfgs_says_why_it_stopped():
    A, b, _ = quadratic(1)
    x = torch.zeros(len(b), dtype=torch.float64, requires_grad=True)
    opt = LBFGS([x])
    closure = make_closure(x, A, b)
    for _ in range(500):
        opt.step(closure)
        if opt.stop_reason:
            break
    assert opt.stop_reason is not None
    assert "lbfgs" in opt.stop_reason


def test_lbfgs_line_search_is_not_starved():
    """torch's default max_eval (= 1 for max_iter=1) makes every line search fail; ours must not."""
    A, b, x_star = quadratic(2, n=20)
    x = torch.zeros(len(b), dtype=torch.float64, requires_grad=True)
    opt = LBFGS([x])
    closure = make_closure(x, A, b)
    losses = [opt.step(closure) for _ in range(15)]
    assert losses[-1] < losses[1] - 1e-3


def test_adam_state_roundtrip():
    A, b, _ = quadratic()
    x1 = torch.zeros(len(b), dtype=torch.float64, requires_grad=True)
    opt1 = Adam([x1], lr=0.1, lr_final=0.01, steps=20)
    c1 = make_closure(x1, A, b)
    for _ in range(10):
        opt1.step(c1)
    x2 = x1.detach().clone().requires_grad_(True)
    opt2 = Adam([x2], lr=0.1, lr_final=0.01, steps=20)
    opt2.load_state_dict(copy.deepcopy(opt1.state_dict()))  # as from a checkpoint file
    c2 = make_closure(x2, A, b)
    for _ in range(10):
        opt1.step(c1)
        opt2.step(c2)
    assert torch.equal(x1, x2)


def test_parse_schedule():
    assert parse_schedule("adam", 10) == [("adam", 10)]
    assert parse_schedule("adam+lbfgs", 11) == [("adam", 6), ("lbfgs", 5)]
    assert parse_schedule("adam:20, lbfgs:5", 0) == [("adam", 20), ("lbfgs", 5)]
    with pytest.raises(ConfigurationError, match="unknown optimizer 'sgd'"):
        parse_schedule("sgd", 10)
    with pytest.raises(ConfigurationError, match="step count"):
        parse_schedule("adam:x", 10)
    with pytest.raises(ConfigurationError, match="steps"):
        parse_schedule("adam", -1)


def test_adam_rejects_bad_learning_rate():
    x = torch.zeros(2, requires_grad=True)
    with pytest.raises(ConfigurationError, match="learning rate"):
        Adam([x], lr=0.0)
