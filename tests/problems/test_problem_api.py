"""The Problem API: registry, library problems, parameters, file loading, validation."""

from __future__ import annotations

import math
import textwrap

import numpy as np
import pytest
import torch
from torch.func import vmap

import problems
from physopt import ConfigurationError, ProblemDefinitionError, laplacian
from problems import Dirichlet, Initial, Periodic, Problem, registered_problems, resolve_problem

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


def residual_of_exact(problem, xs):
    def exact_field(x):
        return problem.exact(x)

    with problem.layout():
        return vmap(lambda x: problem.residual(exact_field, x))(xs)


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


# --------------------------------------------------------------------------- loading files
HEADER = """\
import torch
from physopt import laplacian, time_derivative
from problems import Box, Dirichlet, Interval, Problem, TimeInterval
"""

ONE = HEADER + """
class MyPoisson(Problem):
    '''-u'' = 1 on [0, 1].'''
    domain = Interval(0.0, 1.0)
    conditions = [Dirichlet(0.0)]

    def residual(self, u, x):
        return -laplacian(u)(x) - 1.0

    def exact(self, x):
        return 0.5 * x[0] * (1 - x[0])
"""

TWO = ONE + """

class Second(Problem):
    domain = Box([0.0, 0.0], [1.0, 1.0])

    def residual(self, u, x):
        return laplacian(u)(x)
"""


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_load_file_with_one_problem(tmp_path):
    path = write(tmp_path, "mine.py", ONE)
    cls = resolve_problem(str(path))
    assert issubclass(cls, Problem) and cls.__name__ == "MyPoisson"
    problem = cls()
    problem.validate()
    xs = torch.linspace(0.1, 0.9, 5, dtype=F64)[:, None]
    res = residual_of_exact(problem, xs)
    assert res.abs().max() < 1e-12
    assert problems.load_problem_file(path).__name__ == "MyPoisson"


def test_load_file_ignores_imported_problems(tmp_path):
    text = ONE + "\nfrom problems._library.heat import Heat1D\n"
    path = write(tmp_path, "imports.py", text)
    assert resolve_problem(str(path)).__name__ == "MyPoisson"


def test_load_file_with_two_problems_needs_a_class_name(tmp_path):
    path = write(tmp_path, "two.py", TWO)
    with pytest.raises(ProblemDefinitionError, match=":ClassName") as info:
        resolve_problem(str(path))
    assert "MyPoisson" in str(info.value) and "Second" in str(info.value)
    assert resolve_problem(f"{path}:Second").__name__ == "Second"
    assert resolve_problem(f"{path}:MyPoisson").__name__ == "MyPoisson"
    with pytest.raises(ProblemDefinitionError, match="no Problem subclass 'Third'.*MyPoisson, Second"):
        resolve_problem(f"{path}:Third")


def test_load_file_without_problem(tmp_path):
    path = write(tmp_path, "empty.py", HEADER + "\nX = 1\n")
    with pytest.raises(ProblemDefinitionError, match="defines no Problem subclass"):
        resolve_problem(str(path))


def test_load_file_that_fails_at_import_names_the_line(tmp_path):
    text = HEADER + "\nvalue = 1\nraise RuntimeError('boom while defining')\n"
    path = write(tmp_path, "broken.py", text)
    line = text.splitlines().index("raise RuntimeError('boom while defining')") + 1
    with pytest.raises(ProblemDefinitionError, match="failed to import") as info:
        resolve_problem(str(path))
    message = str(info.value)
    assert f"line {line}" in message
    assert "RuntimeError" in message and "boom while defining" in message
    assert "broken.py" in message


def test_load_file_failing_inside_a_function_names_the_innermost_line(tmp_path):
    text = HEADER + "\ndef helper():\n    return 1 / 0\n\nVALUE = helper()\n"
    path = write(tmp_path, "nested.py", text)
    line = text.splitlines().index("    return 1 / 0") + 1
    with pytest.raises(ProblemDefinitionError, match=f"failed to import \\(line {line}\\): ZeroDivisionError"):
        resolve_problem(str(path))


def test_load_file_with_syntax_error(tmp_path):
    path = write(tmp_path, "syntax.py", HEADER + "\nclass Oops(Problem)\n    pass\n")
    with pytest.raises(ProblemDefinitionError, match="failed to import.*SyntaxError") as info:
        resolve_problem(str(path))
    assert "line 5" in str(info.value)


def test_load_missing_or_non_python_file(tmp_path):
    with pytest.raises(ProblemDefinitionError, match="does not exist"):
        resolve_problem(str(tmp_path / "missing.py"))
    other = tmp_path / "notes.txt"
    other.write_text("hello")
    with pytest.raises(ProblemDefinitionError, match="must be a Python file"):
        resolve_problem(str(other))


# --------------------------------------------------------------------------- validation
def _problem_file(tmp_path, name, body):
    return resolve_problem(str(write(tmp_path, name, HEADER + textwrap.dedent(body))))


def test_exact_using_a_coordinate_the_domain_lacks(tmp_path):
    cls = _problem_file(
        tmp_path,
        "third.py",
        """
        class ThirdCoordinate(Problem):
            domain = Box([0.0, 0.0], [1.0, 1.0])

            def residual(self, u, x):
                return laplacian(u)(x)

            def exact(self, x):
                return x[0] * x[2]
        """,
    )
    with pytest.raises(ProblemDefinitionError, match=r"exact\(x\) failed") as info:
        cls().validate()
    message = str(info.value)
    assert "2 coordinate(s)" in message
    assert "x[0]..x[1]" in message


def test_residual_using_a_missing_coordinate_mentions_time(tmp_path):
    cls = _problem_file(
        tmp_path,
        "heatbad.py",
        """
        class HeatBad(Problem):
            domain = Interval(0.0, 1.0)
            time = TimeInterval(0.0, 1.0)

            def residual(self, u, x):
                return time_derivative(u)(x) - laplacian(u)(x) - x[2]
        """,
    )
    with pytest.raises(ProblemDefinitionError, match=r"residual\(u, x\) failed.*x\[0\]\.\.x\[1\] \(time is the last one\)"):
        cls().validate()


@pytest.mark.parametrize(
    "unknowns, expr, returned",
    [
        ('("u",)', "torch.stack([x[0], x[1]])", 2),
        ('("u", "v")', "x[0] * x[1]", 1),
        ('("u", "v")', "torch.stack([x[0], x[1], x[0]])", 3),
    ],
)
def test_exact_with_the_wrong_number_of_values(tmp_path, unknowns, expr, returned):
    cls = _problem_file(
        tmp_path,
        "count.py",
        f"""
        class Count(Problem):
            domain = Box([0.0, 0.0], [1.0, 1.0])
            unknowns = {unknowns}

            def residual(self, u, x):
                return laplacian(u)(x)

            def exact(self, x):
                return {expr}
        """,
    )
    n_unknowns = len(eval(unknowns))
    with pytest.raises(ProblemDefinitionError, match=f"returns {returned} value\\(s\\) per point.*{n_unknowns} unknown"):
        cls().validate()


def test_exact_with_two_unknowns_validates(tmp_path):
    cls = _problem_file(
        tmp_path,
        "pair.py",
        """
        class Pair(Problem):
            domain = Box([0.0, 0.0], [1.0, 1.0])
            unknowns = ("u", "v")

            def residual(self, u, x):
                return laplacian(u)(x)

            def exact(self, x):
                return torch.stack([x[0], x[1]])
        """,
    )
    problem = cls()
    problem.validate()
    xs = torch.rand(5, 2, dtype=F64)
    torch.testing.assert_close(problem.solution_at(xs), xs)


def _inline(**attrs):
    def residual(self, u, x):
        return laplacian(u)(x)

    return type("Inline", (Problem,), {"residual": residual, **attrs})


@pytest.mark.parametrize(
    "attrs, message",
    [
        ({}, "needs a `domain`"),
        ({"domain": problems.Box([0.0], [1.0]), "time": (0.0, 1.0)}, "TimeInterval"),
        ({"domain": problems.Box([0.0], [1.0]), "unknowns": ("u v",)}, "unknowns"),
        ({"domain": problems.Box([0.0], [1.0]), "conditions": [Initial(0.0)]}, "Initial condition but no `time"),
        ({"domain": problems.Box([0.0], [1.0]), "conditions": [Periodic(dim=1)]}, r"Periodic\(dim=1\)"),
        ({"domain": problems.Box([0.0], [1.0]), "conditions": ["u = 0"]}, "is not a condition"),
        (
            {
                "domain": problems.Box([0.0], [1.0]),
                "conditions": [problems.HardConstraint(lambda x, n: n), problems.HardConstraint(lambda x, n: n)],
            },
            "more than one HardConstraint",
        ),
    ],
)
def test_validate_reports_misfitting_pieces(attrs, message):
    with pytest.raises(ProblemDefinitionError, match=message):
        _inline(**attrs)().validate()


def test_validate_requires_a_residual():
    cls = type("NoResidual", (Problem,), {"domain": problems.Box([0.0], [1.0])})
    with pytest.raises(ProblemDefinitionError, match=r"must define residual\(self, u, x\)"):
        cls().validate()


def test_inline_problem_with_conditions_validates():
    cls = _inline(
        domain=problems.Box([0.0], [1.0]),
        time=problems.TimeInterval(0.0, 1.0),
        conditions=[Dirichlet(0.0), Initial(lambda x: torch.sin(x[0])), Periodic(dim=0)],
    )
    cls().validate()
