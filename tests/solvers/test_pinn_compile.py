"""The PINN's compile path (``compile=default``): one graph whose inputs are the batch and the STDE directions.

The GPU targets of the STDE benchmarks need the training step captured as a
graph (eager PyTorch is kernel-launch bound below d = 10⁵); here the compiled
loss is checked against the eager one on CPU (or ``--device``), over fresh
points and fresh directions, and for recompilation.
"""

from __future__ import annotations

import pytest
import torch
from torch._dynamo.utils import counters

from physopt import ConfigurationError
from problems import PROBLEMS
from solvers import PINN


def _solver(device, **options):
    problem = PROBLEMS.get("allen_cahn_ball")(d=40, n_test=200)
    return PINN(problem, steps=4, points=16, width=12, dtype="float64", device=str(device), error_every=0,
                checkpoint_every=0, **options)


def test_compiled_loss_is_the_eager_loss_with_fresh_points_and_directions(device):
    torch._dynamo.reset()
    counters.clear()
    solver = _solver(device, compile="default")
    params = list(solver.model.parameters())
    for _ in range(3):  # every step: new points (resample_every=1) and new sparse STDE coordinates
        solver.batch = solver.sample()
        solver.mode.resample()
        eager, eager_terms = solver._loss()
        compiled, compiled_terms = solver.loss()
        assert compiled.item() == pytest.approx(eager.item(), rel=1e-12)
        assert compiled_terms.keys() == eager_terms.keys()
        grads = torch.autograd.grad(eager, params), torch.autograd.grad(compiled, params)
        for g_eager, g_compiled in zip(*grads):
            torch.testing.assert_close(g_compiled, g_eager, rtol=1e-10, atol=1e-12)
    # the batch and the directions are graph inputs: no recompilation, no graph break
    assert counters["stats"]["unique_graphs"] == 1


def test_compiled_training_follows_the_eager_run(device):
    torch._dynamo.reset()
    losses = {}
    for mode in ("off", "default"):
        solution = _solver(device, compile=mode, optimizer="adam").solve()
        losses[mode] = solution.info["final_loss"]
    assert losses["default"] == pytest.approx(losses["off"], rel=1e-9)


def test_unknown_compile_mode_is_a_clear_error():
    with pytest.raises(ConfigurationError, match="compile"):
        _solver("cpu", compile="fast")
