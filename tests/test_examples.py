"""Every example runs and meets the error it claims (each example asserts it itself)."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from physopt.viz import pyvista_installed

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load(name):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


def test_every_example_is_tested():
    tested = {"poisson2d_pinn", "disk_poisson_user_problem", "heat1d_time_slices", "random_features_solver"}
    assert {p.stem for p in EXAMPLES.glob("*.py")} == tested


@pytest.mark.pyvista  # the example draws its solution with PyVista
def test_poisson2d_pinn(tmp_path):
    module = load("poisson2d_pinn")
    err = module.main(out_dir=tmp_path)
    assert err <= module.CLAIMED_REL_L2
    assert (tmp_path / "poisson2d_pinn.png").stat().st_size > 10_000


def test_disk_poisson_user_problem():
    module = load("disk_poisson_user_problem")
    errors = module.main()
    for bc, claimed in module.CLAIMED_REL_L2.items():
        assert errors[bc] <= claimed
    assert errors["hard"] < errors["soft"]  # the exact boundary values help


def test_heat1d_time_slices(tmp_path):
    module = load("heat1d_time_slices")
    err = module.main(out_dir=tmp_path)
    assert err <= module.CLAIMED_REL_L2
    assert (tmp_path / "heat1d_time_slices.png").is_file()


def test_random_features_solver_from_a_users_file(tmp_path, monkeypatch):
    """A third-party solver in one file: the command line loads it, generates nothing for it, and it meets its claim."""
    from physopt.cli import main

    module = load("random_features_solver")
    monkeypatch.chdir(tmp_path)
    solver = f"{EXAMPLES / 'random_features_solver.py'}:RandomFeatures"
    args = ["solve", "poisson2d", "--solver", solver, "--set", "features=800", "--out", "run", "--no-progress", "--no-render"]
    assert main(args) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["errors"]["rel_l2"] <= module.CLAIMED_REL_L2
    assert summary["steps"] == 20 and (tmp_path / "run" / "checkpoint.pt").is_file()
    assert main(["solve", "poisson2d", "--solver", solver, "--set", "features=0", "--out", "bad", "--no-progress"]) == 2


def test_default_poisson2d_run_meets_the_acceptance_target(tmp_path, monkeypatch):
    """`physopt solve poisson2d` with all defaults: relative L2 <= 1e-8 in the summary (measured 1.7e-10)."""
    from physopt.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["solve", "poisson2d", "--out", "run", "--no-progress"]) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["dtype"] == "float64"
    assert summary["errors"]["rel_l2"] <= 1e-8
    assert "lm: loss fell by less than 60% over the last 100 steps" in summary["stop_reason"]  # ended by the stall rule
    pictures = ("solution.png", "error.png") if pyvista_installed() else ()  # solving never needs PyVista
    for name in ("config.json", "metrics.jsonl", "model.pt", "checkpoint.pt", "solution.vtu", *pictures):
        assert (tmp_path / "run" / name).is_file(), name
