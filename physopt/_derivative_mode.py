"""Derivative modes: how the pointwise differential operators are computed.

A problem never names a mode; the solver run selects one with
:func:`derivative_mode`, and every operator (grad, laplacian, ...)
asks :func:`current_derivative_mode` for the primitives it needs. "exact"
(torch.func reverse mode: Jacobians, Hessians and partials) is the default;
"taylor" (:mod:`physopt._taylor_mode`: exact, forward Taylor mode) and "stde"
(:mod:`physopt._stde`: stochastic Taylor derivative estimators) are further
subclasses of :class:`AbstractDerivativeMode`.
"""

from __future__ import annotations

import abc
import contextlib
import contextvars
from typing import Callable

import torch
from torch.func import jacrev, vjp

from ._errors import ConfigurationError

__all__ = [
    "AbstractDerivativeMode",
    "ExactMode",
    "TaylorMode",
    "STDEMode",
    "derivative_mode",
    "current_derivative_mode",
    "get_derivative_mode",
    "available_derivative_modes",
]

Field = Callable[[torch.Tensor], torch.Tensor]


class AbstractDerivativeMode(abc.ABC):
    """Computes derivatives of a pointwise field u: R^n -> R^{out} at one point.

    Every method returns a new pointwise callable. dims are coordinate
    indices; results keep u's output shape in front.
    """

    name: str = "abstract"

    @abc.abstractmethod
    def jacobian(self, u: Field) -> Field:
        r"""x -> \partial u / \partial x, shape out + (n,)."""

    @abc.abstractmethod
    def hessian(self, u: Field) -> Field:
        r"""x -> \partial^2 u / \partial x^2, shape out + (n, n)."""

    @abc.abstractmethod
    def directional(self, u: Field, v: torch.Tensor) -> Field:
        r"""x -> \nabla u(x) \cdot v (one directional derivative), shape out."""

    @abc.abstractmethod
    def laplacian(self, u: Field, dims: tuple[int, ...]) -> Field:
        r"""x -> \sum_{i \in dims} \partial^2 u / \partial x_i^2, shape out."""

    # ----- operators with a generic form (a mode may compute them its own way) -----------
    stochastic: bool = False  # whether operators are estimates (drawn afresh on resample())
    randomness: str = "error"  # what a vmap over points must allow (torch.func.vmap's randomness)

    @classmethod
    def from_options(cls, options=None) -> "AbstractDerivativeMode":
        """The mode configured from a solver's options (attributes it does not read are ignored)."""
        return cls()

    def resample(self) -> None:
        """Draw fresh random directions for the next evaluation (a no-op for deterministic modes)."""

    def trace_hessian(self, u: Field, A, dims: tuple[int, ...]) -> Field:
        r"""x -> :math:`\operatorname{tr}(A \nabla^2 u) = \sum_{ij} A_{ij} u_{x_j x_i}` over ``dims`` (A is k × k)."""
        hess = self.hessian(u)

        def op(x):
            index = torch.as_tensor(list(dims), device=x.device)
            h = hess(x).index_select(-1, index).index_select(-2, index)
            return (operator_matrix(A, len(dims), h).T * h).sum((-1, -2))

        return op

    def biharmonic(self, u: Field, dims: tuple[int, ...]) -> Field:
        r"""x -> :math:`\Delta^2 u = \sum_{i,j \in dims} u_{x_i x_i x_j x_j}` (nested Laplacians)."""
        return self.laplacian(self.laplacian(u, dims), dims)

    def diagonal(self, u: Field, order: int, dims: tuple[int, ...]) -> Field:
        r"""x -> :math:`\sum_{i \in dims} \partial^k u / \partial x_i^k` (nested directional derivatives)."""

        def op(x):
            total = 0
            for i in dims:
                e = torch.zeros(x.shape[-1], dtype=x.dtype, device=x.device)
                e[i] = 1.0
                f = u
                for _ in range(order):
                    f = self.directional(f, e)
                total = total + f(x)
            return total

        return op

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def operator_matrix(A, k: int, like: torch.Tensor) -> torch.Tensor:
    """The matrix of tr(A ∇²u) as a k × k tensor on ``like``'s dtype and device (a clear error otherwise)."""
    A = torch.as_tensor(A, dtype=like.dtype, device=like.device)
    if A.shape != (k, k):
        raise ValueError(f"the operator's matrix must be {k} x {k} (one row per coordinate in dims), got {tuple(A.shape)}")
    return A


class ExactMode(AbstractDerivativeMode):
    """Exact derivatives on torch.func (reverse mode)."""

    name = "exact"

    def jacobian(self, u):
        return jacrev(u)

    def hessian(self, u):
        # reverse-over-reverse: under vmap on CPU it measured 1.05-1.4x faster than
        # jacfwd(jacrev) for small PINN networks (benchmarks/derivatives.py)
        return jacrev(jacrev(u))

    def directional(self, u, v):
        r""":math:`J v` (:math:`J = \partial u/\partial x`) in reverse mode only: for a scalar field
        :math:`\nabla u \cdot v` is one vector–Jacobian product; for a vector field :math:`J v` is the gradient
        in :math:`w` of the linear map :math:`w \mapsto w^\top J v`, a second vector–Jacobian product.

        Forward AD (``jvp``) gives the parameters zero tangents, and in torch 2.13 on the CPU every ``add``
        of one (a bias) then runs through Python decompositions. Measured with the backward pass to the
        parameters (``benchmarks/derivatives.py``, 1024 points under vmap), nested jvp against this:
        1.3–2.2× slower for ∂u/∂x and 1.7–2.1× for ∂²u/∂x² (scalar fields), 1.2–2.0× and 1.3–1.6× (three outputs).
        """
        def du(x):
            v_x = v.to(dtype=x.dtype, device=x.device)
            value, pull = vjp(u, x)
            if value.numel() == 1:
                tangent = (pull(torch.ones_like(value))[0] @ v_x).reshape(value.shape)
            else:
                _, pull_jv = vjp(lambda w: pull(w)[0] @ v_x, torch.zeros_like(value))
                tangent = pull_jv(torch.ones((), dtype=x.dtype, device=x.device))[0]
            return tangent.to(value.dtype)

        return du

    def laplacian(self, u, dims):
        hess = jacrev(jacrev(u))

        def lap(x):
            h = hess(x)  # out + (n, n)
            diag = torch.diagonal(h, dim1=-2, dim2=-1)
            if len(dims) == x.shape[-1]:
                return diag.sum(-1)
            return diag.index_select(-1, torch.as_tensor(list(dims), device=x.device)).sum(-1)

        return lap


_MODES: dict[str, type[AbstractDerivativeMode]] = {"exact": ExactMode}


def available_derivative_modes() -> dict[str, str]:
    """Names of the derivative modes, with a one-line description."""
    return {name: (cls.__doc__ or "").strip().splitlines()[0] for name, cls in _MODES.items()}


def get_derivative_mode(mode: str | AbstractDerivativeMode, options=None) -> AbstractDerivativeMode:
    """Resolve a mode name (or instance) to a mode instance, with a clear error.

    ``options`` (a solver's options, e.g. ``samples`` and ``stde_*`` for "stde")
    configure a named mode; an instance is returned as it is.
    """
    if isinstance(mode, AbstractDerivativeMode):
        return mode
    if mode in _MODES:
        return _MODES[mode].from_options(options)
    raise ConfigurationError(
        f"unknown derivative mode '{mode}'; choose one of: {', '.join(sorted(_MODES))}"
    )


_CURRENT: contextvars.ContextVar[AbstractDerivativeMode] = contextvars.ContextVar(
    "physopt_derivative_mode", default=ExactMode()
)


def current_derivative_mode() -> AbstractDerivativeMode:
    """The mode the operators use right now (exact unless a block says otherwise)."""
    return _CURRENT.get()


@contextlib.contextmanager
def derivative_mode(mode: str | AbstractDerivativeMode):
    """Compute all operators inside the block with mode."""
    token = _CURRENT.set(get_derivative_mode(mode))
    try:
        yield
    finally:
        _CURRENT.reset(token)


from ._taylor_mode import TaylorMode  # noqa: E402  (they subclass AbstractDerivativeMode)
from ._stde import STDEMode  # noqa: E402

_MODES.update({"taylor": TaylorMode, "stde": STDEMode})
