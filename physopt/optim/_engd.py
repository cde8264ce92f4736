r"""Energy natural gradient / Gauss–Newton with Levenberg–Marquardt damping and a line search.

The damped Gauss–Newton direction :math:`\delta = -(J^\top J + \lambda I)^{-1} J^\top r`, the
damped natural gradient of the PINN energy (Müller & Zeinhofer 2023), solved as
:mod:`physopt.optim._gauss_newton` describes (``"svd"``, ``"pinv"``, ``"woodbury"``, ``"gram"``, ``"cg"``).
:math:`\mu` (:math:`\lambda = \mu\,\sigma_{\max}^2`) shrinks after full steps and
grows after rejected ones (Levenberg–Marquardt). The step length comes from
:func:`grid_line_search`, which may reject a step.
"""

from __future__ import annotations

from typing import final

from .._optimizers import register_optimizer
from ._gauss_newton import SOLVERS, AbstractGaussNewton, _DampedSolver, conjugate_gradient
from ._line_search import grid_line_search

__all__ = ["ENGD", "SOLVERS", "conjugate_gradient", "_DampedSolver"]


@final
@register_optimizer("engd")
class ENGD(AbstractGaussNewton):
    """Energy natural gradient (damped Gauss–Newton) with a rejecting grid line search."""

    solver_options = {"solver": "engd_solver", "damping": "damping", "rcond": "engd_rcond"}
    solver_defaults = {"damping": 1e-10}

    def step(self, closure):
        loss = float(closure().detach())  # also fills the loss terms for the metrics
        flat = self.objective.flat
        theta, r, current, delta, lam = self.linearise()
        if delta is None:
            self.mu = min(self.mu * 10, self.mu_max)
            self.last_step = {"eta": 0.0, "damping": self.mu}
            return loss
        eta, new = grid_line_search(self.objective.loss, theta, delta, current, self.max_halvings)
        if eta > 0:
            flat.assign(theta + eta * delta)
            self._rejected = 0
            self.mu = max(self.mu / 3, self.mu_min) if eta == 1.0 else self.mu
            self.rcond = max(self.rcond / 10, self.rcond_base)
        else:
            self.mu = min(self.mu * 10, self.mu_max)
            self.rcond = min(self.rcond * 10, 1e-2)  # pinv: a looser cut-off, a new direction (never the same one again)
            self.reject(current, self.patience, f"no step length decreased the loss in {self.patience} consecutive steps")
        self.last_step = {"eta": eta, "damping": lam, "loss_after": new}
        if self._choose(r.numel(), theta.numel()) == "pinv":
            self.last_step["rcond"] = self.rcond
        return loss
