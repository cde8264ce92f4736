"""A normal run prints no raw library warnings.

The one seen in runs was functorch's "batching rule for aten::scatter_.value"
performance warning: ``torch.prod`` in ``Box.boundary_factor`` scatters in its
backward, which ``vmap`` of second derivatives runs point by point. The box
factor is now a plain product; these tests turn warnings into errors on the
paths that met it (hard ansatz, Gauss-Newton Jacobians, curvature diagnostics)
and check a whole ``physopt solve`` for warning text on stderr.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import pytest
import torch

from problems import Ball, Box, registered_problems
from solvers import PINN

TINY = dict(width=8, depth=2, points=64, boundary_points=32)


def _warnings_as_errors():
    """Every warning an error, but torch's own use of ``torch.jit.script`` (forward-AD decompositions, hidden outside tests)."""
    warnings.simplefilter("error")
    warnings.filterwarnings("ignore", message="`torch.jit.script` is deprecated", category=DeprecationWarning)


@pytest.mark.parametrize("domain", [Box([0.0, 0.0, 0.0], [1.0, 2.0, 1.0]), Ball([0.0, 0.0], 1.0)])
def test_boundary_factor_second_derivatives_raise_no_warning(domain):
    x = torch.full((5, domain.dim), 0.3, dtype=torch.float64)
    with warnings.catch_warnings():
        _warnings_as_errors()
        hess = torch.vmap(torch.func.jacrev(torch.func.jacrev(domain.boundary_factor)))(x)
    assert hess.shape == (5, domain.dim, domain.dim)


@pytest.mark.parametrize("optimizer", ["adam:2,lbfgs:2", "lm:2", "engd:2", "kfac:2"])
def test_pinn_training_with_the_hard_ansatz_raises_no_warning(optimizer):
    problem = registered_problems()["poisson2d"]()
    with warnings.catch_warnings():
        _warnings_as_errors()
        solution = PINN(problem, bc="hard", optimizer=optimizer, diagnostics_every=1, **TINY).solve()
    assert solution.info["steps"] == 4 if "," in optimizer else 2


def test_a_solve_from_the_command_line_prints_no_warning(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    argv = ["solve", "poisson2d", "--steps", "4", "--optimizer", "adam:2,lm:2", "--points", "64",
            "--boundary-points", "32", "--width", "8", "--depth", "2", "--no-progress", "--out", "run"]
    proc = subprocess.run([sys.executable, "-m", "physopt", *argv], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "Warning" not in proc.stderr and "warn" not in proc.stderr.lower(), proc.stderr
