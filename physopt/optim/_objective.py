r"""Least-squares objectives: what second-order optimizers need from a solver.

A solver describes its loss as :math:`L(\theta) = \|r(\theta)\|_2^2` with a
residual vector :math:`r: \mathbb{R}^P \to \mathbb{R}^N` (each PINN term
scaled by :math:`\sqrt{w/N_{term}}`), evaluated at a flat parameter vector.
Gauss–Newton, energy natural gradient and Levenberg–Marquardt work on
:math:`r` and its Jacobian; Hessian-based methods on :math:`L`.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import torch

from ..curvature import FlatParameters, residual_jacobian
from ..distributed import SINGLE, Ranks

__all__ = ["LeastSquaresObjective"]


@dataclasses.dataclass
class LeastSquaresObjective:
    """``residual(theta) -> r`` over the parameters ``flat`` of a module; loss ``= ||r||^2``."""

    flat: FlatParameters
    residual: Callable[[torch.Tensor], torch.Tensor]
    groups: Callable[[torch.Tensor], dict[str, torch.Tensor]] | None = None  # named parts of r (for MultiAdam)
    jacobian_fn: Callable[[torch.Tensor], torch.Tensor] | None = None  # fast dense J, if the solver has one
    # K-FAC: per linear layer, Kronecker pairs (A, B) whose sum B_1⊗A_1 + B_2⊗A_2 approximates its Gram block —
    # a list of KroneckerBlock, or a KroneckerCurvature that also carries r, J^T r and J v from the same pass
    kronecker_fn: Callable[[torch.Tensor], object] | None = None
    # r(theta) as a value (no graph), e.g. remembered from the loss evaluation the training loop just made
    value_fn: Callable[[torch.Tensor], torch.Tensor] | None = None
    # the processes of a data-parallel run: r holds this rank's rows, and sums over rows (the loss,
    # J^T J, J^T r, ||r + J d||^2) are completed by ``sum`` across the ranks
    ranks: Ranks = SINGLE

    def sum(self, partial: torch.Tensor) -> torch.Tensor:
        """A sum over residual rows, completed across the ranks of a data-parallel run (one process: itself)."""
        return self.ranks.sum(partial)

    @torch.no_grad()
    def value(self, theta: torch.Tensor) -> torch.Tensor:
        """:math:`r(\theta)` without a graph: the solver's remembered value where it has one, else computed."""
        return self.value_fn(theta) if self.value_fn is not None else self.residual(theta)

    def jacobian(self, theta: torch.Tensor) -> torch.Tensor:
        """Dense :math:`J = \\partial r/\\partial\\theta`, ``(N, P)``: the solver's own, else reverse mode."""
        if self.jacobian_fn is not None:
            return self.jacobian_fn(theta)
        return residual_jacobian(self.residual, theta)

    def loss(self, theta: torch.Tensor) -> torch.Tensor:
        r""":math:`\|r(\theta)\|^2` over all rows (all ranks)."""
        r = self.residual(theta)
        return self.sum(r @ r)
