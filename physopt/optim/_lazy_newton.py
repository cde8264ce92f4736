r"""Lazy-curvature Newton: factor the damped curvature once, reuse it for ``m`` steps.

Every ``reuse`` steps the curvature :math:`C` is formed densely and
eigen-decomposed, :math:`C = V\,\mathrm{diag}(d)\,V^\top` — the Gauss–Newton matrix
:math:`J^\top J` (``curvature="gauss-newton"``, needs residuals) or the loss
Hessian with negative eigenvalues reflected, :math:`|H|` (``"hessian"``).
In between, each step only needs the gradient:
:math:`\delta = -(C+\lambda I)^{-1}\nabla L(\theta)` with a rejecting grid line
search. The expensive part runs once per ``reuse`` steps (Doikov et al. 2023
analyse this lazy-Hessian scheme); a step the line search had to shorten
(:math:`\eta < 1`) marks the curvature stale, so far from a minimum, where the
model changes quickly, it is refreshed every step, and near one it is reused.
"""

from __future__ import annotations

import torch
from torch.func import grad, hessian

from .._errors import ConfigurationError
from .._optimizers import AbstractOptimizer, register_optimizer
from ._line_search import grid_line_search

__all__ = ["LazyNewton"]


@register_optimizer("lazy_newton")
class LazyNewton(AbstractOptimizer):
    """Newton steps with a dense curvature factorisation refreshed every ``reuse`` steps."""

    closure_needs_gradient = False
    second_order = True
    needs = "least_squares"
    solver_options = {"damping": "damping"}
    solver_defaults = {"damping": 1e-10}

    def __init__(self, params, objective=None, reuse: int = 5, damping: float = 1e-10, curvature: str = "gauss-newton",
                 patience: int = 8):
        super().__init__(params)
        self.check_objective(objective)
        self.check_nonnegative(damping=damping)
        self.check_positive(patience=patience)
        if curvature not in ("gauss-newton", "hessian"):
            raise ConfigurationError(f"unknown curvature '{curvature}'; use gauss-newton or hessian")
        if reuse < 1:
            raise ConfigurationError(f"reuse must be >= 1, got {reuse}")
        self.objective, self.reuse, self.mu, self.curvature, self.patience = objective, reuse, damping, curvature, patience
        self._factor: tuple[torch.Tensor, torch.Tensor] | None = None
        self._age = 0
        self._rejected = 0

    def _refactor(self, theta: torch.Tensor) -> None:
        """Eigen-decompose the curvature, ``C = V diag(d) V^T`` (Gauss–Newton from the SVD of J: never squares cond(J))."""
        if self.curvature == "gauss-newton":
            J = self.objective.jacobian(theta)
            _, s, Vh = torch.linalg.svd(J, full_matrices=True)
            d = torch.zeros(theta.numel(), dtype=theta.dtype, device=theta.device)
            d[: s.numel()] = 2 * s**2  # Hessian of ||r||^2 without the residual-curvature term
            V = Vh.T
        else:
            H = hessian(self.objective.loss)(theta)
            d, V = torch.linalg.eigh((H + H.T) / 2)
            d = d.abs()
        lam = max(self.mu * float(d.max()), torch.finfo(d.dtype).tiny)
        self._factor = (V, d + lam)
        self._age = 0

    def step(self, closure):
        loss = float(closure().detach())
        flat, f = self.objective.flat, self.objective.loss
        theta = flat.vector()
        if self._factor is None or self._age >= self.reuse:
            self._refactor(theta)
        self._age += 1
        g = grad(f)(theta).detach()
        V, d = self._factor
        delta = -(V @ ((V.T @ g) / d))
        current = float(f(theta))
        eta, _ = grid_line_search(f, theta, delta, current)
        if eta > 0:
            flat.assign(theta + eta * delta)
            self._rejected = 0
            if eta < 1.0:  # the stale model overshot: refresh the curvature next step
                self._age = self.reuse
        else:
            self._rejected += 1
            self._age = self.reuse  # stale curvature: refresh on the next step
            if self._rejected >= self.patience:
                self.stop_reason = (f"lazy_newton: no step length decreased the loss in {self.patience} steps "
                                    "(converged to the resolution of the dtype, or stalled)")
        return loss

    def state_dict(self):
        factor = None if self._factor is None else list(self._factor)
        return {"mu": self.mu, "rejected": self._rejected, "age": self._age, "factor": factor}

    def load_state_dict(self, state):
        self.mu, self._rejected = float(state["mu"]), int(state["rejected"])
        self._age = int(state.get("age", self.reuse))  # without the factor: refresh it on the next step
        factor = state.get("factor")
        self._factor = None if factor is None else (factor[0], factor[1])
