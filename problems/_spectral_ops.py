r"""The operators of :mod:`problems._spectral`: the periodic problem, grids, right-hand sides, one time step.

Conventions (``rfft2`` coefficients, integer wavenumbers, the 2/3 rule) are those
of :mod:`problems._spectral`, which re-exports the public names. The explicit
steps take their Butcher tableaus from :mod:`physopt._runge_kutta` (the same
tableaus TENG steps with).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from physopt._runge_kutta import TABLEAUS, explicit_rk_step

KINDS = ("heat", "allen_cahn", "burgers")
METHODS = tuple(TABLEAUS)  # euler, heun, rk4


@dataclass(frozen=True)
class PeriodicPDE:
    """``u_t = νΔu + N(u)`` on ``[0, 2π)²``, an ``n × n`` grid and an initial condition.

    Args:
        kind: ``"heat"`` (N = 0), ``"allen_cahn"`` (N = u − u³) or ``"burgers"``
            (N = −u(u_x + u_y)).
        nu: viscosity ν > 0.
        n: grid size (even, ≥ 8).
        ic: the initial condition as modes ``(kx, ky, amplitude, phase)``,
            u₀ = Σ amplitude·cos(kx·x + ky·y + phase), with integer wavenumbers
            inside the dealiased band (|k| < n/3).
    """

    kind: str
    nu: float
    n: int
    ic: tuple

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if not (isinstance(self.nu, float) and self.nu > 0 and math.isfinite(self.nu)):
            raise ValueError(f"nu must be a positive float, got {self.nu!r}")
        if not (isinstance(self.n, int) and self.n >= 8 and self.n % 2 == 0):
            raise ValueError(f"n must be an even integer >= 8, got {self.n!r}")
        for mode in self.ic:
            kx, ky = mode[0], mode[1]
            if not (isinstance(kx, int) and isinstance(ky, int)) or max(abs(kx), abs(ky)) >= self.n / 3:
                raise ValueError(f"initial mode {mode!r}: wavenumbers must be integers with |k| < n/3 = {self.n / 3:.4g}")

    def key(self) -> tuple:
        return (self.kind, float(self.nu), int(self.n), tuple((int(a), int(b), float(c), float(d)) for a, b, c, d in self.ic))


# ----- grids, wavenumbers, initial condition ----------------------------------------------------


def _frozen(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


@lru_cache(maxsize=None)
def wavenumbers(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer wavenumbers of the ``rfft2`` layout: ``kx`` shape ``(n, 1)``, ``ky`` shape ``(1, n//2+1)``."""
    kx = np.fft.fftfreq(n, 1.0 / n).reshape(n, 1)
    ky = np.fft.rfftfreq(n, 1.0 / n).reshape(1, n // 2 + 1)
    return _frozen(kx), _frozen(ky)


@lru_cache(maxsize=None)
def dealias_mask(n: int) -> np.ndarray:
    """2/3 rule: ``True`` where ``|kx| < n/3`` and ``|ky| < n/3`` (exact for quadratic products)."""
    kx, ky = wavenumbers(n)
    return _frozen((np.abs(kx) < n / 3) & (np.abs(ky) < n / 3))


@lru_cache(maxsize=None)
def grid(n: int) -> np.ndarray:
    """The grid coordinates ``2π i / n``, ``i = 0 … n−1``."""
    return _frozen(2 * np.pi * np.arange(n) / n)


@lru_cache(maxsize=None)
def _ksq(n: int) -> np.ndarray:
    kx, ky = wavenumbers(n)
    return _frozen(kx**2 + ky**2)


@lru_cache(maxsize=64)
def ic_coefficients(pde: PeriodicPDE) -> np.ndarray:
    """``rfft2`` coefficients of the initial condition (exact: built from its modes)."""
    n = pde.n
    c = np.zeros((n, n // 2 + 1), dtype=complex)
    scale = n * n
    for kx, ky, amp, phase in pde.ic:
        half = 0.5 * amp * np.exp(1j * phase)
        # amp cos(θ) = half e^{iθ} + conj(half) e^{-iθ}; keep the entries with ky >= 0
        for sx, sy, value in ((kx, ky, half), (-kx, -ky, np.conj(half))):
            if sy > 0 or (sy == 0 and (kx != 0 or ky != 0)):
                c[sx % n, sy] += scale * value
        if kx == 0 and ky == 0:
            c[0, 0] += scale * amp * math.cos(phase)
    return _frozen(c)


def ic_values(modes, x, y) -> np.ndarray:
    """u₀ = Σ a cos(kx x + ky y + φ) at points (NumPy, broadcasting)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    out = np.zeros(np.broadcast(x, y).shape)
    for kx, ky, amp, phase in modes:
        out = out + amp * np.cos(kx * x + ky * y + phase)
    return out


def to_grid(coeffs: np.ndarray) -> np.ndarray:
    """Grid values of ``rfft2`` coefficients."""
    n = coeffs.shape[-2]
    return np.fft.irfft2(coeffs, s=(n, n), axes=(-2, -1))


def relative_l2(a: np.ndarray, b: np.ndarray) -> float:
    """‖a − b‖ / ‖b‖ over the periodic square, for coefficient arrays of one size (Parseval)."""
    n = a.shape[-2]
    w = np.full(n // 2 + 1, 2.0)
    w[0] = 1.0
    if n % 2 == 0:
        w[-1] = 1.0
    num = np.sum(w * np.abs(a - b) ** 2)
    den = np.sum(w * np.abs(b) ** 2)
    return float(np.sqrt(num / den))


# ----- right-hand sides -----------------------------------------------------------------------


@lru_cache(maxsize=64)
def _linear_symbol(pde: PeriodicPDE) -> np.ndarray:
    sym = -pde.nu * _ksq(pde.n)
    if pde.kind == "allen_cahn":
        sym = sym + 1.0
    return _frozen(np.broadcast_to(sym, (pde.n, pde.n // 2 + 1)).copy())


class _Workspace:
    """Preallocated arrays for the steppers: fresh ~MB temporaries cost page faults, as much as the FFTs."""

    def __init__(self, n: int):
        self.spec = [np.empty((n, n // 2 + 1), dtype=complex) for _ in range(7)]
        self.real = [np.empty((n, n)) for _ in range(2)]


@lru_cache(maxsize=4)
def _workspace(n: int) -> _Workspace:
    return _Workspace(n)


def _nonlinear(pde: PeriodicPDE, c: np.ndarray, out: np.ndarray | None = None) -> np.ndarray | None:
    """Dealiased N(u) in coefficients, into ``out`` (a new array if ``None``); ``None`` for the heat equation.

    ``c`` and ``out`` must not be workspace slot 0.
    """
    n = pde.n
    if pde.kind == "heat":
        return None
    ws = _workspace(n)
    u = ws.real[0]
    # irfft2, step by step so that every array is preallocated
    np.fft.irfft(np.fft.ifft(c, axis=0, out=ws.spec[0]), n, axis=1, out=u)
    if pde.kind == "allen_cahn":
        v = np.multiply(u, u, out=ws.real[1])
        v *= u
        out = np.fft.rfft2(v, out=out)
        out *= _negative_mask(n)  # -u³, dealiased
    else:
        # burgers: -u (u_x + u_y) = -(∂x + ∂y)(u²)/2; the 2/3 rule makes the product exact,
        # so the conservative form is the same projection with one transform fewer
        u *= u
        out = np.fft.rfft2(u, out=out)
        out *= _half_advection(n)
    return out


@lru_cache(maxsize=None)
def _negative_mask(n: int) -> np.ndarray:
    return _frozen(np.where(dealias_mask(n), -1.0, 0.0))


@lru_cache(maxsize=None)
def _half_advection(n: int) -> np.ndarray:
    """-i(kx + ky)/2 inside the dealiased band, 0 outside."""
    kx, ky = wavenumbers(n)
    return _frozen(np.where(dealias_mask(n), -0.5j * (kx + ky), 0.0))


def rhs_coefficients(pde: PeriodicPDE, c: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """The full semi-discrete right-hand side ``L c + N(c)`` (dealiased), into ``out`` or a new array.

    ``c`` and ``out`` must be distinct and not workspace slots 0 or 1.
    """
    nl = _nonlinear(pde, c, out)
    if nl is None:
        return np.multiply(_linear_symbol(pde), c, out=out)
    nl += np.multiply(_linear_symbol(pde), c, out=_workspace(pde.n).spec[1])
    return nl


# ----- the reference integrator (integrating-factor RK4) -------------------------------------


def reference_step(pde: PeriodicPDE) -> float:
    """Default fixed step of the reference integrator: time error ≲ 1e-11 relative at T = 4.

    Measured against halved steps with the library's initial condition: Allen–Cahn
    (ν = 1/200) 1/256, Burgers (ν = 1/100) 1/512 (the error is set by the nonlinear
    dynamics, not by the stiffness, which the integrating factor removes).
    """
    return 1.0 / 512 if pde.kind == "burgers" else 1.0 / 256


@lru_cache(maxsize=256)
def _factors(pde: PeriodicPDE, h: float) -> tuple[np.ndarray, np.ndarray]:
    sym = _linear_symbol(pde)
    return _frozen(np.exp(sym * h)), _frozen(np.exp(sym * (h / 2)))


def _ifrk4_step(pde: PeriodicPDE, c: np.ndarray, h: float) -> np.ndarray:
    """One Lawson (integrating-factor) RK4 step of length ``h``; linear part exact.

    With E = e^{Lh}, E₂ = e^{Lh/2} (E = E₂²): k₁ = N(c), k₂ = N(E₂(c + h/2 k₁)),
    k₃ = N(E₂c + h/2 k₂), k₄ = N(E₂(E₂c + h k₃)),
    c' = E₂(E₂(c + h/6 k₁) + h/3 (k₂ + k₃)) + h/6 k₄ (written in place: large
    temporaries are what a step costs besides its FFTs).
    """
    _, e2 = _factors(pde, h)
    ws = _workspace(pde.n)
    k2, k3, k4, a, b = ws.spec[2:7]
    k1 = _nonlinear(pde, c)  # a new array: it becomes the result
    np.multiply(k1, h / 2, out=a)
    a += c
    a *= e2
    _nonlinear(pde, a, k2)
    ec = np.multiply(e2, c, out=a)
    np.multiply(k2, h / 2, out=b)
    b += ec
    _nonlinear(pde, b, k3)
    d = np.multiply(k3, h, out=b)
    d += ec
    d *= e2
    _nonlinear(pde, d, k4)
    k1 *= h / 6
    k1 += c
    k1 *= e2
    k2 += k3
    k2 *= h / 3
    k1 += k2
    k1 *= e2
    k4 *= h / 6
    k1 += k4
    return k1



def _explicit_step(pde: PeriodicPDE, method: str, c: np.ndarray, dt: float) -> np.ndarray:
    """One explicit Euler / Heun / RK4 step (:data:`physopt._runge_kutta.TABLEAUS`) on the full
    right-hand side; returns a new array."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    return explicit_rk_step(lambda v, stage: rhs_coefficients(pde, v), c, dt, TABLEAUS[method])
