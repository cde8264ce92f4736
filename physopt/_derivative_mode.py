"""Derivative modes: how the pointwise differential operators are computed.

A problem never names a mode; the solver run selects one with
:func:`derivative_mode`, and every operator (grad, laplacian, ...)
asks :func:`current_derivative_mode` for the primitives it needs. "exact"
(torch.func: reverse mode for first and second derivatives, nested forward
mode for higher partials) is the default. Taylor-mode
and stochastic (STDE) modes register here as further subclasses of
:class:`AbstractDerivativeMode`.
"""

from __future__ import annotations

import abc
import contextlib
import contextvars
from typing import Callable

import torch
from torch.func import jacrev, jvp

from ._errors import ConfigurationError, NotImplementedYet

__all__ = [
    "AbstractDerivativeMode",
    "ExactMode",
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

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class ExactMode(AbstractDerivativeMode):
    """Exact derivatives on torch.func (reverse mode; nested forward mode for partials)."""

    name = "exact"

    def jacobian(self, u):
        return jacrev(u)

    def hessian(self, u):
        # reverse-over-reverse: under vmap on CPU it measured 1.05-1.4x faster than
        # jacfwd(jacrev) for small PINN networks (benchmarks/derivatives.py)
        return jacrev(jacrev(u))

    def directional(self, u, v):
        def du(x):
            value, tangent = jvp(u, (x,), (v.to(dtype=x.dtype, device=x.device),))
            # forward AD can promote a tangent past its primal: in torch 2.13, jvp of
            # torch.sin(torch.pi * x[0]) at a float32 point gives a float64 tangent
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
_PLANNED = {
    "taylor": "Taylor mode (jets, forward Laplacian)",
    "stde": "stochastic Taylor derivative estimators",
}


def available_derivative_modes() -> dict[str, str]:
    """Names of the derivative modes, with a one-line description (planned ones marked)."""
    out = {name: (cls.__doc__ or "").strip().splitlines()[0] for name, cls in _MODES.items()}
    for name, text in _PLANNED.items():
        out.setdefault(name, f"{text} — not implemented yet")
    return out


def get_derivative_mode(mode: str | AbstractDerivativeMode) -> AbstractDerivativeMode:
    """Resolve a mode name (or instance) to a mode instance, with a clear error."""
    if isinstance(mode, AbstractDerivativeMode):
        return mode
    if mode in _MODES:
        return _MODES[mode]()
    if mode in _PLANNED:
        raise NotImplementedYet(
            f"derivative mode '{mode}' ({_PLANNED[mode]}) is not implemented yet; "
            f"use one of: {', '.join(sorted(_MODES))}"
        )
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
