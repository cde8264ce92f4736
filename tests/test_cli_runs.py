"""The ``physopt`` command line: complete runs, their run directory and pictures, and the real entry point.

Most tests call :func:`physopt.cli.main` in-process (fast); a few run
``python -m physopt`` in a subprocess to check the real entry point. Every run
is tiny and writes under ``tmp_path`` (the tests also run with the current
directory there, so nothing lands in the repository).
"""

from __future__ import annotations

import json
import math
import os
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
from cli_helpers import LIBRARY, TINY, cli, error_line, problem_file, read_jsonl, step_losses
from image_checks import assert_real_image, image_frames

pytestmark = pytest.mark.usefixtures("in_tmp_path")


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
