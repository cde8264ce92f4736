"""Inverse problems: unknown scalars trained with the network, Data conditions, standard errors (docs/problems.md)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

import problems
import solvers
from physopt import ProblemDefinitionError
from problems import Box, Data, Dirichlet, Problem, Unknown
from solvers._uncertainty import restricted_covariance


def unknown_columns(objective, names):
    offsets = dict(zip(objective.flat.names, itertools.accumulate([0] + list(objective.flat.sizes))))
    return [offsets[f"unknowns.raw_{n}"] for n in names]


def test_jacobian_columns_of_the_unknowns_match_autodiff():
    solver = solvers.PINN(problems.resolve_problem("diffusion_reaction_inverse")(), dtype="float64", hidden="8",
                          points=32, optimizer="lm")
    objective = solver.least_squares()
    theta = objective.flat.vector().detach()
    J = objective.jacobian(theta)
    dense = torch.func.jacrev(objective.residual)(theta)
    columns = unknown_columns(objective, ["D", "k"])
    assert all(float(J[:, c].norm()) > 0 for c in columns)  # the unknowns move the residual
    assert torch.allclose(J, dense, rtol=0, atol=1e-12 * float(dense.abs().max()))


def test_standard_errors_of_an_exact_linear_least_squares_fit():
    """y = a + b t + c t² + noise, with (a, b) the unknowns and c a 'network' parameter eliminated by the Schur
    complement: the covariance of (a, b) is the (a, b) block of σ̂² (XᵀX)⁻¹, σ̂² = RSS / (N − 3)."""
    rng = np.random.default_rng(0)
    t = np.linspace(0, 1, 40)
    X = np.column_stack([np.ones_like(t), t, t**2])
    y = X @ [1.0, -2.0, 0.5] + rng.normal(0, 0.1, len(t))
    beta, rss, *_ = np.linalg.lstsq(X, y, rcond=None)
    expected = rss[0] / (len(t) - 3) * np.linalg.inv(X.T @ X)[:2, :2]
    J = torch.as_tensor(X / math.sqrt(len(t)))  # rows scaled as a PINN's data term (weight 1, N points)
    r = torch.as_tensor((X @ beta - y) / math.sqrt(len(t)))
    scale = float(r @ r) / (len(t) - 3)
    got = restricted_covariance(J.T @ J, [0, 1], scale)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10)


def test_unknowns_transform_and_validate():
    for spec, value in ((Unknown(2.0, positive=True), 0.3), (Unknown(0.5, bounds=(0.0, 1.0)), 0.9), (Unknown(-1.0), 7.0)):
        assert float(spec.value(torch.tensor(spec.raw(value), dtype=torch.float64))) == pytest.approx(value, rel=1e-12)
    with pytest.raises(ProblemDefinitionError, match="must be > 0"):
        Unknown(-1.0, positive=True)
    with pytest.raises(ProblemDefinitionError, match="strictly inside the bounds"):
        Unknown(2.0, bounds=(0.0, 1.0))

    class Clash(Problem):
        domain = Box([0.0], [1.0])
        parameters = {"k": 1.0}
        unknown_parameters = {"k": 2.0}

        def residual(self, u, x):
            return u(x)

    with pytest.raises(ProblemDefinitionError, match="not also parameters or unknowns"):
        Clash()


class _Line(Problem):
    domain = Box([0.0, 0.0], [1.0, 1.0])
    conditions = [Dirichlet(0.0)]

    def residual(self, u, x):
        return u(x)


@pytest.mark.parametrize("content, message", [
    ("npz-missing", "has no array values"),
    ("csv-missing", "has no column u (its columns: x, y, v)"),
    ("nan", "must be finite"),
    ("outside", "Data point 1 [2.0, 0.5] lies outside the domain (1 of 3 do)"),
    ("suffix", "must be .npz, .h5 or .csv"),
])
def test_bad_data_files_give_one_line_errors(tmp_path, content, message):
    points = np.array([[0.1, 0.2], [0.5, 0.5], [0.9, 0.1]])
    if content == "npz-missing":
        np.savez(tmp_path / "d.npz", points=points)
        make = lambda: Data(file=tmp_path / "d.npz")  # noqa: E731
    elif content == "csv-missing":
        (tmp_path / "d.csv").write_text("x,y,v\n0.1,0.2,1\n0.5,0.5,2\n")
        make = lambda: Data(file=tmp_path / "d.csv", coordinates=("x", "y"))  # noqa: E731
    elif content == "nan":
        make = lambda: Data(points, [[1.0], [np.nan], [2.0]])  # noqa: E731
    elif content == "outside":
        points[1, 0] = 2.0
        make = lambda: Data(points, [[1.0], [1.0], [2.0]])  # noqa: E731
    else:
        (tmp_path / "d.txt").write_text("1 2 3\n")
        make = lambda: Data(file=tmp_path / "d.txt")  # noqa: E731
    with pytest.raises(ProblemDefinitionError) as info:
        condition = make()
        problem = _Line()
        condition.validate(problem)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_a_data_file_is_read_like_arrays(tmp_path):
    points, values = np.array([[0.1, 0.2], [0.5, 0.5]]), np.array([[1.0], [2.0]])
    (tmp_path / "d.csv").write_text("v,y,x,u\n9,0.2,0.1,1\n9,0.5,0.5,2\n")
    np.savez(tmp_path / "d.npz", points=points, values=values)
    for data in (Data(file=tmp_path / "d.csv", coordinates=("x", "y")), Data(file=tmp_path / "d.npz")):
        np.testing.assert_array_equal(data.points, points)
        np.testing.assert_array_equal(data.values, values)


class _TwoFields(Problem):
    """u'' = 0 with u = 0 at both ends (a condition on u only), and v = x + 1 everywhere: v must stay free on the
    boundary, where a condition on every component would pull it to 0."""
    domain = Box([0.0], [1.0])
    unknowns = ("u", "v")
    conditions = [Dirichlet(0.0, components=("u",))]

    def residual(self, s, x):
        from physopt import laplacian

        return torch.stack([laplacian(lambda y: s(y)[0])(x), s(x)[1] - (x[0] + 1)])


def test_a_condition_on_some_components_leaves_the_others_free():
    problem = _TwoFields()
    problem.validate()
    (condition,) = problem.conditions
    x = torch.tensor([1.0], dtype=torch.float64)
    r = condition.residual(lambda y: torch.stack([y[0] * 0 + 0.25, y[0] * 0 + 5.0]), x)
    assert r.shape == (1,) and float(r[0]) == 0.25  # only u's value: v = 5 is not constrained
    solver = solvers.PINN(problem, dtype="float64", hidden="16", points=64, boundary_points=8, optimizer="lm", steps=60)
    assert solver.hard is None  # no ansatz for a condition on some components: a penalty
    solution = solver.solve()
    ends = torch.tensor([[0.0], [1.0]], dtype=torch.float64)
    values = solution(ends)
    assert values[:, 0].abs().max() < 1e-4  # u = 0 at both ends
    assert torch.allclose(values[:, 1], torch.tensor([1.0, 2.0], dtype=torch.float64), atol=1e-4)  # v free: x + 1


def test_components_must_name_unknowns():
    class Wrong(_TwoFields):
        conditions = [Dirichlet(0.0, components=("w",))]

    with pytest.raises(ProblemDefinitionError, match=r"names w, which are not among its unknowns \('u', 'v'\)"):
        Wrong().validate()


def test_an_unknown_field_is_a_second_network_starting_at_its_initial_value():
    from problems import UnknownField, UnknownParameters

    module = UnknownParameters({"D": 0.5, "kappa": UnknownField(2.0, positive=True, width=6, depth=1)}, 2).double()
    assert module.scalars == ["D"]
    kappa = module.values()["kappa"]
    x = torch.tensor([0.3, 0.7], dtype=torch.float64)
    assert float(kappa(x).detach()) == 2.0  # the last layer starts at zero: k = k0 everywhere
    with torch.no_grad():
        module.field_kappa.layers[-1].bias.fill_(0.1)
    assert float(kappa(x).detach()) == pytest.approx(2.0 * math.exp(0.1), rel=1e-14)  # positive: k0·exp(N)
    params = {f"unknowns.{k}": v for k, v in module.named_parameters()}
    from_params = module.values(params, prefix="unknowns.")["kappa"]
    assert float(from_params(x).detach()) == float(kappa(x).detach())  # the functional path is the module's
    assert float(torch.func.grad(from_params)(x).detach().norm()) == 0.0  # biases only moved: flat
    with pytest.raises(ProblemDefinitionError, match="must be finite and > 0"):
        UnknownField(0.0, positive=True)
    with pytest.raises(ProblemDefinitionError, match="width must be an integer >= 1"):
        UnknownField(1.0, width=0)


def test_jacobian_columns_of_an_unknown_field_match_autodiff():
    problem = problems.resolve_problem("heat_conductivity_inverse")(samples=20)
    solver = solvers.PINN(problem, dtype="float64", hidden="8", points=24, boundary_points=8, optimizer="lm")
    with torch.no_grad():  # move the field off its flat start, so its gradient columns are not trivially zero
        for p in solver.model.unknowns.parameters():
            p.add_(0.1 * torch.randn_like(p))
    objective = solver.least_squares()
    theta = objective.flat.vector().detach()
    J = objective.jacobian(theta)
    dense = torch.func.jacrev(objective.residual)(theta)
    offsets = list(itertools.accumulate([0] + list(objective.flat.sizes)))
    field = [slice(offsets[i], offsets[i + 1]) for i, name in enumerate(objective.flat.names)
             if name.startswith("unknowns.field_kappa.")]
    assert field and all(float(J[:, s].norm()) > 0 for s in field)  # every layer of the field moves the residual
    assert torch.allclose(J, dense, rtol=0, atol=1e-12 * float(dense.abs().max()))


def test_conductivity_field_is_identified_from_temperature_samples():
    """60 LM steps on few points: the conductivity's relative L2 error falls from 0.24 (κ ≡ 1) below 0.05."""
    problem = problems.resolve_problem("heat_conductivity_inverse")(noise=0.0, samples=100)
    solver = solvers.PINN(problem, dtype="float64", hidden="16,16", points=256, boundary_points=64, optimizer="lm",
                          steps=60)
    before = solver.identified_unknowns()["kappa"]["rel_l2"]
    solution = solver.solve()
    after = solution.info["unknowns"]["kappa"]
    assert before > 0.2 and after["field"] and after["rel_l2"] < 0.05
    assert "D" not in solution.info["unknowns"]


def test_a_run_reports_and_writes_the_identified_field(tmp_path, monkeypatch, capsys):
    import json

    from physopt.cli import main

    monkeypatch.chdir(tmp_path)
    argv = ["solve", "heat_conductivity_inverse", "--param", "samples=20", "--optimizer", "lm", "--steps", "3",
            "--points", "32", "--boundary-points", "8", "--width", "8", "--depth", "1", "--no-progress", "--no-render",
            "--out", "run"]
    assert main(argv) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    kappa = summary["unknowns"]["kappa"]
    assert kappa["field"] and 0 < kappa["rel_l2"] < 1
    assert f"kappa(x) (relative L2 {kappa['rel_l2']:.3g})" in capsys.readouterr().out
    manifest = json.loads((tmp_path / "run" / "fields.json").read_text())
    assert {"kappa", "kappa_reference", "error_kappa"} <= set(manifest["fields"])
    assert manifest["components"] == ["u", "kappa"]
