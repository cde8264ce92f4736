"""physopt._runge_kutta: one Butcher tableau per explicit method, one step for arrays and tensors."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import torch

from physopt._runge_kutta import TABLEAUS, ButcherTableau, explicit_rk_step


@pytest.mark.parametrize("name", sorted(TABLEAUS))
def test_tableaus_are_consistent_and_reach_their_order(name):
    tableau = TABLEAUS[name]
    assert sum(tableau.b) == 1 and all(isinstance(c, Fraction) for row in tableau.a for c in row)
    # u' = -u from u = 1 to t = 1: the error falls as dt^order
    errors = []
    for n in (8, 16):
        u = np.array([1.0])
        for _ in range(n):
            u = explicit_rk_step(lambda y, stage: -y, u, 1.0 / n, tableau)
        errors.append(abs(u[0] - math.exp(-1.0)))
    assert math.log2(errors[0] / errors[1]) == pytest.approx(tableau.order, abs=0.15)


def test_rk4_is_the_scheme_written_out_by_hand_bit_for_bit():
    g = torch.Generator().manual_seed(0)
    A = torch.randn(5, 5, generator=g, dtype=torch.float64)
    u = torch.randn(5, generator=g, dtype=torch.float64)
    dt = 0.013

    def f(y, stage=0):
        return torch.tanh(A @ y)

    k1 = f(u)
    k2 = f(u + k1 * (dt / 2))
    k3 = f(u + k2 * (dt / 2))
    k4 = f(u + k3 * dt)
    by_hand = u + (k1 + k2 * 2.0 + k3 * 2.0 + k4) * (dt / 6)
    assert torch.equal(explicit_rk_step(f, u, dt, "rk4"), by_hand)
    heun = u + (f(u) + f(u + f(u) * dt)) * (dt / 2)
    assert torch.equal(explicit_rk_step(f, u, dt, "heun"), heun)


def test_stage_functions_see_their_stage_index():
    seen = []
    explicit_rk_step(lambda y, stage: seen.append(stage) or y, np.zeros(2), 0.1, "rk4")
    assert seen == [0, 1, 2, 3]


def test_a_malformed_tableau_is_refused():
    with pytest.raises(ValueError, match="explicit tableau"):
        ButcherTableau(((Fraction(1), Fraction(1)),), (Fraction(1, 2), Fraction(1, 2)), 2)
