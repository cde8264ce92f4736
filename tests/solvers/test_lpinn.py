"""LPINN (solvers/_lpinn.py): the Lagrangian residuals, the Eulerian evaluation, and a run that beats the PINN."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch.func import grad

from cli_helpers import cli
from physopt import ConfigurationError
from problems import PROBLEMS
from solvers import LPINN, PINN
from solvers._lpinn import eulerian_second_derivative, hermite_periodic


def test_chain_rule_second_derivative_against_autodiff_on_a_curved_map():
    """u_xx from label derivatives equals autodiff of u(x) = w(X⁻¹(x)) for X(x0) = (1+t)x0 + t x0² (X_x0 ≠ 1, X_x0x0 ≠ 0)."""
    t = 0.7

    def X(a):
        return (1 + t) * a + t * a * a

    def w(a):
        return torch.cos(3 * a) * torch.exp(a)

    def u(x):  # the inverse map in closed form
        a = (-(1 + t) + torch.sqrt((1 + t) ** 2 + 4 * t * x)) / (2 * t)
        return w(a)

    for a in torch.linspace(0.1, 1.5, 7, dtype=torch.float64):
        X_a, X_aa = grad(X)(a), grad(grad(X))(a)
        w_a, w_aa = grad(w)(a), grad(grad(w))(a)
        exact = grad(grad(u))(X(a))
        assert float(eulerian_second_derivative(X_a, X_aa, w_a, w_aa)) == pytest.approx(float(exact), rel=1e-11)
        # differentiating in x0 alone (the reference code's erratum) is wrong here
        assert abs(float(w_aa - exact)) > 1e-3


def test_lpinn_residual_is_the_chain_rule_one(device):
    """point_residuals: r_X = X_t − f(X, t, w) and r_w = w_t − g u_xx with the chain-rule u_xx, for any network."""
    problem = PROBLEMS.get("burgers_shock1d")()
    solver = LPINN(problem, width=6, depth=1, points=8, device=str(device))
    z = solver.points[3]
    call = solver.model

    def X_of(a, t):
        return solver.characteristic(call, torch.stack([a, t]))[0]

    def w_of(a, t):
        return solver.characteristic(call, torch.stack([a, t]))[1]

    a, t = z[0], z[1]
    d = {name: fn(a, t) for name, fn in [("X_a", grad(X_of)), ("X_aa", grad(grad(X_of))), ("w_a", grad(w_of)),
                                          ("w_aa", grad(grad(w_of))), ("X_t", grad(X_of, 1)), ("w_t", grad(w_of, 1))]}
    u_xx = (d["w_aa"] * d["X_a"] - d["w_a"] * d["X_aa"]) / d["X_a"] ** 3
    expected = torch.stack([d["X_t"] - w_of(a, t), d["w_t"] - problem.nu * u_xx])
    torch.testing.assert_close(solver.point_residuals(call, z), expected, rtol=1e-11, atol=1e-12)


def test_hermite_interpolation_is_fourth_order_on_unsorted_wrapped_nodes():
    errors = []
    for m in (50, 100):
        g = torch.Generator().manual_seed(0)
        nodes = 2 * math.pi * (torch.arange(m, dtype=torch.float64) + 0.4 * torch.rand(m, generator=g, dtype=torch.float64)) / m
        nodes = nodes[torch.randperm(m, generator=g)] + 4 * math.pi  # unsorted, outside [0, 2π)
        q = torch.linspace(-1.0, 7.0, 333, dtype=torch.float64)
        values = hermite_periodic(nodes, torch.sin(nodes), torch.cos(nodes), 2 * math.pi, q)
        errors.append(float((values - torch.sin(q)).abs().max()))
    assert errors[1] < 1e-6 and errors[0] / errors[1] > 12  # O(h⁴): 16 per halving


def _zero_correction(solver):
    with torch.no_grad():
        for branch in (solver.model.path, solver.model.state):
            last = [m for m in branch.modules() if isinstance(m, torch.nn.Linear)][-1]
            last.weight.zero_()
            last.bias.zero_()


def test_eulerian_values_of_exact_characteristics(device):
    """With the network's correction zero, drift + hard initial values are the exact convection solution."""
    problem = PROBLEMS.get("convection1d")(beta=100.0)
    solver = LPINN(problem, width=8, depth=1, points=16, device=str(device))
    _zero_correction(solver)
    points = problem.error_points()
    with torch.no_grad():
        values, crossed = solver.eulerian(points.to(device))
    reference = problem.solution_at(points).reshape(-1).to(device)
    assert crossed == 0.0
    assert float((values - reference).abs().max()) < 1e-10
    assert float(solver.loss()[0].detach()) < 1e-24


def test_soft_initial_values_are_penalty_terms(device):
    problem = PROBLEMS.get("convection1d")(beta=10.0)
    solver = LPINN(problem, width=8, depth=1, points=16, initial_points=8, initial="soft", device=str(device))
    total, terms = solver.loss()
    assert set(terms) == {"characteristic", "state", "initial"} and terms["initial"] > 0
    assert [e["enforced"] for e in solver.enforcement()] == ["penalty", "ansatz"]
    assert float(total.detach()) == pytest.approx(float(sum(terms.values()).detach()))


def test_lpinn_beats_the_pinn_on_convection_at_beta_30(device):
    problem = PROBLEMS.get("convection1d")(beta=30.0)
    common = {"optimizer": "adam", "steps": 300, "points": 256, "width": 16, "depth": 2, "lr": 3e-3, "error_every": 0,
              "checkpoint_every": 0, "device": str(device)}
    lpinn = LPINN(problem, **common).solve().errors()["rel_l2"]
    pinn = PINN(problem, resample_every=0, **common).solve().errors()["rel_l2"]
    assert lpinn < 0.05 and pinn > 0.5, (lpinn, pinn)


def test_lpinn_with_levenberg_marquardt_reaches_the_stretch_target():
    """Stretch of issue 19: LPINN + LM ≤ 1e-4 at β = 100."""
    problem = PROBLEMS.get("convection1d")(beta=100.0)
    solution = LPINN(problem, optimizer="lm", steps=15, points=128, width=8, depth=2, error_every=0).solve()
    assert solution.errors()["rel_l2"] <= 1e-4


@pytest.mark.parametrize("name", ["heat1d", "poisson2d"])
def test_non_transport_problems_are_refused_clearly(name):
    with pytest.raises(ConfigurationError, match="lpinn"):
        LPINN(PROBLEMS.get(name)())


def test_transport_problems_declare_velocity_and_diffusion():
    for name, velocity, diffusion in [("convection1d", 30.0, 0.0), ("convection_diffusion1d", 10.0, 0.01),
                                      ("burgers_shock1d", 0.25, 0.01)]:
        p = PROBLEMS.get(name)()
        u = torch.tensor(0.25, dtype=torch.float64)
        assert float(p.transport_velocity(torch.tensor(1.0), torch.tensor(0.5), u)) == pytest.approx(velocity)
        assert p.diffusion == diffusion


# ----- reference solutions -----------------------------------------------------------------------
def test_convection_diffusion_reference_is_the_spreading_gaussian():
    """Fourier series = the periodised heat kernel solution, σ(t)² = σ₀² + 2νt, moved by ct."""
    from problems._library.transport import PULSE_WIDTH

    c, nu = 50.0, 0.01
    problem = PROBLEMS.get("convection_diffusion1d")(c=c, nu=nu)
    points = problem.error_points()
    x, t = points[:, 0].numpy(), points[:, 1].numpy()
    sigma2 = PULSE_WIDTH**2 + 2 * nu * t
    exact = sum(PULSE_WIDTH / np.sqrt(sigma2) * np.exp(-((x - c * t - math.pi + 2 * math.pi * n) ** 2) / (2 * sigma2))
                for n in range(-40, 41))
    assert np.abs(problem.solution_at(points).numpy().ravel() - exact).max() < 1e-8


def test_burgers_reference_is_galilean_and_converged():
    """u₀ = sin x + c is u₀ = sin x moved at speed c (Galilean invariance), and 512 modes agree with 1,024."""
    from problems._library.transport import burgers_coefficients, fourier_series

    times = (0.3, 0.7, 1.0)
    x = np.linspace(0, 2 * math.pi, 97)
    moving, still = burgers_coefficients(1.0, 0.01, times), burgers_coefficients(0.0, 0.01, times)
    coarse = burgers_coefficients(0.0, 0.01, times, n=512)
    for i, t in enumerate(times):
        shifted = fourier_series(still[i], x - 1.0 * t) + 1.0
        assert np.abs(fourier_series(moving[i], x) - shifted).max() < 1e-8
        assert np.abs(fourier_series(coarse[i], x) - fourier_series(still[i], x)).max() < 1e-5


def test_burgers_reference_follows_the_inviscid_characteristics_early():
    """Before the shock, u ≈ u₀(x₀) with x = x₀ + u₀(x₀) t, up to the viscous O(ν t) change."""
    problem = PROBLEMS.get("burgers_shock1d")()
    t = 0.4
    x0 = np.linspace(0, 2 * math.pi, 50, endpoint=False)
    u0 = np.sin(x0) + 1.0
    x = np.mod(x0 + u0 * t, 2 * math.pi)
    values = problem.solution_at(torch.as_tensor(np.column_stack([x, np.full_like(x, t)]))).numpy().ravel()
    assert np.abs(values - u0).max() < 0.02


# ----- the PINN curriculum ---------------------------------------------------------------------
def test_curriculum_warm_starts_on_the_easier_problems():
    problem = PROBLEMS.get("convection1d")(beta=30.0)
    solver = PINN(problem, optimizer="adam", steps=4, points=32, width=8, depth=1, curriculum="beta=5,15",
                  curriculum_steps=3, error_every=0)
    solution = solver.solve()
    assert [s["beta"] for s in solution.info["curriculum"]] == [5.0, 15.0]
    assert all(s["steps"] == 3 and math.isfinite(s["rel_l2"]) for s in solution.info["curriculum"])
    assert solution.info["steps"] == 4


@pytest.mark.parametrize("text, message", [("beta", "NAME=V1"), ("beta=a,b", "NAME=V1"), ("gamma=1", "no parameter")])
def test_bad_curriculum_is_a_clear_error(text, message):
    problem = PROBLEMS.get("convection1d")()
    with pytest.raises(ConfigurationError, match=message):
        PINN(problem, optimizer="adam", steps=2, points=16, width=4, depth=1, curriculum=text).solve()


# ----- the command line --------------------------------------------------------------------------
@pytest.mark.cpu_only
def test_lpinn_from_the_command_line(capsys, tmp_path):
    out = tmp_path / "run"
    code, stdout, _ = cli(capsys, "solve", "convection1d", "--solver", "lpinn", "--param", "beta=50", "--set", "steps=5",
                          "--set", "points=64", "--set", "width=8", "--set", "depth=1", "--set", "optimizer=lm",
                          "--no-progress", "--no-render", "--out", out)
    assert code == 0, stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["solver"] == "lpinn" and summary["errors"]["rel_l2"] < 1e-2
    assert summary["metrics"]["crossed_labels"] == 0.0
