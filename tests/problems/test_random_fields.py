"""Gaussian random fields (problems/_random_fields.py): the covariances they claim, measured on many draws."""

from __future__ import annotations

import numpy as np
import pytest

from physopt import ProblemDefinitionError
from problems._random_fields import periodic_grf, periodic_grf_spectrum, rbf_grf


@pytest.mark.parametrize("dim, n", [(1, 64), (2, 16)])
def test_periodic_grf_has_the_spectrum_it_claims(dim, n):
    rng = np.random.default_rng(0)
    draws = periodic_grf(4000, n, rng, dim=dim, sigma=2.0, tau=3.0, gamma=1.5)
    assert draws.shape == (4000,) + (n,) * dim and draws.dtype == np.float64
    spectrum = periodic_grf_spectrum(n, dim, 2.0, 3.0, 1.5)
    # Fourier coefficients c_k = FFT(u)_k / n^d have E|c_k|^2 = λ_k (a real field: c_{-k} = conj c_k)
    c = np.fft.fftn(draws, axes=tuple(range(1, dim + 1))) / n**dim
    measured = (np.abs(c) ** 2).mean(0)
    low = spectrum > 1e-3 * spectrum.max()  # the modes that carry the field
    np.testing.assert_allclose(measured[low], spectrum[low], rtol=0.15)
    np.testing.assert_allclose(draws.var(0).mean(), spectrum.sum(), rtol=0.05)
    zero_mode = spectrum.flat[0]  # a draw's spatial mean is its zero mode: variance λ_0, over 4,000 draws
    assert abs(draws.mean()) < 5 * np.sqrt(zero_mode / len(draws))


def test_periodic_grf_is_seeded_and_periodic_smooth():
    a = periodic_grf(3, 128, np.random.default_rng(1))
    b = periodic_grf(3, 128, np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)
    jumps = np.abs(np.diff(np.concatenate([a, a[:, :1]], 1), axis=1)).max(1)  # across the wrap too
    assert (jumps < 0.5 * np.abs(a).max(1)).all()


def test_rbf_grf_has_the_kernel_covariance():
    x = np.linspace(0, 1, 30)
    draws = rbf_grf(20000, x, np.random.default_rng(0), length_scale=0.2, sigma=1.5)
    covariance = np.cov(draws, rowvar=False)
    kernel = 1.5**2 * np.exp(-((x[:, None] - x[None, :]) ** 2) / (2 * 0.2**2))
    assert np.abs(covariance - kernel).max() < 0.08


def test_bad_parameters_are_clear_errors():
    with pytest.raises(ProblemDefinitionError, match="periodic_grf"):
        periodic_grf(1, 1, np.random.default_rng(0))
    with pytest.raises(ProblemDefinitionError, match="rbf_grf"):
        rbf_grf(1, np.zeros(3), np.random.default_rng(0), length_scale=0.0)
