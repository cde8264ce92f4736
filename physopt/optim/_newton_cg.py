r"""Hessian-free Newton: trust-region Newton–CG (Steihaug) on Hessian-vector products.

Each step approximately minimises the quadratic model
:math:`m(p) = L + g^\top p + \tfrac12 p^\top H p` inside :math:`\|p\| \le \Delta`
by conjugate gradients on :math:`Hp = -g`, stopping at the boundary or along
negative curvature (Steihaug 1983). The step is taken when the gain ratio
:math:`\rho = (L(\theta) - L(\theta + p)) / (m(0) - m(p))` exceeds ``accept``;
the radius shrinks by 4 when :math:`\rho < 1/4` and doubles when
:math:`\rho > 3/4` at the boundary. Only :math:`Hv` products are used
(:func:`physopt.curvature.hessian_vector_product`), never :math:`H`.
"""

from __future__ import annotations

import math

import torch
from torch.func import grad

from .._optimizers import AbstractOptimizer, register_optimizer
from ..curvature import hessian_vector_product

__all__ = ["NewtonCG", "steihaug_cg"]


def _to_boundary(p: torch.Tensor, d: torch.Tensor, radius: float) -> torch.Tensor:
    """``p + tau d`` with ``tau >= 0`` and ``||p + tau d|| = radius``."""
    a, b, c = float(d @ d), 2 * float(p @ d), float(p @ p) - radius**2
    tau = (-b + math.sqrt(max(b * b - 4 * a * c, 0.0))) / (2 * a)
    return p + tau * d


def steihaug_cg(hvp, g: torch.Tensor, radius: float, iterations: int = 50, rtol: float = 1e-8) -> tuple[torch.Tensor, str]:
    """Approximate minimiser of ``g.p + p.H.p/2`` in the ball of ``radius``; returns ``(p, why it stopped)``."""
    p = torch.zeros_like(g)
    r = g.clone()
    d = -r
    if float(r.norm()) == 0.0:
        return p, "zero gradient"
    tol = rtol * float(g.norm())
    for _ in range(iterations):
        Hd = hvp(d)
        curvature = float(d @ Hd)
        if curvature <= 0:
            return _to_boundary(p, d, radius), "negative curvature"
        alpha = float(r @ r) / curvature
        p_next = p + alpha * d
        if float(p_next.norm()) >= radius:
            return _to_boundary(p, d, radius), "trust-region boundary"
        r_next = r + alpha * Hd
        if float(r_next.norm()) <= tol:
            return p_next, "converged"
        beta = float(r_next @ r_next) / float(r @ r)
        p, r, d = p_next, r_next, -r_next + beta * d
    return p, "iteration limit"


@register_optimizer("newton_cg")
class NewtonCG(AbstractOptimizer):
    """Trust-region Newton–CG (Hessian-free) on the solver's loss."""

    closure_needs_gradient = False
    second_order = True
    needs = "least_squares"  # its loss over the flat parameters (a trust region: no damping option)

    def __init__(self, params, objective=None, radius: float = 1.0, max_radius: float = 1e3, cg_iterations: int = 50,
                 accept: float = 1e-4, patience: int = 10):
        super().__init__(params)
        self.check_objective(objective)
        self.check_positive(radius=radius, max_radius=max_radius, cg_iterations=cg_iterations, patience=patience)
        self.check_nonnegative(accept=accept)
        self.objective, self.radius, self.max_radius = objective, radius, max_radius
        self.cg_iterations, self.accept, self.patience = cg_iterations, accept, patience
        self._rejected = 0
        self.last_step: dict = {}

    def step(self, closure):
        loss = float(closure().detach())
        flat, f = self.objective.flat, self.objective.loss
        theta = flat.vector()
        current = float(f(theta))
        g = grad(f)(theta).detach()

        def hvp(v):
            return hessian_vector_product(f, theta, v).detach()

        p, why = steihaug_cg(hvp, g, self.radius, self.cg_iterations)
        predicted = -(float(g @ p) + 0.5 * float(p @ hvp(p)))
        with torch.no_grad():
            new = float(f(theta + p))
        rho = (current - new) / predicted if predicted > 0 else -1.0
        at_boundary = abs(float(p.norm()) - self.radius) <= 1e-6 * self.radius
        if rho < 0.25:
            self.radius *= 0.25
        elif rho > 0.75 and at_boundary:
            self.radius = min(2 * self.radius, self.max_radius)
        if rho > self.accept and new < current:
            flat.assign(theta + p)
            self._rejected = 0
        else:
            self._rejected += 1
            if self._rejected >= self.patience:
                self.stop_reason = (f"newton_cg: {self.patience} consecutive steps rejected (trust radius {self.radius:.1e}; "
                                    "converged to the resolution of the dtype, or stalled)")
        self.last_step = {"rho": rho, "radius": self.radius, "cg": why}
        return loss

    def state_dict(self):
        return {"radius": self.radius, "rejected": self._rejected}

    def load_state_dict(self, state):
        self.radius, self._rejected = float(state["radius"]), int(state["rejected"])
