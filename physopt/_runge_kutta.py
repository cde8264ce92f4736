r"""Explicit Runge–Kutta methods: one Butcher tableau per method, and one step.

A step of :math:`u' = f(u)` from :math:`u` with ``dt``:

.. math::
    y_1 = u,\quad y_s = u + \Delta t \sum_{j<s} a_{sj} k_j,\quad k_s = f(y_s),\qquad
    u_{\text{new}} = u + \Delta t \sum_s b_s k_s.

The coefficients are exact fractions, and every combination is taken over a
common denominator, ``u + (dt/d) · Σ n_j k_j`` with integer numerators ``n_j``
(zero terms skipped): RK4's update is ``u + dt/6 (k₁ + 2k₂ + 2k₃ + k₄)``, the
same floating-point operations as the scheme written out by hand. The same
function steps NumPy arrays (the spectral ideal steppers of
:mod:`problems._spectral`) and tensors (TENG's stage targets).
"""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction
from typing import Callable, Sequence

__all__ = ["ButcherTableau", "TABLEAUS", "explicit_rk_step", "combine"]


@dataclasses.dataclass(frozen=True)
class ButcherTableau:
    """An explicit Runge–Kutta method.

    Attributes:
        a: the rows of stages 2, 3, …: row ``s - 2`` holds :math:`a_{s1}, …, a_{s,s-1}` (stage 1 is ``u`` itself).
        b: the weights of the stages in the update.
        order: the method's order of accuracy.
    """

    a: tuple[tuple[Fraction, ...], ...]
    b: tuple[Fraction, ...]
    order: int

    def __post_init__(self):
        if len(self.a) != len(self.b) - 1 or any(len(row) != s + 1 for s, row in enumerate(self.a)):
            raise ValueError(f"an explicit tableau with {len(self.b)} stages needs rows of 1 … {len(self.b) - 1} coefficients")

    @property
    def stages(self) -> int:
        return len(self.b)


def _tableau(a, b, order) -> ButcherTableau:
    return ButcherTableau(tuple(tuple(Fraction(x) for x in row) for row in a), tuple(Fraction(x) for x in b), order)


#: the explicit methods by name: forward Euler, Heun (explicit trapezoid), classical RK4
TABLEAUS = {
    "euler": _tableau([], [1], 1),
    "heun": _tableau([[1]], [Fraction(1, 2), Fraction(1, 2)], 2),
    "rk4": _tableau([[Fraction(1, 2)], [0, Fraction(1, 2)], [0, 0, 1]],
                    [Fraction(1, 6), Fraction(1, 3), Fraction(1, 3), Fraction(1, 6)], 4),
}


def combine(u, dt: float, coefficients: Sequence[Fraction], k: Sequence):
    """``u + dt · Σ_j c_j k_j``, computed as ``u + (dt/d) · Σ n_j k_j`` over the common denominator ``d``."""
    d = math.lcm(*(c.denominator for c in coefficients)) if coefficients else 1
    total = None
    for c, kj in zip(coefficients, k):
        n = int(c * d)
        if n == 0:
            continue
        term = kj if n == 1 else kj * float(n)
        total = term if total is None else total + term
    if total is None:
        return u
    return u + total * (dt / d if d != 1 else dt)


def explicit_rk_step(f: Callable, u, dt: float, tableau: ButcherTableau | str):
    """One step of ``tableau`` (or its name in :data:`TABLEAUS`) for ``u' = f(u)``: the new ``u``.

    ``f(y, stage)`` gets each stage's value and its index (0 for ``u`` itself) and returns the slope there;
    a solver that holds its state elsewhere (TENG's network, fitted to each stage value) uses the index.
    """
    if isinstance(tableau, str):
        tableau = TABLEAUS[tableau]
    k = [f(u, 0)]
    for s, row in enumerate(tableau.a, start=1):
        k.append(f(combine(u, dt, row, k), s))
    return combine(u, dt, tableau.b, k)
