"""Boundary conditions: Dirichlet, Neumann and Robin, optionally on part of the boundary.

Values are pointwise callables of the full point (space, then time if the
problem has time) or constants. ``where`` restricts a condition to part of
the boundary: a predicate on a NumPy batch of boundary points, shape
``(N, n)``, returning a boolean mask, e.g.
``where=lambda x: np.isclose(x[:, 0], 0.0)``, or, on a
:class:`~problems.MeshDomain` with boundary tags, the name of a tagged part,
``where="inlet"`` (resolved with ``domain.boundary_part`` when sampling).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from physopt import ConfigurationError, ProblemDefinitionError, partial

from ._condition_base import AbstractCondition, PointSampler, Value, _check_weight, _shown, _value_fn

__all__ = ["Dirichlet", "Neumann", "Robin", "normal_derivative"]


def normal_derivative(u, y: torch.Tensor, normal: torch.Tensor) -> torch.Tensor:
    r""":math:`\nabla u \cdot n` at the point ``y`` (spatial gradient; ``normal`` has one entry per spatial coordinate)."""
    grad_u = torch.stack([partial(u, i)(y) for i in range(normal.shape[-1])], -1)
    return (grad_u * normal).sum(-1)


class _BoundaryCondition(AbstractCondition):
    """A condition on the boundary (or the part where ``where`` holds), sampled with outward normals."""

    def __init__(self, value: Value = 0.0, where=None, weight: float = 1.0, components: Sequence[str] | None = None):
        self.raw_value = value
        self.value = _value_fn(value, type(self).__name__)
        if components is not None and (isinstance(components, str) or not components
                                       or not all(isinstance(c, str) for c in components)):
            raise ProblemDefinitionError(f"{type(self).__name__} `components` must be a tuple of unknowns' names, "
                                         f"e.g. ('u', 'v'), got {components!r}")
        self.components = None if components is None else tuple(components)
        self._index = None
        if where is not None and not callable(where) and not (isinstance(where, str) and where):
            raise ProblemDefinitionError(
                f"{type(self).__name__} `where` must be a function of a (N, n) array of boundary points "
                f"returning a boolean mask, or the name of a tagged boundary part of a MeshDomain, got {where!r}"
            )
        self.where = where
        self.weight = _check_weight(weight, type(self).__name__)

    def validate(self, problem) -> None:
        """``components``, if given, must name unknowns of the problem; the others stay free."""
        if self.components is None:
            return
        missing = [c for c in self.components if c not in problem.unknowns]
        if missing:
            raise ProblemDefinitionError(f"problem '{problem.problem_name}': {self!r} names {', '.join(missing)}, which "
                                         f"are not among its unknowns {tuple(problem.unknowns)}")
        self._index = [problem.unknowns.index(c) for c in self.components]

    def selected(self, values: torch.Tensor) -> torch.Tensor:
        """The entries of the unknowns this condition is about (all, without ``components``)."""
        if self.components is None:
            return values
        if self._index is None:
            raise ProblemDefinitionError(f"{self!r}: validate the problem first (its components are matched to the unknowns)")
        return values.reshape(-1)[self._index]

    def sample(self, problem, sampler: PointSampler) -> dict[str, np.ndarray]:
        """Boundary points (with time, if any) and their outward normals."""
        points, normals = self.boundary_points(problem, sampler)
        return {"points": points, "normals": normals}

    def boundary_points(self, problem, sampler: PointSampler) -> tuple[np.ndarray, np.ndarray]:
        """``sampler.count`` boundary points (with time, if any) where ``where`` holds, and their outward normals."""
        d = problem.domain
        want = sampler.count
        if self.where is None:
            return sampler.space_time(want, d.n_unit_boundary, d.map_boundary)
        where = self._resolve_where(d)
        points, normals = sampler.space_time(8 * want, d.n_unit_boundary, d.map_boundary)
        mask = np.asarray(where(points), dtype=bool).reshape(-1)
        if mask.shape[0] != points.shape[0]:
            raise ProblemDefinitionError(f"{self!r}: `where` must return one boolean per point, got shape {mask.shape}")
        if not mask.any():
            raise ProblemDefinitionError(
                f"{self!r}: `where` selects none of the boundary points; check the predicate "
                "(compare coordinates with np.isclose, not ==, when in doubt)"
            )
        return points[mask][:want], normals[mask][:want]

    def _resolve_where(self, domain):
        if not isinstance(self.where, str):
            return self.where
        if not getattr(domain, "boundary_parts", None):  # a tagged part of a MeshDomain's boundary
            raise ProblemDefinitionError(
                f"{self!r}: where={self.where!r} names a tagged boundary part, but the domain {domain!r} has no boundary "
                "tags; tags come from a MeshDomain's boundary_tags or a gmsh file's physical groups; "
                "otherwise give `where` a predicate"
            )
        try:
            return domain.boundary_part(self.where)
        except ConfigurationError as e:
            raise ProblemDefinitionError(f"{self!r}: {e}") from None

    def pointwise_values(self):
        return [("its value", self.value, self.raw_value, False)]

    def _where_repr(self) -> str:
        where = "" if self.where is None else f", where={self.where!r}" if isinstance(self.where, str) else ", where=..."
        return where + ("" if self.components is None else f", components={self.components!r}")

    def __repr__(self):
        v = self.raw_value if not callable(self.raw_value) else "<function>"
        return f"{type(self).__name__}({v}{self._where_repr()})"


class Dirichlet(_BoundaryCondition):
    r"""Boundary value :math:`u = g` on the boundary (or on the part where ``where`` holds)."""

    kind = "dirichlet"
    derivative_order = 0

    def sample(self, problem, sampler: PointSampler) -> dict[str, np.ndarray]:
        """Boundary points (with time, if any)."""
        return {"points": self.boundary_points(problem, sampler)[0]}

    def residual(self, u, x):
        return self.selected(u(x)) - self.value(x)


class Neumann(_BoundaryCondition):
    r"""Normal derivative :math:`\partial u / \partial n = h` (outward normal)."""

    kind = "neumann"
    derivative_order = 1

    def residual(self, u, x, normal):
        return self.selected(normal_derivative(u, x, normal)) - self.value(x)


class Robin(_BoundaryCondition):
    r"""Robin condition :math:`\alpha u + \beta\, \partial u / \partial n = g` (outward normal).

    ``alpha`` and ``beta`` are numbers or pointwise functions of the full point,
    like ``value``; ``beta = 0`` is a Dirichlet and ``alpha = 0`` a Neumann
    condition. Always a penalty: no automatic ansatz builds it in.
    """

    kind = "robin"
    derivative_order = 1

    def __init__(self, alpha: Value, beta: Value, value: Value = 0.0, where=None, weight: float = 1.0,
                 components: Sequence[str] | None = None):
        super().__init__(value, where=where, weight=weight, components=components)
        self.raw_alpha, self.raw_beta = alpha, beta
        self.alpha, self.beta = _value_fn(alpha, "Robin alpha"), _value_fn(beta, "Robin beta")
        if not callable(alpha) and not callable(beta) and not np.any(np.asarray(alpha)) and not np.any(np.asarray(beta)):
            raise ProblemDefinitionError(f"Robin needs alpha or beta nonzero, got alpha={alpha!r}, beta={beta!r}")

    def residual(self, u, x, normal):
        return self.alpha(x) * self.selected(u(x)) + self.beta(x) * self.selected(normal_derivative(u, x, normal)) \
            - self.value(x)

    def pointwise_values(self):
        return super().pointwise_values() + [
            ("its alpha", self.alpha, self.raw_alpha, False), ("its beta", self.beta, self.raw_beta, False),
        ]

    def __repr__(self):
        return f"Robin({_shown(self.raw_alpha)}, {_shown(self.raw_beta)}, {_shown(self.raw_value)}{self._where_repr()})"
