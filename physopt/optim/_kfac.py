r"""K-FAC for MLP PINNs: Kronecker-factored Gauss–Newton (Dangel, Müller & Zeinhofer 2024).

The Gram matrix :math:`J^\top J` of :math:`L(\theta)=\|r(\theta)\|^2` is
approximated block-diagonally, one block per linear layer (weights and bias
together, :math:`W \in \mathbb{R}^{o\times i}` with the bias as an extra
column), each block a sum of Kronecker products — one for the PDE residual,
one for the boundary/initial terms:

.. math::
    G_l \approx B_{l,1}\otimes A_{l,1} + B_{l,2}\otimes A_{l,2}

(factors from the solver's ``kronecker_fn``, exponential moving averages over
steps). With π-damping of the first pair,
:math:`A_1' = A_1 + \pi\sqrt\lambda I`, :math:`B_1' = B_1 + \sqrt\lambda/\pi\, I`,
the sum is inverted exactly by simultaneous diagonalisation: with
:math:`P_A^\top A_1' P_A = I`, :math:`P_A^\top A_2 P_A = D_A` (likewise for B),

.. math::
    (B_1'\otimes A_1' + B_2\otimes A_2)^{-1}\mathrm{vec}(V)
      = \mathrm{vec}\big(P_B\,[(P_B^\top V P_A) \oslash (1 + d_B d_A^\top)]\,P_A^\top\big).

Step length: ``"auto"`` (KFAC*, Martens & Grosse 2015) minimises the exact
damped Gauss–Newton model over :math:`\alpha\Delta + \mu u` (the new direction
and the previous update) — two Jacobian-vector products and a 2×2 solve —
and adapts :math:`\lambda` from the ratio of actual to predicted decrease;
``"line_search"`` uses the rejecting grid search of ENGD.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import torch

from .._errors import ConfigurationError
from .._optimizers import AbstractOptimizer, register_optimizer
from ..curvature import KroneckerBlock, KroneckerCurvature, jacobian_vector_product
from ._line_search import grid_line_search
from ._objective import LeastSquaresObjective

__all__ = ["KFAC", "kronecker_sum_solve"]


def _sym_inverse_sqrt_basis(first: torch.Tensor, second: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """``P, d`` with ``P^T first P = I`` and ``P^T second P = diag(d)`` (``second`` None: ``d = 0``)."""
    e, Q = torch.linalg.eigh(first)
    P = Q / e.clamp_min(torch.finfo(first.dtype).tiny).sqrt()  # first^{-1/2} basis
    if second is None:
        return P, torch.zeros_like(e)
    d, R = torch.linalg.eigh(P.T @ second @ P)
    return P @ R, d.clamp_min(0)


def kronecker_sum_solve(pairs: list[tuple[torch.Tensor, torch.Tensor]], V: torch.Tensor, damping: float) -> torch.Tensor:
    r"""Solve :math:`(\sum_t B_t\otimes A_t + \text{damping})X = V` for one or two pairs ``(A_t, B_t)``, ``V`` of shape ``(o, i)``.

    The damping is applied to the first pair (π-damping); row-major vec, so
    :math:`(B\otimes A)\,\mathrm{vec}(X) = \mathrm{vec}(B X A)`.
    """
    if not 1 <= len(pairs) <= 2:
        raise ValueError(f"kronecker_sum_solve takes one or two Kronecker pairs, got {len(pairs)}")
    (A1, B1), rest = pairs[0], pairs[1:]
    eye_a = torch.eye(A1.shape[0], dtype=A1.dtype, device=A1.device)
    eye_b = torch.eye(B1.shape[0], dtype=B1.dtype, device=B1.device)
    mean_a = float(torch.trace(A1)) / A1.shape[0]
    mean_b = float(torch.trace(B1)) / B1.shape[0]
    pi = math.sqrt(mean_a / mean_b) if mean_a > 0 and mean_b > 0 else 1.0
    root = math.sqrt(damping)
    PA, dA = _sym_inverse_sqrt_basis(A1 + pi * root * eye_a, rest[0][0] if rest else None)
    PB, dB = _sym_inverse_sqrt_basis(B1 + root / pi * eye_b, rest[0][1] if rest else None)
    return PB @ ((PB.T @ V @ PA) / (1 + dB[:, None] * dA[None, :])) @ PA.T


@register_optimizer("kfac")
class KFAC(AbstractOptimizer):
    """K-FAC on a least-squares objective that provides per-layer Kronecker factors (MLP PINNs)."""

    closure_needs_gradient = False
    second_order = True
    needs = "kronecker"
    data_parallel = True  # the solver sums the factors over the ranks; J^T r, the 2x2 model and losses here
    solver_options = {"damping": "kfac_damping"}

    def __init__(self, params, objective: LeastSquaresObjective | None = None, damping: float = 1e-3,
                 ema: float = 0.0, step_rule: str = "auto", damping_min: float = 1e-12, damping_max: float = 1e4,
                 max_halvings: int = 30, patience: int = 10):
        super().__init__(params)
        self.check_objective(objective)
        self.check_nonnegative(damping=damping, damping_min=damping_min, max_halvings=max_halvings)
        self.check_positive(damping_max=damping_max, patience=patience)
        if step_rule not in ("auto", "line_search"):
            raise ConfigurationError(f"kfac step_rule must be 'auto' or 'line_search', got {step_rule!r}")
        if not 0 <= ema < 1:
            raise ConfigurationError(f"kfac ema must be in [0, 1), got {ema}")
        self.objective, self.step_rule = objective, step_rule
        self.damping, self.damping_min, self.damping_max = damping, damping_min, damping_max
        self.ema, self.max_halvings, self.patience = ema, max_halvings, patience
        self.factors: list[KroneckerBlock] | None = None
        self.previous: torch.Tensor | None = None  # the last update (momentum direction of KFAC*)
        self._rejected = 0
        self.last_step: dict = {}
        flat = objective.flat
        self._slices = {}
        start = 0
        for name, size in zip(flat.names, flat.sizes):
            self._slices[name] = slice(start, start + size)
            start += size

    def _update_factors(self, new: list[KroneckerBlock]):
        if self.factors is None or self.ema == 0:
            self.factors = new
            return
        b = self.ema
        self.factors = [
            dataclasses.replace(cur, pairs=[(b * A0 + (1 - b) * A, b * B0 + (1 - b) * B)
                                            for (A0, B0), (A, B) in zip(old.pairs, cur.pairs)])
            for old, cur in zip(self.factors, new)
        ]

    def precondition(self, gradient: torch.Tensor) -> torch.Tensor:
        r"""Apply the damped Kronecker-factored inverse block by block to a flat vector."""
        out = torch.zeros_like(gradient)
        for block in self.factors:
            weight, bias, pairs = block.weight, block.bias, block.pairs
            w = self._slices[weight]
            o = pairs[0][1].shape[0]
            V = gradient[w].reshape(o, -1)
            if bias is not None:
                V = torch.cat([V, gradient[self._slices[bias]][:, None]], 1)
            X = kronecker_sum_solve(pairs, V, self.damping)
            if bias is not None:
                out[self._slices[bias]] = X[:, -1]
                X = X[:, :-1]
            out[w] = X.reshape(-1)
        return out

    def step(self, closure):
        loss = float(closure().detach())
        flat = self.objective.flat
        theta = flat.vector()
        residual = self.objective.residual
        curvature = self.objective.kronecker_fn(theta)
        if isinstance(curvature, KroneckerCurvature):  # r, J^T r and J v from the pass that gave the factors
            r, gradient, jvp = curvature.residual, curvature.gradient(), curvature.jvp
            self._update_factors(curvature.blocks)
        else:  # bare Kronecker blocks: differentiate the residual
            r, vjp = torch.func.vjp(residual, theta)
            r = r.detach()
            gradient = vjp(r)[0]
            jvp = functools.partial(jacobian_vector_product, residual, theta)
            self._update_factors(curvature)
        gradient = self.objective.sum(gradient)  # J^T r over all rows (the factors are the solver's, already summed)
        current = float(self.objective.sum(r @ r))
        try:
            direction = -self.precondition(gradient)
        except torch.linalg.LinAlgError:
            self.damping = min(self.damping * 10, self.damping_max)
            self.last_step = {"eta": 0.0, "damping": self.damping}
            return loss
        if self.step_rule == "line_search":
            eta, new = grid_line_search(self.objective.loss, theta, direction, current, self.max_halvings)
            update = eta * direction
            predicted = None
        else:
            update, predicted = self._auto_step(jvp, r, direction)
            with torch.no_grad():
                new = float(self.objective.loss(theta + update))
            eta = 1.0
        accepted = new < current
        if accepted:
            flat.assign(theta + update)
            self.previous = update
            self._rejected = 0
        else:
            self.previous = None
            self._rejected += 1
            if self._rejected >= self.patience:
                self.stop_reason = (f"kfac: {self.patience} consecutive steps did not decrease the loss "
                                    f"(loss {current:.3e}; converged to the resolution of the dtype, or stalled)")
        if predicted is not None:  # Levenberg–Marquardt rule on the reduction ratio
            rho = (new - current) / predicted if predicted < 0 else -1.0
            if rho > 0.75:
                self.damping = max(self.damping * 0.8, self.damping_min)
            elif rho < 0.25:
                self.damping = min(self.damping / 0.8 if accepted else self.damping * 4, self.damping_max)
        else:
            rho = None
            if eta == 1.0:
                self.damping = max(self.damping * 0.8, self.damping_min)
            elif eta == 0.0:
                self.damping = min(self.damping * 4, self.damping_max)
        self.last_step = {"eta": eta if accepted else 0.0, "damping": self.damping, "rho": rho, "loss_after": new}
        return loss

    def _auto_step(self, jvp, r, direction):
        r"""KFAC*: :math:`\alpha\Delta + \mu u` minimising :math:`\|r + J v\|^2 + \lambda\|v\|^2`; returns (v, predicted change)."""
        vectors = [direction] if self.previous is None else [direction, self.previous]
        V = torch.stack(vectors)
        with torch.no_grad():
            JV = jvp(V)  # (k, N)
            JTJ, c = self.objective.ranks.sum_all([JV @ JV.T, JV @ r])
            M = JTJ + self.damping * (V @ V.T)
            try:
                coef = -torch.linalg.solve(M, c)
            except torch.linalg.LinAlgError:
                coef = -torch.linalg.lstsq(M, c[:, None]).solution[:, 0]
            predicted = float(c @ coef)  # the model's change 2c^T x + x^T M x at its minimiser x* = -M^{-1}c
        return coef @ V, predicted

    def state_dict(self):
        factors = None if self.factors is None else [
            {"weight": b.weight, "bias": b.bias, "A": [A for A, _ in b.pairs], "B": [B for _, B in b.pairs]}
            for b in self.factors
        ]
        return {"damping": self.damping, "rejected": self._rejected, "factors": factors, "previous": self.previous}

    def load_state_dict(self, state):
        self.damping, self._rejected = float(state["damping"]), int(state["rejected"])
        self.previous = state["previous"]
        self.factors = None if state["factors"] is None else [
            KroneckerBlock(b["weight"], b["bias"], list(zip(b["A"], b["B"]))) for b in state["factors"]
        ]
