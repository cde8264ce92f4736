"""The PDE residual's weight, the held-out test loss, and the best parameters restored at the end."""

from __future__ import annotations

import pytest
import torch

from physopt import ConfigurationError
from problems import resolve_problem
from solvers import PINN, Callback
from solvers._solution import error_function

SMALL = {"hidden": "8", "points": 64, "boundary_points": 16, "dtype": "float64"}


class Logged(Callback):
    def __init__(self):
        self.test_losses, self.errors = [], []

    def on_step(self, state, record):
        if "test_loss" in record.extra:
            self.test_losses.append((record.step, record.extra["test_loss"]))
        if record.error is not None:
            self.errors.append((record.step, record.error))


def test_the_restored_parameters_are_those_of_the_lowest_logged_test_loss():
    solver = PINN(resolve_problem("poisson2d")(), optimizer="adam", lr=0.05, steps=18, test_points=128,
                  keep_best="test_loss", error_every=3, **SMALL)
    log = Logged()
    solution = solver.solve([log])
    step, lowest = min(log.test_losses, key=lambda r: r[1])
    assert len(log.test_losses) == 6 and log.test_losses[-1][1] > lowest  # a large step size: the last is not the best
    assert f"restored the parameters of step {step} (lowest test loss" in solution.info["stop_reason"]
    assert solver.test_loss() == pytest.approx(lowest, rel=1e-12)  # the model now holds that step's parameters
    test_points = solver._test_batch.interior
    assert not any(bool((test_points == p).all(1).any()) for p in solver.batch.interior)  # held out


def test_keep_best_by_error_restores_the_lowest_measured_error():
    solver = PINN(resolve_problem("poisson2d")(), optimizer="adam", lr=0.05, steps=30, keep_best="error", error_every=3,
                  **SMALL)
    log = Logged()
    solution = solver.solve([log])
    step, lowest = min(log.errors, key=lambda r: r[1])
    assert f"restored the parameters of step {step}" in solution.info["stop_reason"]
    monitor = error_function(solver.problem, solver.field, solver.dtype, solver.device)  # the subset training measures
    assert monitor() == pytest.approx(lowest, rel=1e-12)


def test_the_residual_weight_scales_its_term():
    problem = resolve_problem("poisson2d")()
    plain = PINN(problem, **SMALL).residual_terms()
    weighted = PINN(problem, residual_weight=4.0, **SMALL).residual_terms()
    assert torch.allclose(weighted["residual"], 2.0 * plain["residual"])  # sqrt(w) on the rows: w on the loss
    assert torch.equal(weighted["dirichlet"], plain["dirichlet"]) if "dirichlet" in plain else True


@pytest.mark.parametrize("options, message", [({"keep_best": "test_loss"}, "needs a test set: give test_points"),
                                              ({"keep_best": "best"}, "keep_best"),
                                              ({"residual_weight": 0.0}, "residual_weight must be a positive number")])
def test_bad_monitoring_options(options, message):
    with pytest.raises(ConfigurationError, match=message):
        PINN(resolve_problem("poisson2d")(), **SMALL, **options)
