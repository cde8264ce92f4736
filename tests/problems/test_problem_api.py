"""The Problem API: registry, library problems and their exact solutions, parameters.

Loading problems from files and validating them are tested in ``test_problem_files.py``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.func import vmap

import problems
from physopt import ConfigurationError, ProblemDefinitionError
from problems import Problem, registered_problems, resolve_problem
from problem_checks import residual_of_exact

F64 = torch.float64
LIBRARY = ["poisson2d", "poisson_nd", "heat1d", "convection1d", "burgers1d", "lshape_poisson"]
WITH_EXACT = ["poisson2d", "poisson_nd", "heat1d", "convection1d"]


def make(name, **params):
    return registered_problems()[name](**params)


def random_points(problem, n, seed=0, where="interior"):
    """Points ``(n, n_coordinates)`` in the domain (or on its boundary), random times."""
    rng = np.random.default_rng(seed)
    d = problem.domain
    space = d.sample_interior(n, rng=rng) if where == "interior" else d.sample_boundary(n, rng=rng)[0]
    if problem.has_time:
        t = problem.time.map(rng.random(n))
        space = np.column_stack([space, t])
    return torch.as_tensor(space, dtype=F64)


# --------------------------------------------------------------------------- registry
def test_registry_lists_the_library():
    found = registered_problems()
    assert set(LIBRARY) <= set(found)
    for name in LIBRARY:
        assert issubclass(found[name], Problem)
        assert found[name].name == name
        assert found[name].summary()


@pytest.mark.parametrize("name", LIBRARY)
def test_library_problem_validates(name):
    problem = make(name)
    problem.validate()
    assert problem.problem_name == name
    assert problem.n_coordinates == problem.n_space + int(problem.has_time)
    assert problem.has_reference


@pytest.mark.parametrize("name", LIBRARY)
def test_resolve_problem_by_name(name):
    assert resolve_problem(name) is registered_problems()[name]


def test_unknown_problem_name_lists_the_known_ones():
    with pytest.raises(ConfigurationError, match="unknown problem 'poisson3d'") as info:
        resolve_problem("poisson3d")
    for name in LIBRARY:
        assert name in str(info.value)
    assert isinstance(info.value, ValueError)


def test_register_rejects_non_problems_and_duplicates():
    with pytest.raises(TypeError, match="Problem subclasses"):
        problems.register("not_a_problem")(object)

    class Other(Problem):
        def residual(self, u, x):  # pragma: no cover
            return u(x)

    with pytest.raises(ValueError, match="already registered"):
        problems.register("poisson2d")(Other)


# --------------------------------------------------------------------------- exact solutions
@pytest.mark.parametrize(
    "name, params",
    [
        ("poisson2d", {}),
        ("poisson_nd", {}),
        ("poisson_nd", {"dim": 1}),
        ("poisson_nd", {"dim": 3}),
        ("poisson_nd", {"dim": 7}),
        ("heat1d", {}),
        ("heat1d", {"kappa": 0.7}),
        ("convection1d", {}),
        ("convection1d", {"beta": 40}),
    ],
)
def test_exact_solution_satisfies_the_pde(name, params):
    problem = make(name, **params)
    assert problem.has_exact
    xs = random_points(problem, 64, seed=1)
    res = residual_of_exact(problem, xs)
    assert res.shape == (64,)
    assert res.abs().max().item() < 1e-10


@pytest.mark.parametrize(
    "name, params",
    [("poisson2d", {}), ("poisson_nd", {"dim": 3}), ("poisson_nd", {"dim": 7}), ("heat1d", {}), ("convection1d", {"beta": 40})],
)
def test_residual_is_not_zero_for_a_wrong_field(name, params):
    """The PDE check above is not vacuous: a perturbed solution leaves a residual."""
    problem = make(name, **params)
    xs = random_points(problem, 16, seed=2)

    def wrong(x):
        return problem.exact(x) + 0.1 * torch.sin(2.0 * x.sum())

    with problem.layout():
        res = vmap(lambda x: problem.residual(wrong, x))(xs)
    assert res.abs().max().item() > 1e-2


@pytest.mark.parametrize("name, params", [("poisson2d", {}), ("poisson_nd", {"dim": 3}), ("poisson_nd", {"dim": 7}), ("heat1d", {}), ("convection1d", {})])
def test_exact_solution_satisfies_its_conditions(name, params):
    problem = make(name, **params)
    checked = 0
    for cond in problem.conditions:
        if cond.kind == "dirichlet":
            xs = random_points(problem, 200, seed=3, where="boundary")
            if cond.where is not None:  # pragma: no cover - none in the library
                xs = xs[torch.as_tensor(cond.where(xs.cpu().numpy()))]
            with problem.layout():
                got = vmap(problem.exact)(xs)
                want = vmap(cond.value)(xs)
            torch.testing.assert_close(got, want.expand_as(got), rtol=0, atol=1e-12)
        elif cond.kind == "initial":
            space = torch.as_tensor(problem.domain.sample_interior(200, rng=4), dtype=F64)
            xs = torch.column_stack([space, torch.full((200,), problem.time.t0, dtype=F64)])
            with problem.layout():
                got = vmap(problem.exact)(xs)
            want = vmap(cond.value)(space)
            torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
        elif cond.kind == "periodic":
            xs = random_points(problem, 200, seed=5)
            lo, hi = problem.domain.bounds
            at_lo, at_hi = xs.clone(), xs.clone()
            at_lo[:, cond.dim], at_hi[:, cond.dim] = lo[cond.dim], hi[cond.dim]
            torch.testing.assert_close(vmap(problem.exact)(at_lo), vmap(problem.exact)(at_hi), rtol=0, atol=1e-11)
        else:  # pragma: no cover
            pytest.fail(f"unexpected condition {cond!r}")
        checked += 1
    assert checked == len(problem.conditions) >= 1


def test_solution_at_shapes():
    problem = make("heat1d")
    xs = random_points(problem, 10)
    values = problem.solution_at(xs)
    assert values.shape == (10, 1)
    with problem.layout():
        torch.testing.assert_close(values[:, 0], vmap(problem.exact)(xs))


# --------------------------------------------------------------------------- Burgers
def test_burgers_conditions_and_reference():
    problem = make("burgers1d")
    assert not problem.has_exact and problem.has_reference
    assert problem.nu == pytest.approx(0.01 / math.pi)
    kinds = sorted(c.kind for c in problem.conditions)
    assert kinds == ["dirichlet", "initial"]
    x = torch.linspace(-1, 1, 21, dtype=F64)
    initial = next(c for c in problem.conditions if c.kind == "initial")
    ref0 = problem.reference_solution(torch.column_stack([x, torch.zeros_like(x)]))
    torch.testing.assert_close(ref0, vmap(initial.value)(x[:, None]), rtol=0, atol=1e-14)
    ends = torch.tensor([[-1.0, 0.3], [1.0, 0.3], [-1.0, 0.9], [1.0, 0.9]], dtype=F64)
    assert problem.reference_solution(ends).abs().max() < 1e-12
    values = problem.solution_at(ends)
    assert values.shape == (4, 1)


def test_burgers_residual_formula():
    """u_t + u u_x - nu u_xx, checked on a field with hand-computed derivatives."""
    problem = make("burgers1d", nu=0.05)

    def u(x):
        return torch.sin(2 * x[0]) * torch.cos(3 * x[1])

    xs = random_points(problem, 8, seed=6)
    with problem.layout():
        res = vmap(lambda x: problem.residual(u, x))(xs)
    X, T = xs[:, 0], xs[:, 1]
    val = torch.sin(2 * X) * torch.cos(3 * T)
    u_t = -3 * torch.sin(2 * X) * torch.sin(3 * T)
    u_x = 2 * torch.cos(2 * X) * torch.cos(3 * T)
    u_xx = -4 * val
    torch.testing.assert_close(res, u_t + val * u_x - 0.05 * u_xx, rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------- parameters
def test_parameter_override_and_defaults():
    conv_cls = registered_problems()["convection1d"]
    conv = conv_cls(beta=40)
    assert conv.beta == 40.0
    assert isinstance(conv.beta, float)
    assert conv.params == {"beta": 40.0}
    assert conv_cls().beta == 30.0
    assert conv_cls.parameters == {"beta": 30.0}
    assert "beta=40.0" in repr(conv)


def test_poisson_nd_dimension_parameter():
    for dim in (3, 7):
        problem = make("poisson_nd", dim=dim)
        assert problem.dim == dim
        assert problem.domain.dim == dim
        assert problem.n_coordinates == dim
        problem.validate()
    assert make("poisson_nd", dim="4").dim == 4
    assert make("poisson_nd").dim == 5


def test_parameter_of_wrong_type_raises():
    with pytest.raises(ProblemDefinitionError, match="dim='seven'.*int"):
        make("poisson_nd", dim="seven")


def test_unknown_parameter_raises_naming_it():
    with pytest.raises(ProblemDefinitionError, match="gamma") as info:
        make("convection1d", gamma=1.0)
    assert "beta" in str(info.value)  # lists the known ones
    with pytest.raises(ProblemDefinitionError, match="'poisson2d' has no parameter.*alpha.*none"):
        make("poisson2d", alpha=2)
