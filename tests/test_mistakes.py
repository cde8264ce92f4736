"""A new user's mistakes stop a run with one line that names the fix (no training, no run directory).

The five a user found with only the docs as a guide: a residual of the wrong
size (``sin(πx)`` of the whole point), a condition value of the wrong size, a
list on a scalar problem, ``laplacian(u, x)`` (a DeepXDE habit) and
``laplacian(u(x))(x)``. Before, the first three trained as a 2-equation system
or a 2-component field and exited 0.
"""

from __future__ import annotations

import re
import textwrap

import pytest

from cli_helpers import cli, error_line

HEADER = """\
import torch
from problems import Problem, Box, Dirichlet, Initial, TimeInterval
from physopt import laplacian, grad, hessian, partial, time_derivative
"""

MISTAKES = {
    "residual_shape": (
        "conditions = [Dirichlet(0.0)]\n"
        "def residual(self, u, x):\n"
        "    return -laplacian(u)(x) - torch.sin(torch.pi * x)",
        r"residual\(u, x\) returns 2 value\(s\) per point but the problem has 1 unknown.*use x\[0\], x\[1\]",
    ),
    "condition_shape": (
        "conditions = [Dirichlet(lambda x: torch.sin(torch.pi * x))]\n"
        "def residual(self, u, x):\n"
        "    return -laplacian(u)(x) - 1.0",
        r"Dirichlet\(<function>\): its value has 2 values per point but the problem has one unknown.*use x\[0\], x\[1\]",
    ),
    "list_on_scalar": (
        "conditions = [Dirichlet([0.0, 1.0])]\n"
        "def residual(self, u, x):\n"
        "    return -laplacian(u)(x) - 1.0",
        r"Dirichlet\(\[0.0, 1.0\]\): its value has 2 values per point .* give one number",
    ),
    "laplacian_u_x": (
        "conditions = [Dirichlet(0.0)]\n"
        "def residual(self, u, x):\n"
        "    return -laplacian(u, x) - 1.0",
        r"laplacian\(u, x\) passes the point as `dims`.* write laplacian\(u\)\(x\)",
    ),
    "laplacian_of_a_value": (
        "conditions = [Dirichlet(0.0)]\n"
        "def residual(self, u, x):\n"
        "    return -laplacian(u(x))(x) - 1.0",
        r"laplacian takes the field u, not its value u\(x\).*write laplacian\(u\)\(x\)",
    ),
    "initial_shape": (
        "time = TimeInterval(0.0, 1.0)\n"
        "conditions = [Initial(lambda x: torch.sin(x)), Dirichlet(0.0)]\n"
        "def residual(self, u, x):\n"
        "    return time_derivative(u)(x) - laplacian(u)(x)",
        r"Initial\(<function>\): its value \(a function of the spatial point\) has 2 values per point",
    ),
    "grad_u_x": (
        "conditions = [Dirichlet(0.0)]\n"
        "def residual(self, u, x):\n"
        "    return grad(u, x)[0] - 1.0",
        r"grad\(u, x\) passes the point as `dims`.* write grad\(u\)\(x\)",
    ),
    "hessian_of_a_value": (
        "conditions = [Dirichlet(0.0)]\n"
        "def residual(self, u, x):\n"
        "    return hessian(u(x))(x)[0, 0] - 1.0",
        r"hessian takes the field u, not its value u\(x\)",
    ),
    "partial_u_x": (
        "conditions = [Dirichlet(0.0)]\n"
        "def residual(self, u, x):\n"
        "    return partial(u, x)(x) - 1.0",
        r"partial\(u, \*index\) takes coordinate indices .* write partial\(u, 0\)\(x\)",
    ),
    "time_derivative_u_x": (
        "time = TimeInterval(0.0, 1.0)\n"
        "conditions = [Initial(0.0)]\n"
        "def residual(self, u, x):\n"
        "    return time_derivative(u, x)(x) - laplacian(u)(x)",
        r"time_derivative\(u, order\) takes the order .* write time_derivative\(u\)\(x\)",
    ),
    "declared_equations": (
        "equations = 3\n"
        "conditions = [Dirichlet(0.0)]\n"
        "def residual(self, u, x):\n"
        "    return torch.stack([laplacian(u)(x), u(x)])",
        r"returns 2 value\(s\) per point but the problem declares equations = 3",
    ),
}


def _write(tmp_path, name: str, body: str):
    domain = "domain = Box([0.0, 0.0], [1.0, 1.0])"
    source = HEADER + f"\n\nclass Mistake(Problem):\n    {domain}\n" + textwrap.indent(body, "    ") + "\n"
    path = tmp_path / f"{name}.py"
    path.write_text(source, encoding="utf-8")
    return path


@pytest.mark.parametrize("name", sorted(MISTAKES))
def test_a_mistake_stops_with_one_line_naming_the_fix(name, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    body, message = MISTAKES[name]
    path = _write(tmp_path, name, body)
    code, out, err = cli(capsys, "solve", path.name, "--steps", "2", "--no-progress", "--out", "run")
    assert code == 2, (out, err)
    assert re.search(message, error_line(err)), error_line(err)
    assert not (tmp_path / "run").exists()


def test_a_declared_system_of_more_equations_than_unknowns_trains(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    body = (
        "equations = 2\n"
        "conditions = [Dirichlet(0.0)]\n"
        "def residual(self, u, x):\n"
        "    return torch.stack([-laplacian(u)(x) - 1.0, 0.0 * u(x)])"
    )
    path = _write(tmp_path, "declared", body)
    code, out, err = cli(capsys, "solve", path.name, "--steps", "2", "--width", "8", "--depth", "1", "--points", "32",
                         "--no-progress", "--no-render", "--out", "run")
    assert code == 0, err
