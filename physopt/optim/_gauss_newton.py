r"""The Gauss–Newton family's shared part: damped solves with the Jacobian, its Gram or kernel matrix.

For :math:`L(\theta) = \|r(\theta)\|^2` with Jacobian :math:`J`, the direction is

.. math::
    \delta = -(J^\top J + \lambda I)^{-1} J^\top r
           = -J^\top (J J^\top + \lambda I)^{-1} r ,

the damped natural gradient of the PINN energy (Müller & Zeinhofer 2023; the
Gram matrix :math:`J^\top J` is their :math:`G` up to the term weights folded
into :math:`r`). Solved by

- ``"svd"``: a thin SVD of :math:`J`, :math:`\delta = -V\,\mathrm{diag}(s/(s^2+\lambda))\,U^\top r`
  (never squares the condition number; the most accurate, and the slowest),
- ``"pinv"``: the same SVD as a pseudo-inverse (Müller & Zeinhofer's least-squares
  step), singular values below ``rcond``·:math:`s_{\max}` dropped instead of damped;
  a rejected step loosens the cut-off ×10 (a new direction; it relaxes back after
  accepted steps), so a tight cut-off cannot stall or diverge; with at least four
  times more parameters than residuals, :math:`J^+ = J^\top(JJ^\top)^+` from the
  eigendecomposition of the kernel (cut-off at least :math:`10\sqrt{\epsilon}`),
- ``"woodbury"``: a Cholesky solve with the damped :math:`N\times N` kernel
  :math:`JJ^\top + \lambda I` (points fewer than parameters), ``"gram"``: with the
  :math:`P\times P` Gram matrix (an eigendecomposition where Cholesky breaks down);
  the matrix is kept, so a rejected step costs a new solve, not a new Jacobian,
- ``"cg"``: conjugate gradients on Gram-vector products, matrix-free.

:math:`\lambda = \mu\,\sigma_{\max}^2` is relative to the largest eigenvalue
(``"cg"``: estimated by power iteration once). :class:`AbstractGaussNewton`
holds the solve, the damping state and the stop reason; :class:`~physopt.optim.ENGD`
(line search) and :class:`~physopt.optim.LevenbergMarquardt` (gain ratio) take the steps.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.linalg
import torch

from .._errors import ConfigurationError
from .._optimizers import AbstractOptimizer
from ..curvature import gram_matrix, gram_vector_product, kernel_matrix, power_iteration
from ._objective import LeastSquaresObjective

__all__ = ["AbstractGaussNewton", "SOLVERS", "conjugate_gradient"]

SOLVERS = ("auto", "svd", "pinv", "woodbury", "gram", "cg")


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


def _largest_eigenvalue(G: torch.Tensor, iterations: int = 30, rtol: float = 1e-3) -> float:
    """Largest eigenvalue of a symmetric positive semi-definite matrix (power iteration, at most ``iterations``,
    ending once the estimate changes by less than ``rtol``: it only scales the damping)."""
    v = torch.ones(G.shape[0], dtype=G.dtype, device=G.device) / math.sqrt(G.shape[0])
    value = 0.0
    for _ in range(iterations):
        w = G @ v
        previous, value = value, float(w.norm())
        if value == 0.0:
            return 0.0
        v = w / value
        if abs(value - previous) <= rtol * value:
            break
    return float(v @ (G @ v))


def _cholesky(A: torch.Tensor):
    """Lower Cholesky factor of ``A``, ``None`` if it is not positive definite. On the CPU SciPy's
    (LAPACK potrf without torch's batching: 16.7 ms against 27 ms at n = 1024, float64, one thread)."""
    if A.device.type == "cpu":
        try:
            return scipy.linalg.cho_factor(A.detach().numpy(), lower=True, check_finite=False)
        except (np.linalg.LinAlgError, ValueError):
            return None
    L, info = torch.linalg.cholesky_ex(A)
    return L if int(info) == 0 else None


class _DampedSolver:
    """Solves with ``G + λI``: one Cholesky factor per λ, reused (LM's geodesic correction solves twice with
    one λ); the eigendecomposition of G where Cholesky breaks down (6-12x dearer, so only then)."""

    def __init__(self, G: torch.Tensor):
        self.G, self._lam, self._factor, self._eigen = G, None, None, None

    def __call__(self, b: torch.Tensor, lam: float) -> torch.Tensor:
        """``(G + λI)^{-1} b``."""
        if lam != self._lam:
            A = self.G.clone()
            A.diagonal().add_(lam)
            self._lam, self._factor = lam, _cholesky(A)
        if self._factor is not None:
            if isinstance(self._factor, tuple):  # SciPy's factor (CPU)
                return torch.from_numpy(scipy.linalg.cho_solve(self._factor, b.detach().numpy(), check_finite=False))
            return torch.cholesky_solve(b[:, None], self._factor)[:, 0]
        if self._eigen is None:
            self._eigen = torch.linalg.eigh(self.G)
        e, Q = self._eigen
        return Q @ ((Q.T @ b) / (e.clamp_min(0) + lam))


class AbstractGaussNewton(AbstractOptimizer):
    """Damped Gauss–Newton on the solver's least-squares residuals: the direction, its solvers and damping state.

    Subclasses implement ``step`` (how far to go along :meth:`direction`, how the damping ``mu`` moves).
    """

    closure_needs_gradient = False
    second_order = True
    needs = "least_squares"
    data_parallel = True  # J^T J (or Gram products, cg), J^T r and the losses summed over the ranks

    def __init__(self, params, objective: LeastSquaresObjective | None = None, solver: str = "auto", damping: float = 1e-10,
                 damping_min: float = 1e-14, damping_max: float = 1e2, cg_iterations: int = 300, max_halvings: int = 30,
                 patience: int = 8, rcond: float = 1e-8):
        super().__init__(params)
        self.check_objective(objective)
        if solver not in SOLVERS:
            raise ConfigurationError(f"unknown engd solver '{solver}'; choose one of: {', '.join(SOLVERS)}")
        self.check_nonnegative(damping=damping, damping_min=damping_min, max_halvings=max_halvings)
        self.check_positive(damping_max=damping_max, cg_iterations=cg_iterations, patience=patience)
        self.objective, self.solver = objective, solver
        self.mu, self.mu_min, self.mu_max = damping, damping_min, damping_max
        self.cg_iterations, self.max_halvings, self.patience = cg_iterations, max_halvings, patience
        if not 0 < rcond < 1:
            raise ConfigurationError(f"engd rcond must be in (0, 1), got {rcond}")
        self.rcond = self.rcond_base = rcond
        self._rejected = 0
        self._scale: float | None = None  # largest Gram eigenvalue, for the cg solver
        self.last_step: dict = {}
        self.jacobian: torch.Tensor | None = None  # the dense J of the last direction, when one was formed
        self._factorisation = None  # (solver, theta, r, factors) of the last dense linearisation

    def _choose(self, n: int, p: int) -> str:
        if self.objective.ranks.sharded:  # rows on several processes: only P-space sums can be completed
            if self.solver in ("svd", "pinv", "woodbury"):
                raise ConfigurationError(f"{self.name}: the {self.solver} solver needs every residual row in one process; "
                                         "on several processes use --engd-solver gram or cg (auto picks them)")
            return self.solver if self.solver != "auto" else ("gram" if p <= 8192 else "cg")
        if self.solver != "auto":
            return self.solver
        if min(n, p) <= 8192 and n * p <= 50_000_000:  # dense J (<= 400 MB in float64); Cholesky of the smaller
            return "woodbury" if n <= p else "gram"  # of JJ^T (N x N) and J^T J (P x P): far cheaper than a thin SVD
        return "cg"

    def _factorise(self, theta: torch.Tensor, r: torch.Tensor, solver: str):
        """J and its Gram/kernel matrix at ``theta``, reused while parameters and residual stay put (after a rejected step)."""
        cached = self._factorisation
        if cached is not None and cached[0] == solver and torch.equal(cached[1], theta) and torch.equal(cached[2], r):
            return cached[3]
        J = self.objective.jacobian(theta)
        if solver == "pinv-kernel":  # eigendecomposition of JJ^T: far cheaper than an SVD when N << P
            e, Q = torch.linalg.eigh(J @ J.T)
            factors = (J, e, Q)
        elif solver in ("svd", "pinv"):
            U, s, Vh = torch.linalg.svd(J, full_matrices=False)
            factors = (J, U, s, Vh)
        else:
            G = kernel_matrix(J) if solver == "woodbury" else self.objective.sum(gram_matrix(J))
            factors = (J, _DampedSolver(G), _largest_eigenvalue(G))
        self._factorisation = (solver, theta.clone(), r.clone(), factors)
        return factors

    def direction(self, theta: torch.Tensor, r: torch.Tensor, rhs: torch.Tensor | None = None) -> tuple[torch.Tensor, float]:
        r"""The damped Gauss–Newton direction and the damping λ used (``self.jacobian``: the dense J, if formed).

        ``rhs`` replaces ``r`` on the right-hand side, :math:`-(J^\top J+\lambda I)^{-1}J^\top\,\mathrm{rhs}`,
        with the Jacobian and factorisation at ``(theta, r)`` (reused, not recomputed).
        """
        self.jacobian = None
        b = r if rhs is None else rhs
        residual = self.objective.residual
        solver = self._choose(r.numel(), theta.numel())
        if solver == "pinv" and 4 * r.numel() <= theta.numel():  # J^+ = J^T (JJ^T)^+ in sample space
            J, e, Q = self._factorise(theta, r, "pinv-kernel")
            self.jacobian = J
            # eigenvalues of JJ^T carry an absolute error ~eps*e_max: cut-offs below ~sqrt(eps) are noise
            rcond = max(self.rcond, 10 * math.sqrt(torch.finfo(e.dtype).eps))
            coef = torch.where(e > rcond**2 * e[-1], 1 / e, torch.zeros_like(e))
            return -(J.T @ (Q @ (coef * (Q.T @ b)))), 0.0
        if solver == "pinv":  # least squares with a pseudo-inverse: singular values below rcond * s_max dropped
            J, U, s, Vh = self._factorise(theta, r, "svd")
            self.jacobian = J
            coef = torch.where(s > self.rcond * s[0], 1 / s, torch.zeros_like(s)) if s.numel() else s
            return -(Vh.T @ (coef * (U.T @ b))), 0.0
        if solver == "svd":
            J, U, s, Vh = self._factorise(theta, r, solver)
            self.jacobian = J
            lam = self.mu * float(s[0] ** 2) if s.numel() else self.mu
            coef = s / (s**2 + lam)
            return -(Vh.T @ (coef * (U.T @ b))), lam
        if solver in ("woodbury", "gram"):  # -J^T (JJ^T + λI)^{-1} r  or  -(J^T J + λI)^{-1} J^T r
            J, solve, top = self._factorise(theta, r, solver)
            self.jacobian = J
            lam = self.mu * top
            if solver == "woodbury":
                return -(J.T @ solve(b, lam)), lam
            return -solve(self.objective.sum(J.T @ b), lam), lam
        # cg: matrix-free
        total = self.objective.sum

        def gram_product(V):
            return total(gram_vector_product(residual, theta, V))

        if self._scale is None:
            start = torch.Generator(device=theta.device).manual_seed(0)  # the same start on every rank
            self._scale, _ = power_iteration(gram_product, theta.numel(), iterations=30, generator=start,
                                             dtype=theta.dtype, device=theta.device)
        lam = self.mu * self._scale
        g = -total(torch.func.vjp(residual, theta)[1](b)[0])
        delta, _ = conjugate_gradient(lambda v: gram_product(v) + lam * v, g, self.cg_iterations)
        return delta, lam

    def linearise(self):
        """``(theta, r, ||r||^2, direction, damping)`` at the current parameters; direction ``None`` if the solve failed."""
        theta = self.objective.flat.vector()
        r = self.objective.value(theta)
        try:
            delta, lam = self.direction(theta, r)
        except (FloatingPointError, torch.linalg.LinAlgError):
            delta, lam = None, self.mu
        return theta, r, float(self.objective.sum(r @ r)), delta, lam

    def reject(self, current: float, limit: int, what: str) -> None:
        """Count a rejected step; after ``limit`` in a row, say why in ``stop_reason``."""
        self._rejected += 1
        if self._rejected >= limit:
            self.stop_reason = (f"{self.name}: {what} (loss {current:.3e}; converged to the resolution of the dtype, "
                                "or stalled)")

    def state_dict(self):
        return {"mu": self.mu, "rejected": self._rejected, "rcond": self.rcond, "scale": self._scale}

    def load_state_dict(self, state):
        self.mu, self._rejected = float(state["mu"]), int(state["rejected"])
        self.rcond = float(state.get("rcond", self.rcond_base))
        self._scale = state.get("scale", self._scale)
