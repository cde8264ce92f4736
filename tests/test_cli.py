"""The ``physopt`` command line: ``physopt list``, and bad input to ``physopt solve`` (options, problem files).

The tests call :func:`physopt.cli.main` in-process. Every run is tiny and
writes under ``tmp_path`` (the tests also run with the current directory there,
so nothing lands in the repository). A complete run, plots and the real entry
point are tested in ``test_cli_runs.py``; ``--out``, ``--force`` and
``--resume`` in ``test_cli_resume.py``.
"""

from __future__ import annotations

import json
import math
import re

import pytest
import torch

from cli_helpers import LIBRARY, TINY, cli, error_line, problem_file

pytestmark = pytest.mark.usefixtures("in_tmp_path")


# ----- helpers ------------------------------------------------------------------------------


def argparse_error_line(err: str) -> str:
    """Usage errors print the usage first; the last line is the error."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("physopt: error: "), err
    return lines[-1]


# ----- physopt list -------------------------------------------------------------------------


def test_list_prints_every_section(capsys):
    code, out, err = cli(capsys, "list")
    assert code == 0 and err == ""
    for title in ("problems:", "solvers:", "optimizers:", "modes:"):
        assert title in out.splitlines()
    names = {line.split()[0] for line in out.splitlines() if line.startswith("  ")}
    assert set(LIBRARY) | {"pinn", "adam", "lbfgs", "adam+lbfgs", "exact"} <= names
    # the derivative modes, all implemented
    for mode in ("exact", "taylor", "stde"):
        assert re.search(rf"^\s+{mode}\s+\S", out, re.M)
    assert "not implemented" not in out


@pytest.mark.parametrize(
    "what, expected",
    [
        ("problems", set(LIBRARY)),
        ("solvers", {"pinn"}),
        ("optimizers", {"adam", "lbfgs", "adam+lbfgs"}),
        ("modes", {"exact"}),
    ],
)
def test_list_one_section(capsys, what, expected):
    code, out, err = cli(capsys, "list", what)
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == f"{what}:"
    assert not any(line.endswith(":") and not line.startswith(" ") for line in lines[1:]), "only one section"
    names = {line.split()[0] for line in lines[1:]}
    assert expected <= names
    if what == "problems":  # each with its one-line description
        assert all(len(line.split(None, 1)) == 2 for line in lines[1:])


def test_list_unknown_section_is_a_usage_error(capsys):
    code, out, err = cli(capsys, "list", "widgets")
    assert code == 2
    assert "invalid choice: 'widgets'" in argparse_error_line(err)


def test_no_command_is_a_usage_error(capsys):
    code, _, err = cli(capsys)
    assert code == 2
    argparse_error_line(err)


# ----- bad input to solve -------------------------------------------------------------------

BAD_INPUT = [
    pytest.param(["nosuch"], ["unknown problem 'nosuch'", "choose one of:", *LIBRARY, "path to a .py file"], id="problem"),
    pytest.param(["poisson2d", "--solver", "nope"], ["unknown solver 'nope'", "choose one of: deeponet, fno, lflow, lpinn, pi_deeponet, pinn"], id="solver"),
    pytest.param(
        ["poisson2d", "--optimizer", "sgd"],
        ["unknown optimizer 'sgd'", "adahessian, adam, engd", "adam+lbfgs", "adam:2000,lbfgs:500"],
        id="optimizer",
    ),
    pytest.param(
        ["poisson2d", "--optimizer", "adam:abc"], ["optimizer phase 'adam:abc' needs a step count", "adam:1000"], id="phase"
    ),
    pytest.param(
        ["poisson2d", "--set", "nosuch=1"],
        ["unknown option 'nosuch'", "options are:", "width", "checkpoint_every"],
        id="set-unknown",
    ),
    pytest.param(["poisson2d", "--set", "width=abc"], ["width='abc'", "must be a"], id="set-type"),
    pytest.param(["poisson2d", "--set", "steps=-1"], ["steps", ">= 0", "-1"], id="set-range"),
    pytest.param(["poisson2d", "--dtype", "float16"], ["unknown dtype 'float16'", "float32, float64"], id="dtype"),
    pytest.param(
        ["poisson2d", "--sampling", "foo"], ["unknown sampling 'foo'", "uniform, sobol, halton, grid"], id="sampling"
    ),
    pytest.param(["poisson2d", "--bc", "maybe"], ["unknown bc 'maybe'", "auto, soft, hard"], id="bc"),
    pytest.param(
        ["poisson2d", "--activation", "relu6"], ["unknown activation 'relu6'", "tanh", "sin", "gelu"], id="activation"
    ),
    pytest.param(
        ["convection1d", "--param", "gamma=1"],
        ["problem 'convection1d' has no parameter(s) gamma", "its parameters are: beta"],
        id="param-unknown",
    ),
    pytest.param(
        ["convection1d", "--param", "beta"], ["--param 'beta' must look like NAME=VALUE"], id="param-malformed"
    ),
    pytest.param(
        ["convection1d", "--param", "beta=fast"], ["beta='fast'", "convection1d", "must be a float"], id="param-type"
    ),
    pytest.param(
        ["poisson2d", "--derivatives", "stde", "--stde-estimator", "nope"],
        ["stde_estimator must be one of sparse, rademacher, gaussian", "'nope'"],
        id="stde-estimator-unknown",
    ),
    pytest.param(
        ["poisson2d", "--derivatives", "foo"], ["unknown derivative mode 'foo'", "choose one of: exact, stde, taylor"], id="derivatives-unknown"
    ),
]


@pytest.mark.parametrize("argv, phrases", BAD_INPUT)
def test_bad_solve_input_is_one_line_and_exit_2(capsys, tmp_path, argv, phrases):
    code, out, err = cli(capsys, "solve", *argv, *TINY, "--no-render", "--out", tmp_path / "run")
    line = error_line(err)
    for phrase in phrases:
        assert phrase in line, f"{phrase!r} not in {line!r}"
    assert code == 2
    assert out == ""
    assert not (tmp_path / "run" / "summary.json").exists()


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["nosuch"], id="problem"),
        pytest.param(["poisson2d", "--dtype", "float16"], id="dtype"),
        pytest.param(["heat1d", "--param", "kappa=x"], id="param"),
        pytest.param(["poisson2d", "--activation", "relu6"], id="activation"),
    ],
)
def test_bad_input_creates_no_run_directory(capsys, tmp_path, argv):
    """With the default --out (runs/NAME-SOLVER-TIME under the current directory)."""
    code, _, err = cli(capsys, "solve", *argv, *TINY)
    error_line(err)
    assert code == 2
    assert list(tmp_path.iterdir()) == []


def test_cuda_without_cuda(capsys, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    code, out, err = cli(capsys, "solve", "poisson2d", "--device", "cuda", *TINY, "--out", tmp_path / "run")
    line = error_line(err)
    assert "device 'cuda'" in line and "no CUDA" in line and "--device cpu" in line
    assert code == 2


@pytest.mark.parametrize(
    "argv, phrase",
    [
        (["--steps", "abc"], "argument --steps: invalid int value: 'abc'"),
        (["--lr", "fast"], "argument --lr: invalid float value: 'fast'"),
        (["--force", "--resume"], "argument --resume: not allowed with argument --force"),
    ],
)
def test_argparse_errors_exit_2(capsys, tmp_path, argv, phrase):
    code, out, err = cli(capsys, "solve", "poisson2d", *argv, "--out", tmp_path / "run")
    assert code == 2
    assert phrase in argparse_error_line(err)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(["--sampling", "foo"], id="sampling"),
        pytest.param(["--param", "beta=1"], id="param"),  # poisson2d has no parameters
        pytest.param(["--activation", "relu6"], id="activation"),
    ],
)
def test_failed_setup_leaves_out_reusable(capsys, tmp_path, bad):
    """A solve that fails at set-up must not leave a busy --out: rerunning needs no --force."""
    out = tmp_path / "run"
    code, _, err = cli(capsys, "solve", "poisson2d", *bad, *TINY, "--no-render", "--out", out)
    assert code == 2
    error_line(err)
    code, _, err = cli(capsys, "solve", "poisson2d", *TINY, "--no-render", "--out", out)
    assert code == 0, err
    assert json.loads((out / "summary.json").read_text())["status"] == "finished"


# ----- problem files ------------------------------------------------------------------------


def test_problem_file_that_does_not_exist(capsys, tmp_path):
    code, _, err = cli(capsys, "solve", "nowhere/missing.py", *TINY, "--out", tmp_path / "run")
    line = error_line(err)
    assert "problem file 'nowhere/missing.py' does not exist" in line
    assert code == 2


def test_problem_file_that_raises_at_import(capsys, tmp_path):
    path = problem_file("raises_at_import.py", tmp_path)
    lineno = path.read_text().splitlines().index('raise RuntimeError("deliberate failure while importing this problem file")') + 1
    code, _, err = cli(capsys, "solve", path, *TINY, "--out", tmp_path / "run")
    line = error_line(err)
    assert "failed to import" in line
    assert f"(line {lineno})" in line
    assert "RuntimeError: deliberate failure while importing this problem file" in line
    assert code == 2


def test_problem_file_with_syntax_error(capsys, tmp_path):
    path = tmp_path / "broken.py"
    path.write_text("from problems import Problem\n\n\nclass Broken(Problem)\n    pass\n")
    code, _, err = cli(capsys, "solve", path, *TINY, "--out", tmp_path / "run")
    line = error_line(err)
    assert "failed to import" in line and "SyntaxError" in line and "line 4" in line
    assert code == 2


def test_problem_file_without_problem(capsys, tmp_path):
    path = problem_file("no_problem.py", tmp_path)
    code, _, err = cli(capsys, "solve", path, *TINY, "--out", tmp_path / "run")
    line = error_line(err)
    assert "defines no Problem subclass" in line and "class MyProblem(Problem)" in line
    assert code == 2


def test_problem_file_must_be_python(capsys, tmp_path):
    (tmp_path / "notes.txt").write_text("not a problem\n")
    code, _, err = cli(capsys, "solve", "notes.txt", *TINY, "--out", tmp_path / "run")
    assert "must be a Python file ending in .py" in error_line(err)
    assert code == 2


def test_problem_file_with_two_problems(capsys, tmp_path):
    problem_file("two_problems.py", tmp_path)
    code, _, err = cli(capsys, "solve", "two_problems.py", *TINY, "--no-render", "--out", tmp_path / "a")
    line = error_line(err)
    assert "defines several problems (Plateau, Wave)" in line
    assert "'two_problems.py:ClassName'" in line
    assert code == 2

    code, _, err = cli(capsys, "solve", "two_problems.py:Nope", *TINY, "--no-render", "--out", tmp_path / "b")
    line = error_line(err)
    assert "no Problem subclass 'Nope'" in line and "Plateau, Wave" in line
    assert code == 2

    code, out, err = cli(capsys, "solve", "two_problems.py:Wave", *TINY, "--no-render", "--out", tmp_path / "c")
    assert code == 0, err
    assert out.splitlines()[0].startswith("two_problems.py:Wave · pinn · 6 steps")
    summary = json.loads((tmp_path / "c" / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["steps"] == 6
    assert math.isfinite(summary["errors"]["rel_l2"])
    config = json.loads((tmp_path / "c" / "config.json").read_text())
    assert config["problem"] == "two_problems.py:Wave" and config["problem_class"] == "Wave"


def test_problem_without_reference_reports_final_loss(capsys, tmp_path):
    problem_file("two_problems.py", tmp_path)
    code, out, err = cli(capsys, "solve", "two_problems.py:Plateau", *TINY, "--no-render", "--out", tmp_path / "run")
    assert code == 0, err
    assert "final loss = " in out and "(no reference solution)" in out
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["errors"] is None and summary["reference"] is None
    fields = json.loads((tmp_path / "run" / "fields.json").read_text())
    assert fields["fields"] == ["u"]


def test_exact_using_a_coordinate_the_domain_lacks(capsys, tmp_path):
    path = problem_file("exact_third_coordinate.py", tmp_path)
    code, _, err = cli(capsys, "solve", path, *TINY, "--out", tmp_path / "run")
    line = error_line(err)
    assert "exact(x) failed" in line
    assert "2-D domain" in line and "x has 2 coordinate(s)" in line
    assert "x[0]..x[1]" in line
    assert code == 2


def test_exact_returning_too_many_values(capsys, tmp_path):
    path = problem_file("exact_two_values.py", tmp_path)
    code, _, err = cli(capsys, "solve", path, *TINY, "--out", tmp_path / "run")
    line = error_line(err)
    assert "exact(x) returns 2 value(s) per point" in line and "1 unknown(s) ('u',)" in line
    assert code == 2
