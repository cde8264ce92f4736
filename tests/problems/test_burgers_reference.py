"""The Cole–Hopf reference solution of Burgers' equation (u0 = -sin(pi x), u(+-1, t) = 0)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from problems import cole_hopf_burgers

pytestmark = pytest.mark.cpu_only(reason="the Cole-Hopf reference is NumPy/SciPy quadrature: no tensors")

NU = 0.01 / math.pi  # the benchmark's viscosity


def test_initial_condition():
    x = np.linspace(-1.0, 1.0, 101)
    np.testing.assert_array_equal(cole_hopf_burgers(x, np.zeros_like(x), NU), -np.sin(np.pi * x))
    # just after t = 0 the quadrature takes over and still matches
    np.testing.assert_allclose(cole_hopf_burgers(x, np.full_like(x, 1e-9), NU), -np.sin(np.pi * x), atol=1e-6)


def test_boundary_values_vanish():
    t = np.linspace(0.0, 1.0, 41)
    for end in (-1.0, 1.0):
        u = cole_hopf_burgers(np.full_like(t, end), t, NU)
        assert np.max(np.abs(u)) < 1e-12


def test_odd_symmetry():
    rng = np.random.default_rng(0)
    x, t = rng.uniform(-1, 1, 200), rng.uniform(0, 1, 200)
    np.testing.assert_allclose(cole_hopf_burgers(-x, t, NU), -cole_hopf_burgers(x, t, NU), rtol=0, atol=1e-12)


def test_shapes_broadcast():
    x = np.linspace(-1, 1, 12).reshape(3, 4)
    u = cole_hopf_burgers(x, 0.5, NU)
    assert u.shape == (3, 4)
    np.testing.assert_allclose(u.ravel(), cole_hopf_burgers(x.ravel(), np.full(12, 0.5), NU), rtol=0, atol=0)
    # chunking does not change the result
    np.testing.assert_array_equal(cole_hopf_burgers(x, 0.5, NU, chunk=5), u)


def test_converged_in_the_number_of_quadrature_nodes():
    rng = np.random.default_rng(1)
    x, t = rng.uniform(-1, 1, 150), rng.uniform(0.01, 1, 150)
    x = np.concatenate([x, [0.0, 1e-3, -1e-3, 0.01]])  # include the steep front
    t = np.concatenate([t, [1.0, 1.0, 0.51, 0.51]])
    fine = cole_hopf_burgers(x, t, NU, n_quad=16001)
    np.testing.assert_allclose(cole_hopf_burgers(x, t, NU), fine, rtol=0, atol=1e-12)  # the default: 515 nodes
    for nu in (0.1, 0.001 / np.pi):  # the default spacing resolves any viscosity
        np.testing.assert_allclose(cole_hopf_burgers(x, t, nu), cole_hopf_burgers(x, t, nu, n_quad=16001), rtol=0,
                                   atol=1e-12)


def test_values_bounded_by_the_initial_amplitude():
    x, t = np.meshgrid(np.linspace(-1, 1, 41), np.linspace(0, 1, 11))
    u = cole_hopf_burgers(x, t, NU)
    assert np.all(np.isfinite(u))
    assert np.max(np.abs(u)) <= 1.0 + 1e-12


def test_satisfies_burgers_equation_by_finite_differences():
    rng = np.random.default_rng(2)
    x, t = rng.uniform(0.3, 0.8, 30), rng.uniform(0.2, 0.9, 30)
    h = 1e-4

    def u(dx=0.0, dt=0.0):
        return cole_hopf_burgers(x + dx, t + dt, NU)

    u0 = u()
    u_t = (u(dt=h) - u(dt=-h)) / (2 * h)
    u_x = (u(dx=h) - u(dx=-h)) / (2 * h)
    u_xx = (u(dx=h) - 2 * u0 + u(dx=-h)) / h**2
    residual = u_t + u0 * u_x - NU * u_xx
    scale = np.abs(u_t) + np.abs(u0 * u_x) + np.abs(NU * u_xx)
    assert np.all(scale > 1e-2)  # the terms are far from zero; the test is not vacuous
    # observed ~3e-8: truncation O(h^2) and quadrature round-off / h^2 are both tiny
    assert np.max(np.abs(residual) / scale) < 1e-5


def test_finite_difference_check_detects_a_wrong_viscosity():
    """The PDE check above is sharp enough to see a 10% error in nu (an O(1e-3) relative residual)."""
    rng = np.random.default_rng(3)
    x, t = rng.uniform(0.3, 0.8, 30), rng.uniform(0.2, 0.9, 30)
    h = 1e-4

    def u(dx=0.0, dt=0.0):
        return cole_hopf_burgers(x + dx, t + dt, 1.1 * NU)

    u0 = u()
    u_t = (u(dt=h) - u(dt=-h)) / (2 * h)
    u_x = (u(dx=h) - u(dx=-h)) / (2 * h)
    u_xx = (u(dx=h) - 2 * u0 + u(dx=-h)) / h**2
    residual = u_t + u0 * u_x - NU * u_xx
    scale = np.abs(u_t) + np.abs(u0 * u_x) + np.abs(NU * u_xx)
    assert np.max(np.abs(residual) / scale) > 1e-4


def test_basdevant_slope_at_the_origin():
    """du/dx(0, 1.6037/pi) = -152.00516 (Basdevant et al., Computers & Fluids 14, 1986)."""
    t = 1.6037 / math.pi
    h = 1e-5
    u = cole_hopf_burgers(np.array([-2 * h, -h, h, 2 * h]), t, NU)
    slope = (8 * (u[2] - u[1]) - (u[3] - u[0])) / (12 * h)  # fourth-order central difference
    assert slope == pytest.approx(-152.00516, abs=1e-3)  # 5 significant digits and more
    assert round(slope, 5) == pytest.approx(-152.00516, abs=1e-12)
