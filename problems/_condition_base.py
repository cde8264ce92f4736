"""The condition contract: what every condition of a problem knows about itself.

A condition owns its mathematics, so a solver handles every condition alike:

- :meth:`AbstractCondition.sample` draws the points it is imposed at, as named
  arrays (``points``, and e.g. ``normals`` or ``partner``), from a
  :class:`PointSampler` the solver hands it;
- :meth:`AbstractCondition.residual` is its residual at one point, given the
  pointwise field and one row of each of those arrays, in their order;
- :attr:`AbstractCondition.derivative_order` is the highest derivative of the
  field the residual takes at its first point (``None``: it looks at other
  points too), what derivative-carrying evaluations (MLP jets) need;
- :attr:`AbstractCondition.term_name` names its loss term;
- :meth:`AbstractCondition.validate` checks it against the problem, and
  :meth:`AbstractCondition.pointwise_values` lists the user functions whose
  shapes the problem checks at one point.
"""

from __future__ import annotations

import abc
import dataclasses
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np
import torch

from physopt import ProblemDefinitionError

if TYPE_CHECKING:  # pragma: no cover
    from ._problem import Problem

__all__ = ["AbstractCondition", "PointSampler", "Value", "CONDITION_KINDS", "term_names"]

Value = float | Sequence[float] | Callable[[torch.Tensor], torch.Tensor]

# condition kind -> class, filled as condition classes are defined (HardConstraint's kind names)
CONDITION_KINDS: dict[str, type] = {}


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


def _shown(raw) -> str:
    return "<function>" if callable(raw) else repr(raw)


@dataclasses.dataclass
class PointSampler:
    """What a condition draws its points with: the solver's sampling, one call at a time.

    Attributes:
        count: how many points a condition gets (the PINN's ``boundary_points``).
        space_time: ``space_time(n, n_unit, mapper)`` draws ``n`` points of the unit
            cube of dimension ``n_unit`` (plus one for time when the problem has
            time), maps the spatial part with ``mapper`` (which returns an array
            or a tuple of arrays, e.g. points and normals) and appends the time
            column to the first; returns the tuple.
        unit_cube: ``unit_cube(n, dim)`` draws ``n`` points of :math:`[0, 1]^{dim}`.
    """

    count: int
    space_time: Callable[[int, int, Callable], tuple[np.ndarray, ...]]
    unit_cube: Callable[[int, int], np.ndarray]


class AbstractCondition(abc.ABC):
    """A condition that adds a loss term (soft) or is built into the ansatz (hard).

    A penalty condition implements :meth:`sample` and :meth:`residual` and sets
    :attr:`derivative_order`; see the module docstring for the contract.
    """

    kind: str
    weight: float = 1.0
    #: highest derivative order of the field the residual takes at its first point; None: it looks elsewhere too
    derivative_order: int | None = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        kind = cls.__dict__.get("kind")
        if isinstance(kind, str) and kind != "hard":
            CONDITION_KINDS.setdefault(kind, cls)

    @property
    def term_name(self) -> str:
        """Base name of the loss term (a solver appends ``_2``, ``_3``, … to repeats)."""
        return self.kind

    @property
    def named_by_kind(self) -> bool:
        """Whether naming its kind or class in ``HardConstraint.replaces`` covers it (else only the object does)."""
        return True

    def sample(self, problem: Problem, sampler: PointSampler) -> dict[str, np.ndarray]:
        """The points it is imposed at: named arrays with one row per point, passed to :meth:`residual` in order."""
        raise ProblemDefinitionError(f"{self!r} adds no loss term")

    def residual(self, u, x: torch.Tensor, *point_args: torch.Tensor) -> torch.Tensor:
        """The residual at one point ``x`` (rows of the other sampled arrays follow), for the pointwise field ``u``."""
        raise ProblemDefinitionError(f"{self!r} adds no loss term")

    def validate(self, problem: Problem) -> None:
        """Raise :class:`ProblemDefinitionError` when the condition does not fit ``problem``."""

    def pointwise_values(self) -> list[tuple[str, Callable, object, bool]]:
        """``(label, fn of the full point, raw value, spatial)`` of each user value to check at one point.

        ``spatial``: the raw value is a function of the spatial point only.
        """
        return []

    def __repr__(self):
        return f"{type(self).__name__}()"


def term_names(conditions: Sequence[AbstractCondition]) -> list[str]:
    """Loss-term names of penalty conditions: each one's :attr:`~AbstractCondition.term_name`, then ``_2``, ``_3``, …."""
    names, counts = [], {}
    for c in conditions:
        base = c.term_name
        counts[base] = counts.get(base, 0) + 1
        names.append(base if counts[base] == 1 else f"{base}_{counts[base]}")
    return names
