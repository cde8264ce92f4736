r"""Dense curvature matrices for small problems: residual Jacobians, Gram and kernel matrices.

With :math:`J \in \mathbb{R}^{N\times P}` the Jacobian of the residuals,
the Gram (Gauss–Newton) matrix is :math:`G = J^\top J \in \mathbb{R}^{P\times P}`
and the kernel matrix is :math:`K = J J^\top \in \mathbb{R}^{N\times N}`: the
cheaper one to form and factor when points are fewer than parameters
(Woodbury: :math:`J^\top (JJ^\top + \lambda I)^{-1} = (J^\top J + \lambda I)^{-1} J^\top`).
"""

from __future__ import annotations

from typing import Callable

import torch
from torch.func import jacrev, vmap

__all__ = ["residual_jacobian", "per_point_jacobian", "gram_matrix", "kernel_matrix"]


def residual_jacobian(residual: Callable[[torch.Tensor], torch.Tensor], theta: torch.Tensor) -> torch.Tensor:
    r"""Dense :math:`J = \partial r/\partial\theta`, shape ``(N, P)`` (reverse mode, one vmapped pullback per row)."""
    return jacrev(residual)(theta)


def per_point_jacobian(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], theta: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    r"""Per-point gradients :math:`\partial f(\theta, x_i)/\partial\theta` of a pointwise scalar ``fn``, shape ``(N, P)``."""
    return vmap(jacrev(fn), in_dims=(None, 0))(theta, points)


def gram_matrix(J: torch.Tensor) -> torch.Tensor:
    r""":math:`G = J^\top J`, shape ``(P, P)``."""
    return J.T @ J


def kernel_matrix(J: torch.Tensor) -> torch.Tensor:
    r""":math:`K = J J^\top`, shape ``(N, N)``."""
    return J @ J.T
