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
from scipy.linalg import blas
from torch.func import jacrev, vmap

__all__ = ["residual_jacobian", "per_point_jacobian", "gram_matrix", "kernel_matrix"]


def residual_jacobian(residual: Callable[[torch.Tensor], torch.Tensor], theta: torch.Tensor) -> torch.Tensor:
    r"""Dense :math:`J = \partial r/\partial\theta`, shape ``(N, P)`` (reverse mode, one vmapped pullback per row)."""
    return jacrev(residual)(theta)


def per_point_jacobian(fn: Callable[..., torch.Tensor], theta: torch.Tensor, *points: torch.Tensor,
                       scale: float = 1.0) -> torch.Tensor:
    r"""Per-point parameter Jacobians :math:`s\,\partial f(\theta, x_i, y_i, \dots)/\partial\theta` of a pointwise ``fn``.

    ``fn(theta, x, y, ...)`` sees one point of each of ``points`` (tensors with the same first
    dimension N: coordinates, normals, partner points, ...). The shape is ``(N, *out, P)``,
    ``out`` the shape of ``fn``'s value: ``(N, P)`` for a scalar ``fn``. Reverse mode per point,
    batched over points with ``vmap``: linear in N, where ``jacrev`` of the whole vmapped
    residual would be quadratic.
    """
    return vmap(jacrev(fn), in_dims=(None,) + (0,) * len(points))(theta, *points) * scale


def _symmetric_product(A: torch.Tensor) -> torch.Tensor | None:
    r""":math:`A^\top A` by BLAS ``syrk`` (one triangle: ~1.5x faster than a matmul when A has more rows than
    columns), for a CPU float32/float64 tensor outside autograd; ``None`` where it does not apply."""
    if A.device.type != "cpu" or A.dtype not in (torch.float32, torch.float64) or A.requires_grad or A.shape[0] < A.shape[1]:
        return None
    a = A.numpy()  # a view; BLAS needs Fortran order, so a C-ordered A is passed as A^T (`trans=0`: a.T a)
    if a.flags.f_contiguous:
        trans = 1
    elif a.flags.c_contiguous:
        a, trans = a.T, 0
    else:
        return None
    syrk = blas.dsyrk if A.dtype == torch.float64 else blas.ssyrk
    upper = torch.from_numpy(syrk(1.0, a, trans=trans, lower=0))  # upper triangle, zeros below
    return upper.add_(upper.triu(1).T)


def _symmetrized(M: torch.Tensor) -> torch.Tensor:
    r""":math:`(M + M^\top)/2`: exactly symmetric (BLAS does not promise a bitwise-symmetric :math:`A A^\top`)."""
    return 0.5 * (M + M.T)


def gram_matrix(J: torch.Tensor) -> torch.Tensor:
    r""":math:`G = J^\top J`, shape ``(P, P)`` (BLAS ``syrk`` on CPU when :math:`N \ge P`)."""
    G = _symmetric_product(J)
    return _symmetrized(J.T @ J) if G is None else G


def kernel_matrix(J: torch.Tensor) -> torch.Tensor:
    r""":math:`K = J J^\top`, shape ``(N, N)`` (BLAS ``syrk`` on CPU when :math:`P \ge N`)."""
    K = _symmetric_product(J.T)
    return _symmetrized(J @ J.T) if K is None else K
