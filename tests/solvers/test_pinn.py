"""The PINN solver: conditions, ansatz, vector unknowns, reproducibility, callbacks, resume."""

import math

import numpy as np
import pytest
import torch

from physopt import ConfigurationError, TrainingDiverged, laplacian, partial
from problems import Ball, Box, Dirichlet, Interval, Neumann, Periodic, Problem, registered_problems
from solvers import PINN, PINNOptions, StepRecord, load_checkpoint

TINY = dict(steps=8, points=64, boundary_points=32, width=8, depth=1, error_every=4)


def library(name, **params):
    return registered_problems()[name](**params)


class MixedBC1D(Problem):
    """-u'' = π² sin πx on [0,1]; u(0) = 0 (Dirichlet), u'(1) = -π (Neumann); u = sin πx."""

    domain = Interval(0.0, 1.0)
    conditions = [
        Dirichlet(0.0, where=lambda x: np.isclose(x[:, 0], 0.0)),
        Neumann(-math.pi, where=lambda x: np.isclose(x[:, 0], 1.0)),
    ]

    def residual(self, u, x):
        return -laplacian(u)(x) - math.pi**2 * torch.sin(math.pi * x[0])

    def exact(self, x):
        return torch.sin(math.pi * x[0])


class PeriodicHelmholtz(Problem):
    """u'' - u = -2 sin x on [0, 2π], periodic; u = sin x."""

    domain = Interval(0.0, 2 * math.pi)
    conditions = [Periodic(dim=0, derivative=True)]

    def residual(self, u, x):
        return laplacian(u)(x) - u(x) + 2 * torch.sin(x[0])

    def exact(self, x):
        return torch.sin(x[0])


class TwoFields(Problem):
    """Two decoupled unknowns: -u'' = π² sin πx, v'' = 2 on [0,1]; u = sin πx, v = x²."""

    domain = Interval(0.0, 1.0)
    unknowns = ("u", "v")
    conditions = [Dirichlet(lambda x: torch.stack([torch.sin(math.pi * x[0]), x[0] ** 2]))]

    def residual(self, u, x):
        lap = laplacian(u)(x)
        return torch.stack([-lap[0] - math.pi**2 * torch.sin(math.pi * x[0]), lap[1] - 2.0])

    def exact(self, x):
        return torch.stack([torch.sin(math.pi * x[0]), x[0] ** 2])


class Exploding(Problem):
    """A residual that overflows: training must stop with a clear message."""

    domain = Interval(0.0, 1.0)
    conditions = [Dirichlet(0.0)]

    def residual(self, u, x):
        return torch.exp(1e4 * (u(x) + 1.0))


def test_mixed_dirichlet_neumann_converges():
    sol = PINN(MixedBC1D(), steps=300, points=128, boundary_points=16, width=16, depth=2).solve()
    assert sol.errors()["rel_l2"] < 1e-3


def test_periodic_condition_converges():
    sol = PINN(PeriodicHelmholtz(), steps=300, points=128, boundary_points=8, width=16, depth=2).solve()
    assert sol.errors()["rel_l2"] < 1e-2


def test_vector_unknowns_report_per_field_errors():
    sol = PINN(TwoFields(), steps=300, points=128, boundary_points=8, width=16, depth=2, bc="soft").solve()
    errors = sol.errors()
    assert {"rel_l2_u", "rel_l2_v", "max_abs_u", "max_abs_v"} <= set(errors)
    assert errors["rel_l2"] < 1e-2
    assert sol(torch.rand(5, 1, dtype=torch.float64)).shape == (5, 2)


@pytest.mark.parametrize("bc, expected", [("soft", {"residual", "dirichlet"}), ("hard", {"residual"})])
def test_bc_mode_decides_the_loss_terms(bc, expected):
    solver = PINN(library("poisson2d"), bc=bc, **TINY)
    _, terms = solver.loss()
    assert set(terms) == expected


def test_hard_ansatz_satisfies_boundary_and_initial_values_exactly():
    heat = PINN(library("heat1d"), bc="hard", **TINY)
    x = torch.linspace(0, 1, 11, dtype=torch.float64)
    t = torch.linspace(0, 1, 11, dtype=torch.float64)
    initial = heat.model  # untrained network: the ansatz alone must give the values
    sol_at = lambda pts: torch.stack([heat.field(p) for p in pts])  # noqa: E731
    u0 = sol_at(torch.stack([x, torch.zeros_like(x)], -1))
    assert torch.allclose(u0, torch.sin(math.pi * x), atol=1e-14)
    for side in (0.0, 1.0):
        ub = sol_at(torch.stack([torch.full_like(t, side), t], -1))
        assert ub.abs().max() < 1e-14
    assert initial is heat.model
    poisson = PINN(library("poisson2d"), bc="hard", **TINY)
    pts, _ = poisson.problem.domain.sample_boundary(50, "uniform", 0)
    vals = torch.stack([poisson.field(p) for p in torch.as_tensor(pts)])
    assert vals.abs().max() < 1e-14


def test_hard_bc_refuses_partial_dirichlet():
    with pytest.raises(ConfigurationError, match="--bc soft"):
        PINN(MixedBC1D(), bc="hard", **TINY)
    # auto falls back to penalties
    assert PINN(MixedBC1D(), bc="auto", **TINY).hard is None


def test_same_seed_same_numbers_different_seed_different_numbers():
    def run(seed):
        records = []

        class Keep:
            def on_start(self, state): ...
            def on_step(self, state, record: StepRecord):
                records.append(record.loss)
            def on_end(self, state): ...

        sol = PINN(library("heat1d"), seed=seed, optimizer="adam:5,lbfgs:3", steps=0, points=64,
                   boundary_points=16, width=8, depth=1).solve([Keep()])
        return records, [p.detach().clone() for p in sol.model.parameters()]

    a, wa = run(3)
    b, wb = run(3)
    c, _ = run(4)
    assert a == b
    assert all(torch.equal(x, y) for x, y in zip(wa, wb))
    assert a != c


def test_float32_runs_and_keeps_its_dtype():
    sol = PINN(library("poisson2d"), dtype="float32", **TINY).solve()
    assert next(sol.model.parameters()).dtype == torch.float32
    assert math.isfinite(sol.errors()["rel_l2"])


def test_nan_guard_names_a_fix():
    with pytest.raises(TrainingDiverged, match="learning rate"):
        PINN(Exploding(), bc="soft", **TINY).solve()


def test_target_error_stops_early():
    sol = PINN(library("poisson2d"), target_error=10.0, **{**TINY, "optimizer": "adam"}).solve()
    assert "target" in sol.info["stop_reason"]
    assert sol.info["steps"] == TINY["error_every"]


def test_resampling_draws_new_points():
    solver = PINN(library("poisson2d"), sampling="uniform", resample_every=2, **TINY)
    first = solver.batch.interior.clone()
    solver.solve()
    assert not torch.equal(first, solver.batch.interior)


def test_checkpoint_resume_matches_an_uninterrupted_run(tmp_path):
    common = dict(points=64, boundary_points=16, width=8, depth=1, optimizer="adam", seed=1)
    straight = PINN(library("poisson2d"), steps=10, **common).solve()
    half = PINN(library("poisson2d"), steps=10, **common)
    from solvers import StopTraining

    class StopAt5:  # an interruption after 5 steps; the solver's checkpointer saves on the way out
        def on_start(self, s): ...
        def on_step(self, s, r):
            if r.step == 5:
                raise StopTraining("pause")
        def on_end(self, s): ...

    ckpt = tmp_path / "checkpoint.pt"
    half.solve([StopAt5()], checkpoint_path=ckpt)
    assert load_checkpoint(ckpt)["step"] == 5
    resumed = PINN(library("poisson2d"), steps=10, **common).solve(checkpoint=load_checkpoint(ckpt))
    for p, q in zip(straight.model.parameters(), resumed.model.parameters()):
        assert torch.allclose(p, q, rtol=0, atol=1e-13)


def test_options_validate():
    with pytest.raises(ConfigurationError, match="sampling"):
        PINNOptions(sampling="nope").validate()
    with pytest.raises(ConfigurationError, match="must be an int"):
        PINNOptions.from_strings({"width": "wide"})
    with pytest.raises(ConfigurationError, match="unknown option 'nosuch'"):
        PINNOptions.from_strings({"nosuch": "1"})
    assert PINNOptions.from_strings({"lr": "3e-3", "steps": "7"}).steps == 7


def test_other_domains_run():
    class BallProblem(Problem):
        """-Δu = 6 in the unit ball of R^3, u = 0 on the sphere; u = 1 - |x|²."""

        domain = Ball([0.0, 0.0, 0.0], 1.0)
        conditions = [Dirichlet(0.0)]

        def residual(self, u, x):
            return -laplacian(u)(x) - 6.0

        def exact(self, x):
            return 1 - (x**2).sum()

    sol = PINN(BallProblem(), steps=200, points=256, width=16, depth=2).solve()
    assert sol.errors()["rel_l2"] < 1e-3  # hard ansatz (1-|x|²)·N: N = 1 is exact (measured 1.5e-4)

    box5 = PINN(library("poisson_nd", dim=5), **TINY).solve()
    assert math.isfinite(box5.errors()["rel_l2"])


def test_partial_in_neumann_uses_outward_normal():
    solver = PINN(MixedBC1D(), bc="soft", **TINY)
    neumann = [e for e in solver.batch.conditions if e["condition"].kind == "neumann"][0]
    assert torch.all(neumann["normals"] == 1.0)
    dirichlet = [e for e in solver.batch.conditions if e["condition"].kind == "dirichlet"][0]
    assert torch.all(dirichlet["points"] == 0.0)
    assert partial  # operator used by the Neumann term


def test_curvature_diagnostics_are_written_to_the_metrics(tmp_path):
    import json

    from physopt.curvature import residual_jacobian
    from solvers import MetricsWriter

    solver = PINN(library("poisson2d"), optimizer="adam", steps=4, diagnostics_every=2, width=6, depth=1, points=32,
                  boundary_points=16)
    solver.solve([MetricsWriter(tmp_path / "m.jsonl")])
    rows = [json.loads(line) for line in (tmp_path / "m.jsonl").read_text().splitlines()]
    with_diag = [r for r in rows if "gram_top_eig" in r]
    assert [r["step"] for r in with_diag] == [2, 4]
    obj = solver.least_squares()
    J = residual_jacobian(obj.residual, obj.flat.vector())
    dense_top = float(torch.linalg.eigvalsh(J.T @ J)[-1])
    assert abs(with_diag[-1]["gram_top_eig"] - dense_top) < 1e-3 * dense_top
    assert with_diag[-1]["gram_cond"] >= 1.0 and math.isfinite(with_diag[-1]["hessian_top_eig"])


def test_second_order_options_are_checked_when_the_solver_is_built():
    with pytest.raises(ConfigurationError, match="engd_solver"):
        PINNOptions(engd_solver="nope").validate()
    with pytest.raises(ConfigurationError, match="damping"):
        PINNOptions(damping=-1.0).validate()
    with pytest.raises(ConfigurationError, match="stall_rtol"):
        PINNOptions(stall_rtol=1.0).validate()
    with pytest.raises(ConfigurationError, match="stall_window"):
        PINNOptions(stall_window=-1).validate()
