"""Operator-learning data generators (problems/_operator_generators.py): the accuracy and order each one claims.

Figures measured when these tests were written are in the comments; the bounds leave a margin around them.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.integrate
import scipy.interpolate
import scipy.sparse

from physopt import ProblemDefinitionError
from problems._operator_generators import (_darcy_matrix, _diffusion_reaction_once, antiderivative, burgers_periodic,
                                           darcy, diffusion_reaction)
from problems._random_fields import periodic_grf, rbf_grf

pytestmark = pytest.mark.cpu_only(reason="NumPy/SciPy solvers: no tensors")


def _max(values: np.ndarray) -> float:
    return float(np.abs(values).max())


# antiderivative -------------------------------------------------------------------------------------------------


def test_antiderivative_is_exact_for_cubics_on_an_uneven_grid():
    x = np.sort(np.random.default_rng(0).uniform(-1.0, 2.0, 17))
    u = np.stack([1 + 0 * x, 3 * x**2 - 2 * x, 4 * x**3 - x])
    s = antiderivative(u, x)
    exact = np.stack([x, x**3 - x**2, x**4 - x**2 / 2])
    exact -= exact[:, :1]
    assert s.shape == u.shape and s.dtype == np.float64
    np.testing.assert_array_equal(s[:, 0], 0.0)
    np.testing.assert_allclose(s, exact, rtol=0, atol=1e-13)


def test_antiderivative_is_fourth_order():
    phase = np.random.default_rng(1).uniform(0, 2 * np.pi, (5, 1))
    errors = []
    for m in (21, 41, 81):
        x = np.linspace(0.0, 2.0, m)
        s = antiderivative(np.cos(3 * x + phase), x)
        errors.append(_max(s - (np.sin(3 * x + phase) - np.sin(phase)) / 3))
    # measured 29.0, 24.1 (errors 2.3e-5, 7.9e-7, 3.3e-8; the ratio tends to 16 from above)
    assert errors[0] / errors[1] > 14 and errors[1] / errors[2] > 14 and errors[2] < 1e-7


# diffusion-reaction ---------------------------------------------------------------------------------------------

X = np.linspace(0.0, 1.0, 101)
T = np.linspace(0.0, 1.0, 101)


@pytest.mark.parametrize("reaction", [0.01, 1.0])
def test_diffusion_reaction_is_fourth_order(reaction):
    # GRF sources do not vanish at the ends: the corner (x0, 0) is incompatible, and the order holds there too
    u = rbf_grf(4, X, np.random.default_rng(0), length_scale=0.2)
    s = {r: diffusion_reaction(u, X, T, reaction=reaction, refine=r) for r in (1, 2, 4, 8)}
    assert s[4].shape == (4, 101, 101) and s[4].dtype == np.float64
    assert _max(s[4][:, :, 0]) == 0 and _max(s[4][:, [0, -1], :]) == 0
    change = [_max(s[a] - s[2 * a]) for a in (1, 2, 4)]
    first = [_max(s[a][:, :, 1] - s[2 * a][:, :, 1]) for a in (1, 2, 4)]  # the first output time, next to the corner
    # measured (both reactions): changes 1.3e-5, 7.0e-7, 4.1e-8, ratios 18.1, 16.9, all largest at t1
    assert change[1] / change[2] > 14 and change[0] / change[1] > 14
    assert first[1] / first[2] > 14
    assert change[2] < 1e-7
    # each solve alone is second order (measured ratio 4.00, change 3.2e-5 from 4 to 8): the extrapolation makes it 4th
    spline = scipy.interpolate.CubicSpline(X, u, axis=1)
    plain = [_diffusion_reaction_once(spline, X, T, 0.01, reaction, r, 5) for r in (2, 4, 8)]  # q = 5 here
    ratio = _max(plain[0] - plain[1]) / _max(plain[1] - plain[2])
    assert 3.8 < ratio < 4.2


def test_diffusion_reaction_matches_the_exact_linear_solution():
    d = 0.01
    s = diffusion_reaction(np.sin(np.pi * X)[None], X, T, diffusion=d, reaction=0.0)
    exact = np.sin(np.pi * X)[:, None] * (1 - np.exp(-d * np.pi**2 * T)) / (d * np.pi**2)
    # measured 1.3e-9, the cubic spline's error in sin(pi x) on 101 points (1.6e-9 already at refine=1)
    assert _max(s[0] - exact) < 1e-8


def test_diffusion_reaction_matches_radau_method_of_lines():
    d, k = 0.01, 0.01
    u = rbf_grf(1, X, np.random.default_rng(3), length_scale=0.2)
    source = scipy.interpolate.CubicSpline(X, u[0])

    def method_of_lines(points: int) -> np.ndarray:
        grid = np.linspace(0.0, 1.0, points)
        n = points - 2
        laplacian = scipy.sparse.diags_array([np.ones(n - 1), -2 * np.ones(n), np.ones(n - 1)], offsets=[-1, 0, 1],
                                             format="csc") * (d / (grid[1] - grid[0]) ** 2)
        f = source(grid[1:-1])
        solution = scipy.integrate.solve_ivp(
            lambda _, s: laplacian @ s + k * s * s + f, (0.0, 1.0), np.zeros(n), method="Radau", t_eval=T,
            rtol=1e-10, atol=1e-12, jac=lambda _, s: laplacian + scipy.sparse.diags_array(2 * k * s, format="csc"))
        assert solution.success
        out = np.zeros((101, 101))
        step = (points - 1) // 100
        out[1:-1] = solution.y[step - 1::step]
        return out

    coarse, fine = method_of_lines(401), method_of_lines(801)
    s = diffusion_reaction(u, X, T, diffusion=d, reaction=k)[0]
    # measured: within 7.0e-6 of the 801-point lines (their own spatial error: 2.1e-5 from 401 to 801 points) and
    # 1.3e-8 of their Richardson extrapolation (4 fine - coarse)/3
    assert _max(s - fine) < 0.5 * _max(fine - coarse)
    assert _max(s - (4 * fine - coarse) / 3) < 5e-8


def test_diffusion_reaction_reports_blow_up_and_bad_arguments():
    x = np.linspace(0.0, 1.0, 11)
    with pytest.raises(ProblemDefinitionError, match="blows up"):
        diffusion_reaction(np.full((1, 11), 10.0), x, np.linspace(0.0, 1.0, 11), reaction=50.0, refine=1)
    t = np.linspace(0.0, 1.0, 5)
    for bad in [dict(u=np.zeros(11)), dict(t=np.linspace(0.1, 1.0, 5)), dict(x=x**2), dict(diffusion=0.0),
                dict(refine=0), dict(refine=2.0)]:
        arguments = dict(u=np.zeros((2, 11)), x=x, t=t) | bad
        with pytest.raises(ProblemDefinitionError, match="diffusion_reaction"):
            diffusion_reaction(**arguments)


# Burgers --------------------------------------------------------------------------------------------------------


def test_burgers_linear_part_is_the_exact_heat_flow():
    nu, t_end, size = 1.0, 0.02, 64
    x = np.arange(size) / size
    decay = np.exp(-nu * (2 * np.pi) ** 2 * t_end)  # mode k = 1
    for amplitude in (1e-3, 1e-4):
        u = burgers_periodic(amplitude * np.sin(2 * np.pi * x)[None], nu, t_end)[0]
        # mode 1 feels the nonlinear term only at third order: it is the heat solution to a relative O(amplitude²)
        mode1 = np.fft.rfft(u)[1] / (size / 2)  # = -i * amplitude * decay for the heat flow
        assert abs(mode1 - (-1j * amplitude * decay)) < 1e-2 * amplitude**3  # measured 2.3e-4 amplitude³
    # a mixed field: the departure from the heat flow is the quadratic term, 100x smaller for 10x less amplitude
    def departure(amplitude: float) -> float:
        u0 = amplitude * (np.sin(2 * np.pi * x) + 0.5 * np.cos(4 * np.pi * x) - 0.3 * np.sin(6 * np.pi * x))
        heat = np.fft.irfft(np.fft.rfft(u0) * np.exp(-nu * (2 * np.pi * np.arange(size // 2 + 1)) ** 2 * t_end), size)
        return _max(burgers_periodic(u0[None], nu, t_end)[0] - heat) / _max(heat)

    ratio = departure(1e-3) / departure(1e-4)
    assert 9.5 < ratio < 10.5 and departure(1e-3) < 1e-4  # relative departure ∝ amplitude (measured 10.000, 2.2e-5)


def test_burgers_matches_cole_hopf():
    # u = -2 nu phi_x / phi with phi a positive solution of the heat equation phi_t = nu phi_xx is an exact solution
    nu, t_end, size = 0.1, 0.3, 128
    x = np.arange(size) / size

    def phi(t: float, derivative: bool = False) -> np.ndarray:
        k1, k2 = 2 * np.pi, 4 * np.pi
        e1, e2 = np.exp(-nu * k1**2 * t), np.exp(-nu * k2**2 * t)
        if derivative:
            return -k1 * e1 * np.sin(k1 * x) + 0.5 * k2 * e2 * np.cos(k2 * x)
        return 2.0 + e1 * np.cos(k1 * x) + 0.5 * e2 * np.sin(k2 * x)

    exact = [-2 * nu * phi(t, True) / phi(t) for t in (0.0, t_end)]
    errors = [_max(burgers_periodic(exact[0][None], nu, t_end, dt=dt)[0] - exact[1]) / _max(exact[1])
              for dt in (None, 5e-4, 2.5e-4)]
    # measured (relative, max norm): 3.8e-10 with the default step 1e-3, then 2.4e-11, 1.6e-12 (fourth order in time;
    # the same on 256 and 512 points)
    assert errors[0] < 2e-9 and errors[1] / errors[2] > 12 and errors[2] < 1e-11


def test_burgers_fno_setup_is_converged_in_time_and_space():
    u0 = periodic_grf(3, 1024, np.random.default_rng(0), sigma=25.0, tau=5.0, gamma=2.0)  # 625 (-Δ + 25 I)^-2
    nu = 0.1
    u = burgers_periodic(u0, nu, 1.0)
    scale = _max(u)
    # the default step is 1e-3 here; halving it changes u by 3.5e-11 relative (measured)
    assert _max(burgers_periodic(u0, nu, 1.0, dt=5e-4) - u) < 1e-9 * scale
    # the same u0 on 2048 points (its spectrum zero-padded): agree to 1.3e-14 relative (measured)
    c = np.zeros((3, 1025), complex)
    c[:, :513] = np.fft.rfft(u0, axis=1)
    c[:, 512] *= 0.5  # the Nyquist mode of 1024 points is the pair ±512 of 2048
    fine_u0 = 2 * np.fft.irfft(c, n=2048, axis=1)
    np.testing.assert_allclose(fine_u0[:, ::2], u0, rtol=0, atol=1e-13)
    assert _max(burgers_periodic(fine_u0, nu, 1.0)[:, ::2] - u) < 1e-8 * scale
    # the mean (k = 0 mode) is conserved
    np.testing.assert_allclose(u.mean(1), u0.mean(1), rtol=0, atol=1e-14)


def test_burgers_step_rounding_blocks_and_bad_arguments():
    u0 = periodic_grf(300, 128, np.random.default_rng(2), sigma=25.0, tau=5.0, gamma=2.0)
    # dt = 0.03 is rounded down to 0.025 = 0.1 / 4
    np.testing.assert_array_equal(burgers_periodic(u0[:3], 0.1, 0.1, dt=0.03), burgers_periodic(u0[:3], 0.1, 0.1,
                                                                                                 dt=0.025))
    # the samples are solved in blocks (1024 of 300 here): each sample's result does not depend on the others
    together = burgers_periodic(u0, 0.1, 0.05, dt=0.01)
    alone = burgers_periodic(u0[[0, 299]], 0.1, 0.05, dt=0.01)
    np.testing.assert_allclose(together[[0, 299]], alone, rtol=0, atol=1e-14)
    np.testing.assert_array_equal(burgers_periodic(u0, 0.1, 0.0), u0)
    for bad in [dict(u0=np.zeros((2, 7))), dict(u0=np.zeros(8)), dict(nu=0.0), dict(t_end=-1.0), dict(dt=0.0)]:
        arguments = dict(u0=np.zeros((2, 8)), nu=0.1, t_end=0.1) | bad
        with pytest.raises(ProblemDefinitionError, match="burgers_periodic"):
            burgers_periodic(**arguments)


# Darcy ----------------------------------------------------------------------------------------------------------


def _poisson_series(size: int, terms: int = 400) -> np.ndarray:
    """-Δu = 1 on the unit square, u = 0 on its boundary: Σ_{m,n odd} 16 sin(mπx) sin(nπy) / (π⁴ m n (m² + n²))."""
    grid = np.linspace(0.0, 1.0, size)
    odd = np.arange(1, terms, 2)
    sines = np.sin(np.pi * np.outer(odd, grid))
    weights = 16 / (np.pi**4 * np.outer(odd, odd) * (odd[:, None] ** 2 + odd[None, :] ** 2))
    return sines.T @ weights @ sines  # truncation error 3e-8


def test_darcy_constant_coefficient_is_second_order_poisson():
    errors = {size: _max(darcy(np.ones((1, size, size)))[0] - _poisson_series(size)) for size in (33, 65)}
    # measured 5.66e-5 and 1.42e-5: ratio 4.00
    assert 3.8 < errors[33] / errors[65] < 4.2 and errors[65] < 2e-5


def test_darcy_scales_with_the_coefficient_and_the_forcing():
    a = np.exp(periodic_grf(2, 24, np.random.default_rng(4), dim=2, tau=3.0, gamma=2.0))
    u = darcy(a)
    np.testing.assert_allclose(darcy(3.0 * a), u / 3.0, rtol=1e-12, atol=1e-16)
    np.testing.assert_allclose(darcy(a, forcing=-2.5), -2.5 * u, rtol=1e-12, atol=1e-16)
    np.testing.assert_allclose(darcy(a[1:]), u[1:], rtol=0, atol=1e-16)


def test_darcy_piecewise_coefficient_solves_the_flux_form_and_keeps_the_maximum_principle():
    size = 64
    field = periodic_grf(2, size, np.random.default_rng(5), dim=2, tau=3.0, gamma=2.0)
    field -= field.mean(axis=(1, 2), keepdims=True)  # about half of each sample 12 (without: 95% in one draw)
    a = np.where(field >= 0, 12.0, 3.0)  # the FNO Darcy coefficient
    u = darcy(a)
    assert u.shape == a.shape and u.dtype == np.float64
    np.testing.assert_array_equal(u[:, [0, -1], :], 0.0)
    np.testing.assert_array_equal(u[:, :, [0, -1]], 0.0)
    assert (u[:, 1:-1, 1:-1] > 0).all()  # maximum principle: f = 1 > 0, u = 0 on the boundary
    # the flux-form residual, written out here with harmonic-mean faces (independent of the sparse assembly)
    h2 = (size - 1.0) ** -2
    face_x = 2 * a[:, 1:, :] * a[:, :-1, :] / (a[:, 1:, :] + a[:, :-1, :])
    face_y = 2 * a[:, :, 1:] * a[:, :, :-1] / (a[:, :, 1:] + a[:, :, :-1])
    flux_x = face_x * np.diff(u, axis=1) / h2
    flux_y = face_y * np.diff(u, axis=2) / h2
    residual = -(np.diff(flux_x, axis=1)[:, :, 1:-1] + np.diff(flux_y, axis=2)[:, 1:-1, :]) - 1.0
    # measured 1.3e-12 (terms of size max a |u| / h² ≈ 650); with arithmetic-mean faces this u leaves 17
    assert _max(residual) < 1e-10
    # the matrix is symmetric positive definite
    matrix = _darcy_matrix(a[0, :17, :17])
    assert abs(matrix - matrix.T).max() == 0
    assert np.linalg.eigvalsh(matrix.toarray()).min() > 0


def test_darcy_bad_arguments():
    for bad in [np.ones((4, 4)), np.ones((1, 4, 5)), np.zeros((1, 4, 4)), np.full((1, 4, 4), np.nan)]:
        with pytest.raises(ProblemDefinitionError, match="darcy"):
            darcy(bad)
