"""TENG's column-subset least squares (solvers._teng_lstsq) against dense linear algebra on small cases."""

from __future__ import annotations

import math

import pytest
import seeded
import torch

import solvers._teng_lstsq as lstsq
from solvers._teng_lstsq import SubsetSystem, gram_resolution, normal_equations, truncated_lstsq
from solvers._teng_network import PeriodicMLP


def _banks(points=200, seed=0):
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    net = PeriodicMLP([2 * math.pi, 2 * math.pi], features=3, width=5, depth=2).double()
    x = 2 * math.pi * seeded.rand(points, 2, generator=g, dtype=torch.float64)
    taps = net.taps(x)
    left, right = net.column_banks(taps)
    rows_left, rows_right = net.column_rows()
    J = net.jacobian(taps)
    return net, taps, left, right, rows_left, rows_right, J, g


@pytest.mark.parametrize("chunk", [1 << 22, 97])  # one chunk of points, and many uneven ones
@pytest.mark.parametrize("syrk", [True, False])  # BLAS syrk (the CPU's), matrix products (accelerators')
def test_normal_equations_equal_the_dense_products(monkeypatch, chunk, syrk):
    monkeypatch.setattr(lstsq, "CHUNK_ELEMENTS", chunk)
    monkeypatch.setattr(lstsq, "DEVICE_CHUNK_ELEMENTS", chunk)
    net, taps, left, right, rows_left, rows_right, J, g = _banks()
    columns = torch.sort(torch.randperm(J.shape[1], generator=g)[:20]).values
    r = seeded.randn(J.shape[0], generator=g, dtype=torch.float64)
    G, b = normal_equations(left, right, rows_left[columns], rows_right[columns], r, syrk=syrk and left.device.type == "cpu")
    JS = J[:, columns]
    assert torch.allclose(G, JS.T @ JS, rtol=1e-12, atol=1e-12)
    assert torch.allclose(b, JS.T @ r, rtol=1e-12, atol=1e-12)
    assert torch.equal(G, G.T)


def test_gram_solves_equal_the_truncated_svd_and_fall_back_to_qr_below_their_resolution():
    net, taps, left, right, rows_left, rows_right, J, g = _banks()
    r = seeded.randn(J.shape[0], generator=g, dtype=torch.float64)
    system = SubsetSystem(left, right, rows_left, rows_right, r, "gram")
    U, s, Vh = torch.linalg.svd(J, full_matrices=False)
    for rcond in (1e-2, 1e-4, 1e-6):
        keep = s > rcond * s[0]
        if keep.sum() < len(s) and float(s[keep][-1] / s[~keep][0]) < 1.5:
            continue  # a cut-off between two close singular values: either side is right
        expected = Vh[keep].T @ ((U[:, keep].T @ r) / s[keep])
        assert torch.allclose(system.solve(rcond), expected, rtol=1e-6, atol=1e-8 * float(expected.norm()))
    # below 10 sqrt(eps) the Gram eigenvalues are noise: a smaller cut-off acts as 10 sqrt(eps)
    assert 1e-10 < gram_resolution(torch.float64) == pytest.approx(10 * 2.0**-26)
    assert torch.equal(system.solve(1e-10), system.solve(gram_resolution(torch.float64)))
    # the damped solve and the decrease it predicts
    mu = 1e-3 * system.largest
    delta, predicted = system.damped(mu)
    expected = torch.linalg.solve(J.T @ J + mu * torch.eye(J.shape[1], dtype=J.dtype), J.T @ r)
    assert torch.allclose(delta, expected, rtol=1e-8, atol=1e-10)
    assert predicted == pytest.approx(float(r @ r - (r - J @ delta) @ (r - J @ delta)), rel=1e-8)
    assert system.largest == pytest.approx(float(s[0] ** 2), rel=1e-10)


def test_qr_subset_system_solves_with_truncated_qr():
    net, taps, left, right, rows_left, rows_right, J, g = _banks(seed=1)
    columns = torch.sort(torch.randperm(J.shape[1], generator=g)[:30]).values
    r = seeded.randn(J.shape[0], generator=g, dtype=torch.float64)
    system = SubsetSystem(left, right, rows_left[columns], rows_right[columns], r, "qr")
    assert system.eigen is None
    assert torch.allclose(system.J, J[:, columns])
    assert torch.allclose(system.solve(1e-9), truncated_lstsq(J[:, columns], r, 1e-9))
