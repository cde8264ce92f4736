"""The high-dimensional STDE benchmarks: ball problems (two/three-body) and semilinear parabolic problems."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.func import vmap

from physopt import ProblemDefinitionError, derivative_mode, laplacian
from problems import automatic_ansatz, registered_problems
from problems._library.high_dim import TEST_BUDGET, body_sum
from problems._library.high_dim_parabolic import REFERENCE_VALUES, T_END

F64 = torch.float64
BALL = ["poisson_ball", "allen_cahn_ball", "sine_gordon_ball"]
PARABOLIC = ["semilinear_heat", "parabolic_allen_cahn"]


def make(name, **params):
    return registered_problems()[name](**params)


def paper_solution(x, c, solution):
    """u* written term by term from the paper's statement (a loop, independent of the library's slicing)."""
    d = len(x)
    if solution == "two_body":
        s = sum(c[i] * torch.sin(x[i] + torch.cos(x[i + 1]) + x[i + 1] * torch.cos(x[i])) for i in range(d - 1))
    else:
        s = sum(c[i] * torch.exp(x[i] * x[i + 1] * x[i + 2]) for i in range(d - 2))
    return (1 - (x * x).sum()) * s


# ----- ball problems ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", BALL)
def test_ball_problems_register_and_validate(name):
    problem = make(name, d=7)
    problem.validate()
    assert problem.problem_name == name and problem.has_exact and not problem.has_time
    assert problem.summary()


@pytest.mark.parametrize("solution", ["two_body", "three_body"])
def test_exact_solution_is_the_papers(solution):
    problem = make("poisson_ball", d=6, solution=solution, seed=4)
    x = problem.error_points()[:10]
    expected = torch.stack([paper_solution(p, problem.coefficients, solution) for p in x])
    torch.testing.assert_close(vmap(problem.exact)(x), expected, rtol=1e-14, atol=1e-14)
    assert problem.coefficients.dtype == F64
    n_terms = 5 if solution == "two_body" else 4
    np.testing.assert_array_equal(problem.coefficients.numpy(), np.random.default_rng(4).standard_normal(n_terms))


@pytest.mark.parametrize("name", BALL)
@pytest.mark.parametrize("solution", ["two_body", "three_body"])
@pytest.mark.parametrize("d", [6, 9])
def test_structured_forcing_equals_brute_force_autodiff(name, solution, d):
    """g = Δu* + N(u*) in O(d) equals the full-Hessian Laplacian of u* under the exact mode."""
    problem = make(name, d=d, solution=solution, seed=1)
    x = torch.as_tensor(problem.domain.sample_interior(16, rng=2))
    with derivative_mode("exact"):
        brute = vmap(lambda y: laplacian(problem.exact)(y) + problem.nonlinearity(problem.exact(y)))(x)
    fast = vmap(problem.forcing)(x)
    torch.testing.assert_close(fast, brute, rtol=1e-12, atol=1e-12 * float(brute.abs().max()))


@pytest.mark.parametrize("name", BALL)
def test_exact_solution_has_zero_residual(name):
    problem = make(name, d=5, solution="three_body")
    x = torch.as_tensor(problem.domain.sample_interior(8, rng=0))
    with problem.layout():
        res = vmap(lambda y: problem.residual(problem.exact, y))(x)
    assert float(res.abs().max()) < 1e-12


@pytest.mark.parametrize("solution", ["two_body", "three_body"])
def test_zero_on_the_sphere(solution):
    problem = make("allen_cahn_ball", d=12, solution=solution)
    points, normals = problem.domain.sample_boundary(50, rng=0)
    points = torch.as_tensor(points)
    assert float(vmap(problem.exact)(points).abs().max()) < 1e-12
    assert torch.isfinite(vmap(problem.forcing)(points)).all()


def test_large_d_is_order_d():
    """d = 10⁵: a d × d Hessian would need 80 GB; the structured forcing needs a few vectors."""
    problem = make("sine_gordon_ball", d=100_000, solution="three_body")
    x = torch.as_tensor(problem.domain.sample_interior(2, rng=0))
    g = vmap(problem.forcing)(x)
    assert g.shape == (2,) and g.dtype == F64 and torch.isfinite(g).all()


@pytest.mark.parametrize("name", BALL)
def test_shapes_and_dtypes_at_d_1000(name):
    problem = make(name, d=1000)
    x = torch.as_tensor(problem.domain.sample_interior(4, rng=0))
    for dtype in (F64, torch.float32):
        y = x.to(dtype)
        assert vmap(problem.forcing)(y).shape == (4,) and vmap(problem.forcing)(y).dtype == dtype
        assert vmap(problem.exact)(y).shape == (4,) and vmap(problem.exact)(y).dtype == dtype
    assert problem.solution_at(x).shape == (4, 1)
    assert problem.solution_at(x, chunk_coordinates=1000).shape == (4, 1)


@pytest.mark.parametrize("params, message", [
    (dict(d=1), "two_body solution needs d >= 2"),
    (dict(d=2, solution="three_body"), "three_body solution needs d >= 3"),
    (dict(solution="four_body"), "solution must be one of two_body, three_body"),
    (dict(n_test=-1), "n_test must be >= 0"),
    (dict(d=2.5), "must be a int"),
])
def test_parameter_validation(params, message):
    with pytest.raises(ProblemDefinitionError, match=message) as err:
        make("poisson_ball", **params)
    assert "\n" not in str(err.value)
    make("poisson_ball", d=2)
    make("poisson_ball", d=3, solution="three_body")


def test_sampling_is_the_papers_not_uniform_by_volume():
    """x = r z/‖z‖, r ~ U(0, 1): in 50-D the radii are uniform (mean ½), not concentrated near 1."""
    problem = make("poisson_ball", d=50)
    for points in (problem.domain.sample_interior(4000, rng=0), problem.error_points().numpy()[:4000]):
        radii = np.linalg.norm(points, axis=1)
        assert radii.max() <= 1 and abs(radii.mean() - 0.5) < 0.02 and abs(np.median(radii) - 0.5) < 0.03
    drawn = problem.domain.draw_interior(4000, torch.Generator().manual_seed(0), F64, "cpu")
    radii = torch.linalg.vector_norm(drawn, dim=1)
    assert drawn.shape == (4000, 50) and radii.max() <= 1 and abs(float(radii.mean()) - 0.5) < 0.02


def test_test_set_size_and_chunks():
    assert make("poisson_ball", d=100).n_test_points == 20_000
    assert make("poisson_ball", d=10_000).n_test_points == TEST_BUDGET // 10_000
    problem = make("poisson_ball", d=20, n_test=2500)
    points = problem.error_points()
    assert points.shape == (2500, 20) and points.dtype == F64
    torch.testing.assert_close(torch.cat(list(problem.test_chunks())), points, rtol=0, atol=0)
    torch.testing.assert_close(make("poisson_ball", d=20, n_test=2500).error_points(), points, rtol=0, atol=0)


def test_automatic_ansatz_is_the_papers_hard_constraint():
    """bc=auto builds u = (1 − ‖x‖²)·N: the Dirichlet value is 0, so no part of u* enters."""
    problem = make("allen_cahn_ball", d=8)
    ansatz = automatic_ansatz(problem).ansatz
    x = torch.as_tensor(problem.domain.sample_interior(5, rng=0))
    n = torch.linspace(-1, 2, 5, dtype=F64)
    torch.testing.assert_close(vmap(ansatz)(x, n), (1 - (x * x).sum(1)) * n, rtol=1e-15, atol=1e-15)


def test_constant_floor_is_the_least_squares_fit():
    problem = make("poisson_ball", d=40, n_test=3000, seed=2)
    x = problem.error_points()
    u = problem.solution_at(x)[:, 0]
    b = 1 - (x * x).sum(1)
    k = float(b @ u / (b @ b))
    floor = problem.constant_floor()
    assert math.isclose(floor["K"], k, rel_tol=1e-12)
    assert math.isclose(floor["rel_l2"], float((u - k * b).norm() / u.norm()), rel_tol=1e-9)
    rest = problem.nonconstant_part(x)
    assert abs(float(rest @ b)) < 1e-9 * float(u.norm() * b.norm())
    assert math.isclose(problem.constant_floor(x)["K"], k, rel_tol=1e-12)


def test_constant_floor_falls_with_dimension():
    """The two-body u* is nearly K(1 − ‖x‖²) in high d (the floor ~ 1/√d)."""
    low = make("poisson_ball", d=10, n_test=2000).constant_floor()["rel_l2"]
    high = make("poisson_ball", d=1000, n_test=2000).constant_floor()["rel_l2"]
    assert high < 0.2 * low


def test_short_pinn_solve():
    from solvers import PINN

    problem = make("allen_cahn_ball", d=5, n_test=500)
    solver = PINN(problem, steps=5, optimizer="adam", points=32, hidden="8", dtype="float64",
                  error_every=0, checkpoint_every=0)
    assert [e["enforced"] for e in solver.enforcement()] == ["ansatz"]
    errors = solver.solve().errors()
    assert math.isfinite(errors["rel_l2"]) and errors["rel_l2"] > 0


# ----- parabolic problems --------------------------------------------------------------------------
@pytest.mark.parametrize("name", PARABOLIC)
def test_parabolic_problems_register_and_validate(name):
    problem = make(name)
    problem.validate()
    assert problem.has_time and problem.time.t1 == T_END and problem.n_coordinates == 11
    assert problem.has_rhs and problem.has_reference and problem.summary()


@pytest.mark.parametrize("name", PARABOLIC)
def test_single_point_reference(name):
    for d, value in REFERENCE_VALUES[name].items():
        problem = make(name, d=d)
        assert problem.reference_value == value
        point = problem.error_points()
        assert point.shape == (1, d + 1) and float(point.abs()[0, :d].max()) == 0 and float(point[0, -1]) == T_END
        assert float(problem.solution_at(point)[0, 0]) == value
    problem = make(name, d=10)
    other = torch.zeros(2, 11, dtype=F64)
    assert torch.isnan(problem.reference_solution(other)).all()
    assert not make(name, d=7).has_reference
    with pytest.raises(ProblemDefinitionError, match="needs d >= 1"):
        make(name, d=0)


def test_initial_values_and_reaction():
    x = torch.tensor([[1.0, -2.0, 0.5]], dtype=F64)
    heat, ac = make("semilinear_heat", d=3), make("parabolic_allen_cahn", d=3)
    torch.testing.assert_close(vmap(heat.conditions[0].value)(x), torch.tensor([5 / (10 + 2 * 5.25)], dtype=F64))
    torch.testing.assert_close(vmap(ac.conditions[0].value)(x), torch.tensor([math.atan(1.0)], dtype=F64))
    u = torch.tensor(0.5, dtype=F64)
    assert math.isclose(float(heat.reaction(u)), 0.75 / 1.25) and math.isclose(float(ac.reaction(u)), 0.375)


def test_residual_is_the_forward_equation():
    """residual = u_t − Δu − F(u), checked on u = t + ‖x‖²: 1 − 2d − F(u)."""
    problem = make("semilinear_heat", d=4)
    field = lambda y: y[-1] + (y[:-1] ** 2).sum()  # noqa: E731
    x = torch.tensor([0.1, 0.2, -0.3, 0.4, 0.2], dtype=F64)
    with problem.layout():
        res = problem.residual(field, x)
    u = field(x)
    assert math.isclose(float(res), float(1 - 8 - problem.reaction(u)), rel_tol=1e-13)


def test_collocation_follows_the_feynman_kac_law():
    """t ~ U(0, T), x ~ N(0, 2(T − t) I): ‖x‖²/(2(T − t)d) ≈ 1 at d = 2000."""
    problem = make("semilinear_heat", d=2000)
    pts = problem.sample_interior(200, rng=0)
    t = pts[:, -1]
    assert pts.shape == (200, 2001) and t.min() >= 0 and t.max() <= T_END
    ratio = (pts[:, :-1] ** 2).sum(1) / (2 * (T_END - t) * 2000)
    assert np.abs(ratio - 1).max() < 0.2
    drawn = problem.draw_interior(200, torch.Generator().manual_seed(0), F64, "cpu").numpy()
    t = drawn[:, -1]
    assert drawn.shape == (200, 2001) and t.min() >= 0 and t.max() <= T_END
    assert np.abs((drawn[:, :-1] ** 2).sum(1) / (2 * (T_END - t) * 2000) - 1).max() < 0.2
    marginal = problem.domain.sample_interior(200, rng=0)
    assert marginal.shape == (200, 2000) and (np.linalg.norm(marginal, axis=1) < 4 * math.sqrt(2 * T_END * 2000)).all()


def test_radial_reference_agrees_with_the_published_value():
    """The radial finite-difference solution confirms the time direction and Δ (not ½Δ) at d = 10."""
    value = make("semilinear_heat", d=10).radial_reference(n_grid=400)
    assert abs(value - 0.469550) < 2e-5 and abs(value - 0.47006) / 0.47006 < 2e-3


@pytest.mark.parametrize("name", PARABOLIC)
def test_short_pinn_solve_parabolic(name):
    from solvers import PINN

    problem = make(name, d=10)
    solver = PINN(problem, steps=5, optimizer="adam", points=32, hidden="8", dtype="float64",
                  error_every=0, checkpoint_every=0)
    assert [e["enforced"] for e in solver.enforcement()] == ["ansatz"]
    errors = solver.solve().errors()
    assert math.isfinite(errors["rel_l2"])


def test_body_sum_batches():
    c = torch.tensor([1.0, -2.0, 0.5], dtype=F64)
    x = torch.rand(3, 4, dtype=F64)
    torch.testing.assert_close(body_sum(x, c, "two_body"), vmap(lambda y: body_sum(y, c, "two_body"))(x))


def test_the_forcing_comes_once_per_batch_and_matches_the_pointwise_one():
    """point_data gives g on a batch (chunked); the residual with it equals the residual that computes g itself."""
    problem = make("allen_cahn_ball", d=30)
    x = torch.as_tensor(problem.domain.sample_interior(7, rng=1))
    data = problem.point_data(x)
    torch.testing.assert_close(data["forcing"], vmap(problem.forcing)(x), rtol=1e-13, atol=1e-12)
    torch.testing.assert_close(problem.point_data(x)["forcing"], problem.forcing(x), rtol=1e-13, atol=1e-12)
    with problem.layout():
        given = vmap(lambda y, f: problem.residual(problem.exact, y, forcing=f))(x, data["forcing"])
        computed = vmap(lambda y: problem.residual(problem.exact, y))(x)
    torch.testing.assert_close(given, computed, rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("name", ["allen_cahn_ball", "semilinear_heat"])
def test_the_papers_setup_is_the_solvers_start(name):
    """solver_defaults: the PINN starts from the paper's options; the user's choices win."""
    from solvers import PINN

    problem = make(name, d=12)
    solver = PINN(problem, steps=3, points=8, width=8)
    o = solver.options
    assert (o.optimizer, o.derivatives, o.samples, o.dtype, o.resample_every, o.depth) == ("adam", "stde", 16, "float32", 1, 3)
    assert (o.width, o.points) == (8, 8)
    assert o.output_scale == (math.sqrt(12) if name == "allen_cahn_ball" else 1.0)
    assert solver.batch.interior.dtype == torch.float32 and solver.batch.interior.shape == (8, problem.n_coordinates)


def test_validation_at_a_hundred_thousand_dimensions_forms_no_hessian():
    """validate() probes the residual with sparse STDE above 64 coordinates (an exact Hessian would be 80 GB)."""
    problem = make("allen_cahn_ball", d=100_000)
    problem.validate()


def test_a_ball_run_reports_the_constant_floor(tmp_path, capsys):
    """physopt solve on a ball problem: summary errors and the printed line carry the floor and the non-constant part."""
    import json

    from physopt.cli import main

    out = tmp_path / "run"
    code = main(["solve", "allen_cahn_ball", "--param", "d=20", "--set", "steps=3", "--set", "width=8", "--set", "points=16",
                 "--no-progress", "--no-render", "--out", str(out)])
    assert code == 0
    errors = json.loads((out / "summary.json").read_text())["errors"]
    problem = make("allen_cahn_ball", d=20)
    assert errors["constant_floor_rel_l2"] == pytest.approx(problem.constant_floor()["rel_l2"], rel=1e-9)
    assert errors["nonconstant_rel_l2"] > 0
    assert "constant floor" in capsys.readouterr().out
    config = json.loads((out / "config.json").read_text())
    assert config["options"]["output_scale"] == pytest.approx(math.sqrt(20)) and config["options"]["optimizer"] == "adam"


def test_resume_redraws_the_device_batch_and_the_stde_directions(tmp_path):
    """A checkpoint carries the torch generator (points drawn on the device) and the STDE generator: a resumed run
    ends where an uninterrupted one does."""
    from solvers import PINN, StopTraining, load_checkpoint

    common = dict(steps=8, points=16, width=8, dtype="float64", error_every=0, seed=3)
    straight = PINN(make("allen_cahn_ball", d=12), **common).solve()

    class StopAt4:
        def on_start(self, s): ...

        def on_step(self, s, r):
            if r.step == 4:
                raise StopTraining("pause")

        def on_end(self, s): ...

    ckpt = tmp_path / "checkpoint.pt"
    PINN(make("allen_cahn_ball", d=12), **common).solve([StopAt4()], checkpoint_path=ckpt)
    saved = load_checkpoint(ckpt)
    assert saved["step"] == 4 and "torch" in saved["numpy_rng"] and "stde_rng" in saved
    resumed = PINN(make("allen_cahn_ball", d=12), **common).solve(checkpoint=saved)
    for p, q in zip(straight.model.parameters(), resumed.model.parameters()):
        assert torch.allclose(p, q, rtol=0, atol=1e-12)


def test_sobol_beyond_its_dimensions_is_a_clear_error():
    from physopt import ConfigurationError
    from solvers import PINN

    with pytest.raises(ConfigurationError, match="sampling=sobol supports at most 21,201 dimensions.*sampling=uniform"):
        PINN(make("allen_cahn_ball", d=30_000), sampling="sobol", points=4, width=4)
