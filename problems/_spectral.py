r"""Pseudo-spectral machinery on the periodic square :math:`[0, 2\pi)^2` (NumPy FFT, float64).

A field on the ``n × n`` grid :math:`x_i = 2\pi i/n,\ y_j = 2\pi j/n` (array index
``[i, j]``, ``x`` along axis 0) is held by its ``numpy.fft.rfft2`` coefficients,
shape ``(n, n//2 + 1)``, so ``irfft2(c, s=(n, n))`` gives the grid values.
Wavenumbers are integers. For

.. math:: u_t = \mathcal{L}u + \mathcal{N}(u),\qquad \mathcal{L} = \nu\Delta\ (+1\ \text{for Allen–Cahn})

the module provides

- :func:`reference_coefficients`: integrating-factor RK4 (Lawson) with the
  linear part exact, a fixed step ``h`` on the global grid ``m·h`` and one
  shorter step onto each requested time (so a time's result does not depend
  on which other times were asked for); closed form for the heat equation;
- :func:`stepper_coefficients`: the *ideal stepper*, explicit Euler, Heun
  (explicit trapezoid) or classical RK4 on the full semi-discrete right-hand
  side (``νΔ`` explicit, no integrating factor): the time-stepping floor of a
  TENG-Euler/Heun/RK4 with the same ``dt``;
- :func:`evaluate`: the trigonometric interpolant at arbitrary points;
- :func:`evaluate_at_points`: either of the above at ``(x, y, t)`` points.

Nonlinear terms are dealiased by the 2/3 rule (modes with ``|k_x|`` or
``|k_y| ≥ n/3`` are zeroed); the state stays in that band.

Results are cached in memory (``functools.lru_cache``, plus restart
checkpoints of each fixed-step march) and on disk: one ``.npz`` per snapshot
in ``$PHYSOPT_CACHE_DIR`` (default ``~/.cache/physopt/spectral``; set it to
the empty string to turn the disk cache off), written atomically
(:func:`physopt._atomic.atomic_write`). A file that does not load or does not match its key is
recomputed and overwritten; a directory that cannot be written is skipped
silently.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path

import numpy as np

from physopt._atomic import atomic_write

from ._spectral_eval import MAX_CACHED_TIMES, evaluate, evaluate_at_points
from ._spectral_ops import (
    KINDS,
    METHODS,
    PeriodicPDE,
    _explicit_step,
    _frozen,
    _ifrk4_step,
    _ksq,
    dealias_mask,
    grid,
    ic_coefficients,
    ic_values,
    reference_step,
    relative_l2,
    rhs_coefficients,
    to_grid,
    wavenumbers,
)

__all__ = [
    "PeriodicPDE",
    "KINDS",
    "METHODS",
    "wavenumbers",
    "dealias_mask",
    "grid",
    "ic_coefficients",
    "ic_values",
    "heat_exact_coefficients",
    "reference_snapshot",
    "reference_coefficients",
    "reference_step",
    "stepper_snapshot",
    "stepper_coefficients",
    "stepper_solution",
    "step_count",
    "rhs_coefficients",
    "to_grid",
    "evaluate",
    "evaluate_at_points",
    "relative_l2",
    "cache_dir",
    "clear_memory_cache",
]

CACHE_FORMAT = 1  # bump when the numerics change, to invalidate old disk files


_CHECKPOINTS: OrderedDict = OrderedDict()  # march key -> OrderedDict(step index -> state)
_MAX_CHECKPOINTS = 8  # per march
_MAX_MARCHES = 12


def _march(key: tuple, pde: PeriodicPDE, step, m: int) -> np.ndarray:
    """State after ``m`` fixed steps from the initial condition, restarting from the nearest checkpoint.

    The result does not depend on the restart point: it is always the same
    sequence of ``m`` steps.
    """
    store = _CHECKPOINTS.get(key)
    if store is None:
        store = _CHECKPOINTS[key] = OrderedDict()
        while len(_CHECKPOINTS) > _MAX_MARCHES:
            _CHECKPOINTS.popitem(last=False)
    _CHECKPOINTS.move_to_end(key)
    start = max((j for j in store if j <= m), default=0)
    if start > 0:
        c = store[start]
        store.move_to_end(start)
    else:
        c = np.array(ic_coefficients(pde))
    for _ in range(m - start):
        c = step(c)
    if m > 0 and m not in store:
        store[m] = _frozen(c)
        while len(store) > _MAX_CHECKPOINTS:
            store.popitem(last=False)
    return c


def clear_memory_cache() -> None:
    """Forget every in-memory result (checkpoints and snapshots); the disk cache stays."""
    _CHECKPOINTS.clear()
    _reference_cached.cache_clear()
    _stepper_cached.cache_clear()


def heat_exact_coefficients(pde: PeriodicPDE, t: float) -> np.ndarray:
    """Exact heat solution: each mode decays by e^{−ν|k|²t}."""
    return ic_coefficients(pde) * np.exp(-pde.nu * _ksq(pde.n) * t)


def _check_time(t) -> float:
    t = float(t)
    if not (math.isfinite(t) and t >= 0):
        raise ValueError(f"times must be finite and >= 0, got {t!r}")
    return t


def _reference_compute(pde: PeriodicPDE, h: float, t: float) -> np.ndarray:
    if pde.kind == "heat":
        return heat_exact_coefficients(pde, t)
    if t == 0.0:
        return np.array(ic_coefficients(pde))
    m = math.floor(t / h)
    if abs(t - (m + 1) * h) <= 1e-13 * max(1.0, t):
        m += 1
    c = _march(("ifrk4", pde, h), pde, lambda v: _ifrk4_step(pde, v, h), m)
    tau = t - m * h
    if abs(tau) > 1e-13 * max(1.0, t):
        c = _ifrk4_step(pde, c, tau)
    return c


@lru_cache(maxsize=64)
def _reference_cached(pde: PeriodicPDE, h: float, t: float) -> np.ndarray:
    if pde.kind == "heat" or t == 0.0:
        return _frozen(_reference_compute(pde, h, t))
    text = repr(("reference-ifrk4", CACHE_FORMAT, pde.key(), float(h), float(t)))
    cached = _load(text, (pde.n, pde.n // 2 + 1))
    if cached is None:
        cached = _frozen(np.array(_reference_compute(pde, h, t)))
        _save(text, cached)
    return cached


def reference_snapshot(pde: PeriodicPDE, t: float, h: float | None = None, cache: bool = True) -> np.ndarray:
    """Reference coefficients at one time ``t`` (read-only array ``(n, n//2+1)``).

    Heat: closed form. Otherwise integrating-factor RK4 with step ``h``
    (default :func:`reference_step`) on the grid ``m·h`` from the nearest
    checkpoint, then one step of ``t − m·h``. ``cache=False`` skips the
    snapshot caches (memory and disk), not the checkpoints.
    """
    t = _check_time(t)
    h = reference_step(pde) if h is None else float(h)
    if not (h > 0 and math.isfinite(h)):
        raise ValueError(f"h must be positive, got {h!r}")
    return _reference_cached(pde, h, t) if cache else _reference_compute(pde, h, t)


def reference_coefficients(pde: PeriodicPDE, times, h: float | None = None) -> np.ndarray:
    """Reference solution at ``times`` (any order), shape ``(len(times), n, n//2+1)``.

    Times are integrated in sorted order, so many times cost one pass.
    """
    times = np.atleast_1d(np.asarray(times, dtype=float))
    out = np.empty((len(times), pde.n, pde.n // 2 + 1), dtype=complex)
    cache = len(np.unique(times)) <= MAX_CACHED_TIMES
    for i in np.argsort(times, kind="stable"):
        out[i] = reference_snapshot(pde, times[i], h, cache)
    return out


def step_count(t: float, dt: float) -> int:
    """``t / dt`` as an integer; ``ValueError`` unless ``t`` is a multiple of ``dt`` up to rounding."""
    m = round(t / dt)
    if abs(m * dt - t) > 1e-9 * max(dt, abs(t)):
        raise ValueError(
            f"time {t!r} is not a multiple of the step dt = {dt!r} (t/dt = {t / dt!r}); "
            "the ideal stepper is only defined at the times it steps to"
        )
    return int(m)


def _stepper_compute(pde: PeriodicPDE, method: str, dt: float, m: int) -> np.ndarray:
    if m == 0:
        return np.array(ic_coefficients(pde))
    return _march((method, pde, dt), pde, lambda v: _explicit_step(pde, method, v, dt), m)


@lru_cache(maxsize=32)
def _stepper_cached(pde: PeriodicPDE, method: str, dt: float, m: int) -> np.ndarray:
    if m == 0:
        return ic_coefficients(pde)
    text = repr(("stepper", CACHE_FORMAT, pde.key(), method, float(dt), int(m)))
    cached = _load(text, (pde.n, pde.n // 2 + 1))
    if cached is None:
        cached = _frozen(np.array(_stepper_compute(pde, method, dt, m)))
        _save(text, cached)
    return cached


def _check_stepper(method: str, dt: float) -> float:
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    dt = float(dt)
    if not (dt > 0 and math.isfinite(dt)):
        raise ValueError(f"dt must be positive, got {dt!r}")
    return dt


def stepper_snapshot(pde: PeriodicPDE, method: str, dt: float, t: float, cache: bool = True) -> np.ndarray:
    """The ideal stepper's coefficients at one time ``t`` (a multiple of ``dt``)."""
    dt = _check_stepper(method, dt)
    m = step_count(_check_time(t), dt)
    return _stepper_cached(pde, method, dt, m) if cache else _stepper_compute(pde, method, dt, m)


def stepper_coefficients(pde: PeriodicPDE, method: str, dt: float, times) -> np.ndarray:
    """The ideal stepper (explicit Euler / Heun / RK4 on ``L + N``, step ``dt``) at ``times``.

    Every time must be a multiple of ``dt`` (up to rounding); ``ValueError``
    otherwise. Shape ``(len(times), n, n//2+1)``.
    """
    dt = _check_stepper(method, dt)
    times = np.atleast_1d(np.asarray(times, dtype=float))
    counts = np.array([step_count(_check_time(t), dt) for t in times], dtype=int)
    out = np.empty((len(times), pde.n, pde.n // 2 + 1), dtype=complex)
    cache = len(np.unique(counts)) <= MAX_CACHED_TIMES
    for i in np.argsort(counts, kind="stable"):
        out[i] = stepper_snapshot(pde, method, dt, times[i], cache)
    return out


def stepper_solution(pde: PeriodicPDE, method: str, dt: float, times) -> np.ndarray:
    """Grid values ``(len(times), n, n)`` of the ideal stepper (see :func:`stepper_coefficients`)."""
    return to_grid(stepper_coefficients(pde, method, dt, times))


# ----- the disk cache ---------------------------------------------------------------------------


def cache_dir() -> Path | None:
    """``$PHYSOPT_CACHE_DIR`` (empty: no disk cache), default ``~/.cache/physopt/spectral``."""
    env = os.environ.get("PHYSOPT_CACHE_DIR")
    if env is not None:
        return Path(env).expanduser() if env.strip() else None
    return Path.home() / ".cache" / "physopt" / "spectral"


def _path(text: str) -> Path | None:
    d = cache_dir()
    if d is None:
        return None
    return d / f"{hashlib.sha256(text.encode()).hexdigest()[:40]}.npz"


def _load(text: str, shape: tuple) -> np.ndarray | None:
    path = _path(text)
    if path is None or not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            if str(f["key"]) != text:
                return None
            c = np.array(f["coeffs"])
        if c.shape != shape or c.dtype != np.complex128 or not np.all(np.isfinite(c)):
            return None
        return _frozen(c)
    except Exception:  # noqa: BLE001 - a corrupt or foreign file is recomputed
        return None


def _save(text: str, coeffs: np.ndarray) -> None:
    path = _path(text)
    if path is None:
        return

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:  # a file object: np.savez would append ".npz" to a bare name
            np.savez_compressed(f, key=np.array(text), coeffs=np.asarray(coeffs, dtype=complex))

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, write)
    except OSError:
        pass  # read-only or missing directory: no disk cache
