"""The ``physopt`` command line: list, solve, plot, run directories and error messages.

Most tests call :func:`physopt.cli.main` in-process (fast); a few run
``python -m physopt`` in a subprocess to check the real entry point. Every run
is tiny and writes under ``tmp_path`` (the tests also run with the current
directory there, so nothing lands in the repository).
"""

from __future__ import annotations

import json
import math
import os
import pickle
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from physopt.cli import main
from physopt.viz import pyvista_installed
from cli_helpers import cli, error_line
from image_checks import assert_real_image, image_frames

PROBLEMS_DIR = Path(__file__).parent / "cli_problems"
LIBRARY = (
    "poisson2d", "poisson_nd", "heat1d", "convection1d", "burgers1d", "lshape_poisson", "heat2d", "allen_cahn2d", "burgers2d",
)
TINY = ["--steps", "6", "--points", "64", "--boundary-points", "32", "--width", "8", "--depth", "1", "--no-progress"]


# ----- helpers ------------------------------------------------------------------------------


def argparse_error_line(err: str) -> str:
    """Usage errors print the usage first; the last line is the error."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("physopt: error: "), err
    return lines[-1]


def problem_file(name: str, where: Path) -> Path:
    """Copy a helper problem file into ``where`` and return the copy."""
    target = where / name
    shutil.copy(PROBLEMS_DIR / name, target)
    return target


def snapshot(directory: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(directory.iterdir()) if p.is_file()}


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def step_losses(path: Path) -> list[tuple[int, float]]:
    return [(r["step"], r["loss"]) for r in read_jsonl(path) if "loss" in r]


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="module")
def bump_run(tmp_path_factory):
    """The README's bump.py solved by file path (relative, as in the README), with pictures."""
    root = tmp_path_factory.mktemp("bump")
    problem_file("bump.py", root)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        try:
            code = main(["solve", "bump.py", *TINY, "--out", "runs/bump"])
        except SystemExit as exc:  # pragma: no cover - reported below
            code = exc.code
    assert code == 0
    return root / "runs" / "bump"


@pytest.fixture(scope="module")
def heat_run(tmp_path_factory):
    """A tiny time-dependent (x, t) run without pictures; plot tests copy it."""
    root = tmp_path_factory.mktemp("heat")
    out = root / "heat"
    code = main(["solve", "heat1d", *TINY, "--no-render", "--out", str(out)])
    assert code == 0
    return out


# ----- physopt list -------------------------------------------------------------------------


def test_list_prints_every_section(capsys):
    code, out, err = cli(capsys, "list")
    assert code == 0 and err == ""
    for title in ("problems:", "solvers:", "optimizers:", "modes:"):
        assert title in out.splitlines()
    names = {line.split()[0] for line in out.splitlines() if line.startswith("  ")}
    assert set(LIBRARY) | {"pinn", "adam", "lbfgs", "adam+lbfgs", "exact"} <= names
    # planned derivative modes are marked as such
    assert re.search(r"^\s+taylor\s+.*not implemented yet", out, re.M)


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
    pytest.param(["poisson2d", "--solver", "nope"], ["unknown solver 'nope'", "choose one of: pinn"], id="solver"),
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
        ["poisson2d", "--derivatives", "taylor"],
        ["derivative mode 'taylor'", "not implemented yet", "use one of: exact"],
        id="derivatives-planned",
    ),
    pytest.param(
        ["poisson2d", "--derivatives", "foo"], ["unknown derivative mode 'foo'", "choose one of: exact"], id="derivatives-unknown"
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


# ----- a complete run directory -------------------------------------------------------------


def test_readme_bump_run_directory(bump_run):
    run = bump_run
    # solving never needs PyVista: without it the fields are written and only the loss plot is drawn
    pictures = {"solution.png", "error.png", "loss.png"} if pyvista_installed() else {"loss.png"}
    expected = {"config.json", "metrics.jsonl", "model.pt", "checkpoint.pt", "summary.json", "fields.json",
                "solution.vtu"} | pictures
    assert expected <= {p.name for p in run.iterdir()}
    assert not list(run.glob("*.tmp")), "no temporary files left behind"

    config = json.loads((run / "config.json").read_text())
    assert config["problem"] == "bump.py" and config["problem_class"] == "Bump" and config["solver"] == "pinn"
    assert config["options"]["steps"] == 6 and config["options"]["width"] == 8 and config["options"]["depth"] == 1
    assert config["command"][:3] == ["physopt", "solve", "bump.py"]

    records = read_jsonl(run / "metrics.jsonl")
    steps = [r for r in records if "loss" in r]
    assert [r["step"] for r in steps] == [1, 2, 3, 4, 5, 6]
    assert all(math.isfinite(r["loss"]) for r in steps)
    assert all("event" in r for r in records if "loss" not in r)

    model = torch.load(run / "model.pt", weights_only=True)
    assert model and all(torch.is_tensor(v) for v in model.values())
    checkpoint = torch.load(run / "checkpoint.pt", weights_only=True)
    assert checkpoint["step"] == 6
    assert all(torch.equal(model[k], checkpoint["model"][k]) for k in model)

    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["steps"] == 6 and summary["reference"] == "exact"
    for key in ("rel_l2", "max_abs"):
        assert isinstance(summary["errors"][key], float) and math.isfinite(summary["errors"][key])
    assert set(summary["pictures"]) == pictures

    fields = json.loads((run / "fields.json").read_text())
    assert fields["primary"] == "u" and set(fields["fields"]) == {"u", "u_reference", "error_u"}
    assert [f["file"] for f in fields["files"]] == ["solution.vtu"]


def test_readme_bump_fields_open_in_meshio(bump_run):
    import meshio

    mesh = meshio.read(bump_run / "solution.vtu")
    assert {"u", "u_reference", "error_u"} <= set(mesh.point_data)
    for values in mesh.point_data.values():
        assert values.shape == (len(mesh.points),) and np.all(np.isfinite(values))
    np.testing.assert_allclose(mesh.point_data["error_u"], mesh.point_data["u"] - mesh.point_data["u_reference"], atol=1e-12)
    exact = np.sin(np.pi * mesh.points[:, 0]) * np.sin(np.pi * mesh.points[:, 1])
    np.testing.assert_allclose(mesh.point_data["u_reference"], exact, atol=1e-12)
    # the summary's max error is measured on the problem's error points, which here are the mesh nodes
    summary = json.loads((bump_run / "summary.json").read_text())
    assert summary["errors"]["max_abs"] == pytest.approx(np.abs(mesh.point_data["error_u"]).max(), rel=1e-9)


@pytest.mark.pyvista
def test_readme_bump_fields_open_in_pyvista(bump_run):
    import meshio
    import pyvista

    mesh = meshio.read(bump_run / "solution.vtu")
    grid = pyvista.read(str(bump_run / "solution.vtu"))
    assert grid.n_points == len(mesh.points) and grid.n_cells > 0
    np.testing.assert_array_equal(np.asarray(grid.point_data["u"]), mesh.point_data["u"])


@pytest.mark.pyvista
def test_readme_bump_pictures_are_real(bump_run):
    assert_real_image(bump_run / "solution.png")
    assert_real_image(bump_run / "error.png")
    assert_real_image(bump_run / "loss.png", min_colours=10)


# ----- output directory safety --------------------------------------------------------------


@pytest.fixture
def finished_run(capsys, tmp_path):
    out = tmp_path / "run"
    code, _, err = cli(capsys, "solve", "poisson2d", *TINY, "--no-render", "--out", out)
    assert code == 0, err
    return out


def test_busy_out_is_refused_and_left_alone(capsys, finished_run):
    before = snapshot(finished_run)
    code, out, err = cli(capsys, "solve", "poisson2d", *TINY, "--no-render", "--seed", "3", "--out", finished_run)
    line = error_line(err)
    assert "already holds files" in line and "--resume" in line and "--force" in line
    assert code == 2
    assert snapshot(finished_run) == before
    assert [p.name for p in finished_run.parent.iterdir()] == [finished_run.name]


def test_force_moves_the_old_run_aside(capsys, finished_run):
    old_summary = (finished_run / "summary.json").read_text()
    old_files = snapshot(finished_run)
    code, out, err = cli(capsys, "solve", "poisson2d", *TINY, "--no-render", "--seed", "3", "--force", "--out", finished_run)
    assert code == 0, err
    backups = sorted(finished_run.parent.glob(f"{finished_run.name}.old-*"))
    assert len(backups) == 1 and backups[0].is_dir()
    assert (backups[0] / "summary.json").read_text() == old_summary
    assert {name: data for name, (data, _) in snapshot(backups[0]).items()} == {n: d for n, (d, _) in old_files.items()}
    new_config = json.loads((finished_run / "config.json").read_text())
    assert new_config["options"]["seed"] == 3
    assert len(step_losses(finished_run / "metrics.jsonl")) == 6  # a fresh metrics file, not appended

    # forcing again keeps both older runs
    code, _, err = cli(capsys, "solve", "poisson2d", *TINY, "--no-render", "--force", "--out", finished_run)
    assert code == 0, err
    assert len(list(finished_run.parent.glob(f"{finished_run.name}.old-*"))) == 2


def test_empty_out_is_used_without_force(capsys, tmp_path):
    out = tmp_path / "empty"
    out.mkdir()
    code, _, err = cli(capsys, "solve", "poisson2d", *TINY, "--no-render", "--out", out)
    assert code == 0, err
    assert not list(tmp_path.glob("empty.old-*"))


def test_out_that_is_a_file(capsys, tmp_path):
    target = tmp_path / "taken"
    target.write_text("keep me\n")
    code, _, err = cli(capsys, "solve", "poisson2d", *TINY, "--out", target)
    line = error_line(err)
    assert "is a file, not a directory" in line and "--out" in line
    assert code == 2
    assert target.read_text() == "keep me\n"


def test_out_below_a_file(capsys, tmp_path):
    (tmp_path / "taken").write_text("keep me\n")
    code, _, err = cli(capsys, "solve", "poisson2d", *TINY, "--no-render", "--out", "taken/run")
    assert "taken" in error_line(err)
    assert code == 2


def test_resume_needs_out(capsys, tmp_path):
    code, _, err = cli(capsys, "solve", "poisson2d", "--resume")
    assert "--resume needs --out RUN_DIR" in error_line(err)
    assert code == 2
    assert not (tmp_path / "runs").exists()


def test_resume_without_checkpoint(capsys, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.json").write_text("{}\n")
    code, _, err = cli(capsys, "solve", "poisson2d", "--resume", "--out", out)
    line = error_line(err)
    assert "cannot resume" in line and "holds no checkpoint.pt" in line and "without --resume" in line
    assert code == 2


def test_resume_with_other_options_is_refused(capsys, finished_run):
    before = snapshot(finished_run)
    for extra in (["--steps", "20"], ["--set", "lr=0.01"], ["--param", "kappa=1"], ["--seed", "0"]):
        code, _, err = cli(capsys, "solve", "poisson2d", "--resume", *extra, "--out", finished_run)
        assert "--resume continues the saved configuration" in error_line(err), extra
        assert code == 2
    code, _, err = cli(capsys, "solve", "heat1d", "--resume", "--out", finished_run)
    line = error_line(err)
    assert "holds a run of 'poisson2d', not 'heat1d'" in line
    assert code == 2
    assert snapshot(finished_run) == before


# ----- resume -------------------------------------------------------------------------------

RESUMABLE = ["--steps", "10", "--set", "checkpoint_every=5", "--optimizer", "adam", "--points", "64",
             "--boundary-points", "32", "--width", "8", "--depth", "1", "--no-progress", "--no-render"]


def test_resume_of_a_finished_run(capsys, tmp_path):
    out = tmp_path / "run"
    code, _, err = cli(capsys, "solve", "poisson2d", *RESUMABLE, "--out", out)
    assert code == 0, err
    config = (out / "config.json").read_bytes()
    metrics = (out / "metrics.jsonl").read_text()
    summary = json.loads((out / "summary.json").read_text())

    code, stdout, err = cli(capsys, "solve", "poisson2d", "--resume", "--no-progress", "--no-render", "--out", out)
    assert code == 0, err
    assert "10 steps" in stdout
    assert (out / "config.json").read_bytes() == config
    after = (out / "metrics.jsonl").read_text()
    assert after.startswith(metrics) and len(after) > len(metrics)  # appended, not overwritten
    assert [s for s, _ in step_losses(out / "metrics.jsonl")] == list(range(1, 11))  # no step trained twice
    resumed = json.loads((out / "summary.json").read_text())
    assert resumed["status"] == "finished" and resumed["steps"] == 10
    assert resumed["errors"] == summary["errors"]
    assert not list(tmp_path.glob("run.old-*"))


def test_resume_of_a_finished_run_without_reference(capsys, tmp_path):
    """No step is taken when resuming a finished run; the summary still needs a final loss."""
    problem_file("no_reference.py", tmp_path)
    out = tmp_path / "run"
    code, _, err = cli(capsys, "solve", "no_reference.py", *RESUMABLE, "--out", out)
    assert code == 0, err
    code, stdout, err = cli(capsys, "solve", "no_reference.py", "--resume", "--no-progress", "--no-render", "--out", out)
    assert code == 0, err
    assert re.search(r"final loss = \S+ \(no reference solution\)", stdout)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "finished" and math.isfinite(summary["final_loss"])


def test_zero_steps_without_reference(capsys, tmp_path):
    problem_file("no_reference.py", tmp_path)
    code, stdout, err = cli(capsys, "solve", "no_reference.py", *TINY, "--steps", "0", "--no-render", "--out", "run")
    assert code == 0, err
    assert "0 steps" in stdout and "(no reference solution)" in stdout


def test_interrupted_run_resumes_where_it_stopped(capsys, tmp_path, monkeypatch):
    import solvers._pinn

    reference = tmp_path / "uninterrupted"
    code, _, err = cli(capsys, "solve", "poisson2d", *RESUMABLE, "--out", reference)
    assert code == 0, err

    original_loss = solvers._pinn.PINN.loss
    calls = {"n": 0}

    def interrupted_loss(self):  # Ctrl-C during the 8th step
        calls["n"] += 1
        if calls["n"] == 8:
            raise KeyboardInterrupt
        return original_loss(self)

    out = tmp_path / "run"
    monkeypatch.setattr(solvers._pinn.PINN, "loss", interrupted_loss)
    code, _, err = cli(capsys, "solve", "poisson2d", *RESUMABLE, "--out", out)
    monkeypatch.setattr(solvers._pinn.PINN, "loss", original_loss)
    assert code == 130
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("physopt: interrupted")
    assert "checkpoint" in lines[0] and "--resume" in lines[0] and str(out) in lines[0]
    assert torch.load(out / "checkpoint.pt", weights_only=True)["step"] == 7
    assert not (out / "summary.json").exists()
    assert [s for s, _ in step_losses(out / "metrics.jsonl")] == list(range(1, 8))
    config = (out / "config.json").read_bytes()

    code, stdout, err = cli(capsys, "solve", "poisson2d", "--resume", "--no-progress", "--no-render", "--out", out)
    assert code == 0, err
    assert (out / "config.json").read_bytes() == config
    resumed = step_losses(out / "metrics.jsonl")
    assert [s for s, _ in resumed] == list(range(1, 11))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["steps"] == 10
    # the resumed run continues exactly as the uninterrupted one
    expected = step_losses(reference / "metrics.jsonl")
    assert [loss for _, loss in resumed] == pytest.approx([loss for _, loss in expected], rel=1e-10)
    ref_errors = json.loads((reference / "summary.json").read_text())["errors"]
    assert summary["errors"]["rel_l2"] == pytest.approx(ref_errors["rel_l2"], rel=1e-8)


# ----- divergence ---------------------------------------------------------------------------


def test_diverging_training_exits_3(capsys, tmp_path):
    path = problem_file("diverges.py", tmp_path)
    out = tmp_path / "run"
    code, stdout, err = cli(capsys, "solve", path, *TINY, "--no-render", "--out", out)
    line = error_line(err)
    assert line.startswith("physopt: error: training diverged: the loss became ")
    assert "--lr" in line and "float64" in line
    assert code == 3
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "diverged" and "loss became" in summary["reason"]
    assert not (out / "fields.json").exists()


# ----- plot ---------------------------------------------------------------------------------


@pytest.mark.pyvista
def test_plot_renders_the_pictures_again(capsys, tmp_path, bump_run):
    run = tmp_path / "copy"
    shutil.copytree(bump_run, run)
    for png in run.glob("*.png"):
        png.unlink()
    code, out, err = cli(capsys, "plot", run)
    assert code == 0, err
    assert {Path(p).name for p in out.split()} == {"solution.png", "error.png", "loss.png"}
    assert_real_image(run / "solution.png")
    assert_real_image(run / "error.png")


@pytest.mark.pyvista
def test_plot_other_field_and_other_folder(capsys, tmp_path, bump_run):
    run = tmp_path / "copy"
    shutil.copytree(bump_run, run)
    code, out, err = cli(capsys, "plot", run, "--field", "error_u", "--out", tmp_path / "pictures")
    assert code == 0, err
    assert [Path(p).name for p in out.split()] == ["solution.png", "loss.png"]
    assert_real_image(tmp_path / "pictures" / "solution.png")
    assert (run / "solution.png").read_bytes() == (bump_run / "solution.png").read_bytes()


def test_plot_unknown_field(capsys, tmp_path, bump_run):
    code, _, err = cli(capsys, "plot", bump_run, "--field", "nosuch")
    line = error_line(err)
    assert "unknown field 'nosuch'" in line and "error_u, u, u_reference" in line
    assert code == 2


def test_plot_missing_directory(capsys, tmp_path):
    code, _, err = cli(capsys, "plot", tmp_path / "nowhere")
    assert "does not exist" in error_line(err)
    assert code == 2


def test_plot_directory_without_fields(capsys, tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "summary.json").write_text("{}\n")
    code, _, err = cli(capsys, "plot", tmp_path / "run")
    assert "holds no fields.json" in error_line(err)
    assert code == 2


def _damage(run: Path, what: str) -> list[str]:
    """Break a copy of a finished run; return the command that should then fail cleanly."""
    if what == "plot-out-is-a-file":
        (run.parent / "pictures").write_text("not a folder\n")
        return ["plot", run, "--out", run.parent / "pictures"]
    if what == "plot-missing-vtu":
        (run / "solution.vtu").unlink()
        return ["plot", run]
    if what == "plot-corrupt-fields-json":
        (run / "fields.json").write_text("{\n")
        return ["plot", run]
    if what == "resume-corrupt-checkpoint":
        (run / "checkpoint.pt").write_bytes(b"not a checkpoint")
        return ["solve", "bump.py", "--resume", "--no-progress", "--no-render", "--out", run]
    if what == "resume-corrupt-config":
        (run / "config.json").write_text("{\n")
        return ["solve", "bump.py", "--resume", "--no-progress", "--no-render", "--out", run]
    raise AssertionError(what)


@pytest.mark.parametrize(
    "what",
    [
        "plot-out-is-a-file",
        "plot-missing-vtu",
        "plot-corrupt-fields-json",
        "resume-corrupt-checkpoint",
        "resume-corrupt-config",
    ],
)
def test_damaged_run_directory_is_a_clean_error(capsys, tmp_path, bump_run, what):
    """docs/cli.md: a bad run directory or a bad --resume is bad input: one line, exit 2."""
    run = tmp_path / "copy"
    shutil.copytree(bump_run, run)
    shutil.copy(bump_run.parent.parent / "bump.py", tmp_path / "bump.py")
    code, _, err = cli(capsys, *_damage(run, what))
    error_line(err)
    assert code == 2


@pytest.mark.pyvista
def test_plot_time_dependent_run(capsys, tmp_path, heat_run):
    """docs/cli.md: a time-dependent run gives the (x, t) map, the error, time-slice panels, a GIF and the loss."""
    run = tmp_path / "heat"
    shutil.copytree(heat_run, run)
    assert not list(run.glob("*.png")) and not list(run.glob("*.gif"))
    assert {"solution.vtu", "solution.xdmf", "solution.h5"} <= {p.name for p in run.iterdir()}
    code, out, err = cli(capsys, "plot", run)
    assert code == 0, err
    pictures = ["solution.png", "error.png", "panels.png", "animation.gif", "loss.png"]
    assert [Path(p).name for p in out.split()] == pictures
    for name in pictures:
        assert_real_image(run / name, min_colours=10)
    fields = json.loads((run / "fields.json").read_text())
    gif = image_frames(run / "animation.gif")
    assert len(gif) == len(fields["series"]["times"]) == 21
    assert np.abs(gif[0] - gif[-1]).mean() > 1.0, "the animation does not move"

    (run / "solution.png").unlink()
    code, out, err = cli(capsys, "plot", run, "--time", "0.5", "--kind", "solution")
    assert code == 0, err
    assert [Path(p).name for p in out.split()] == ["solution.png"]
    assert_real_image(run / "solution.png", min_colours=10)

    code, out, err = cli(capsys, "plot", run, "--kind", "panels", "--field", "error_u", "--out", tmp_path / "pics")
    assert code == 0, err
    assert [Path(p).name for p in out.split()] == ["panels.png"]
    assert_real_image(tmp_path / "pics" / "panels.png", min_colours=10)


def test_plot_kind_that_does_not_apply(capsys, bump_run):
    code, _, err = cli(capsys, "plot", bump_run, "--kind", "animation")
    assert code == 2 and "needs a time-dependent run" in error_line(err)


# ----- reproducibility ----------------------------------------------------------------------


def test_same_seed_same_run_different_seed_different_run(capsys, tmp_path):
    def run(name, seed):
        out = tmp_path / name
        code, _, err = cli(capsys, "solve", "poisson2d", *TINY, "--no-render", "--seed", seed, "--out", out)
        assert code == 0, err
        return step_losses(out / "metrics.jsonl"), json.loads((out / "summary.json").read_text())["errors"]

    losses_a, errors_a = run("a", 7)
    losses_b, errors_b = run("b", 7)
    losses_c, errors_c = run("c", 8)
    assert losses_a == losses_b and errors_a == errors_b
    assert [s for s, _ in losses_a] == [s for s, _ in losses_c]
    assert all(la != lc for (_, la), (_, lc) in zip(losses_a, losses_c))
    assert errors_a["rel_l2"] != errors_c["rel_l2"]


# ----- the real entry point -----------------------------------------------------------------


def _python_m_physopt(cwd, *argv):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    return subprocess.run(
        [sys.executable, "-m", "physopt", *map(str, argv)], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_entry_point_list(tmp_path):
    proc = _python_m_physopt(tmp_path, "list")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    for name in (*LIBRARY, "pinn", "adam+lbfgs", "exact"):
        assert re.search(rf"^\s+{re.escape(name)}\s", proc.stdout, re.M), name


def test_entry_point_bad_problem_file(tmp_path):
    path = problem_file("raises_at_import.py", tmp_path)
    proc = _python_m_physopt(tmp_path, "solve", path.name, *TINY, "--out", "run")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "physopt: error: problem file 'raises_at_import.py' failed to import (line " in proc.stderr
    assert proc.stdout == ""


def test_entry_point_divergence(tmp_path):
    problem_file("diverges.py", tmp_path)
    proc = _python_m_physopt(tmp_path, "solve", "diverges.py", *TINY, "--no-render", "--out", "run")
    assert proc.returncode == 3
    assert "Traceback" not in proc.stderr
    assert "physopt: error: training diverged: the loss became " in proc.stderr
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["status"] == "diverged"


def test_lshape_mesh_problem_solves_by_name_against_its_finite_element_reference(tmp_path, capsys):
    """A shipped .vtu mesh as the domain; the summary's error is against the P1 finite-element reference."""
    out = tmp_path / "lshape"
    code, stdout, err = cli(capsys, "solve", "lshape_poisson", "--optimizer", "lm", "--set", "damping=1e-3", "--steps", "150",
                            "--width", "16", "--depth", "2", "--points", "256", "--boundary-points", "96", "--no-progress",
                            "--out", out)
    assert code == 0, err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["reference"] == "reference solution" and summary["errors"]["rel_l2"] < 0.05  # measured 2.3e-2
    assert (out / "solution.vtu").exists()
    if pyvista_installed():  # the picture needs PyVista; the solve and its error do not
        from PIL import Image

        pixels = np.asarray(Image.open(out / "solution.png").convert("L"), dtype=float)
        assert pixels.std() > 10  # a picture, not a blank canvas
