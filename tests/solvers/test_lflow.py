"""LFlow (solvers/_lflow.py): continuity by construction, analytic velocity, the density problems and their data."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.func import jacfwd, vmap

from physopt import ConfigurationError, ProblemDefinitionError
from problems import PROBLEMS, DensityData, Observations
from problems._library.density import continuity_residual, flow_map, inverse_flow_map, r_squared
from solvers import PINN, LFlow
from solvers._lflow import ConditionalFlow


def _random_flow(dim: int, device) -> ConditionalFlow:
    torch.manual_seed(1)
    flow = ConditionalFlow(dim, 4.0, layers=4, width=16, depth=2).to(dtype=torch.float64, device=device)
    with torch.no_grad():
        for p in flow.parameters():
            p.normal_(0.0, 0.3)
    return flow


def _points(dim: int, n: int, device) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    space = 6 * torch.rand(n, dim, generator=g, dtype=torch.float64) - 3
    return torch.cat([space, 1.2 * torch.rand(n, 1, generator=g, dtype=torch.float64)], 1).to(device)


@pytest.mark.parametrize("dim", [2, 3])
def test_continuity_holds_for_an_untrained_flow(dim, device):
    """∂ₜρ + ∇·(ρv) by autodiff at random points, relative to ∂ₜρ: zero to round-off for any weights."""
    flow = _random_flow(dim, device)
    residual, dt_rho = vmap(lambda q: continuity_residual(flow.field, q))(_points(dim, 64, device))
    assert float((residual.norm() / dt_rho.norm()).detach()) <= 1e-8
    assert float(dt_rho.detach().abs().max()) > 1e-3  # the density does move


def test_velocity_is_the_time_derivative_of_the_flow_maps_trajectories(device):
    """v = −(∂ₓΦ)⁻¹∂ₜΦ equals a central difference of x(t) = Φ_t⁻¹(z) (z held fixed, x by Newton)."""
    flow = _random_flow(2, device)
    x, t = torch.tensor([0.4, -0.9], dtype=torch.float64, device=device), torch.tensor(0.5, dtype=torch.float64, device=device)
    z = flow(x, t)[0]

    def position(time):
        y = x.clone()
        for _ in range(40):
            jacobian = jacfwd(lambda p: flow(p, time)[0])(y)
            y = y - torch.linalg.inv(jacobian) @ (flow(y, time)[0] - z)
        return y

    h = 1e-5
    finite = (position(t + h) - position(t - h)) / (2 * h)
    torch.testing.assert_close(flow.velocity(x, t), finite, rtol=1e-7, atol=1e-8)


def test_inverse_and_sampling(device):
    """Φ_t⁻¹(Φ_t(x)) = x, and samples of ρ(·, t)/M have the density's mean (quadrature on a fine grid)."""
    flow = _random_flow(2, device)
    points = _points(2, 16, device)
    for q in points:
        x, t = q[:2], q[2]
        with torch.no_grad():
            torch.testing.assert_close(flow.inverse(flow(x, t)[0], t), x, rtol=1e-9, atol=1e-9)
    flow.means = torch.nn.Parameter(torch.tensor([[0.5, 0.0], [-1.0, 0.5]], dtype=torch.float64, device=device))
    flow.log_scales = torch.nn.Parameter(torch.full((2, 2), -0.7, dtype=torch.float64, device=device))
    flow.logits = torch.nn.Parameter(torch.tensor([0.3, -0.2], dtype=torch.float64, device=device))
    samples = flow.sample(20000, 0.4, torch.Generator(device).manual_seed(0))
    axis = torch.linspace(-3.99, 3.99, 400, dtype=torch.float64, device=device)
    grid = torch.stack(torch.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)
    t = torch.tensor(0.4, dtype=torch.float64, device=device)
    with torch.no_grad():
        rho = torch.exp(vmap(lambda x: flow.log_density(x, t))(grid))
    weights = rho / rho.sum()
    mean = (weights[:, None] * grid).sum(0)
    spread = samples.std(0) / math.sqrt(len(samples))
    mass = float(rho.sum()) * float(axis[1] - axis[0]) ** 2
    assert mass == pytest.approx(float(torch.exp(flow.log_mass.detach())), rel=1e-2)  # the total mass is M
    assert ((samples.mean(0) - mean).abs() < 4 * spread + 1e-3).all(), (samples.mean(0), mean)


def test_log_determinant_is_the_jacobians():
    flow = _random_flow(3, "cpu")
    x, t = torch.tensor([0.2, -1.1, 0.7], dtype=torch.float64), torch.tensor(0.3, dtype=torch.float64)
    _, logdet = flow(x, t)
    exact = torch.linalg.slogdet(jacfwd(lambda p: flow(p, t)[0])(x))[1]
    assert float(logdet.detach()) == pytest.approx(float(exact.detach()), rel=1e-12)


def test_a_trained_flow_still_conserves_mass_and_fits_the_data(device):
    problem = PROBLEMS.get("moving_gaussians")(grid=12)
    solver = LFlow(problem, steps=60, layers=4, width=16, device=str(device), error_every=0)
    before = float(solver.loss()[0].detach())
    solution = solver.solve()
    assert solution.info["final_loss"] < 0.8 * before
    residual, dt_rho = vmap(lambda q: continuity_residual(solver.field, q))(_points(2, 64, device))
    assert float((residual.norm() / dt_rho.norm()).detach()) <= 1e-8


# ----- the problems -------------------------------------------------------------------------------
@pytest.mark.parametrize("dim", [2, 3])
def test_moving_gaussians_exact_fields_satisfy_continuity(dim):
    problem = PROBLEMS.get("moving_gaussians")(dim=dim, grid=8)
    residual, dt_rho = vmap(lambda q: continuity_residual(problem.exact, q))(_points(dim, 32, "cpu"))
    assert float(residual.abs().max()) <= 1e-12 * float(dt_rho.abs().max())
    x, t = torch.tensor([0.3, -0.7, 0.2][:dim], dtype=torch.float64), torch.tensor(0.6, dtype=torch.float64)
    torch.testing.assert_close(inverse_flow_map(flow_map(x, t), t), x)


def test_moving_gaussians_total_mass_is_one_at_every_time():
    problem = PROBLEMS.get("moving_gaussians")(grid=8)
    axis = torch.linspace(-3.999, 3.999, 401, dtype=torch.float64)
    grid = torch.stack(torch.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)
    cell = float(axis[1] - axis[0]) ** 2
    for t in (0.0, 0.5, 1.2):
        points = torch.cat([grid, torch.full((len(grid), 1), t, dtype=torch.float64)], 1)
        mass = float(torch.exp(problem.solution_at(points)[:, 0]).sum()) * cell
        assert mass == pytest.approx(1.0, abs=2e-3)


def test_train_and_test_split_by_quadrant_and_time():
    problem = PROBLEMS.get("moving_gaussians")(grid=16)
    train = problem.observations()[0].points
    test = problem.error_points().numpy()
    assert (train[:, 0] * train[:, 1] > 0).all() and (test[:, 0] * test[:, 1] < 0).all()
    assert train[:, 2].max() == pytest.approx(1.0) and test[:, 2].max() == pytest.approx(1.2)
    assert len(np.unique(train[:, 2])) == 21 and len(np.unique(test[:, 2])) == 100


def test_noise_is_seeded_and_velocity_data_optional():
    a, b = (PROBLEMS.get("moving_gaussians")(grid=8, seed=s) for s in (0, 1))
    assert not np.allclose(a.observations()[0].values, b.observations()[0].values)
    with_v = PROBLEMS.get("moving_gaussians")(grid=8, velocity_data=True)
    assert [o.components for o in with_v.observations()] == [("log_rho",), ("v0", "v1")]


def test_density_data_from_arrays_npz_and_csv(tmp_path):
    rng = np.random.default_rng(0)
    x, t = rng.uniform(-1, 1, (50, 2)), rng.uniform(0, 1, 50)
    rho = np.exp(-(x**2).sum(1))
    np.savez(tmp_path / "obs.npz", x=x, t=t, rho=rho)
    header = "x0,x1,t,rho"
    np.savetxt(tmp_path / "obs.csv", np.column_stack([x, t, rho]), delimiter=",", header=header, comments="")
    for problem in (DensityData(x, t, rho), DensityData.from_file(tmp_path / "obs.npz"),
                    DensityData.from_file(tmp_path / "obs.csv")):
        problem.validate()
        (obs,) = problem.observations()
        np.testing.assert_allclose(obs.values[:, 0], np.log(rho))
        assert problem.unknowns == ("log_rho", "v0", "v1")
    with pytest.raises(ProblemDefinitionError, match="must be > 0"):
        DensityData(x, t, rho - 1)
    solution = LFlow(DensityData(x, t, rho), steps=3, layers=2, width=8, depth=1).solve()
    assert solution(np.column_stack([x[:4], t[:4]])).shape == (4, 3)


def test_observations_condition_checks_its_shapes():
    with pytest.raises(ProblemDefinitionError, match="same N"):
        Observations(np.zeros((3, 2)), np.zeros((4, 1)), ["u"])
    with pytest.raises(ProblemDefinitionError, match="component"):
        Observations(np.zeros((3, 2)), np.zeros((3, 2)), ["u"])


def test_r_squared():
    r = torch.tensor([1.0, 2.0, 3.0, 4.0])
    assert r_squared(r, r) == 1.0 and r_squared(torch.full((4,), 2.5), r) == pytest.approx(0.0)


# ----- the PINN baseline and refusals ------------------------------------------------------------
def test_the_pinn_baseline_runs_on_the_same_data():
    """A PINN with outputs (log ρ, v), the continuity residual as its PDE and the observations as a penalty."""
    problem = PROBLEMS.get("moving_gaussians")(grid=8)
    solver = PINN(problem, optimizer="adam", steps=3, points=64, width=8, depth=1, error_every=0)
    assert [e["term"] for e in solver.enforcement()] == ["observations"]
    errors = solver.solve().errors()
    assert math.isfinite(errors["r2_rho"])


def test_time_curriculum_widens_the_window_and_misfits_differ():
    problem = PROBLEMS.get("moving_gaussians")(grid=8)
    solver = LFlow(problem, steps=10, layers=2, width=8, depth=1, time_curriculum=0.5, error_every=0)
    seen = []
    original = solver.loss

    def spy():
        seen.append(solver.horizon)
        return original()

    solver.loss = spy
    solver.solve()
    windows = [h for h in seen if h is not None]
    assert windows == sorted(windows) and windows[0] < 0.2 and None in seen and solver.horizon is None
    log_fit = LFlow(problem, steps=0, layers=2, width=8, depth=1, misfit="log")
    assert set(log_fit.loss()[1]) == {"log_rho"} and set(solver.loss()[1]) == {"density"}
    with pytest.raises(ConfigurationError, match="time_curriculum"):
        LFlow(problem, time_curriculum=2.0)


def test_lflow_refuses_problems_without_density_data():
    with pytest.raises(ConfigurationError, match="lflow"):
        LFlow(PROBLEMS.get("heat1d")())


@pytest.mark.cpu_only
def test_lflow_from_the_command_line(capsys, tmp_path):
    import json

    from cli_helpers import cli

    out = tmp_path / "run"
    code, stdout, _ = cli(capsys, "solve", "moving_gaussians", "--solver", "lflow", "--param", "grid=8", "--steps", "3",
                          "--set", "layers=2", "--set", "width=8", "--no-progress", "--no-render", "--out", out)
    assert code == 0, stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["solver"] == "lflow" and "r2_rho" in summary["errors"]
    fields = json.loads((out / "fields.json").read_text())
    assert fields["primary"] == "rho" and {"rho", "velocity", "log_rho"} <= set(fields["fields"])
    assert fields["overlay"] == "velocity"  # drawn as arrows over the density pictures
