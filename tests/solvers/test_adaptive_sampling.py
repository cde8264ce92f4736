"""Residual-based adaptive collocation (RAD, RAR-G) and the collocation points saved with a run."""

from __future__ import annotations

import numpy as np
import pytest

from physopt import ConfigurationError
from problems import resolve_problem
from solvers import PINN
from solvers._adaptive import POOL, parse_adaptive

SMALL = {"hidden": "8", "points": 64, "boundary_points": 16, "dtype": "float64"}


def test_rad_draws_by_residual_density_and_rar_takes_the_largest():
    rng = np.random.default_rng(0)
    norms = np.where(np.arange(1000) < 100, 10.0, 0.1)  # a tenth of the pool has a 100 times larger residual
    rad = parse_adaptive("rad:1:0")  # density ∝ |r|: the large ones get 10·100/(10·100 + 0.1·900) = 92 % of the mass
    picked = np.concatenate([rad.choose(norms, 50, np.random.default_rng(s)) for s in range(40)])
    assert abs(np.mean(picked < 100) - 0.92) < 0.05 and len(set(rad.choose(norms, 50, rng))) == 50  # no repeats
    uniformish = parse_adaptive("rad:1:1000")  # a large C: nearly uniform
    assert abs(np.mean(uniformish.choose(norms, 500, rng) < 100) - 0.1) < 0.05
    assert sorted(parse_adaptive("rar:5").choose(norms * np.linspace(1, 2, 1000), 50, rng)) == [95, 96, 97, 98, 99]
    assert repr(parse_adaptive("rad")) == "rad:1:1"
    for bad in ("rad:1", "rar:0", "rad:-1:1", "greedy"):
        with pytest.raises(ConfigurationError, match="rad:K:C"):
            parse_adaptive(bad)


def test_a_pinn_adapts_its_points_where_the_residual_is_large():
    solver = PINN(resolve_problem("poisson2d")(), adaptive="rad:2:0", resample_every=5, steps=5, optimizer="adam", **SMALL)
    solver.solve()
    pool = solver._space_time(POOL * 64, 2, solver.problem.domain.map_interior)[0]
    norms = solver.residual_norms(pool)
    batch = solver.sample()  # the next resample: drawn with density ∝ |r|²
    chosen = solver.residual_norms(batch.interior)
    assert chosen.mean() > 1.3 * norms.mean()
    grow = PINN(resolve_problem("poisson2d")(), adaptive="rar:16", resample_every=2, steps=6, optimizer="adam", **SMALL)
    grow.solve()
    assert len(grow.batch.interior) == 64 + 2 * 16 and grow.batch.interior_count == 64 + 2 * 16  # at steps 2 and 4
    with pytest.raises(ConfigurationError, match="give resample_every > 0"):
        PINN(resolve_problem("poisson2d")(), adaptive="rad", resample_every=0, **SMALL)


def test_a_run_saves_its_collocation_points(tmp_path, monkeypatch):
    from physopt.cli import main

    monkeypatch.chdir(tmp_path)
    argv = ["solve", "poisson2d", "--steps", "4", "--optimizer", "adam", "--points", "32", "--boundary-points", "8",
            "--width", "8", "--depth", "1", "--no-progress", "--no-render", "--out", "run", "--set", "adaptive=rar:4",
            "--resample-every", "2"]
    assert main(argv) == 0
    with np.load(tmp_path / "run" / "collocation.npz") as saved:
        assert saved["interior"].shape == (32 + 4, 2) and set(saved.files) == {"interior"}  # the boundary is in the ansatz
