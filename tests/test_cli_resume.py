"""The ``physopt`` command line: a busy ``--out``, ``--force``, and ``--resume`` of finished and interrupted runs.

The tests call :func:`physopt.cli.main` in-process. Every run is tiny and
writes under ``tmp_path`` (the tests also run with the current directory there,
so nothing lands in the repository).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
import torch

from cli_helpers import TINY, cli, error_line, problem_file, step_losses

pytestmark = pytest.mark.usefixtures("in_tmp_path")


def snapshot(directory: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(directory.iterdir()) if p.is_file()}


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
