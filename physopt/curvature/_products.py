r"""Matrix-free curvature products, batched over many vectors with ``vmap``.

For a residual map :math:`r: \mathbb{R}^P \to \mathbb{R}^N` with Jacobian
:math:`J = \partial r/\partial\theta` and a scalar loss :math:`L`:

- ``jvp``: :math:`J v` (forward mode), ``vjp``: :math:`J^\top u` (reverse mode);
- ``gram_vector_product``: :math:`J^\top J v`, the Gauss–Newton / Gram matrix
  of :math:`L = \|r\|^2` up to the factor 2;
- ``hessian_vector_product``: :math:`\nabla^2 L\, v` (forward-over-reverse).

Every function takes a matrix ``V`` of shape ``(k, P)`` (or one vector
``(P,)``) and returns the products row by row; the ``k`` products share one
linearisation and run as one vectorised computation.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch.func import grad, jvp, vjp, vmap

__all__ = ["jacobian_vector_product", "vector_jacobian_product", "gram_vector_product", "hessian_vector_product"]

Residual = Callable[[torch.Tensor], torch.Tensor]


def _batched(V: torch.Tensor):
    return (V[None], True) if V.ndim == 1 else (V, False)


def jacobian_vector_product(residual: Residual, theta: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    r""":math:`J V^\top` row by row: ``(k, P) -> (k, N)`` (or ``(P,) -> (N,)``)."""
    V, single = _batched(V)
    out = vmap(lambda v: jvp(residual, (theta,), (v,))[1])(V)
    return out[0] if single else out


def vector_jacobian_product(residual: Residual, theta: torch.Tensor, U: torch.Tensor) -> torch.Tensor:
    r""":math:`J^\top u` row by row: ``(k, N) -> (k, P)`` (or ``(N,) -> (P,)``)."""
    U, single = _batched(U)
    _, pullback = vjp(residual, theta)
    out = vmap(lambda u: pullback(u)[0])(U)
    return out[0] if single else out


def gram_vector_product(residual: Residual, theta: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    r""":math:`J^\top J v` row by row: ``(k, P) -> (k, P)``; one pullback shared by all rows."""
    V, single = _batched(V)
    _, pullback = vjp(residual, theta)
    Jv = vmap(lambda v: jvp(residual, (theta,), (v,))[1])(V)
    out = vmap(lambda u: pullback(u)[0])(Jv)
    return out[0] if single else out


def hessian_vector_product(loss: Callable[[torch.Tensor], torch.Tensor], theta: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    r""":math:`\nabla^2 L(\theta)\, v` row by row (forward-over-reverse): ``(k, P) -> (k, P)``."""
    V, single = _batched(V)
    g = grad(loss)
    out = vmap(lambda v: jvp(g, (theta,), (v,))[1])(V)
    return out[0] if single else out
