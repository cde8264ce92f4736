"""``physopt convergence`` and :mod:`physopt.cli.convergence`: the order fit, a tiny real study, resume, errors.

Every study is tiny (a few Adam steps of a width-8 PINN) and writes under ``tmp_path``.
"""

from __future__ import annotations

import csv
import json
import math
import shutil
import textwrap
from pathlib import Path

import numpy as np
import pytest

from image_checks import assert_real_image, image_frames
from physopt import ConfigurationError
from physopt.cli import main
from cli_helpers import cli, error_line
from physopt.cli.convergence import convergence_study, format_table, observed_order, parse_fit_range, plot_convergence

# TINY of cli_helpers.py without --steps (the steps are what the CLI study varies)
SMALL = ["--points", "64", "--boundary-points", "32", "--width", "8", "--depth", "1", "--optimizer", "adam", "--lr", "0.01"]
SMALL_OPTIONS = {"points": "64", "boundary_points": "32", "width": "8", "depth": "1", "optimizer": "adam", "lr": "0.01"}

# a problem with a parameter that shares its name with a PINN option, and one that makes training diverge
PROBLEM_FILE = textwrap.dedent(
    '''
    import torch
    from problems import Box, Dirichlet, Problem
    from physopt import laplacian

    class Knobs(Problem):
        """-Δu = f on the unit square; diverges for blowup > 1."""
        domain = Box([0.0, 0.0], [1.0, 1.0])
        conditions = [Dirichlet(0.0)]
        parameters = {"blowup": 0.5, "width": 1.0}

        def residual(self, u, x):
            r = -laplacian(u)(x) - 2 * torch.pi**2 * torch.sin(torch.pi * x[0]) * torch.sin(torch.pi * x[1])
            return r * float("inf") + float("inf") if self.blowup > 1 else r

        def exact(self, x):
            return torch.sin(torch.pi * x[0]) * torch.sin(torch.pi * x[1])
    '''
)


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """``physopt convergence poisson2d --vary steps=2,4`` with tiny settings: (directory, stdout)."""
    root = tmp_path_factory.mktemp("study")
    out = root / "study"
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        import io
        from contextlib import redirect_stdout

        buffer = io.StringIO()
        with redirect_stdout(buffer):
            code = main(["convergence", "poisson2d", "--vary", "steps=2,4", *SMALL, "--no-progress", "--out", str(out)])
    assert code == 0
    return out, buffer.getvalue()


# ----- the fit ------------------------------------------------------------------------------


@pytest.mark.parametrize("p", [2.0, 1.0, -0.5, 4.0])
def test_observed_order_recovers_the_power(p):
    h = np.array([0.1, 0.05, 0.025, 0.0125])
    slope, intercept = observed_order(h, 3.0 * h**p)
    assert slope == pytest.approx(p, abs=1e-12)
    assert intercept == pytest.approx(math.log(3.0), abs=1e-10)


def test_observed_order_ignores_non_finite_and_non_positive():
    h = [0.1, 0.05, 0.025, 0.0125, 0.01, 0.005, -1.0, 0.0]
    e = [0.02, 0.005, 0.00125, float("nan"), float("inf"), 0.0, 1.0, 1.0]
    slope, _ = observed_order(h, e)
    assert slope == pytest.approx(2.0, abs=1e-12)
    assert all(math.isnan(v) for v in observed_order([0.1, 0.05], [0.1, float("nan")]))  # one usable pair
    assert all(math.isnan(v) for v in observed_order([0.1, 0.1], [0.1, 0.2]))  # one distinct value
    with pytest.raises(ValueError):
        observed_order([1, 2, 3], [1, 2])


def test_parse_fit_range():
    assert parse_fit_range("0.001:0.01") == (0.001, 0.01)
    assert parse_fit_range("4:") == (4.0, math.inf)
    assert parse_fit_range(":4") == (-math.inf, 4.0)
    assert parse_fit_range(None) is None
    for bad in ("4", "a:b", "5:1"):
        with pytest.raises(ConfigurationError):
            parse_fit_range(bad)


# ----- a real study -------------------------------------------------------------------------


def test_study_writes_runs_table_json_csv_and_plot(study):
    out, stdout = study
    assert {p.name for p in out.iterdir()} == {"steps=2", "steps=4", "convergence.json", "convergence.csv", "convergence.png"}
    for value in (2, 4):
        summary = json.loads((out / f"steps={value}" / "summary.json").read_text())
        assert summary["status"] == "finished" and summary["steps"] == value
        assert not list((out / f"steps={value}").glob("*.png")), "pictures are off by default"

    data = json.loads((out / "convergence.json").read_text())
    assert {"problem", "solver", "vary", "params", "options", "rows", "fit"} <= set(data)
    assert data["problem"] == "poisson2d" and data["solver"] == "pinn"
    assert data["vary"] == {"name": "steps", "kind": "option", "values": [2, 4]}
    assert data["options"]["width"] == "8" and "steps" not in data["options"]
    rows = data["rows"]
    assert [r["value"] for r in rows] == [2, 4]
    for row in rows:
        assert {"value", "rel_l2", "max_abs", "train_time_s", "steps", "status", "run_dir"} <= set(row)
        assert row["status"] == "finished" and 0 < row["rel_l2"] < 10 and row["max_abs"] > 0
        assert Path(row["run_dir"]).name == f"steps={row['value']}"
    slope, intercept = observed_order([r["value"] for r in rows], [r["rel_l2"] for r in rows])
    assert data["fit"]["slope"] == pytest.approx(slope) and data["fit"]["order"] == pytest.approx(slope)
    assert data["fit"]["intercept"] == pytest.approx(intercept) and data["fit"]["n_used"] == 2

    with (out / "convergence.csv").open(newline="") as handle:
        table = list(csv.DictReader(handle))
    assert [int(r["value"]) for r in table] == [2, 4]
    assert [float(r["rel_l2"]) for r in table] == pytest.approx([r["rel_l2"] for r in rows])
    assert {r["status"] for r in table} == {"finished"}

    assert_real_image(out / "convergence.png")

    lines = stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:3] == ["steps", "rel_l2", "max_abs"])
    for line, row in zip(lines[header + 1: header + 3], rows):
        cells = line.split()
        assert int(cells[0]) == row["value"] and float(cells[1]) == pytest.approx(row["rel_l2"], rel=1e-3)
        assert cells[-1] == "finished"
    assert f"observed order p = {slope:.3f}" in stdout
    assert f"study directory: {out}" in stdout


def test_resume_reuses_finished_runs_and_solves_new_values(study, tmp_path, capsys):
    out = tmp_path / "study"
    shutil.copytree(study[0], out)
    stamps = {v: (out / f"steps={v}" / "summary.json").stat().st_mtime_ns for v in (2, 4)}
    code, stdout, err = cli(capsys, "convergence", "poisson2d", "--vary", "steps=2,4,3", *SMALL, "--no-progress",
                            "--out", out, "--resume", "--fit-range", "3:4")
    assert code == 0, err
    assert stdout.count("reused the finished run") == 2
    assert {v: (out / f"steps={v}" / "summary.json").stat().st_mtime_ns for v in (2, 4)} == stamps
    assert json.loads((out / "steps=3" / "summary.json").read_text())["status"] == "finished"
    data = json.loads((out / "convergence.json").read_text())
    assert [r["value"] for r in data["rows"]] == [2, 4, 3]
    assert data["fit"]["n_used"] == 2 and data["fit"]["values_used"] == [4, 3] and data["fit"]["fit_range"] == [3, 4]
    assert "steps in [3, 4]" in stdout

    # other fixed settings than the saved runs: refused
    code, _, err = cli(capsys, "convergence", "poisson2d", "--vary", "steps=2,4", *SMALL[:-2], "--lr", "0.1",
                       "--no-progress", "--out", out, "--resume")
    assert code == 2
    assert "was solved with other options (lr: 0.01 there, 0.1 now)" in error_line(err)


def test_busy_directory_is_refused_unless_forced(study, tmp_path, capsys):
    out = tmp_path / "study"
    shutil.copytree(study[0], out)
    code, _, err = cli(capsys, "convergence", "poisson2d", "--vary", "steps=2,4", *SMALL, "--no-progress", "--out", out)
    assert code == 2
    line = error_line(err)
    assert f"output directory '{out}' already holds files" in line and "--resume" in line and "--force" in line
    code, _, err = cli(capsys, "convergence", "poisson2d", "--vary", "steps=1,2", *SMALL, "--no-progress", "--out", out,
                       "--force")
    assert code == 0, err
    assert len(list(tmp_path.glob("study.old-*"))) == 1
    assert sorted(p.name for p in out.glob("steps=*")) == ["steps=1", "steps=2"]


def test_problem_parameter_with_a_diverged_run(tmp_path):
    """A diverged value records its status and NaN errors; the study goes on and fits the finished runs."""
    (tmp_path / "knobs.py").write_text(PROBLEM_FILE)
    lines = []
    data = convergence_study("knobs.py", vary=("param.blowup", [0.25, 0.5, 2.0]), options=SMALL_OPTIONS | {"steps": "2"},
                             out="knobs", echo=lines.append)
    assert data["vary"]["kind"] == "param" and data["vary"]["name"] == "blowup"
    assert [r["status"] for r in data["rows"]] == ["finished", "finished", "diverged"]
    assert math.isnan(data["rows"][2]["rel_l2"]) and data["rows"][2]["steps"] is None
    assert data["fit"]["n_used"] == 2 and data["fit"]["values_used"] == [0.25, 0.5]
    assert any("diverged" in line for line in lines)
    saved = json.loads((tmp_path / "knobs" / "convergence.json").read_text())
    assert saved["rows"][2]["rel_l2"] == "nan" and saved["status"] == "finished"
    assert json.loads((tmp_path / "knobs" / "blowup=2.0" / "summary.json").read_text())["status"] == "diverged"
    assert_real_image(tmp_path / "knobs" / "convergence.png")


def test_plot_draws_the_stepper_floor(tmp_path):
    dt = [0.02, 0.01, 0.005, 0.0025]
    rows = [{"value": h, "rel_l2": 5 * h**2 + 1e-6, "max_abs": 9 * h**2, "floor_rel_l2": 1e-6, "status": "finished"}
            for h in dt]
    slope, intercept = observed_order(dt[:3], [r["rel_l2"] for r in rows[:3]])
    metrics = {"floor_rel_l2": {"description": "stepper floor (final time)", "kind": "error"},
               "rel_l2_final": {"description": "relative L2 at the final time", "kind": "error"}}
    study = {"problem": "heat2d", "solver": "teng", "vary": {"name": "dt"}, "rows": rows, "metrics": metrics,
             "fit": {"slope": slope, "intercept": intercept, "order": slope, "values_used": dt[:3]}}
    assert_real_image(plot_convergence(study, tmp_path / "floor.png"))

    def green_pixels(path):  # the final-time error (tab:green), drawn next to the floor it compares with
        (pixels,) = image_frames(path)
        return int((np.abs(pixels[..., :3].astype(int) - [44, 160, 44]).sum(-1) < 30).sum())

    assert green_pixels(tmp_path / "floor.png") == 0
    for r in rows:
        r["rel_l2_final"] = 8 * r["value"] ** 2 + 1e-6
    assert green_pixels(plot_convergence(study, tmp_path / "final.png")) > 200


# ----- bad input ----------------------------------------------------------------------------

BAD = [
    pytest.param(["poisson2d", "--vary", "bogus=1,2"],
                 ["unknown name 'bogus'", "solver 'pinn' options are:", "width", "checkpoint_every",
                  "problem 'poisson2d' parameters are: none"], id="unknown-name"),
    pytest.param(["poisson_nd", "--vary", "bogus=1,2"], ["parameters are: dim"], id="unknown-lists-params"),
    pytest.param(["poisson2d", "--vary", "option.bogus=1,2"], ["solver 'pinn' has no option 'bogus'"], id="bad-option-prefix"),
    pytest.param(["poisson2d", "--vary", "param.width=1,2"], ["problem 'poisson2d' has no parameter 'width'"], id="bad-param-prefix"),
    pytest.param(["poisson2d", "--vary", "steps=2"], ["--vary steps needs at least 2 distinct values, got 1"], id="one-value"),
    pytest.param(["poisson2d", "--vary", "steps=2,2"], ["value '2' is given twice"], id="repeated"),
    pytest.param(["poisson2d", "--vary", "steps"], ["--vary 'steps' must look like NAME=v1,v2,..."], id="malformed"),
    pytest.param(["poisson2d", "--vary", "sampling=sobol,grid"], ["value 'sobol' is not a number"], id="non-numeric"),
    pytest.param(["poisson2d", "--vary", "steps=2,4", "--set", "steps=3"],
                 ["steps is varied by --vary and also fixed by --set steps=... or --steps"], id="fixed-by-set"),
    pytest.param(["poisson2d", "--vary", "points=64,128", "--points", "32"], ["points is varied by --vary and also fixed"], id="fixed-by-flag"),
    pytest.param(["poisson_nd", "--vary", "dim=2,3", "--param", "dim=4"],
                 ["dim is varied by --vary and also fixed by --param dim=..."], id="fixed-by-param"),
    pytest.param(["knobs.py", "--vary", "width=1,2"],
                 ["'width' is both a solver option and a parameter of problem", "option.width or param.width"], id="ambiguous"),
    pytest.param(["poisson2d", "--vary", "steps=2,2.5"], ["steps='2.5' must be an int"], id="option-type"),
    pytest.param(["poisson2d", "--vary", "steps=2,4", "--fit-range", "x"], ["--fit-range 'x' must look like LO:HI"], id="fit-range"),
    pytest.param(["poisson2d", "--vary", "steps=2,4", "--resume"], ["--resume needs --out DIR"], id="resume-no-out"),
    pytest.param(["poisson2d", "--vary", "steps=2,4", "--resume", "--out", "nowhere"],
                 ["cannot resume: 'nowhere' holds no convergence study"], id="resume-missing"),
    pytest.param(["poisson2d", "--solver", "nope", "--vary", "steps=2,4"], ["unknown solver 'nope'"], id="solver"),
]


@pytest.mark.parametrize("argv, fragments", BAD)
def test_bad_input_is_one_line_and_writes_nothing(capsys, tmp_path, argv, fragments):
    (tmp_path / "knobs.py").write_text(PROBLEM_FILE)
    code, out, err = cli(capsys, "convergence", *argv, *SMALL, "--no-progress")
    assert code == 2
    line = error_line(err)
    for fragment in fragments:
        assert fragment in line, f"{fragment!r} not in {line!r}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["knobs.py"], "bad input leaves nothing behind"


def test_prefixes_pick_option_or_parameter(tmp_path):
    """option.NAME / param.NAME resolve a name that both have (checked through the conflict message)."""
    (tmp_path / "knobs.py").write_text(PROBLEM_FILE)
    with pytest.raises(ConfigurationError, match="width is varied by --vary and also fixed by --set"):
        convergence_study("knobs.py", vary="option.width=8,16", options={"width": "8"})
    with pytest.raises(ConfigurationError, match="width is varied by --vary and also fixed by --param"):
        convergence_study("knobs.py", vary="param.width=1,2", params={"width": "3"}, options={"width": "8"})


def test_vary_is_required(capsys):
    code, _, err = cli(capsys, "convergence", "poisson2d")
    assert code == 2 and "the following arguments are required: --vary" in err


# ----- a solver's metrics -------------------------------------------------------------------

METRIC_SOLVER = textwrap.dedent(
    '''
    from solvers import PINN, Metric

    class MetricPINN(PINN):
        """A PINN whose solutions report two extra metrics."""

        def solve(self, *args, **kwargs):
            solution = super().solve(*args, **kwargs)
            half = solution.errors()["rel_l2"] / 2
            solution.metrics = lambda: [Metric("half_error", half, "half the relative L2 error", "error"),
                                        Metric("answer", 42.0, "an informative number", "info")]
            return solution
    '''
)


def test_a_solvers_metrics_become_columns_and_lines(tmp_path):
    """The study knows no solver: whatever Solution.metrics() reports is in the summary, the rows, the table and the CSV."""
    (tmp_path / "metric_solver.py").write_text(METRIC_SOLVER)
    study = convergence_study("poisson2d", "metric_solver.py", vary="steps=2,4", options=SMALL_OPTIONS, out="m")
    assert study["metrics"] == {"half_error": {"description": "half the relative L2 error", "kind": "error"},
                                "answer": {"description": "an informative number", "kind": "info"}}
    for row in study["rows"]:
        assert row["half_error"] == pytest.approx(row["rel_l2"] / 2) and row["answer"] == 42.0
    summary = json.loads((tmp_path / "m" / "steps=2" / "summary.json").read_text())
    assert summary["metrics"] == {"half_error": study["rows"][0]["half_error"], "answer": 42.0}
    header = format_table(study).splitlines()[0].split()
    assert header == ["steps", "rel_l2", "max_abs", "half_error", "answer", "time_s", "status"]
    with (tmp_path / "m" / "convergence.csv").open() as handle:
        assert {"half_error", "answer"} <= set(next(csv.reader(handle)))
    assert json.loads((tmp_path / "m" / "convergence.json").read_text())["metrics"] == study["metrics"]
    again = convergence_study("poisson2d", "metric_solver.py", vary="steps=2,4,8", options=SMALL_OPTIONS, out="m", resume=True)
    assert again["metrics"] == study["metrics"] and again["rows"][0]["half_error"] == study["rows"][0]["half_error"]
    assert_real_image(tmp_path / "m" / "convergence.png")
