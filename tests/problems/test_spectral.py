"""Pseudo-spectral references and ideal-stepper floors of the periodic 2-D problems (heat2d, allen_cahn2d, burgers2d)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.func import vmap

from physopt import relative_l2
from problems import _spectral as S
from problems import registered_problems
from problems._library.periodic2d import IC_MODES, AllenCahn2D, Burgers2D, Heat2D, initial_value

pytestmark = pytest.mark.cpu_only(reason="the pseudo-spectral references are NumPy; the torch problem code is compared with them to 1e-14 on the CPU")

NU = {"heat": 0.1, "allen_cahn": 1 / 200, "burgers": 1 / 100}


@pytest.fixture(autouse=True)
def _no_disk_cache(monkeypatch):
    """Tests do not read or write the user's cache; each starts from an empty memory cache."""
    monkeypatch.setenv("PHYSOPT_CACHE_DIR", "")
    S.clear_memory_cache()
    yield
    S.clear_memory_cache()


def pde(kind, n=64):
    return S.PeriodicPDE(kind, NU[kind], n, IC_MODES)


def off_grid(n_side=24, shift=(0.0137, 0.0291)):
    g = 2 * np.pi * np.arange(n_side) / n_side
    x, y = np.meshgrid(g + shift[0], g + shift[1], indexing="ij")
    return x.ravel(), y.ravel()


# ----- the initial condition and trigonometric evaluation ------------------------------------


def test_torch_initial_condition_equals_its_fourier_series():
    n = 64
    g = torch.as_tensor(np.array(S.grid(n)))
    x, y = torch.meshgrid(g, g, indexing="ij")
    values = initial_value(torch.stack([x, y], -1)).numpy()
    coeffs = S.ic_coefficients(pde("heat", n))
    assert np.max(np.abs(np.fft.rfft2(values) - coeffs)) / n**2 < 1e-14
    # and at arbitrary points, through the interpolant
    px, py = off_grid()
    torch_values = initial_value(torch.as_tensor(np.column_stack([px, py]))).numpy()
    np.testing.assert_allclose(S.evaluate(coeffs, px, py), torch_values, rtol=0, atol=1e-14)
    assert 0.45 < np.abs(values).max() < 0.55
    assert max(kx * kx + ky * ky for kx, ky, *_ in IC_MODES) <= 20


def _direct_sum(coeffs, x, y):
    """The symmetric real interpolant, mode by mode over the full plane (Nyquist entries split)."""
    n = coeffs.shape[0]
    full = np.fft.fft2(np.fft.irfft2(coeffs, s=(n, n)))
    total = np.zeros(len(x), dtype=complex)
    for kx in range(-n // 2, n // 2 + 1):
        for ky in range(-n // 2, n // 2 + 1):
            c = full[kx % n, ky % n] * (0.5 if abs(kx) == n // 2 else 1.0) * (0.5 if abs(ky) == n // 2 else 1.0)
            total += c * np.exp(1j * (kx * x + ky * y))
    return total.real / n**2


def test_evaluation_on_grid_points_and_against_a_direct_sum():
    n = 16
    rng = np.random.default_rng(0)
    u = rng.standard_normal((n, n))  # every mode, Nyquist included
    c = np.fft.rfft2(u)
    g = S.grid(n)
    gx, gy = np.meshgrid(g, g, indexing="ij")
    np.testing.assert_allclose(S.evaluate(c, gx, gy, tol=0.0), u.ravel(), rtol=0, atol=1e-13)
    px, py = off_grid(9)
    np.testing.assert_allclose(S.evaluate(c, px, py, tol=0.0), _direct_sum(c, px, py), rtol=0, atol=1e-13)
    # a smooth field: dropping negligible modes changes nothing visible, and keeps few of them
    smooth = S.reference_snapshot(pde("allen_cahn", 32), 0.1)
    np.testing.assert_allclose(S.evaluate(smooth, px, py), _direct_sum(smooth, px, py), rtol=0, atol=1e-14)


# ----- references -----------------------------------------------------------------------------


def test_heat_reference_equals_the_exact_solution():
    problem = Heat2D()
    rng = np.random.default_rng(1)
    pts = np.column_stack([rng.uniform(0, 2 * np.pi, (300, 2)), np.repeat([0.0, 0.3, 1.7, 4.0], 75)])
    pts = torch.as_tensor(pts)
    with problem.layout():
        exact = vmap(problem.exact)(pts)
    reference = problem.reference_solution(pts)
    assert torch.max(torch.abs(reference - exact)) < 1e-12
    assert torch.max(torch.abs(problem.solution_at(pts)[:, 0] - exact)) == 0  # exact takes precedence


@pytest.mark.parametrize("kind", ["allen_cahn", "burgers"])
def test_reference_converges_in_time_and_space(kind):
    p = pde(kind, 64)
    t = 0.1
    assert S.relative_l2(S.reference_snapshot(p, t, h=1 / 256), S.reference_snapshot(p, t, h=1 / 512)) < 1e-11
    # the default step, landing on a time between grid steps, against a much finer one
    assert S.relative_l2(S.reference_snapshot(p, 0.37), S.reference_snapshot(p, 0.37, h=1 / 2048)) < 1e-11
    px, py = off_grid()
    coarse = S.evaluate(S.reference_snapshot(p, t), px, py)
    fine = S.evaluate(S.reference_snapshot(pde(kind, 128), t), px, py)
    assert relative_l2(coarse, fine) < 1e-9  # measured 9e-12 (AC), 3e-10 (Burgers)


def test_reference_does_not_depend_on_which_times_are_asked_together():
    p = pde("burgers", 32)
    both = S.reference_coefficients(p, [0.3, 0.1])
    S.clear_memory_cache()
    alone = S.reference_coefficients(p, [0.3])[0]
    np.testing.assert_array_equal(both[0], alone)


@pytest.mark.parametrize("kind", ["heat", "allen_cahn", "burgers"])
def test_problem_rhs_equals_the_spectral_right_hand_side(kind):
    """rhs by autograd on u0 (band-limited, so the dealiased spectral RHS is exact) at t = 0."""
    problem = {"heat": Heat2D, "allen_cahn": AllenCahn2D, "burgers": Burgers2D}[kind]()
    rng = np.random.default_rng(2)
    pts = torch.as_tensor(np.column_stack([rng.uniform(0, 2 * np.pi, (200, 2)), np.zeros(200)]))
    with problem.layout():
        rhs = vmap(lambda x: problem.rhs(initial_value, x))(pts).numpy()
    spectral = S.rhs_coefficients(pde(kind), S.ic_coefficients(pde(kind)))
    np.testing.assert_allclose(rhs, S.evaluate(spectral, pts[:, 0].numpy(), pts[:, 1].numpy()), rtol=0, atol=1e-13)
    # the time-marching form: spatial points only, outside any layout
    rhs_space = vmap(lambda x: problem.rhs(initial_value, x))(pts[:, :2]).numpy()
    np.testing.assert_allclose(rhs_space, rhs, rtol=0, atol=1e-14)


def test_pinn_residual_of_the_exact_heat_solution_vanishes():
    problem = Heat2D()
    problem.validate()
    rng = np.random.default_rng(3)
    pts = torch.as_tensor(np.column_stack([rng.uniform(0, 2 * np.pi, (100, 2)), rng.uniform(0, 4, 100)]))
    with problem.layout():
        residual = vmap(lambda x: problem.residual(problem.exact, x))(pts)
    assert torch.max(torch.abs(residual)) < 1e-14


# ----- ideal-stepper floors -------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["heat", "allen_cahn", "burgers"])
def test_stepper_floor_orders(kind):
    p = pde(kind)
    expected = {"euler": 1, "heun": 2, "rk4": 4}
    for method, (t, dts) in {
        "euler": (0.1, (0.01, 0.005, 0.0025)),
        "heun": (0.1, (0.01, 0.005, 0.0025)),
        "rk4": (0.2, (0.02, 0.01, 0.005)),  # smaller steps reach rounding on Allen–Cahn
    }.items():
        reference = S.reference_snapshot(p, t, h=1 / 4096)
        errors = [S.relative_l2(S.stepper_coefficients(p, method, dt, [t])[0], reference) for dt in dts]
        orders = np.log2(np.array(errors[:-1]) / errors[1:])
        assert np.all(np.abs(orders - expected[method]) < 0.15), (method, errors, orders)


def test_problem_stepper_floor_at_points_and_its_errors():
    problem = AllenCahn2D(n_grid=48, t_end=0.2)
    pts = problem.error_points()
    assert pts.dtype == torch.float64 and pts.shape == (5 * 64 * 64, 3)
    np.testing.assert_allclose(np.unique(pts[:, 2].numpy()), [0.04, 0.08, 0.12, 0.16, 0.2])
    floor = problem.stepper_floor("heun", 0.01, pts)
    reference = problem.reference_solution(pts)
    last = pts[:, 2] == pts[:, 2].max()
    rel = relative_l2(floor[last], reference[last])
    spectral_rel = problem.stepper_floor_error("heun", 0.01)
    assert spectral_rel.shape == (5,) and 1e-9 < spectral_rel[-1] < 1e-5
    assert rel == pytest.approx(spectral_rel[-1], rel=0.05)  # 64² grid vs Parseval on the spectral grid
    with pytest.raises(ValueError, match="not a multiple of the step dt"):
        problem.stepper_floor("euler", 0.03, pts)
    with pytest.raises(ValueError, match="method must be one of"):
        problem.stepper_floor("ab2", 0.01, pts)


# ----- the problems -------------------------------------------------------------------------


def test_problems_are_registered_with_time_from_t_end():
    names = registered_problems()
    for name, cls in [("heat2d", Heat2D), ("allen_cahn2d", AllenCahn2D), ("burgers2d", Burgers2D)]:
        assert names[name] is cls
        problem = cls(t_end=2.5)
        problem.validate()
        assert problem.has_rhs and problem.has_reference and problem.time.t1 == 2.5
        assert [c.kind for c in problem.conditions] == ["periodic", "periodic", "initial"]
        assert cls().time.t1 == 4.0
    assert math.isclose(Heat2D().nu, 0.1) and math.isclose(AllenCahn2D().nu, 1 / 200) and math.isclose(Burgers2D().nu, 0.01)
    x = torch.rand(10, 2, dtype=torch.float64) * 2 * math.pi
    init = Burgers2D().conditions[2].value
    np.testing.assert_array_equal(Burgers2D().initial_condition(x).numpy(), vmap(init)(x).numpy())


def test_many_distinct_times_integrate_once_in_order():
    problem = Burgers2D(n_grid=32, t_end=0.5)
    rng = np.random.default_rng(4)
    pts = torch.as_tensor(np.column_stack([rng.uniform(0, 2 * np.pi, (300, 2)), rng.uniform(0, 0.5, 300)]))
    values = problem.reference_solution(pts)
    i = int(torch.argmax(pts[:, 2]))
    one = problem.reference_solution(pts[i : i + 1])
    assert abs(float(values[i] - one[0])) < 1e-15


# ----- the disk cache -----------------------------------------------------------------------


def test_disk_cache_round_trip_and_corrupt_file(tmp_path, monkeypatch):
    monkeypatch.setenv("PHYSOPT_CACHE_DIR", str(tmp_path))
    p = pde("allen_cahn", 32)
    first = np.array(S.reference_snapshot(p, 0.1))
    files = list(tmp_path.glob("*.npz"))
    assert len(files) == 1 and not list(tmp_path.glob(".*tmp*")), "no temporary files left behind"
    # from disk: the integrator is not called again
    S.clear_memory_cache()
    real_step = S._ifrk4_step
    monkeypatch.setattr(S, "_ifrk4_step", lambda *a: pytest.fail("recomputed instead of loading the cache"))
    np.testing.assert_array_equal(S.reference_snapshot(p, 0.1), first)
    # a corrupt file is recomputed (and rewritten), never a crash
    monkeypatch.setattr(S, "_ifrk4_step", real_step)
    files[0].write_bytes(b"not an npz file")
    S.clear_memory_cache()
    np.testing.assert_array_equal(S.reference_snapshot(p, 0.1), first)
    S.clear_memory_cache()
    monkeypatch.setattr(S, "_ifrk4_step", lambda *a: pytest.fail("the rewritten file was not used"))
    np.testing.assert_array_equal(S.reference_snapshot(p, 0.1), first)
    # stepper snapshots go to disk too
    S.stepper_coefficients(p, "heun", 0.05, [0.1])
    assert len(list(tmp_path.glob("*.npz"))) == 2


def test_unwritable_cache_directory_is_skipped(tmp_path, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    monkeypatch.setenv("PHYSOPT_CACHE_DIR", str(blocker / "cache"))  # cannot be created, even as root
    p = pde("burgers", 32)
    np.testing.assert_array_equal(S.reference_snapshot(p, 0.05), S.reference_snapshot(p, 0.05, cache=False))
