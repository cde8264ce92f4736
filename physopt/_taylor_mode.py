r"""Taylor mode: exact derivatives of any pointwise field by forward (Taylor) propagation.

Everything is built from directional derivatives along a direction :math:`v`,

.. math::
    D_k(v) = \partial^k u[v, \dots, v] = \frac{d^k}{dt^k} u(x + t v)\Big|_{t=0},

and the mixed second derivative :math:`\partial^2 u[a, b] = a^\top \nabla^2 u\, b`,
each by nested ``torch.func.jvp`` (forward over forward; :math:`2^k` streams for
order :math:`k`), batched over the directions with ``vmap``:

- Laplacian :math:`\Delta u = \sum_{i \in dims} D_2(e_i)`;
- :math:`\operatorname{tr}(A \nabla^2 u) = \sum_i \partial^2 u[e_i, A^\top e_i]`;
- biharmonic by polarisation, :math:`u_{iijj} = [D_4(e_i+e_j) + D_4(e_i-e_j) - 2D_4(e_i) - 2D_4(e_j)]/12`, so
  :math:`\Delta^2 u = (1 - \tfrac{k-1}{3})\sum_i D_4(e_i) + \tfrac16 \sum_{i<j} [D_4(e_i+e_j) + D_4(e_i-e_j)]`
  over :math:`k` coordinates;
- diagonal operators :math:`\sum_i \partial^k u/\partial x_i^k = \sum_i D_k(e_i)`;
- Jacobian and Hessian by ``jacfwd``.

For MLPs, the same quantities come cheaper from the collapsed jets of
:func:`physopt.curvature.forward_laplacian` and
:func:`physopt.curvature.taylor_coefficients` (the shared jet engine
:mod:`physopt._jets`). The Laplacian of an MLP *module* (``laplacian(mlp)``)
takes that path; a problem's field (a PINN's ``ansatz(x, network(x))``) is an
opaque callable and takes the generic one.
"""

from __future__ import annotations

import torch
from torch.func import jacfwd, jvp, vmap

from ._derivative_mode import AbstractDerivativeMode, Field, operator_matrix
from ._network_field import NetworkField

__all__ = ["TaylorMode", "directional_k", "mixed_second", "weighted_sum"]


def _tangent(value: torch.Tensor, tangent: torch.Tensor) -> torch.Tensor:
    # forward AD can promote a tangent past its primal (see ExactMode.directional)
    return tangent.to(value.dtype)


def directional_k(u: Field, x: torch.Tensor, v: torch.Tensor, order: int) -> torch.Tensor:
    r""":math:`\partial^k u[v, \dots, v]` at ``x`` by ``order`` nested jvps (``order`` = 0: ``u(x)``)."""
    f = u
    for _ in range(order):
        f = (lambda g: lambda y: _tangent(*jvp(g, (y,), (v,))))(f)
    return f(x)


def mixed_second(u: Field, x: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    r""":math:`\partial^2 u[a, b] = a^\top \nabla^2 u(x)\, b` by forward over forward."""
    return _tangent(*jvp(lambda y: _tangent(*jvp(u, (y,), (a,))), (x,), (b,)))


def weighted_sum(values: torch.Tensor, weights: torch.Tensor | float) -> torch.Tensor:
    """:math:`\\sum_s w_s\\, values_s` over the first (direction) axis, any trailing output shape."""
    if not torch.is_tensor(weights):
        return values.sum(0) * weights
    return (values * weights.reshape((-1,) + (1,) * (values.ndim - 1))).sum(0)


def unit_vectors(x: torch.Tensor, dims) -> torch.Tensor:
    """Rows :math:`e_i`, ``i`` in ``dims`` (a sequence or an index tensor), shaped ``(len(dims), n)`` like ``x``.

    O(len(dims)·n) memory: no n × n identity is formed (n may be 10⁵ or more).
    """
    index = torch.as_tensor(dims if torch.is_tensor(dims) else list(dims), dtype=torch.long, device=x.device)
    # a comparison, not an in-place scatter: under vmap the index may differ from point to point
    return (index[:, None] == torch.arange(x.shape[-1], device=x.device)).to(x.dtype)


def embedded_rows(V: torch.Tensor, x: torch.Tensor, dims) -> torch.Tensor:
    """Rows ``V`` ``(R, k)`` over the coordinates ``dims`` as ``(R, n)`` rows like ``x`` (zeros elsewhere)."""
    if len(dims) == x.shape[-1] and list(dims) == list(range(x.shape[-1])):
        return V.to(dtype=x.dtype, device=x.device)
    rows = torch.zeros(V.shape[0], x.shape[-1], dtype=x.dtype, device=x.device)
    rows[:, list(dims)] = V.to(dtype=x.dtype, device=x.device)
    return rows


def embedded(x: torch.Tensor, dims: tuple[int, ...], A) -> torch.Tensor:
    """``A`` (k × k over ``dims``) as an n × n matrix on ``x``'s dtype and device (zeros elsewhere)."""
    A = operator_matrix(A, len(dims), x)
    E = unit_vectors(x, dims)
    return E.T @ A @ E


def second_sum(u: Field, x: torch.Tensor, a: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
    r""":math:`\sum_s \partial^2 u[a_s, b_s]` over the rows of ``a`` and ``b`` (``b = a``: :math:`\sum_s D_2(a_s)`)."""
    if b is None:
        return vmap(lambda v: directional_k(u, x, v, 2))(a).sum(0)
    return vmap(lambda p, q: mixed_second(u, x, p, q))(a, b).sum(0)


def biharmonic_directions(x: torch.Tensor, dims: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """Directions and weights of the polarisation formula for :math:`\\Delta^2 u` (module docstring)."""
    E = unit_vectors(x, dims)
    k = len(dims)
    i, j = torch.triu_indices(k, k, 1, device=x.device)
    directions = torch.cat([E, E[i] + E[j], E[i] - E[j]])
    weights = torch.full((directions.shape[0],), 1.0 / 6.0, dtype=x.dtype, device=x.device)
    weights[:k] = 1.0 - (k - 1) / 3.0
    return directions, weights


def _mlp_structure(u):
    """The layer chain of ``u`` if it is a ``physopt.MLP`` or a ``Sequential`` of Linear layers and elementwise
    activations (modules whose forward is exactly that chain), else None."""
    from ._errors import ConfigurationError
    from ._nn import MLP

    if type(u) not in (MLP, torch.nn.Sequential):
        return None
    from .curvature import MLPStructure  # here: physopt.curvature imports the core

    try:
        return MLPStructure(u)
    except ConfigurationError:
        return None


class TaylorMode(AbstractDerivativeMode):
    """Exact derivatives by forward Taylor mode (nested jvp, batched over directions)."""

    name = "taylor"

    def jacobian(self, u):
        return jacfwd(u)

    def hessian(self, u):
        return jacfwd(jacfwd(u))

    def directional(self, u, v):
        def du(x):
            return directional_k(u, x, v.to(dtype=x.dtype, device=x.device), 1)

        return du

    def laplacian(self, u, dims):
        if isinstance(u, NetworkField) and u.collapsible:  # a solver's network through its ansatz
            return lambda x: u.second_sum(x, unit_vectors(x, dims))
        structure = _mlp_structure(u)
        if structure is not None:  # an MLP module itself: the collapsed forward Laplacian (the MLP jets' layer walk)
            def lap(x):
                params = dict(u.named_parameters())
                return structure.forward_laplacian(params, x[None], unit_vectors(x, dims))[2][0]

            return lap
        return lambda x: second_sum(u, x, unit_vectors(x, dims))

    def trace_hessian(self, u, A, dims):
        def op(x):
            E = unit_vectors(x, dims)
            return second_sum(u, x, E, E @ embedded(x, dims, A))  # rows A[i, :] = A^T e_i

        return op

    def biharmonic(self, u, dims):
        def op(x):
            directions, weights = biharmonic_directions(x, dims)
            return weighted_sum(vmap(lambda v: directional_k(u, x, v, 4))(directions), weights)

        return op

    def diagonal(self, u, order, dims):
        return lambda x: vmap(lambda v: directional_k(u, x, v, order))(unit_vectors(x, dims)).sum(0)
