r"""Set operations of any domains: ``A | B``, ``A & B``, ``A - B`` (:class:`Union`, :class:`Intersection`,
:class:`Difference`), on domains of one dimension, nested freely.

``contains`` is exact (from the operands'); interior points are drawn uniformly from the bounding box and
kept when inside (a rejected draw is replaced by a draw of a generator seeded by the unit-cube points, so
the same points give the same samples on every rank); boundary points are the operands' boundary points
that lie on the composite boundary, with the operand's outward normal (reversed on a subtracted domain's
part). Both are uniform by measure, corners and arcs included. ``measure`` is estimated from 2¹⁶ Sobol
points.

The distance function for hard constraints combines the operands' (:func:`domain_distance`) with the
R-functions :math:`a \wedge b = a + b - \sqrt{a^2 + b^2}` (intersection, difference with :math:`-b`) and
:math:`a \vee b = a + b + \sqrt{a^2 + b^2}` (union). ``boundary_factor`` is ``distance``.
"""

from __future__ import annotations

import functools
import hashlib

import numpy as np
import torch
from scipy.stats import qmc

from ._domain import AbstractDomain, Ball, Box
from ._geometry import Polygon, _delaunay_evaluation_mesh

__all__ = ["Union", "Intersection", "Difference", "domain_distance"]

_EDGE = 1e-9  # relative tolerance of "on the boundary" in the set operations


def domain_distance(domain: AbstractDomain, x: torch.Tensor) -> torch.Tensor:
    r"""An approximate signed distance of ``domain`` at one point: > 0 inside, 0 on the boundary, < 0 outside.

    Box: the R-conjunction of its faces' distances; ball: :math:`(r^2 - |x-c|^2)/(2r)` (smooth, exact to
    first order at the sphere); polygons and set operations: their own :meth:`distance`.
    """
    if isinstance(domain, (Polygon, _SetOperation)):
        return domain.distance(x)
    if isinstance(domain, Ball):
        c = torch.as_tensor(domain.center, dtype=x.dtype, device=x.device)
        return (domain.radius**2 - ((x - c) ** 2).sum()) / (2 * domain.radius)
    if isinstance(domain, Box):
        lo = torch.as_tensor(domain.lo, dtype=x.dtype, device=x.device)
        hi = torch.as_tensor(domain.hi, dtype=x.dtype, device=x.device)
        phi = None
        for k in range(domain.dim):
            for face in (x[k] - lo[k], hi[k] - x[k]):
                phi = face if phi is None else _and(phi, face)
        return phi
    raise ValueError(f"{domain!r} has no distance function; set operations and hard constraints need Box, Ball, "
                     "Polygon or their set operations")


def _and(a, b):
    return a + b - torch.sqrt(a * a + b * b)


def _or(a, b):
    return a + b + torch.sqrt(a * a + b * b)


def _seeded(unit: np.ndarray) -> np.random.Generator:
    """A generator seeded by the bytes of ``unit``: the same draws for the same points."""
    return np.random.default_rng(int.from_bytes(hashlib.sha256(np.ascontiguousarray(unit).tobytes()).digest()[:8], "little"))


class _SetOperation(AbstractDomain):
    """A set operation of two domains of one dimension (see the module docstring)."""

    symbol = "?"

    def __init__(self, first: AbstractDomain, second: AbstractDomain):
        for d in (first, second):
            if not isinstance(d, AbstractDomain):
                raise TypeError(f"{type(self).__name__} takes two domains, got {d!r}")
        if first.dim != second.dim:
            raise ValueError(f"{type(self).__name__}: the domains differ in dimension ({first.dim} and {second.dim})")
        self.first, self.second = first, second
        self.dim = first.dim
        self.n_unit_interior = self.dim
        self.n_unit_boundary = 1 + max(first.n_unit_boundary, second.n_unit_boundary)
        self.has_boundary_factor = True
        lo, hi = self.bounds
        self._eps = _EDGE * float(np.max(hi - lo))
        self._step = 100 * self._eps  # the probes' distance from a boundary point
        self.corners = np.concatenate([c for c in (getattr(first, "corners", None), getattr(second, "corners", None))
                                       if c is not None] or [np.zeros((0, self.dim))])
        self.corners = self.corners[self.contains(self.corners)] if len(self.corners) else self.corners
        if self.measure <= 0:
            raise ValueError(f"{self!r} is empty (no point of its bounding box is inside)")

    def __repr__(self):
        return f"({self.first!r} {self.symbol} {self.second!r})"

    # ----- what each operation decides ---------------------------------------------
    def keeps(self, operand: int, points: np.ndarray, normals: np.ndarray) -> np.ndarray:
        """Which boundary points (with their outward normals) of operand 0 (first) or 1 (second) are on this domain's
        boundary: decided by probes a step ``δ`` along the normal, so edges the operands share count once (and not
        at all where the operands touch from both sides)."""
        raise NotImplementedError

    def flips(self, operand: int) -> bool:
        """Whether the operand's outward normal points inwards here (a subtracted domain)."""
        return False

    # ----- measures -----------------------------------------------------------------
    @functools.cached_property
    def measure(self):
        lo, hi = self.bounds
        probe = lo + qmc.Sobol(self.dim, seed=0).random(2**16) * (hi - lo)
        return float(np.prod(hi - lo) * self.contains(probe).mean())

    @functools.cached_property
    def boundary_measure(self):
        total = 0.0
        for k, operand in enumerate((self.first, self.second)):
            unit = qmc.Sobol(operand.n_unit_boundary, seed=0).random(2**14)
            total += operand.boundary_measure * self.keeps(k, *operand.map_boundary(unit)).mean()
        return float(total)

    # ----- sampling -----------------------------------------------------------------
    def map_interior(self, unit):
        lo, hi = self.bounds
        points = lo + unit * (hi - lo)
        missing = ~self.contains(points)
        rng = _seeded(unit)
        for _ in range(10_000):
            if not missing.any():
                return points
            fresh = lo + rng.random((int(missing.sum()), self.dim)) * (hi - lo)
            points[np.flatnonzero(missing)] = fresh
            missing[missing] = ~self.contains(fresh)
        raise ValueError(f"{self!r}: too little of its bounding box is inside to sample it by rejection")

    def _boundary_draw(self, unit):
        weights = np.array([self.first.boundary_measure, self.second.boundary_measure])
        pick = (unit[:, 0] >= weights[0] / weights.sum()).astype(int)
        points = np.empty((len(unit), self.dim))
        normals = np.empty((len(unit), self.dim))
        kept = np.zeros(len(unit), bool)
        for k, operand in enumerate((self.first, self.second)):
            rows = np.flatnonzero(pick == k)
            if rows.size:
                p, n = operand.map_boundary(unit[rows, 1:1 + operand.n_unit_boundary])
                points[rows], normals[rows] = p, -n if self.flips(k) else n
                kept[rows] = self.keeps(k, p, n)
        return points, normals, kept

    def map_boundary(self, unit):
        points, normals, kept = self._boundary_draw(unit)
        rng = _seeded(unit)
        for _ in range(10_000):
            if kept.all():
                return points, normals
            rows = np.flatnonzero(~kept)
            p, n, k = self._boundary_draw(rng.random((rows.size, self.n_unit_boundary)))
            points[rows], normals[rows], kept[rows] = p, n, k
        raise ValueError(f"{self!r}: too little of its operands' boundaries is on its boundary to sample it")

    def distance(self, x):
        raise NotImplementedError

    def boundary_factor(self, x):
        return self.distance(x)

    def evaluation_mesh(self, resolution=None):
        if self.dim != 2:
            raise ValueError(f"no evaluation mesh for a {self.dim}-D set operation; use error_points()")
        lo, hi = self.bounds
        return _delaunay_evaluation_mesh(self, float(np.max(hi - lo)) / (resolution or 100))

    def error_points(self, n: int = 20_000, seed: int = 1234):
        return super().error_points(n, seed) if self.dim == 2 else self.sample_interior(n, "halton", seed)


class Union(_SetOperation):
    """:math:`A \\cup B` (also ``A | B``)."""

    symbol = "|"

    @property
    def bounds(self):
        (a, b), (c, d) = self.first.bounds, self.second.bounds
        return np.minimum(a, c), np.maximum(b, d)

    def contains(self, points, tol=1e-12):
        return self.first.contains(points, tol) | self.second.contains(points, tol)

    def keeps(self, operand, points, normals):
        outside = points + self._step * normals  # just outside the operand: outside the union too?
        if operand == 0:
            return ~self.second.contains(outside)
        return ~self.first.contains(outside) & ~self.first.contains(points, self._eps)  # shared edges: from the first

    def distance(self, x):
        return _or(domain_distance(self.first, x), domain_distance(self.second, x))


class Intersection(_SetOperation):
    """:math:`A \\cap B` (also ``A & B``)."""

    symbol = "&"

    @property
    def bounds(self):
        (a, b), (c, d) = self.first.bounds, self.second.bounds
        lo, hi = np.maximum(a, c), np.minimum(b, d)
        if np.any(hi <= lo):
            raise ValueError(f"the intersection of {self.first!r} and {self.second!r} is empty")
        return lo, hi

    def contains(self, points, tol=1e-12):
        return self.first.contains(points, tol) & self.second.contains(points, tol)

    def keeps(self, operand, points, normals):
        if operand == 0:
            return self.second.contains(points - self._step * normals)  # just inside the first: in the second too?
        return self.first.contains(points, -self._eps)  # shared edges: from the first

    def distance(self, x):
        return _and(domain_distance(self.first, x), domain_distance(self.second, x))


class Difference(_SetOperation):
    """:math:`A \\setminus B`, closed (also ``A - B``): a hole, a notch."""

    symbol = "-"

    @property
    def bounds(self):
        return self.first.bounds

    def contains(self, points, tol=1e-12):
        return self.first.contains(points, tol) & ~self.second.contains(points, -tol)

    def keeps(self, operand, points, normals):
        if operand == 0:
            return ~self.second.contains(points - self._step * normals, -self._eps)  # just inside the first: not cut away?
        return self.first.contains(points, -self._eps)  # a cut strictly inside the first

    def flips(self, operand):
        return operand == 1

    def distance(self, x):
        return _and(domain_distance(self.first, x), -domain_distance(self.second, x))


def _union(self, other):
    return Union(self, other)


def _intersection(self, other):
    return Intersection(self, other)


def _difference(self, other):
    return Difference(self, other)


AbstractDomain.__or__, AbstractDomain.__and__, AbstractDomain.__sub__ = _union, _intersection, _difference
