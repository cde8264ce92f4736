"""Every example runs and meets the error it claims (each example asserts it itself)."""

import importlib.util
import inspect
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
    tested = {"poisson2d_pinn", "disk_poisson_user_problem", "heat1d_time_slices", "random_features_solver",
              "multiscale_fourier_features", "adaptive_sampling_burgers", "polygon_with_hole"}
    assert {p.stem for p in EXAMPLES.glob("*.py")} == tested


# Each example runs in the default suite with its QUICK budget and bound (fewer steps), and with --run-slow as
# published, meeting its CLAIMED_REL_L2.
BUDGETS = [pytest.param(True, id="quick"), pytest.param(False, id="published", marks=pytest.mark.slow)]


def run_example(module, quick, **kw):
    return module.main(**kw, **(module.QUICK if quick else {}))


@pytest.mark.pyvista  # the example draws its solution with PyVista
@pytest.mark.parametrize("quick", BUDGETS)
def test_poisson2d_pinn(tmp_path, quick):
    module = load("poisson2d_pinn")
    err = run_example(module, quick, out_dir=tmp_path)
    assert err <= (module.QUICK["claimed"] if quick else module.CLAIMED_REL_L2)
    assert (tmp_path / "poisson2d_pinn.png").stat().st_size > 10_000


@pytest.mark.parametrize("quick", BUDGETS)
def test_disk_poisson_user_problem(quick):
    module = load("disk_poisson_user_problem")
    errors = run_example(module, quick)
    for bc, claimed in (module.QUICK["claimed"] if quick else module.CLAIMED_REL_L2).items():
        assert errors[bc] <= claimed
    assert errors["hard"] < errors["soft"]  # the exact boundary values help


@pytest.mark.parametrize("quick", BUDGETS)
def test_heat1d_time_slices(tmp_path, quick):
    module = load("heat1d_time_slices")
    err = run_example(module, quick, out_dir=tmp_path)
    assert err <= (module.QUICK["claimed"] if quick else module.CLAIMED_REL_L2)
    assert (tmp_path / "heat1d_time_slices.png").is_file()


@pytest.mark.parametrize("quick", BUDGETS)
def test_fourier_features_reach_a_multiscale_solution_the_plain_mlp_misses(quick):
    module = load("multiscale_fourier_features")
    errors = run_example(module, quick)
    for embedding, claimed in (module.QUICK["claimed"] if quick else module.CLAIMED_REL_L2).items():
        assert errors[embedding] <= claimed
    assert errors["plain"] > module.PLAIN_AT_LEAST


@pytest.mark.parametrize("quick", BUDGETS)
def test_residual_based_sampling_beats_uniform_points_on_burgers_shock(quick):
    module = load("adaptive_sampling_burgers")
    errors = run_example(module, quick)
    for adaptive, claimed in (module.QUICK["claimed"] if quick else module.CLAIMED_REL_L2).items():
        assert errors[adaptive] <= claimed
        assert errors["uniform"] >= module.CLAIMED_GAIN * errors[adaptive]


@pytest.mark.parametrize("quick", BUDGETS)
def test_poisson_on_a_polygon_with_a_hole_against_finite_elements(quick):
    module = load("polygon_with_hole")
    assert run_example(module, quick) <= (module.QUICK["claimed"] if quick else module.CLAIMED_REL_L2)


def test_quick_budgets_are_fewer_steps_and_looser_bounds_than_published():
    for name in ("poisson2d_pinn", "disk_poisson_user_problem", "heat1d_time_slices", "multiscale_fourier_features",
                 "adaptive_sampling_burgers", "polygon_with_hole"):
        module = load(name)
        published = inspect.signature(module.main).parameters
        assert module.QUICK["steps"] < published["steps"].default
        assert published["claimed"].default is module.CLAIMED_REL_L2


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


@pytest.mark.parametrize("quick", BUDGETS)
def test_default_poisson2d_run_meets_the_acceptance_target(tmp_path, monkeypatch, quick):
    """`physopt solve poisson2d` with all defaults: relative L2 <= 1e-8 in the summary (measured 1.7e-10).

    Quick: the same run cut to 150 steps (--steps 150: Adam 37, then LM), relative L2 <= 1.5e-7 (measured 3.2e-8)."""
    from physopt.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["solve", "poisson2d", "--out", "run", "--no-progress", *(["--steps", "150"] if quick else [])]) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["dtype"] == "float64"
    assert summary["errors"]["rel_l2"] <= (1.5e-7 if quick else 1e-8)
    if not quick:
        assert "lm: loss fell by less than 60% over the last 100 steps" in summary["stop_reason"]  # the stall rule
    pictures = ("solution.png", "error.png") if pyvista_installed() else ()  # solving never needs PyVista
    for name in ("config.json", "metrics.jsonl", "model.pt", "checkpoint.pt", "solution.vtu", *pictures):
        assert (tmp_path / "run" / name).is_file(), name
