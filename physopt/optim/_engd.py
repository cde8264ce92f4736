r"""Energy natural gradient / Gauss–Newton with Levenberg–Marquardt damping and a line search.

For :math:`L(\theta) = \|r(\theta)\|^2` with Jacobian :math:`J`, the direction is

.. math::
    \delta = -(J^\top J + \lambda I)^{-1} J^\top r
           = -J^\top (J J^\top + \lambda I)^{-1} r ,

the damped natural gradient of the PINN energy (Müller & Zeinhofer 2023; the
Gram matrix :math:`J^\top J` is their :math:`G` up to the term weights folded
into :math:`r`). Solved by

- ``"svd"``: a thin SVD of :math:`J`, :math:`\delta = -V\,\mathrm{diag}(s/(s^2+\lambda))\,U^\top r`
  (never squares the condition number; the most accurate, and the slowest),
- ``"woodbury"``: eigendecomposition of the :math:`N\times N` kernel :math:`JJ^\top`
  (points fewer than parameters), ``"gram"``: of the :math:`P\times P` Gram matrix,
- ``"cg"``: conjugate gradients on Gram-vector products, matrix-free.

:math:`\lambda = \mu\,\sigma_{\max}^2` is relative to the largest eigenvalue
(``"cg"``: estimated by power iteration once); :math:`\mu` shrinks after full
steps and grows after rejected ones (Levenberg–Marquardt). The step length
comes from :func:`grid_line_search`, which may reject a step.
"""

from __future__ import annotations

import math

import torch

from .._errors import ConfigurationError
from .._optimizers import AbstractOptimizer
from ..curvature import gram_vector_product, power_iteration
from ._line_search import grid_line_search
from ._objective import LeastSquaresObjective

__all__ = ["ENGD", "conjugate_gradient"]

SOLVERS = ("auto", "svd", "woodbury", "gram", "cg")


def conjugate_gradient(matvec, b: torch.Tensor, iterations: int = 200, rtol: float = 1e-10) -> tuple[torch.Tensor, int]:
    """Solve ``A x = b`` for symmetric positive definite ``A`` given as ``matvec``; returns ``(x, iterations)``."""
    x = torch.zeros_like(b)
    r = b.clone()
    p = r.clone()
    rs = r @ r
    target = (rtol * b.norm()) ** 2
    for k in range(iterations):
        if rs <= target:
            return x, k
        Ap = matvec(p)
        alpha = rs / (p @ Ap)
        x = x + alpha * p
        r = r - alpha * Ap
        rs_new = r @ r
        p = r + (rs_new / rs) * p
        rs = rs_new
    return x, iterations


class ENGD(AbstractOptimizer):
    """Energy natural gradient (damped Gauss–Newton) with a rejecting grid line search."""

    name = "engd"
    closure_needs_gradient = False

    def __init__(self, params, objective: LeastSquaresObjective | None = None, solver: str = "auto", damping: float = 1e-10,
                 damping_min: float = 1e-14, damping_max: float = 1e2, cg_iterations: int = 300, max_halvings: int = 30,
                 patience: int = 8):
        super().__init__(params)
        if objective is None:
            raise ConfigurationError("engd needs a least-squares objective from the solver (the solver must support it)")
        if solver not in SOLVERS:
            raise ConfigurationError(f"unknown engd solver '{solver}'; choose one of: {', '.join(SOLVERS)}")
        self.objective, self.solver = objective, solver
        self.mu, self.mu_min, self.mu_max = damping, damping_min, damping_max
        self.cg_iterations, self.max_halvings, self.patience = cg_iterations, max_halvings, patience
        self._rejected = 0
        self._scale: float | None = None  # largest Gram eigenvalue, for the cg solver
        self.last_step: dict = {}
        self.jacobian: torch.Tensor | None = None  # the dense J of the last direction, when one was formed

    def _choose(self, n: int, p: int) -> str:
        if self.solver != "auto":
            return self.solver
        if max(n, p) <= 8192:  # eigendecomposition of the smaller of JJ^T (N x N) and J^T J (P x P):
            return "woodbury" if n <= p else "gram"  # 2-4x cheaper than a thin SVD; λ >= μ·d_max keeps it stable
        return "cg"

    def direction(self, theta: torch.Tensor, r: torch.Tensor) -> tuple[torch.Tensor, float]:
        """The damped Gauss–Newton direction and the damping λ used (``self.jacobian``: the dense J, if formed)."""
        self.jacobian = None
        residual = self.objective.residual
        solver = self._choose(r.numel(), theta.numel())
        if solver == "svd":
            J = self.jacobian = self.objective.jacobian(theta)
            U, s, Vh = torch.linalg.svd(J, full_matrices=False)
            lam = self.mu * float(s[0] ** 2) if s.numel() else self.mu
            coef = s / (s**2 + lam)
            return -(Vh.T @ (coef * (U.T @ r))), lam
        if solver == "woodbury":  # -J^T (JJ^T + λI)^{-1} r, eigendecomposition of the N x N kernel
            J = self.jacobian = self.objective.jacobian(theta)
            e, Q = torch.linalg.eigh(J @ J.T)
            lam = self.mu * float(e[-1])
            return -(J.T @ (Q @ ((Q.T @ r) / (e.clamp_min(0) + lam)))), lam
        if solver == "gram":  # -(J^T J + λI)^{-1} J^T r, eigendecomposition of the P x P Gram matrix
            J = self.jacobian = self.objective.jacobian(theta)
            d, V = torch.linalg.eigh(J.T @ J)
            lam = self.mu * float(d[-1])
            return -(V @ ((V.T @ (J.T @ r)) / (d.clamp_min(0) + lam))), lam
        # cg: matrix-free
        if self._scale is None:
            self._scale, _ = power_iteration(lambda V: gram_vector_product(residual, theta, V), theta.numel(), iterations=30,
                                             dtype=theta.dtype, device=theta.device)
        lam = self.mu * self._scale
        b = -(torch.func.vjp(residual, theta)[1](r)[0])
        delta, _ = conjugate_gradient(lambda v: gram_vector_product(residual, theta, v) + lam * v, b, self.cg_iterations)
        return delta, lam

    def linearise(self):
        """``(theta, r, ||r||^2, direction, damping)`` at the current parameters; direction ``None`` if the solve failed."""
        theta = self.objective.flat.vector()
        with torch.no_grad():
            r = self.objective.residual(theta)
        try:
            delta, lam = self.direction(theta, r)
        except (FloatingPointError, torch.linalg.LinAlgError):
            delta, lam = None, self.mu
        return theta, r, float(r @ r), delta, lam

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
        else:
            self._rejected += 1
            self.mu = min(self.mu * 10, self.mu_max)
            if self._rejected >= self.patience:
                self.stop_reason = (f"engd: no step length decreased the loss in {self.patience} consecutive steps "
                                    f"(loss {current:.3e}; converged to the resolution of the dtype, or stalled)")
        self.last_step = {"eta": eta, "damping": lam, "loss_after": new}
        if not math.isfinite(loss):
            return loss
        return loss

    def state_dict(self):
        return {"mu": self.mu, "rejected": self._rejected}

    def load_state_dict(self, state):
        self.mu, self._rejected = float(state["mu"]), int(state["rejected"])
