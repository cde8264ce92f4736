"""TENG in the shared loop (checkpoints, resume, Ctrl-C), its declared results and its declared capabilities.

Small periodic heat problems as in test_teng.py; the default Levenberg–Marquardt step
fits use no random column subsets, so runs repeat bit for bit.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cases import InterruptAt
import torch

from physopt import ConfigurationError
from problems import Initial, resolve_problem
from solvers import TENG, TENGOptions

PERIODIC_HEAT = Path(__file__).resolve().parents[1] / "cli_problems" / "periodic_heat.py"
SmallHeat = resolve_problem(str(PERIODIC_HEAT))


def _options(**kw):
    return TENGOptions(**{**dict(grid=32, features=8, width=16, depth=1, dt=0.01), **kw})


def _lm_options(**kw):
    """The default LM step fits (no random column subsets), a short initial fit: runs repeat bit for bit."""
    return _options(method="heun", init_iterations=30, iterations=3, corrector_iterations=5, **kw)


def test_a_resumed_lm_run_equals_the_uninterrupted_one_bit_for_bit(tmp_path):
    """The march runs in the shared loop; its Checkpointer stores the loop state plus the march's own (stored
    weights, grid values, RNG states, damping), so a run stopped at step 2 and resumed takes the same steps."""
    straight = TENG(SmallHeat(), _lm_options()).solve()
    path = tmp_path / "checkpoint.pt"
    with pytest.raises(KeyboardInterrupt):
        TENG(SmallHeat(), _lm_options()).solve([InterruptAt(2)], checkpoint_path=path)
    checkpoint = torch.load(path, weights_only=True)
    assert checkpoint["step"] == 2 and checkpoint["solver"] == "teng" and len(checkpoint["times"]) == 3
    resumed = TENG(SmallHeat(), _lm_options()).solve(checkpoint=checkpoint)
    assert resumed.info["steps"] == straight.info["steps"] == 4
    assert list(resumed.times) == list(straight.times)
    for a, b in zip(resumed.weights, straight.weights):
        assert torch.equal(a, b)
    assert resumed.info["final_loss"] == straight.info["final_loss"]
    assert not list(tmp_path.glob("*tmp*")), "checkpoints are written atomically"


def test_ctrl_c_within_a_time_step_keeps_the_last_whole_step(tmp_path, monkeypatch):
    """A step cut short leaves the network between two steps: the checkpoint stays at the last whole step
    (the initial fit's, step 0, here), and resuming from it equals the uninterrupted run."""
    straight = TENG(SmallHeat(), _lm_options()).solve()
    solver = TENG(SmallHeat(), _lm_options())
    fits = []
    real_fit = solver.fit

    def fit_then_interrupt(target, iterations):
        fits.append(iterations)
        if len(fits) == 2:  # the second stage fit of step 1 (Heun's corrector)
            raise KeyboardInterrupt
        return real_fit(target, iterations)

    monkeypatch.setattr(solver, "fit", fit_then_interrupt)
    path = tmp_path / "checkpoint.pt"
    with pytest.raises(KeyboardInterrupt):
        solver.solve(checkpoint_path=path)
    checkpoint = torch.load(path, weights_only=True)
    assert checkpoint["step"] == 0 and checkpoint["initial_fit_iterations"] == straight.info["initial_fit_iterations"]
    resumed = TENG(SmallHeat(), _lm_options()).solve(checkpoint=checkpoint)
    assert all(torch.equal(a, b) for a, b in zip(resumed.weights, straight.weights))


def test_metrics_declare_the_final_error_and_the_time_series_kind():
    from solvers import Metric

    solution = TENG(SmallHeat(), _lm_options()).solve()
    assert solution.kind == "time_series"
    metrics = solution.metrics()
    assert [m.name for m in metrics] == ["rel_l2_final"]  # the problem file offers no ideal stepper
    assert isinstance(metrics[0], Metric) and metrics[0].kind == "error"
    assert metrics[0].value == solution.errors()["rel_l2_final"]
    # a library problem with an ideal spectral stepper: its error with the same method and dt, the floor
    from problems import registered_problems

    heat = registered_problems()["heat2d"](t_end=0.01)
    solution = TENG(heat, TENGOptions(**TENG.tiny_options)).solve()
    metrics = {m.name: m for m in solution.metrics()}
    assert list(metrics) == ["rel_l2_final", "floor_rel_l2"] and metrics["floor_rel_l2"].kind == "error"
    assert metrics["floor_rel_l2"].value == solution.errors()["floor_rel_l2"] < 1e-6


def test_unsupported_conditions_are_named_with_the_fix():
    from problems import Neumann, Periodic

    from solvers._teng import SUPPORTED_CONDITIONS

    assert SUPPORTED_CONDITIONS == (Periodic, Initial)

    class Mixed(SmallHeat):
        conditions = [Periodic(0), Periodic(1), Neumann(0.0), Initial(0.0)]

    with pytest.raises(ConfigurationError, match=r"supports only Periodic and Initial.*Neumann.*--solver pinn"):
        TENG(Mixed(), _options())
