"""Pointwise differential operators.

Each operator takes a field ``u`` — a function of *one* point ``x`` (shape
``(n,)``) returning a scalar ``()`` or a vector ``(m,)`` — and returns another
such function, so operators compose: ``laplacian(u)(x)``,
``divergence(grad(u))(x)``. Engines ``vmap`` them over points; results are
differentiable with respect to any parameters ``u`` closes over.

Spatial operators (``grad``, ``jacobian``, ``hessian``, ``laplacian``,
``divergence``, ``biharmonic``) act on the spatial coordinates — all of them,
unless a time-dependent problem declares the last coordinate to be time (see
:mod:`physopt._coordinates`); pass ``dims=`` to choose coordinates explicitly.
``partial`` takes raw coordinate indices. How derivatives are computed is the
current derivative mode's business (:mod:`physopt._derivative_mode`).
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch

from ._coordinates import space_dims_for, time_index_for
from ._derivative_mode import current_derivative_mode
from ._errors import ProblemDefinitionError

__all__ = [
    "grad",
    "jacobian",
    "hessian",
    "laplacian",
    "divergence",
    "partial",
    "time_derivative",
    "directional_derivative",
    "biharmonic",
    "trace_hessian",
    "diagonal_derivative",
]

Field = Callable[[torch.Tensor], torch.Tensor]


def _check_call(op: str, u, dims=None) -> None:
    """Refuse the call forms of other libraries: the field's value instead of the field, the point as ``dims``."""
    if not callable(u):
        raise ProblemDefinitionError(
            f"{op} takes the field u, not its value u(x) (got a {type(u).__name__}): write {op}(u)(x)"
        )
    if torch.is_tensor(dims) and dims.is_floating_point():
        raise ProblemDefinitionError(
            f"{op}(u, x) passes the point as `dims`: operators return a function of the point, write {op}(u)(x) "
            f"(dims= takes coordinate indices, e.g. {op}(u, dims=(0, 1))(x))"
        )


def _check_point(x: torch.Tensor) -> None:
    if x.ndim != 1:
        raise ValueError(
            f"operators act on one point at a time (shape (n,)), got shape {tuple(x.shape)}; "
            "evaluate many points with torch.func.vmap"
        )


def _dims(x: torch.Tensor, dims: Sequence[int] | None) -> tuple[int, ...]:
    _check_point(x)
    n = x.shape[0]
    if dims is None:
        return space_dims_for(n)
    dims = tuple(int(d) for d in dims)
    for d in dims:
        if not -n <= d < n:
            raise IndexError(f"coordinate index {d} out of range for a point with {n} coordinates")
    return tuple(d % n for d in dims)


def _select_last(t: torch.Tensor, dims: tuple[int, ...], n: int) -> torch.Tensor:
    if dims == tuple(range(n)):
        return t
    return t.index_select(-1, torch.as_tensor(dims, device=t.device))


def jacobian(u: Field, dims: Sequence[int] | None = None) -> Field:
    r"""Jacobian :math:`J_{ij} = \partial u_i/\partial x_j`; shape ``out + (len(dims),)``."""
    _check_call("jacobian", u, dims=dims)

    def jac(x):
        d = _dims(x, dims)
        return _select_last(current_derivative_mode().jacobian(u)(x), d, x.shape[0])

    return jac


def grad(u: Field, dims: Sequence[int] | None = None) -> Field:
    r"""Gradient :math:`\nabla u`; for a vector field this is the Jacobian (rows = components)."""
    _check_call("grad", u, dims=dims)
    return jacobian(u, dims)


def hessian(u: Field, dims: Sequence[int] | None = None) -> Field:
    r"""Hessian :math:`H_{jk} = \partial^2 u/\partial x_j \partial x_k`; shape ``out + (k, k)``."""
    _check_call("hessian", u, dims=dims)

    def hess(x):
        d = _dims(x, dims)
        h = current_derivative_mode().hessian(u)(x)
        n = x.shape[0]
        h = _select_last(h, d, n)
        return _select_last(h.transpose(-1, -2), d, n).transpose(-1, -2)

    return hess


def laplacian(u: Field, dims: Sequence[int] | None = None) -> Field:
    r"""Laplacian :math:`\Delta u = \sum_i \partial^2 u/\partial x_i^2` (componentwise for vectors)."""
    _check_call("laplacian", u, dims=dims)

    def lap(x):
        return current_derivative_mode().laplacian(u, _dims(x, dims))(x)

    return lap


def divergence(u: Field, dims: Sequence[int] | None = None) -> Field:
    r"""Divergence :math:`\nabla\cdot u = \sum_i \partial u_i/\partial x_i` of a vector field."""
    _check_call("divergence", u, dims=dims)

    def div(x):
        d = _dims(x, dims)
        j = jacobian(u, d)(x)
        if j.ndim != 2 or j.shape[0] != len(d):
            raise ValueError(
                f"divergence needs a vector field with {len(d)} components (one per spatial "
                f"coordinate); its Jacobian has shape {tuple(j.shape)}"
            )
        return torch.diagonal(j).sum()

    return div


def directional_derivative(u: Field, v: torch.Tensor | Sequence[float], order: int = 1) -> Field:
    r"""``order``-th derivative along ``v``: :math:`\partial^k u[v, \dots, v]` (nested forward mode)."""
    _check_call("directional_derivative", u)
    if torch.is_tensor(order) or not isinstance(order, int) or order < 0:
        got = "a tensor" if torch.is_tensor(order) else repr(order)
        raise ProblemDefinitionError(f"directional_derivative order must be a whole number >= 0, got {got}")
    v = torch.as_tensor(v)

    def dv(x):
        _check_point(x)
        f = u
        mode = current_derivative_mode()
        for _ in range(order):
            f = mode.directional(f, v)
        return f(x)

    return dv


def partial(u: Field, *index: int) -> Field:
    r"""Mixed partial :math:`\partial^{|\alpha|} u / \partial x_{i_1} \cdots \partial x_{i_k}`.

    ``partial(u, 0, 0, 1)`` is :math:`u_{x_0 x_0 x_1}`; indices are raw coordinate
    indices (time included, if any).
    """
    _check_call("partial", u)
    if len(index) == 1 and isinstance(index[0], (tuple, list)):
        index = tuple(index[0])
    if any(torch.is_tensor(i) or isinstance(i, bool) or not isinstance(i, int) for i in index):
        got = ", ".join("a tensor" if torch.is_tensor(i) else repr(i) for i in index)
        raise ProblemDefinitionError(
            f"partial(u, *index) takes coordinate indices (whole numbers), got {got}: "
            "write partial(u, 0)(x) for du/dx0, partial(u, 0, 1)(x) for d2u/dx0dx1"
        )
    if not index:
        return u

    def d(x):
        _check_point(x)
        n = x.shape[-1]
        f = u
        mode = current_derivative_mode()
        for i in index:
            i = int(i)
            if not -n <= i < n:
                raise IndexError(f"partial index {i} out of range for a point with {n} coordinates")
            e = torch.zeros(n, dtype=x.dtype, device=x.device)
            e[i] = 1.0
            f = mode.directional(f, e)
        return f(x)

    return d


def time_derivative(u: Field, order: int = 1) -> Field:
    r"""Time derivative :math:`\partial^k u / \partial t^k`; time is the last coordinate."""
    _check_call("time_derivative", u)
    if torch.is_tensor(order) or isinstance(order, bool) or not isinstance(order, int) or order < 0:
        raise ProblemDefinitionError(
            f"time_derivative(u, order) takes the order (a whole number >= 0), got "
            f"{'a tensor' if torch.is_tensor(order) else repr(order)}: write time_derivative(u)(x) "
            "or time_derivative(u, 2)(x)"
        )

    def dt(x):
        _check_point(x)
        t = time_index_for(x.shape[-1])
        return partial(u, *([t] * order))(x)

    return dt


def biharmonic(u: Field, dims: Sequence[int] | None = None) -> Field:
    r"""Biharmonic :math:`\Delta^2 u = \sum_{i,j} \partial^4 u / \partial x_i^2 \partial x_j^2`.

    exact: nested Laplacians; taylor: fourth directional derivatives by
    polarisation; stde: :math:`\frac{1}{3S}\sum_s \partial^4 u[v_s, v_s, v_s, v_s]`, :math:`v_s \sim N(0, I)`.
    """
    _check_call("biharmonic", u, dims=dims)

    def bih(x):
        return current_derivative_mode().biharmonic(u, _dims(x, dims))(x)

    return bih


def trace_hessian(u: Field, A, dims: Sequence[int] | None = None) -> Field:
    r"""General second-order operator :math:`\operatorname{tr}(A \nabla^2 u) = \sum_{ij} A_{ij}\, \partial^2 u/\partial x_i \partial x_j`.

    ``A`` is a ``k × k`` matrix (tensor or nested lists) over the ``k`` coordinates
    ``dims`` (default: the spatial ones); ``A = I`` gives the Laplacian.
    """
    _check_call("trace_hessian", u, dims=dims)

    def op(x):
        return current_derivative_mode().trace_hessian(u, A, _dims(x, dims))(x)

    return op


def diagonal_derivative(u: Field, order: int, dims: Sequence[int] | None = None) -> Field:
    r"""Diagonal operator :math:`\sum_{i \in dims} \partial^k u / \partial x_i^k` (``order`` = k; k = 2: the Laplacian)."""
    _check_call("diagonal_derivative", u, dims=dims)
    if torch.is_tensor(order) or isinstance(order, bool) or not isinstance(order, int) or order < 0:
        raise ProblemDefinitionError(f"diagonal_derivative order must be a whole number >= 0, got {order!r}")

    def op(x):
        return current_derivative_mode().diagonal(u, order, _dims(x, dims))(x)

    return op
