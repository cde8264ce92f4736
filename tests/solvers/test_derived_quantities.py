"""Derived quantities of a solution: any operator at points (against dense autograd), and fields written with a run."""

from __future__ import annotations

import json

import meshio
import numpy as np
import pytest
import torch

from physopt import grad, laplacian
from problems import resolve_problem
from solvers import PINN


def small_solution(name="poisson2d", **params):
    problem = resolve_problem(name)(**params)
    return PINN(problem, hidden="8,8", points=32, boundary_points=8, steps=3, optimizer="adam", dtype="float64").solve()


def test_operators_of_the_learned_field_match_dense_autograd():
    solution = small_solution()
    x = torch.rand(6, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    scalar = lambda y: solution.field(y).reshape(())  # noqa: E731 - the pointwise field (network and ansatz)
    hessians = torch.stack([torch.autograd.functional.hessian(scalar, p) for p in x])
    gradients = torch.stack([torch.autograd.functional.jacobian(scalar, p) for p in x])
    assert torch.allclose(solution.apply(laplacian, x), hessians.diagonal(dim1=1, dim2=2).sum(1), atol=1e-12)
    assert torch.allclose(solution.apply(grad, x), gradients, atol=1e-12)
    assert torch.allclose(solution.derivative(x, 0, 1)[:, 0], hessians[:, 0, 1], atol=1e-12)
    assert torch.allclose(solution.derivative(x), solution(x))
    flux = solution.apply(lambda u: lambda y: -2.0 * grad(u)(y), x)  # a user's operator
    assert torch.allclose(flux, -2.0 * gradients, atol=1e-12)


def test_spatial_operators_of_a_time_dependent_solution_leave_time_out():
    solution = small_solution("heat1d")
    x = torch.tensor([[0.3, 0.5], [0.7, 0.1]], dtype=torch.float64)
    assert torch.allclose(solution.apply(grad, x)[:, 0], solution.derivative(x, 0)[:, 0], atol=1e-12)
    assert torch.allclose(solution.apply(laplacian, x), solution.derivative(x, 0, 0)[:, 0], atol=1e-12)


def test_a_run_writes_derived_fields_when_asked(tmp_path, monkeypatch):
    from physopt.cli import main

    monkeypatch.chdir(tmp_path)
    argv = ["solve", "poisson2d", "--steps", "3", "--optimizer", "adam", "--points", "32", "--boundary-points", "8",
            "--width", "8", "--depth", "1", "--no-progress", "--no-render", "--out", "run", "--derived", "grad,laplacian"]
    assert main(argv) == 0
    assert {"grad_u", "laplacian_u"} <= set(json.loads((tmp_path / "run" / "fields.json").read_text())["fields"])
    mesh = meshio.read(tmp_path / "run" / "solution.vtu")
    assert mesh.point_data["grad_u"].shape == (len(mesh.points), 2)
    assert main([*argv[:-1], "flux", "--out", "other"]) == 2  # not a quantity of poisson2d: refused before solving
    assert not (tmp_path / "other").exists()


def test_a_problems_own_derived_quantities():
    from physopt.cli._derived import check_derived, derived_fields

    solution = small_solution()
    solution.problem.derived_quantities = {"flux": lambda u: lambda y: -grad(u)(y)}
    points = torch.rand(5, 2, dtype=torch.float64)
    check_derived(solution.problem, ["flux", "grad"])
    fields = derived_fields(solution.problem, solution, points, ["flux", "laplacian"])
    np.testing.assert_allclose(fields["flux"], -solution.apply(grad, points).numpy(), atol=1e-14)
    assert fields["laplacian_u"].shape == (5,)
    with pytest.raises(Exception, match="choose from grad, laplacian, flux"):
        check_derived(solution.problem, ["curl"])
