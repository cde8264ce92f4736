"""Boundary, initial and periodicity conditions, and hard-constraint ansatz functions.

Values are pointwise callables on torch tensors (or constants). Boundary
values receive the full point (space, then time if the problem has time);
initial values receive the spatial point only. ``where`` restricts a boundary
condition to part of the boundary: a predicate on a NumPy batch of boundary
points, shape ``(N, n)``, returning a boolean mask, e.g.
``where=lambda x: np.isclose(x[:, 0], 0.0)``, or, on a
:class:`~problems.MeshDomain` with boundary tags, the name of a tagged part,
``where="inlet"`` (resolved with ``domain.boundary_part`` when sampling).

Every condition owns its mathematics (:mod:`problems._condition_base`): the
points it is imposed at, its pointwise residual, its loss-term name and its
checks; solvers treat all conditions alike.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch

from physopt import ConfigurationError, ProblemDefinitionError, partial, time_derivative

from ._condition_base import (
    CONDITION_KINDS,
    AbstractCondition,
    PointSampler,
    Value,
    _check_weight,
    _value_fn,
    term_names,
)
from ._condition_boundary import Dirichlet, Neumann, Robin
from ._domain import Box

__all__ = [
    "AbstractCondition",
    "PointSampler",
    "Dirichlet",
    "Neumann",
    "Robin",
    "Periodic",
    "Initial",
    "HardConstraint",
    "automatic_ansatz",
    "term_names",
]


class Periodic(AbstractCondition):
    r"""Periodicity in coordinate ``dim``: :math:`u(\dots, lo, \dots) = u(\dots, hi, \dots)`.

    With ``derivative=True`` the first derivative across the period is matched too.
    Needs a :class:`~problems.Box` domain.
    """

    kind = "periodic"
    derivative_order = None  # compares two points

    def __init__(self, dim: int = 0, derivative: bool = False, weight: float = 1.0):
        if not isinstance(dim, int) or dim < 0:
            raise ProblemDefinitionError(f"Periodic dim must be a coordinate index >= 0, got {dim!r}")
        self.dim = dim
        self.derivative = bool(derivative)
        self.weight = _check_weight(weight, "Periodic")

    def validate(self, problem) -> None:
        if self.dim >= problem.n_space:
            raise ProblemDefinitionError(
                f"problem '{problem.problem_name}': Periodic(dim={self.dim}) but the domain has {problem.n_space} dimension(s)"
            )

    def sample(self, problem, sampler: PointSampler) -> dict[str, np.ndarray]:
        """Pairs of points on the low and high faces of coordinate ``dim``, sharing the other coordinates and time."""
        d = problem.domain
        if not isinstance(d, Box):
            raise ProblemDefinitionError(f"Periodic needs a Box domain, problem '{problem.problem_name}' has {d!r}")
        others = [j for j in range(d.dim) if j != self.dim]

        def face(unit):
            pts = np.empty((len(unit), d.dim))
            pts[:, self.dim] = d.lo[self.dim]
            for k, j in enumerate(others):
                pts[:, j] = d.lo[j] + unit[:, k] * d.lengths[j]
            return pts

        low = sampler.space_time(sampler.count, len(others), face)[0]
        high = low.copy()
        high[:, self.dim] = d.hi[self.dim]
        return {"points": low, "partner": high}

    def residual(self, u, x, partner):
        jump = (u(x) - u(partner)).reshape(-1)
        if self.derivative:
            du = partial(u, self.dim)
            jump = torch.cat([jump, (du(x) - du(partner)).reshape(-1)])
        return jump

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

    @property
    def derivative_order(self) -> int:
        return self.order

    @property
    def term_name(self) -> str:
        return "initial" if self.order == 0 else "initial_dt" + ("" if self.order == 1 else str(self.order))

    @property
    def named_by_kind(self) -> bool:
        # the kind "initial" names the initial *values* only: an ansatz u0(x) + tau N does not fix d/dt u
        return self.order == 0

    def validate(self, problem) -> None:
        if not problem.has_time:
            raise ProblemDefinitionError(
                f"problem '{problem.problem_name}' has an Initial condition but no `time = TimeInterval(t0, t1)`"
            )

    def sample(self, problem, sampler: PointSampler) -> dict[str, np.ndarray]:
        """Points of the domain at the initial time."""
        d = problem.domain
        space = d.map_interior(sampler.unit_cube(sampler.count, d.n_unit_interior))
        return {"points": np.column_stack([space, np.full(len(space), problem.time.t0)])}

    def residual(self, u, x):
        f = u if self.order == 0 else time_derivative(u, self.order)
        return f(x) - self.value(x[:-1])  # time is the last coordinate

    def pointwise_values(self):
        return [("its value (a function of the spatial point)", lambda y: self.value(y[:-1]), self.raw_value, True)]

    def __repr__(self):
        v = "<function>" if callable(self.raw_value) else self.raw_value
        return f"Initial({v})" if self.order == 0 else f"Initial({v}, order={self.order})"


class HardConstraint(AbstractCondition):
    r"""Build conditions into the network: :math:`u(x) = \mathrm{ansatz}(x, N(x))`.

    ``ansatz(x, n)`` gets the point and the raw network output there and returns
    ``u``; e.g. ``lambda x, n: x[0] * (1 - x[0]) * n`` for zero boundary values on
    [0, 1]. The conditions named in ``replaces`` are then satisfied exactly and
    get no loss term; every other condition stays a penalty. ``replaces`` holds
    condition kinds (``"dirichlet"``, ``"neumann"``, ``"periodic"``, ``"initial"``, ...),
    condition classes (``Dirichlet``, ...) and/or condition objects of the problem.
    A kind or class names every condition of it, except that ``"initial"`` (or
    ``Initial``) names the initial *values* (``order=0``) only: an ansatz such as
    :math:`u_0(x) + \tau N` does not fix :math:`\partial_t u`, so an ``Initial``
    of order 1 or 2 is built in only when its object is listed.
    """

    kind = "hard"

    def __init__(self, ansatz: Callable, replaces: Sequence[str | type | AbstractCondition] = ("dirichlet", "initial")):
        if not callable(ansatz):
            raise ProblemDefinitionError(f"HardConstraint needs a function ansatz(x, n), got {ansatz!r}")
        if isinstance(replaces, (str, type, AbstractCondition)):
            replaces = (replaces,)
        replaces = tuple(replaces)
        kinds = list(CONDITION_KINDS)
        for r in replaces:
            is_class = isinstance(r, type) and issubclass(r, AbstractCondition) and not issubclass(r, HardConstraint)
            if not is_class and (isinstance(r, HardConstraint) or not isinstance(r, (str, AbstractCondition))):
                raise ProblemDefinitionError(
                    f"HardConstraint replaces {r!r}: name condition kinds {kinds}, condition classes or condition objects"
                )
        bad = {r for r in replaces if isinstance(r, str)} - set(kinds)
        if bad:
            raise ProblemDefinitionError(
                f"HardConstraint replaces unknown condition kinds {sorted(bad)}; choose from {sorted(kinds)}"
            )
        self.ansatz = ansatz
        self.replaces = replaces

    def covers(self, condition: AbstractCondition) -> bool:
        """Whether the ansatz satisfies ``condition`` exactly (so it needs no loss term)."""
        if any(condition is r for r in self.replaces):
            return True
        classes = [CONDITION_KINDS[r] if isinstance(r, str) else r for r in self.replaces if isinstance(r, (str, type))]
        return condition.named_by_kind and any(isinstance(condition, cls) for cls in classes)

    def __repr__(self):
        return f"HardConstraint(replaces={self.replaces})"


def automatic_ansatz(problem) -> HardConstraint:
    r"""The hard constraint built from a problem's Dirichlet values and initial values.

    :math:`u = g + B\,N` (:math:`B` the domain's boundary factor, zero on the
    boundary) for one :class:`Dirichlet` on the whole boundary;
    :math:`u = u_0 + \tau N` (:math:`\tau` the scaled time since :math:`t_0`)
    for an :class:`Initial` value; both combined when the problem has both.
    Every other condition (Neumann, Robin, periodicity, rates) stays a penalty.
    Raises :class:`~physopt.ConfigurationError` when no such ansatz exists.
    """
    dirichlet = [c for c in problem.conditions if isinstance(c, Dirichlet)]
    initial = [c for c in problem.conditions if isinstance(c, Initial) and c.order == 0]
    if any(c.where is not None or c.components is not None for c in dirichlet) or len(dirichlet) > 1:
        raise ConfigurationError(
            "--bc hard builds an ansatz for one Dirichlet condition on the whole boundary and every unknown; this "
            "problem restricts it with `where` or `components`. Use --bc soft, or add a HardConstraint to the problem"
        )
    if not dirichlet and not initial:
        raise ConfigurationError(
            "--bc hard needs a Dirichlet condition on the whole boundary or an Initial condition; use --bc soft"
        )
    if dirichlet and not getattr(problem.domain, "has_boundary_factor", True):
        raise ConfigurationError(
            f"--bc hard needs a boundary factor, which {type(problem.domain).__name__} does not have; use --bc soft, "
            "or add a HardConstraint to the problem"
        )
    g = dirichlet[0].value if dirichlet else None
    u0 = initial[0].value if initial else None
    domain, time_interval = problem.domain, problem.time
    n = problem.n_space
    # g(x, t) − g(x, t0) vanishes for constant boundary values: the ansatz is then u0 + τ B N (fewer operations
    # under every derivative of the residual)
    g_varies = bool(dirichlet) and not isinstance(dirichlet[0].raw_value, (int, float))

    def ansatz(x, net):
        space = x[:n]
        if u0 is None:
            return g(x) + domain.boundary_factor(space) * net
        t0 = time_interval.t0
        lag = (x[n] - t0) / time_interval.length
        if g is None:
            return u0(space) + lag * net
        if not g_varies:
            return u0(space) + lag * domain.boundary_factor(space) * net
        x_at_t0 = torch.cat([space, torch.full_like(x[n:], t0)])
        return g(x) + u0(space) - g(x_at_t0) + lag * domain.boundary_factor(space) * net

    if u0 is None and isinstance(dirichlet[0].raw_value, (int, float)):
        ansatz.jets = _constant_dirichlet_jets(domain, float(dirichlet[0].raw_value))
    return HardConstraint(ansatz, replaces=tuple(dirichlet) + tuple(initial[:1]))


def _constant_dirichlet_jets(domain, constant: float) -> Callable:
    r"""The collapsed second-order sum of :math:`u = g + B N` (g constant) from the network's jets.

    :math:`\sum_r \partial^2 u[v_r, v_r] = N \sum_r \partial^2 B[v_r, v_r] + 2\sum_r (\nabla B\cdot v_r)\, \nabla N\cdot v_r
    + B \sum_r \partial^2 N[v_r, v_r]`, with B's part from ``domain.boundary_factor_jets`` (closed form for a ball:
    O(R + n) per point, where differentiating the ansatz along every direction costs O(R·n)).
    Called by :meth:`physopt.NetworkField.second_sum` as ``jets(x, N, ∇N·v (…, R), Σ∂²N, directions)``.
    """
    def jets(x, value, tangents, second, directions):
        factor, slopes, curvature = domain.boundary_factor_jets(x, directions)
        return value * curvature + 2 * (tangents @ slopes) + factor * second

    return jets
