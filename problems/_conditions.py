"""Boundary, initial and periodicity conditions, and hard-constraint ansatz functions.

Values are pointwise callables on torch tensors (or constants). Boundary
values receive the full point (space, then time if the problem has time);
initial values receive the spatial point only. ``where`` restricts a boundary
condition to part of the boundary: a predicate on a NumPy batch of boundary
points, shape ``(N, n)``, returning a boolean mask, e.g.
``where=lambda x: np.isclose(x[:, 0], 0.0)``, or, on a
:class:`~problems.MeshDomain` with boundary tags, the name of a tagged part,
``where="inlet"`` (the solver resolves it with ``domain.boundary_part``).
"""

from __future__ import annotations

import abc
from typing import Callable, Sequence

import torch

from physopt import ProblemDefinitionError

__all__ = [
    "AbstractCondition",
    "Dirichlet",
    "Neumann",
    "Periodic",
    "Initial",
    "HardConstraint",
]

Value = float | Sequence[float] | Callable[[torch.Tensor], torch.Tensor]


def _value_fn(value: Value, what: str) -> Callable[[torch.Tensor], torch.Tensor]:
    if callable(value):
        return value
    try:
        const = torch.as_tensor(value, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        raise ProblemDefinitionError(
            f"{what} value must be a number, a list of numbers or a function of x, got {value!r}"
        ) from None
    if const.ndim > 1:
        raise ProblemDefinitionError(f"{what} value must be a scalar or a vector, got shape {tuple(const.shape)}")

    def fn(x):
        return const.to(dtype=x.dtype, device=x.device)

    return fn


def _check_weight(weight, what):
    if not (isinstance(weight, (int, float)) and weight >= 0):
        raise ProblemDefinitionError(f"{what} weight must be a number >= 0, got {weight!r}")
    return float(weight)


class AbstractCondition(abc.ABC):
    """A condition that adds a loss term (soft) or is built into the ansatz (hard)."""

    kind: str
    weight: float = 1.0

    def __repr__(self):
        return f"{type(self).__name__}()"


class _BoundaryCondition(AbstractCondition):
    def __init__(self, value: Value = 0.0, where=None, weight: float = 1.0):
        self.raw_value = value
        self.value = _value_fn(value, type(self).__name__)
        if where is not None and not callable(where) and not (isinstance(where, str) and where):
            raise ProblemDefinitionError(
                f"{type(self).__name__} `where` must be a function of a (N, n) array of boundary points "
                f"returning a boolean mask, or the name of a tagged boundary part of a MeshDomain, got {where!r}"
            )
        self.where = where
        self.weight = _check_weight(weight, type(self).__name__)

    def __repr__(self):
        part = "" if self.where is None else f", where={self.where!r}" if isinstance(self.where, str) else ", where=..."
        v = self.raw_value if not callable(self.raw_value) else "<function>"
        return f"{type(self).__name__}({v}{part})"


class Dirichlet(_BoundaryCondition):
    r"""Boundary value :math:`u = g` on the boundary (or on the part where ``where`` holds)."""

    kind = "dirichlet"


class Neumann(_BoundaryCondition):
    r"""Normal derivative :math:`\partial u / \partial n = h` (outward normal)."""

    kind = "neumann"


class Periodic(AbstractCondition):
    r"""Periodicity in coordinate ``dim``: :math:`u(\dots, lo, \dots) = u(\dots, hi, \dots)`.

    With ``derivative=True`` the first derivative across the period is matched too.
    Needs a :class:`~problems.Box` domain.
    """

    kind = "periodic"

    def __init__(self, dim: int = 0, derivative: bool = False, weight: float = 1.0):
        if not isinstance(dim, int) or dim < 0:
            raise ProblemDefinitionError(f"Periodic dim must be a coordinate index >= 0, got {dim!r}")
        self.dim = dim
        self.derivative = bool(derivative)
        self.weight = _check_weight(weight, "Periodic")

    def __repr__(self):
        return f"Periodic(dim={self.dim})"


class Initial(AbstractCondition):
    r"""Initial value :math:`u(x, t_0) = u_0(x)`, or :math:`\partial_t^k u(x, t_0) = u_0(x)` with ``order=k``.

    ``value`` receives the *spatial* point ``x`` only.
    """

    kind = "initial"

    def __init__(self, value: Value, order: int = 0, weight: float = 1.0):
        self.raw_value = value
        self.value = _value_fn(value, "Initial")
        if order not in (0, 1, 2):
            raise ProblemDefinitionError(f"Initial order must be 0, 1 or 2, got {order!r}")
        self.order = order
        self.weight = _check_weight(weight, "Initial")

    def __repr__(self):
        v = "<function>" if callable(self.raw_value) else self.raw_value
        return f"Initial({v})" if self.order == 0 else f"Initial({v}, order={self.order})"


class HardConstraint(AbstractCondition):
    r"""Build conditions into the network: :math:`u(x) = \mathrm{ansatz}(x, N(x))`.

    ``ansatz(x, n)`` gets the point and the raw network output there and returns
    ``u``; e.g. ``lambda x, n: x[0] * (1 - x[0]) * n`` for zero boundary values on
    [0, 1]. The conditions named in ``replaces`` are then satisfied exactly and
    get no loss term; every other condition stays a penalty. ``replaces`` holds
    condition kinds (``"dirichlet"``, ``"neumann"``, ``"periodic"``, ``"initial"``)
    and/or condition objects of the problem. The kind ``"initial"`` names the
    initial *values* (``order=0``) only: an ansatz such as
    :math:`u_0(x) + \tau N` does not fix :math:`\partial_t u`, so an ``Initial``
    of order 1 or 2 is built in only when its object is listed.
    """

    kind = "hard"
    KINDS = ("dirichlet", "neumann", "periodic", "initial")

    def __init__(self, ansatz: Callable, replaces: Sequence[str | AbstractCondition] = ("dirichlet", "initial")):
        if not callable(ansatz):
            raise ProblemDefinitionError(f"HardConstraint needs a function ansatz(x, n), got {ansatz!r}")
        if isinstance(replaces, (str, AbstractCondition)):
            replaces = (replaces,)
        replaces = tuple(replaces)
        for r in replaces:
            if isinstance(r, HardConstraint) or not isinstance(r, (str, AbstractCondition)):
                raise ProblemDefinitionError(
                    f"HardConstraint replaces {r!r}: name condition kinds {list(self.KINDS)} or condition objects"
                )
        bad = {r for r in replaces if isinstance(r, str)} - set(self.KINDS)
        if bad:
            raise ProblemDefinitionError(
                f"HardConstraint replaces unknown condition kinds {sorted(bad)}; choose from {sorted(self.KINDS)}"
            )
        self.ansatz = ansatz
        self.replaces = replaces

    def covers(self, condition: AbstractCondition) -> bool:
        """Whether the ansatz satisfies ``condition`` exactly (so it needs no loss term)."""
        if any(condition is r for r in self.replaces):
            return True
        if condition.kind not in self.replaces:
            return False
        return condition.kind != "initial" or condition.order == 0

    def __repr__(self):
        return f"HardConstraint(replaces={self.replaces})"
