"""The Problem API: loading problems from files, and the validation of a problem's definition."""

from __future__ import annotations

import textwrap

import pytest
import torch

import problems
from physopt import ProblemDefinitionError, laplacian
from problems import Dirichlet, Initial, Periodic, Problem, resolve_problem
from problem_checks import residual_of_exact

F64 = torch.float64


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
