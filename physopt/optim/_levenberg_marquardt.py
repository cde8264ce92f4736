r"""Levenberg–Marquardt: damped Gauss–Newton steps controlled by the gain ratio.

Each step solves :math:`(J^\top J + \lambda I)\,\delta = -J^\top r` (the
solvers of :class:`AbstractGaussNewton`, shared with :class:`ENGD`) and takes
the full step when the actual decrease
matches the one the linear model predicts,

.. math::
    \rho = \frac{\|r\|^2 - \|r(\theta+\delta)\|^2}{\|r\|^2 - \|r + J\delta\|^2} ,

with Nielsen's update: accepted (:math:`\rho > 0`):
:math:`\lambda \leftarrow \lambda\max(\tfrac13, 1-(2\rho-1)^3)`; rejected:
:math:`\lambda \leftarrow \nu\lambda`, :math:`\nu \leftarrow 2\nu`. The damping
follows the nonlinearity of the model instead of a fixed cut-off, which keeps
steps along the Jacobian's tiny singular directions in check (those make
undamped natural-gradient steps overshoot).

Geodesic acceleration (Transtrum & Sethna 2012, on by default) adds the
second-order correction along the step: with the directional second
derivative :math:`r_{vv} \approx \tfrac{2}{h}\big(\tfrac{r(\theta+h\delta)-r}{h} - J\delta\big)`,
:math:`a = -\tfrac12 (J^\top J+\lambda I)^{-1}J^\top r_{vv}` (the same factorisation),
and the step is :math:`\delta + a` when :math:`2\|a\|/\|\delta\| \le \alpha = 0.75`.
It costs one residual evaluation and one solve per step and lets the
damping fall much further on curved valleys (PINNs: 10-100x lower errors at
equal time, ``benchmarks/results/``).
"""

from __future__ import annotations

import math
from typing import final

import torch

from .._errors import ConfigurationError
from .._optimizers import register_optimizer
from ._gauss_newton import AbstractGaussNewton

__all__ = ["LevenbergMarquardt"]


@final
@register_optimizer("lm")
class LevenbergMarquardt(AbstractGaussNewton):
    """Levenberg–Marquardt on the solver's least-squares residuals (gain-ratio damping, no line search)."""

    solver_options = {"solver": "engd_solver", "damping": "damping"}
    # the PINN's damping 0 means this: the gain-ratio update then moves it, and starting at 1e-3 (not 1e-10)
    # keeps the first steps after Adam safe (benchmarks/results/optimizers_lm_*.json)
    solver_defaults = {"damping": 1e-3}

    def __init__(self, params, objective=None, solver: str = "auto", damping: float = 1e-6, geodesic: bool = True,
                 geodesic_alpha: float = 0.75, geodesic_h: float = 0.1, **kwargs):
        if solver == "pinv":
            raise ConfigurationError("lm damps the Gauss-Newton system; solver 'pinv' (a cut-off instead of damping) is "
                                     "for engd. Use --engd-solver auto/svd/woodbury/gram/cg with lm")
        super().__init__(params, objective, solver=solver, damping=damping, **kwargs)
        self.check_positive(geodesic_alpha=geodesic_alpha, geodesic_h=geodesic_h)
        self.nu = 2.0
        self.geodesic, self.geodesic_alpha, self.geodesic_h = geodesic, geodesic_alpha, geodesic_h

    def step(self, closure):
        loss = float(closure().detach())
        flat = self.objective.flat
        theta, r, current, delta, lam = self.linearise()
        if delta is None:
            self.mu = min(self.mu * self.nu, self.mu_max)
            self.nu *= 2
            return loss
        with torch.no_grad():
            J = getattr(self, "jacobian", None)
            Jd = J @ delta if J is not None else torch.func.jvp(self.objective.residual, (theta,), (delta,))[1]
            predicted = current - float(self.objective.sum((r + Jd) @ (r + Jd)))
            step, ratio = delta, 0.0
            if self.geodesic:  # second-order correction along the geodesic (Transtrum & Sethna 2012)
                h = self.geodesic_h
                r_vv = (2 / h) * ((self.objective.value(theta + h * delta) - r) / h - Jd)
                acceleration = 0.5 * self.direction(theta, r, rhs=r_vv)[0]
                ratio = float(2 * acceleration.norm() / delta.norm()) if float(delta.norm()) > 0 else math.inf
                if ratio <= self.geodesic_alpha:
                    step = delta + acceleration
            new = float(self.objective.loss(theta + step))
        delta = step
        rho = (current - new) / predicted if predicted > 0 else -1.0
        if rho > 0 and new < current:
            flat.assign(theta + delta)
            self.mu = max(self.mu * max(1 / 3, 1 - (2 * rho - 1) ** 3), self.mu_min)
            self.nu = 2.0
            self._rejected = 0
        else:
            self.mu = min(self.mu * self.nu, self.mu_max)
            self.nu *= 2
            self.reject(current, 3 * self.patience, f"{3 * self.patience} consecutive steps rejected")
        self.last_step = {"eta": 1.0 if rho > 0 and new < current else 0.0, "damping": lam, "rho": rho, "loss_after": new,
                          "acceleration_ratio": ratio}
        return loss

    def state_dict(self):
        return {**super().state_dict(), "nu": self.nu}

    def load_state_dict(self, state):
        super().load_state_dict(state)
        self.nu = float(state["nu"])
