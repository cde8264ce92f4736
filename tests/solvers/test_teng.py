"""TENG: Jacobian columns against autograd, the march against exact solutions, checkpoints, bad input.

The problems here are small periodic heat equations with closed-form
solutions, so each run takes seconds (float64, grid 32², 8 embedding features per axis, one hidden layer of 16).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from cases import InterruptAt
import seeded
import torch
from torch.func import functional_call, jacrev

from physopt import ConfigurationError, ProblemDefinitionError, relative_l2
from problems import Dirichlet, Initial, Problem, resolve_problem
from solvers import TENG, TENGOptions
from solvers._teng_network import PeriodicMLP

# u_t = ν Δu on [0, 2π)² with four Fourier modes (a problem file, so `physopt convergence` can load it too)
PERIODIC_HEAT = Path(__file__).resolve().parents[1] / "cli_problems" / "periodic_heat.py"
SmallHeat = resolve_problem(str(PERIODIC_HEAT))

SMALL = dict(grid=32, features=8, width=16, depth=1, dt=0.01)
PAPER_FITS = dict(step_fit="qr", iterations=7, corrector_iterations=5, carry_misfit=False)  # the paper's step fits


def _options(**kw):
    return TENGOptions(**{**SMALL, **kw})


def test_jacobian_columns_equal_autograd_and_the_network_is_periodic():
    torch.manual_seed(0)
    net = PeriodicMLP([2 * math.pi, 3.0], features=4, width=6, depth=2).double()
    x = torch.rand(9, 2, dtype=torch.float64) * 5
    names = [n for n, _ in net.named_parameters()]
    params = [p.detach() for p in net.parameters()]
    flat = torch.cat([p.reshape(-1) for p in params])

    def u_of(theta):
        pieces, offset = {}, 0
        for name, p in zip(names, params):
            pieces[name] = theta[offset : offset + p.numel()].view_as(p)
            offset += p.numel()
        return functional_call(net, pieces, (x,))

    dense = jacrev(u_of)(flat)
    taps = net.taps(x)
    assert torch.allclose(taps.u, net(x), atol=1e-14)
    assert torch.allclose(net.jacobian_columns(taps, torch.arange(flat.numel())), dense, atol=1e-12)
    subset = torch.sort(torch.randperm(flat.numel())[:25]).values
    assert torch.allclose(net.jacobian_columns(taps, subset), dense[:, subset], atol=1e-12)
    shifted = x + torch.tensor([2 * math.pi, 3.0], dtype=torch.float64)
    assert torch.allclose(net(shifted), net(x), atol=1e-12)


@pytest.fixture(scope="module")
def heun_run():
    solver = TENG(SmallHeat(), _options(method="heun", **PAPER_FITS))
    return solver, solver.solve()


def test_teng_heun_tracks_the_exact_solution(heun_run):
    solver, solution = heun_run
    assert solution.info["initial_fit_rel_l2"] <= 1e-7
    errors = solution.errors()
    # measured 8.7e-7 (fit errors of ~1e-7 per step, 4 steps); the Heun floor here is ~1e-8
    assert errors["rel_l2"] < 3e-6
    assert solution.info["steps"] == 4 and "reached t = 0.04" in solution.info["stop_reason"]
    # values between stored steps are interpolated; outside the marched interval they are refused
    pts = torch.tensor([[1.0, 2.0, 0.005]], dtype=torch.float64)
    exact = SmallHeat().solution_at(pts)
    assert abs(float(solution(pts) - exact)) < 1e-3
    with pytest.raises(ValueError, match="covers t in"):
        solution(torch.tensor([[1.0, 2.0, 0.5]], dtype=torch.float64))


def test_default_fits_track_the_exact_solution(heun_run):
    """The defaults (LM fits 8 / 50, the misfit carried) on the small heat problem, next to the paper's QR fits."""
    _, paper = heun_run
    errors = TENG(SmallHeat(), _options(method="heun")).solve().errors()
    # measured: rel_l2 8.1e-7 (over the error times, between stored steps too), at t = 0.04 8.1e-8;
    # the paper's fits 8.1e-7 and 9.6e-8 (heat is easy for both; the nonlinear problems are not: docs/solvers/teng.md)
    assert errors["rel_l2"] < 3e-6 and errors["rel_l2_final"] < 3e-7
    assert errors["rel_l2_final"] < 2 * paper.errors()["rel_l2_final"]


def test_checkpoint_resume_reproduces_the_uninterrupted_run(tmp_path, heun_run):
    _, reference = heun_run
    path = tmp_path / "checkpoint.pt"

    with pytest.raises(KeyboardInterrupt):
        TENG(SmallHeat(), _options(method="heun", **PAPER_FITS)).solve([InterruptAt(2)], checkpoint_path=path)
    checkpoint = torch.load(path, weights_only=True)
    assert checkpoint["step"] == 2
    resumed = TENG(SmallHeat(), _options(method="heun", **PAPER_FITS)).solve(checkpoint=checkpoint)
    assert resumed.info["steps"] == 4 and resumed.info["initial_fit_rel_l2"] == checkpoint["initial_fit_rel_l2"]
    assert torch.equal(resumed.weights[2], checkpoint["weights"][2])  # the steps before the interruption are kept
    # Rank-revealing QR on nearly rank-deficient Jacobians turns last-bit differences of BLAS into different
    # parameters (measured: ~3e-4 between two fresh runs), while the fitted functions agree to ~3e-7:
    # compare the results by their errors, not bit for bit.
    assert resumed.errors()["rel_l2"] < 3 * reference.errors()["rel_l2"] + 1e-6


def test_lm_step_fit_reaches_the_qr_fit_accuracy(heun_run):
    """``step_fit=lm``: Levenberg–Marquardt on all columns instead of QR on column subsets."""
    _, qr = heun_run
    solution = TENG(SmallHeat(), _options(method="heun", step_fit="lm", iterations=20, corrector_iterations=20,
                                          carry_misfit=False)).solve()
    # measured: last fit misfit 5.1e-9, rel_l2 8.1e-7 and 9.7e-8 at t = 0.04 (QR: 8.2e-8, 8.1e-7, 1.6e-7)
    assert solution.info["final_loss"] < 1e-7
    assert solution.errors()["rel_l2"] < 3e-6 and solution.errors()["rel_l2_final"] < 1e-6
    assert solution.errors()["rel_l2"] < 3 * qr.errors()["rel_l2"]
    assert solution.info["rejected_fit_steps"] == 0  # the guard belongs to the QR fit


def test_gram_step_fit_reaches_the_qr_fit_accuracy(heun_run):
    """``step_fit=gram``: the same column-subset fits solved by the normal equations (one eigendecomposition per
    subset, reused by every cut-off it tries) instead of QR."""
    _, qr = heun_run
    solver = TENG(SmallHeat(), _options(method="heun", **{**PAPER_FITS, "step_fit": "gram", "rcond": 1e-6}))
    solution = solver.solve()
    # measured: rel_l2 8.1e-7, at t = 0.04 1.0e-7 (QR: 8.1e-7, 1.6e-7)
    assert solution.errors()["rel_l2"] < 1.5 * qr.errors()["rel_l2"]
    assert solution.errors()["rel_l2_final"] < 3e-7


def test_big_networks_fit_u0_on_a_coarse_grid_then_on_column_subsets():
    """Past ``init_columns`` parameters the fit to u0 runs LM on a coarse sub-grid, then LM on column subsets."""
    solver = TENG(SmallHeat(), _options(init_columns=256, init_points=256, init_iterations=100, init_tol=1e-4))
    assert solver.n_params > 256
    calls = []
    fit_lm, fit_subsets = solver._fit_lm, solver._fit_subset_lm
    solver._fit_lm = lambda *a, **k: calls.append(("lm", len(k["points"]))) or fit_lm(*a, **k)
    solver._fit_subset_lm = lambda *a, **k: calls.append(("subsets", a[1])) or fit_subsets(*a, **k)
    target = solver.initial_values()
    misfit, iterations = solver.fit_initial(target)
    with torch.no_grad():
        assert misfit == pytest.approx(relative_l2(solver.model(solver.x), target), rel=1e-9)
    assert calls[0] == ("lm", 256)  # every 2nd point of 32 per axis: 16² <= 256 points
    assert calls[1][0] == "subsets" and iterations <= 100
    assert misfit <= 1e-4, misfit  # the coarse fit (16² of 32² points) ends above it on the whole grid


def test_lm_step_fits_start_from_a_small_damping(monkeypatch):
    """A step fit starts a linear model's step from its optimum, so from ``lm_damping`` (1e-12), not from the
    fit to u0's 1e-3: Nielsen's update (at most ÷3 per step) would spend the first ~20 iterations on the
    damping alone."""
    import solvers._teng_fit as teng_module

    solver = TENG(SmallHeat(), _options(method="heun", step_fit="lm", init_iterations=200))
    dampings = []
    LM = teng_module.LevenbergMarquardt

    def recording_lm(params, objective, damping):
        dampings.append(damping)
        return LM(params, objective, damping=damping)

    monkeypatch.setattr(teng_module, "LevenbergMarquardt", recording_lm)
    solver.fit_initial(solver.initial_values())
    with torch.no_grad():
        u = solver.model(solver.x)
    target = u + 0.01 * solver.rhs_values()
    theta = solver.flat.vector()
    misfit = {}
    for damping in (1e-3, 1e-12):
        solver.flat.assign(theta)
        solver.options.lm_damping = damping
        solver.last_damping = 0.0  # as if the last fit had ended undamped
        misfit[damping] = solver.fit(target, 5)
    assert dampings == [1e-3, 1e-3, 1e-12]
    # measured: 5 iterations from 1e-3: 1.7e-5; from 1e-12: 2.2e-8
    assert misfit[1e-12] < 0.01 * misfit[1e-3]
    # a fit starts where the last one ended when that is higher (LM's state carries over from fit to fit)
    solver.last_damping = 1e-6
    solver.fit(target, 1)
    assert dampings[-1] == 1e-6 and solver.last_damping > 0
    with pytest.raises(ConfigurationError, match="lm_damping must be in"):
        TENGOptions.from_strings({"lm_damping": "0"})


@pytest.mark.parametrize("carry", [False, True])
def test_step_targets_start_from_the_network_or_from_the_carried_grid_values(monkeypatch, carry):
    """With fits that change nothing, Euler's targets show what each step starts from: the network's values
    u_θ (each fit's misfit dropped), or with ``carry_misfit`` the last target, U_{n+1} = U_n + dt L[u_θ]."""
    solver = TENG(SmallHeat(), _options(method="euler", carry_misfit=carry, init_iterations=20))
    targets = []

    def no_fit(target, iterations):
        targets.append(target.clone())
        return 0.0

    monkeypatch.setattr(solver, "fit", no_fit)
    solver.solve()
    with torch.no_grad():
        u_theta = solver.model(solver.x)
    u0, k = solver.initial_values(), solver.rhs_values()
    assert relative_l2(u_theta, u0) > 1e-6  # 20 LM steps leave the fit to u0 visibly short
    assert len(targets) == 4
    for n, target in enumerate(targets, start=1):
        expected = u0 + n * 0.01 * k if carry else u_theta + 0.01 * k
        assert torch.allclose(target, expected, rtol=0, atol=1e-12)
    assert torch.equal(solver.grid_values, targets[-1])


def test_carrying_the_misfit_keeps_the_fit_errors_from_adding_up(tmp_path):
    """A short initial fit (30 LM steps: misfit 1.1e-4) and short step fits (2 LM iterations a stage): dropped
    every step, the initial misfit stays; carried into the next target, the step fits keep reducing it. A run
    resumed from a checkpoint carries on from the saved grid values."""
    short = dict(method="heun", step_fit="lm", iterations=2, corrector_iterations=2, dt=0.005, init_iterations=30)
    errors = {}
    for carry in (False, True):
        errors[carry] = TENG(SmallHeat(), _options(**short, carry_misfit=carry)).solve().errors()["rel_l2_final"]
    # measured: dropped 9.7e-5, carried 9.6e-6
    assert errors[True] < 0.3 * errors[False]

    path = tmp_path / "checkpoint.pt"

    with pytest.raises(KeyboardInterrupt):
        TENG(SmallHeat(), _options(**short, carry_misfit=True)).solve([InterruptAt(4)], checkpoint_path=path)
    checkpoint = torch.load(path, weights_only=True)
    resumed = TENG(SmallHeat(), _options(**short, carry_misfit=True))
    solution = resumed.solve(checkpoint=checkpoint)
    assert solution.info["steps"] == 8
    assert solution.errors()["rel_l2_final"] < 1.5 * errors[True]
    checkpoint["grid_values"] = None  # as in a checkpoint written before carry_misfit existed
    with pytest.raises(ConfigurationError, match="no grid values"):
        TENG(SmallHeat(), _options(**short, carry_misfit=True)).solve(checkpoint=checkpoint)


def test_a_converged_qr_fit_does_not_hold_back_the_next_one(monkeypatch):
    """Each QR fit starts from the option ``rcond``: a fit that converged (every cut-off up to 1e-3 rejected)
    must not leave its last cut-off to the next fit, which then could stop at once (that lost a Heun
    corrector on heat2d: misfit 6.6e-6 instead of 2e-8)."""
    solver = TENG(SmallHeat(), _options(method="heun", init_iterations=100, **PAPER_FITS))
    solver.fit_initial(solver.initial_values())
    cutoffs = []
    import solvers._teng_lstsq as teng_module

    lstsq = teng_module.truncated_lstsq

    def recording_lstsq(J, b, rcond, method=None):
        cutoffs.append(rcond)
        return lstsq(J, b, rcond, method)

    monkeypatch.setattr(teng_module, "truncated_lstsq", recording_lstsq)
    with torch.no_grad():
        u = solver.model(solver.x)
    assert solver.fit(u, 3) == 0.0  # nothing to fit: every cut-off is rejected, and the fit stops
    assert cutoffs == pytest.approx([1e-9, 1e-7, 1e-5, 1e-3])
    cutoffs.clear()
    target = u + 0.01 * solver.rhs_values()
    start = relative_l2(u, target)
    assert solver.fit(target, 5) < 1e-3 * start  # measured: 2.3e-3 -> 2e-8 ... 1.3e-7 (QR's last bits vary)
    assert cutoffs[0] == 1e-9


def test_problems_teng_cannot_march_are_refused_clearly():
    class NoRhs(SmallHeat):
        rhs = Problem.rhs

        def residual(self, u, x):
            return x[0]

    with pytest.raises(ProblemDefinitionError, match="needs a `time` interval and rhs"):
        TENG(NoRhs(), _options())

    class Walls(SmallHeat):
        conditions = [Dirichlet(0.0), Initial(0.0)]

    with pytest.raises(ConfigurationError, match="Periodic in every axis"):
        TENG(Walls(), _options())
    with pytest.raises(ConfigurationError, match="does not divide the time interval"):
        TENG(SmallHeat(), _options(dt=0.03))
    with pytest.raises(ConfigurationError, match="unknown method 'rk5'"):
        TENGOptions.from_strings({"method": "rk5"})
    with pytest.raises(ConfigurationError, match="step_fit"):
        TENGOptions.from_strings({"step_fit": "svd"})


def test_cli_solves_heat2d_with_teng_and_reports_the_stepper_floor(tmp_path):
    import json

    from physopt.cli import main

    out = tmp_path / "run"
    code = main(["solve", "heat2d", "--solver", "teng", "--dt", "0.005", "--param", "t_end=0.01", "--set", "grid=32",
                 "--set", "width=16", "--set", "init_iterations=100", "--no-progress", "--no-render", "--out", str(out)])
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    errors = summary["errors"]
    assert summary["solver"] == "teng" and summary["steps"] == 2
    # the plumbing, not the accuracy (tested above): with only 100 initial-fit steps this small net ends at
    # 7e-5 ... 3e-3 (measured; the LM trajectory differs between runs, see the checkpoint test); floor 3.7e-8
    assert errors["floor_rel_l2"] < 1e-7 < errors["rel_l2_final"] < 1e-2
    assert {"solution.xdmf", "solution.h5", "model.pt", "checkpoint.pt", "metrics.jsonl"} <= {p.name for p in out.iterdir()}
    saved = torch.load(out / "model.pt", weights_only=True)
    assert saved["weights"].shape[0] == len(saved["times"]) >= 3


@pytest.mark.parametrize("method, dts, t_end, order", [
    ("euler", [0.02, 0.01], 0.04, 1.0),  # the default run's two-point version: measured slope 0.91
    ("heun", [0.2, 0.1], 0.8, 2.0),  # measured slope 2.03
    pytest.param("euler", [0.02, 0.01, 0.005], 0.04, 1.0, marks=pytest.mark.slow),  # measured 0.94 (errors 1.8e-5,
    # 9.6e-6, 4.9e-6; the paper's fits alike)
    pytest.param("heun", [0.2, 0.1, 0.05], 0.8, 2.0, marks=pytest.mark.slow),  # measured 2.01 (errors 3.8e-4, 9.3e-5,
    # 2.3e-5; the paper's fits: 2.00)
])
def test_convergence_study_of_teng_in_dt_shows_the_stepper_order(tmp_path, method, dts, t_end, order):
    """`physopt convergence FILE --solver teng --vary dt=... --param t_end=...`: order 1 (Euler), 2 (Heun).

    The dt range is where the stepping error is well above the per-step fit error, so the
    slope is the stepper's and not the optimizer's."""
    from physopt.cli.convergence import convergence_study

    study = convergence_study(str(PERIODIC_HEAT), "teng", ("dt", dts), params={"t_end": str(t_end)},
                              options={k: str(v) for k, v in {**SMALL, "method": method}.items() if k != "dt"},
                              out=tmp_path / "study")
    assert abs(study["fit"]["order"] - order) < 0.2, study["fit"]
    errors = [row["rel_l2"] for row in study["rows"]]
    # the fit error (~1e-6 over a run, see test_teng_heun_tracks_the_exact_solution) stays below every error
    assert errors == sorted(errors, reverse=True) and errors[-1] > 3e-6, errors
    assert (tmp_path / "study" / "convergence.png").is_file()


def test_truncated_least_squares_agree_on_a_rank_deficient_system():
    # the QR step fit's solve: gelsy on the CPU, a thin SVD on CUDA (whose gels driver ignores rcond)
    from solvers._teng import truncated_lstsq

    g = torch.Generator().manual_seed(0)
    A = seeded.randn(40, 6, generator=g, dtype=torch.float64)
    J = torch.cat([A, A[:, :2] - A[:, 2:4]], 1)  # rank 6 of 8: two columns are exact combinations of others
    b = seeded.randn(40, generator=g, dtype=torch.float64)
    by_qr, by_svd = truncated_lstsq(J, b, 1e-9, "gelsy"), truncated_lstsq(J, b, 1e-9, "svd")
    best = float(torch.linalg.norm(A @ torch.linalg.lstsq(A, b[:, None]).solution[:, 0] - b))  # the rank-6 optimum
    assert float(torch.linalg.norm(J @ by_qr - b)) == pytest.approx(best, rel=1e-10)
    assert float(torch.linalg.norm(J @ by_svd - b)) == pytest.approx(best, rel=1e-10)
    assert float(by_svd.norm()) < 10 * float(torch.linalg.lstsq(A, b[:, None]).solution.norm())  # no blow-up along the null space
