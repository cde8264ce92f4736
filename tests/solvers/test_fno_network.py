"""The Fourier neural operator network: SpectralConv against a dense DFT, resolution invariance, gradients, dtypes.

SpectralConv is checked against explicit DFT sums in float64 (no ``torch.fft``):
forward DFT on the kept modes, the per-mode channel matrices, and the real
inverse DFT :math:`y_j = \\frac{1}{|s|}\\sum_k c_{k_d}\\,\\mathrm{Re}(\\hat y_k e^{2\\pi i k\\cdot j/s})`
with :math:`c = 1` for the zero and Nyquist modes of the last axis and 2 otherwise,
also on grids coarser than the kept modes (where the modes that exist are kept,
each with the weight of its own frequency).
"""

from __future__ import annotations

import math

import pytest
import torch

import seeded
from solvers._fno_network import FNO, SpectralConv, _hermitian_slice

F64 = torch.float64


def _cpu_module(seed: int, factory):
    """A module initialised on the CPU from a fixed seed (same weights under ``--device cuda``)."""
    with torch.device("cpu"):
        torch.manual_seed(seed)
        return factory()


def _dft(s: int, freqs: list[int]) -> torch.Tensor:
    """Dense forward DFT rows ``F[k, j] = exp(-2 pi i f_k j / s)`` with the angle reduced mod s exactly."""
    f = torch.tensor(freqs, dtype=F64)[:, None]
    j = torch.arange(s, dtype=F64)[None, :]
    angle = 2 * math.pi * torch.remainder(f * j, s) / s
    return torch.complex(torch.cos(angle), -torch.sin(angle))


def _full_axis_freqs(s: int, m: int) -> list[int]:
    """Kept frequencies of a full-FFT axis: ``-m <= f < m`` within the canonical range ``[-floor(s/2), ceil(s/2))``."""
    return [f for f in range(-m, m) if -(s // 2) <= f < (s + 1) // 2]


def _reference(conv: SpectralConv, x: torch.Tensor) -> torch.Tensor:
    """SpectralConv by explicit DFT sums (1-D or 2-D)."""
    w = torch.view_as_complex(conv.weight.detach())  # (block, in, out, *modes)
    xc = x.to(torch.complex128)
    if conv.dim == 1:
        (s,), (m,) = x.shape[-1:], conv.modes
        k2 = list(range(min(m, s // 2 + 1)))
        f2 = _dft(s, k2)
        xh = torch.einsum("bij,kj->bik", xc, f2)
        yh = torch.einsum("bik,iok->bok", xh, w[0][..., : len(k2)])
        c = torch.tensor([1.0 if k == 0 or 2 * k == s else 2.0 for k in k2], dtype=F64)
        return torch.einsum("bok,kj,k->boj", yh, f2.conj(), c.to(torch.complex128)).real / s
    (s1, s2), (m1, m2) = x.shape[-2:], conv.modes
    k1, k2 = _full_axis_freqs(s1, m1), list(range(min(m2, s2 // 2 + 1)))
    f1, f2 = _dft(s1, k1), _dft(s2, k2)
    # weights of frequency f1 >= 0: block 0 at index f1; f1 < 0: block 1 at index m1 + f1
    wk = torch.stack([w[0, :, :, f, : len(k2)] if f >= 0 else w[1, :, :, m1 + f, : len(k2)] for f in k1], dim=2)
    xh = torch.einsum("biuv,ku,lv->bikl", xc, f1, f2)
    yh = torch.einsum("bikl,iokl->bokl", xh, wk)
    c = torch.tensor([1.0 if k == 0 or 2 * k == s2 else 2.0 for k in k2], dtype=F64).to(torch.complex128)
    return torch.einsum("bokl,ku,lv,l->bouv", yh, f1.conj(), f2.conj(), c).real / (s1 * s2)


@pytest.mark.parametrize("grid, modes", [
    ((16,), (5,)),  # the plain case
    ((8,), (5,)),  # coarser than the modes: all 5 rfft modes kept, Nyquist (k=4) among them
    ((7,), (5,)),  # odd, coarser: the 4 that exist
    ((12, 10), (3, 4)),  # the plain 2-D case
    ((5, 6), (3, 4)),  # coarser: frequencies -2..2 on the full axis, Nyquist column kept
    ((4, 6), (3, 4)),  # even full axis: -2 (= Nyquist row), -1, 0, 1
])
def test_spectral_conv_matches_dense_dft(grid, modes, device):
    g = torch.Generator().manual_seed(1)
    conv = _cpu_module(0, lambda: SpectralConv(2, 3, modes)).to(device, F64)
    with torch.no_grad():  # signed random weights, not just the positive init
        conv.weight.copy_(seeded.randn(*conv.weight.shape, generator=g, dtype=F64))
    x = seeded.randn(4, 2, *grid, generator=g, dtype=F64)
    y = conv(x)
    assert y.shape == (4, 3, *grid) and y.dtype == F64 and y.device == x.device
    torch.testing.assert_close(y, _reference(conv, x), rtol=0, atol=1e-12)


@pytest.mark.parametrize("shape", [(3, 7, 1), (3, 6, 5, 1), (2, 5, 4, 1)])
def test_hermitian_slice_is_hermitian_and_keeps_the_real_inverse(shape, device):
    """The k_d = 0 slice handed to irfftn is Hermitian (so every FFT backend agrees) with the same inverse."""
    g = torch.Generator().manual_seed(5)
    z = torch.complex(seeded.randn(*shape, generator=g, dtype=F64), seeded.randn(*shape, generator=g, dtype=F64))
    outer = len(shape) - 2
    h = _hermitian_slice(z, outer)
    dims = tuple(range(-outer - 1, -1))
    mirror = torch.roll(torch.flip(h, dims), (1,) * outer, dims) if outer else h
    torch.testing.assert_close(h, mirror.conj(), rtol=0, atol=1e-15)
    # NumPy's convention: c2c over the outer axes, then the real part of the DC bin
    expected = torch.fft.ifftn(z, dim=dims).real if outer else z.real
    got = torch.fft.ifftn(h, dim=dims) if outer else h
    torch.testing.assert_close(got.real, expected, rtol=0, atol=1e-15)
    assert got.imag.abs().max() < 1e-15


def _identity_weights(conv: SpectralConv) -> None:
    with torch.no_grad():
        conv.weight.zero_()
        for i in range(conv.in_channels):
            conv.weight[:, i, i, ..., 0] = 1.0


def test_band_limited_input_passes_identity_weights_unchanged(device):
    g = torch.Generator().manual_seed(2)
    s, m = 32, 8
    conv = SpectralConv(2, 2, (m,)).to(device, F64)
    _identity_weights(conv)
    x = torch.arange(s, dtype=F64) / s
    a = seeded.randn(2, 2, m, generator=g, dtype=F64)
    b = seeded.randn(2, 2, m, generator=g, dtype=F64)
    k = torch.arange(m, dtype=F64)
    u = (a[..., None] * torch.cos(2 * math.pi * k[:, None] * x) + b[..., None] * torch.sin(2 * math.pi * k[:, None] * x)).sum(-2)
    torch.testing.assert_close(conv(u), u, rtol=0, atol=1e-13)
    # one mode more than kept is removed, exactly
    top = torch.cos(2 * math.pi * m * x).expand(2, 2, s)
    torch.testing.assert_close(conv(u + top), u, rtol=0, atol=1e-13)


def test_band_limited_input_passes_identity_weights_unchanged_2d(device):
    g = torch.Generator().manual_seed(3)
    s1, s2, m1, m2 = 12, 10, 3, 4
    conv = SpectralConv(1, 1, (m1, m2)).to(device, F64)
    _identity_weights(conv)
    x1 = (torch.arange(s1, dtype=F64) / s1)[:, None]
    x2 = (torch.arange(s2, dtype=F64) / s2)[None, :]
    u = torch.zeros(s1, s2, dtype=F64)
    for k1 in range(-m1 + 1, m1):
        for k2 in range(m2):
            a, b = seeded.randn(2, generator=g, dtype=F64)
            phase = 2 * math.pi * (k1 * x1 + k2 * x2)
            u = u + a * torch.cos(phase) + b * torch.sin(phase)
    u = u[None, None]
    torch.testing.assert_close(conv(u), u, rtol=0, atol=1e-13)


def _smooth(s: int) -> torch.Tensor:
    x = torch.arange(s, dtype=F64) / s
    return (torch.sin(2 * math.pi * x) + 0.5 * torch.cos(4 * math.pi * x) + 0.3 * torch.sin(6 * math.pi * x))[None, None]


def _fno_1d(seed: int, positional: bool) -> FNO:
    return _cpu_module(seed, lambda: FNO(1, 1, 1, modes=8, width=16, layers=4, projection=32,
                                         positional=positional, periodic=True))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_resolution_invariance_without_positional_features_is_spectral(seed, device):
    """Only aliasing of the GELU-made modes >= s - modes differs between grids: exponentially small.

    Measured (default init, float64): at most 3e-12 of the output's range between s=64 and s=256.
    """
    fno = _fno_1d(seed, positional=False).to(device, F64)
    with torch.no_grad():
        coarse, fine = fno(_smooth(64))[0, 0], fno(_smooth(256))[0, 0]
    spread = fine.max() - fine.min()
    assert spread > 1e-6
    assert (coarse - fine[::4]).abs().max() < 1e-9 * spread


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_resolution_invariance_with_periodic_positional_features(seed, device):
    """With the coordinate x = j/s appended, outputs at shared points agree to O(modes/s), not spectrally.

    x is a sawtooth on the periodic grid (a jump from 1 back to 0), so its discrete Fourier
    coefficients differ from the continuous ones i/(2 pi k) by a relative ~ pi k/s (0.34 at k=7, s=64).
    Measured (default init, float64, seeds 0-2): the s=64 and s=256 outputs differ by 3.7e-3 to 1.1e-2
    of the output's range, and s=256 vs s=1024 by 4x less (the O(1/s) rate). Asserted: < 3e-2, and
    the 4x drop within [3, 5].
    """
    fno = _fno_1d(seed, positional=True).to(device, F64)
    with torch.no_grad():
        y64, y256, y1024 = (fno(_smooth(s))[0, 0] for s in (64, 256, 1024))
    spread = y256.max() - y256.min()
    d_coarse = (y64 - y256[::4]).abs().max()
    d_fine = (y256 - y1024[::4]).abs().max()
    assert d_coarse < 3e-2 * spread
    assert 3.0 < d_coarse / d_fine < 5.0


def test_same_module_any_grid_2d(device):
    fno = _cpu_module(0, lambda: FNO(2, 1, 1, modes=12, width=8, layers=2, projection=16)).to(device)
    for s in (20, 33, 8):
        x = torch.randn(2, 1, s, s)
        y = fno(x)
        assert y.shape == (2, 1, s, s) and torch.isfinite(y).all()


def test_gradcheck_spectral_conv(device):
    g = torch.Generator().manual_seed(4)
    for grid, modes in (((8,), (3,)), ((4, 5), (2, 2)), ((6,), (4,))):  # the last keeps the Nyquist mode
        conv = _cpu_module(0, lambda: SpectralConv(2, 2, modes)).to(device, F64)
        x = seeded.randn(1, 2, *grid, generator=g, dtype=F64).requires_grad_()
        w = conv.weight.detach().clone().requires_grad_()

        def apply(x, w):
            return torch.func.functional_call(conv, {"weight": w}, (x,))

        assert torch.autograd.gradcheck(apply, (x, w))


def test_parameters_are_real():
    fno = FNO(2, 3, 2, modes=(4, 5), width=6, layers=3, projection=8)
    params = dict(fno.named_parameters())
    assert any("spectral" in n for n in params)
    for name, p in params.items():
        assert not p.is_complex(), name
        if "spectral" in name:
            assert p.shape[-1] == 2 and p.shape[-3:-1] == (4, 5), name


@pytest.mark.parametrize("dtype", [torch.float32, F64])
@pytest.mark.parametrize("dim", [1, 2])
def test_dtype_and_device_follow_the_input(dim, dtype, device):
    fno = FNO(dim, 2, 3, modes=4, width=8, layers=2, projection=8).to(device, dtype)
    x = torch.randn(2, 2, *(10,) * dim, dtype=dtype, device=device)
    y = fno(x)
    assert y.dtype == dtype and y.device == x.device and y.shape == (2, 3, *(10,) * dim)
    y.square().mean().backward()
    assert all(p.grad is not None and p.grad.dtype == dtype for p in fno.parameters())


def test_positional_grid_coordinates():
    x = torch.zeros(1, 1, 5, 4)
    plain = FNO(2, 1, 1, modes=2, width=4).grid(x)
    periodic = FNO(2, 1, 1, modes=2, width=4, periodic=True).grid(x)
    torch.testing.assert_close(plain[0, 0, :, 0], torch.linspace(0, 1, 5))
    torch.testing.assert_close(plain[0, 1, 0, :], torch.linspace(0, 1, 4))
    torch.testing.assert_close(periodic[0, 0, :, 1], torch.arange(5.0) / 5)
    torch.testing.assert_close(periodic[0, 1, 2, :], torch.arange(4.0) / 4)
