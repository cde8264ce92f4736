"""Spatial domains and time intervals.

Every domain samples itself from points of a unit hypercube (``map_interior``
/ ``map_boundary``), so uniform and quasi-Monte Carlo sampling, and sampling
of space-time cylinders, all go through one path. Samples are uniform by
measure (volume inside, area on the boundary).
"""

from __future__ import annotations

import abc
import math

import numpy as np
import torch
from scipy.special import ndtri
from torch.func import jvp, vmap

from physopt import Mesh, delaunay_mesh, structured_mesh, unit_cube_samples

__all__ = ["AbstractDomain", "Box", "Ball", "Interval", "Disk", "TimeInterval"]


class AbstractDomain(abc.ABC):
    """A bounded spatial domain in :math:`\\mathbb{R}^{dim}`."""

    dim: int
    n_unit_interior: int  # unit-cube coordinates consumed per interior point
    n_unit_boundary: int  # ... per boundary point
    has_boundary_factor: bool = True  # False: no smooth boundary_factor (hard-BC ansatz unavailable)

    @property
    @abc.abstractmethod
    def measure(self) -> float:
        """Volume :math:`|\\Omega|`."""

    @property
    @abc.abstractmethod
    def boundary_measure(self) -> float:
        """Surface measure :math:`|\\partial\\Omega|` (number of points in 1D)."""

    @property
    @abc.abstractmethod
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper corner of a bounding box."""

    @abc.abstractmethod
    def map_interior(self, unit: np.ndarray) -> np.ndarray:
        """Map unit-cube points ``(n, n_unit_interior)`` to interior points ``(n, dim)``."""

    @abc.abstractmethod
    def map_boundary(self, unit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Map unit-cube points to boundary points and outward unit normals."""

    @abc.abstractmethod
    def contains(self, points: np.ndarray, tol: float = 1e-12) -> np.ndarray:
        """Boolean mask of points in the closed domain."""

    @abc.abstractmethod
    def boundary_factor(self, x: torch.Tensor) -> torch.Tensor:
        """A smooth pointwise function, zero on the boundary and positive inside (hard BCs)."""

    def boundary_factor_jets(self, x: torch.Tensor, directions: torch.Tensor) -> tuple[torch.Tensor, ...]:
        r"""At one point: :math:`B(x)`, :math:`\nabla B\cdot v_r` ``(R,)`` and :math:`\sum_r \partial^2 B[v_r, v_r]`.

        For the collapsed Laplacian of a hard-constraint ansatz :math:`g + B N`
        (:func:`problems.automatic_ansatz`). Generic: nested forward mode, O(R·n) per point;
        a domain with a closed form (:class:`Ball`) overrides it.
        """
        def along(v):
            def first(y):
                return jvp(self.boundary_factor, (y,), (v,))[1]

            return jvp(first, (x,), (v,))

        slopes, curvatures = vmap(along)(directions)
        return self.boundary_factor(x), slopes, curvatures.sum(0)

    @abc.abstractmethod
    def evaluation_mesh(self, resolution: int | None = None):
        """A mesh of the domain (dim <= 3) for evaluation, plotting and VTU output."""

    def sample_interior(self, n: int, method: str = "uniform", rng=None) -> np.ndarray:
        """``n`` interior points, uniform by volume."""
        rng = np.random.default_rng(rng)
        return self.map_interior(unit_cube_samples(n, self.n_unit_interior, method, rng))

    def sample_boundary(self, n: int, method: str = "uniform", rng=None):
        """``n`` boundary points uniform by area, and their outward normals."""
        rng = np.random.default_rng(rng)
        return self.map_boundary(unit_cube_samples(n, self.n_unit_boundary, method, rng))

    def error_points(self, n: int = 20_000, seed: int = 1234) -> np.ndarray:
        """Points for error norms: the evaluation mesh (dim <= 3) or a Halton set."""
        if self.dim <= 3:
            return self.evaluation_mesh().points
        return self.sample_interior(n, "halton", seed)


def _as_vector(v, name) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(v, dtype=float))
    if arr.ndim != 1 or arr.size == 0 or not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be a non-empty list of finite numbers, got {v!r}")
    return arr


class Box(AbstractDomain):
    """Axis-aligned box :math:`\\prod_i [lo_i, hi_i]` in any dimension."""

    def __init__(self, lo, hi):
        self.lo, self.hi = _as_vector(lo, "Box lo"), _as_vector(hi, "Box hi")
        if self.lo.shape != self.hi.shape:
            raise ValueError(f"Box corners differ in dimension: lo={self.lo}, hi={self.hi}")
        if np.any(self.hi <= self.lo):
            raise ValueError(f"Box needs lo < hi in every coordinate, got lo={self.lo}, hi={self.hi}")
        self.dim = self.lo.size
        self.n_unit_interior = self.dim
        self.n_unit_boundary = self.dim
        self.lengths = self.hi - self.lo
        areas = np.array([np.prod(np.delete(self.lengths, i)) for i in range(self.dim)])
        self._face_area = np.repeat(areas, 2)  # faces (axis i, low), (axis i, high)

    def __repr__(self):
        return f"Box({self.lo.tolist()}, {self.hi.tolist()})"

    @property
    def measure(self):
        return float(np.prod(self.lengths))

    @property
    def boundary_measure(self):
        return float(self._face_area.sum())

    @property
    def bounds(self):
        return self.lo.copy(), self.hi.copy()

    def map_interior(self, unit):
        return self.lo + unit * self.lengths

    def map_boundary(self, unit):
        n = unit.shape[0]
        cumulative = np.cumsum(self._face_area) / self._face_area.sum()
        face = np.minimum(np.searchsorted(cumulative, unit[:, 0], side="right"), 2 * self.dim - 1)
        axis, high = face // 2, face % 2
        points = np.empty((n, self.dim))
        rest = unit[:, 1:]
        for i in range(self.dim):
            others = [j for j in range(self.dim) if j != i]
            on = axis == i
            points[on, i] = np.where(high[on] == 1, self.hi[i], self.lo[i])
            for k, j in enumerate(others):
                points[on, j] = self.lo[j] + rest[on, k] * self.lengths[j]
        normals = np.zeros((n, self.dim))
        normals[np.arange(n), axis] = np.where(high == 1, 1.0, -1.0)
        return points, normals

    def contains(self, points, tol=1e-12):
        points = np.asarray(points)
        return np.all((points >= self.lo - tol) & (points <= self.hi + tol), axis=-1)

    def boundary_factor(self, x):
        lo = torch.as_tensor(self.lo, dtype=x.dtype, device=x.device)
        hi = torch.as_tensor(self.hi, dtype=x.dtype, device=x.device)
        half = (hi - lo) / 2
        factors = (x - lo) * (hi - x) / half**2
        product = factors[0]
        for k in range(1, self.dim):  # not torch.prod: its backward scatters, which vmap runs one point at a time
            product = product * factors[k]
        return product

    def evaluation_mesh(self, resolution=None):
        if self.dim > 3:
            raise ValueError(f"no evaluation mesh for a {self.dim}-D box; use error_points()")
        if resolution is None:
            resolution = {1: 1001, 2: 101, 3: 31}[self.dim]
        return structured_mesh(self.lo, self.hi, resolution)


def Interval(a: float, b: float) -> Box:
    """The interval :math:`[a, b]` (a one-dimensional :class:`Box`)."""
    return Box([a], [b])


class Ball(AbstractDomain):
    """Ball :math:`\\{x : \\|x - c\\| \\le r\\}` in any dimension."""

    def __init__(self, center, radius: float):
        self.center = _as_vector(center, "Ball center")
        self.radius = float(radius)
        if not self.radius > 0:
            raise ValueError(f"Ball radius must be positive, got {radius!r}")
        self.dim = self.center.size
        self.n_unit_interior = self.dim + 1
        self.n_unit_boundary = self.dim

    def __repr__(self):
        return f"Ball({self.center.tolist()}, {self.radius})"

    @property
    def measure(self):
        d = self.dim
        return math.pi ** (d / 2) / math.gamma(d / 2 + 1) * self.radius**d

    @property
    def boundary_measure(self):
        return self.dim * self.measure / self.radius

    @property
    def bounds(self):
        return self.center - self.radius, self.center + self.radius

    def _directions(self, unit):
        z = ndtri(np.clip(unit, 1e-12, 1 - 1e-12))
        if self.dim == 1:
            return np.sign(z + (z == 0))
        return z / np.linalg.norm(z, axis=-1, keepdims=True)

    def map_interior(self, unit):
        r = self.radius * self._radial(unit[:, :1])
        return self.center + r * self._directions(unit[:, 1:])

    def map_boundary(self, unit):
        normals = self._directions(unit)
        return self.center + self.radius * normals, normals

    def draw_interior(self, n: int, generator: torch.Generator, dtype, device) -> torch.Tensor:
        r"""``n`` random interior points drawn on ``device`` by ``generator``: :math:`x = c + R\,
ho\, z/\|z\|`, z ~ N(0, I).

        The same law as :meth:`map_interior` of uniform samples, without the unit
        cube (whose d + 1 columns and the inverse normal CDF dominate at d = 10⁵), so
        the points never leave the device. Solvers use it for random (``uniform``) sampling.
        """
        z = torch.randn(n, self.dim, generator=generator, dtype=dtype, device=device)
        rho = self._radial(torch.rand(n, 1, generator=generator, dtype=dtype, device=device))
        centre = torch.as_tensor(self.center, dtype=dtype, device=device)
        return centre + self.radius * rho * z / torch.linalg.vector_norm(z, dim=-1, keepdim=True)

    def _radial(self, unit):
        """The radius (as a fraction of R) of a uniform sample ``unit``: :math:`u^{1/d}`, uniform by volume."""
        return unit ** (1.0 / self.dim)

    def contains(self, points, tol=1e-12):
        return np.linalg.norm(np.asarray(points) - self.center, axis=-1) <= self.radius + tol

    def boundary_factor(self, x):
        c = torch.as_tensor(self.center, dtype=x.dtype, device=x.device)
        return 1 - torch.sum((x - c) ** 2) / self.radius**2

    def boundary_factor_jets(self, x, directions):
        r"""Closed form: :math:`\nabla B\cdot v = -2 (x - c)\cdot v / R^2`, :math:`\partial^2 B[v, v] = -2\|v\|^2/R^2`."""
        c = torch.as_tensor(self.center, dtype=x.dtype, device=x.device)
        r2 = self.radius**2
        return self.boundary_factor(x), directions @ (x - c) * (-2 / r2), (directions * directions).sum() * (-2 / r2)

    def evaluation_mesh(self, resolution=None):
        if self.dim == 1:
            return structured_mesh(self.center - self.radius, self.center + self.radius, resolution or 1001)
        if self.dim > 3:
            raise ValueError(f"no evaluation mesh for a {self.dim}-D ball; use error_points()")
        rings = resolution or (60 if self.dim == 2 else 14)
        points = [self.center[None, :]]
        for k in range(1, rings + 1):
            r = self.radius * k / rings
            if self.dim == 2:
                m = max(6, int(round(2 * math.pi * k)))
                a = 2 * math.pi * np.arange(m) / m
                shell = np.stack([np.cos(a), np.sin(a)], -1)
            else:  # Fibonacci sphere, about uniform spacing
                m = max(12, int(round(4 * math.pi * k**2)))
                i = np.arange(m) + 0.5
                phi, theta = np.arccos(1 - 2 * i / m), math.pi * (1 + 5**0.5) * i
                shell = np.stack(
                    [np.cos(theta) * np.sin(phi), np.sin(theta) * np.sin(phi), np.cos(phi)], -1
                )
            points.append(self.center + r * shell)
        return delaunay_mesh(np.concatenate(points))


def Disk(center=(0.0, 0.0), radius: float = 1.0) -> Ball:
    """The disk of ``radius`` around ``center`` (a two-dimensional :class:`Ball`)."""
    ball = Ball(center, radius)
    if ball.dim != 2:
        raise ValueError(f"Disk needs a 2-D center, got {center!r}")
    return ball


class TimeInterval:
    """The time interval :math:`[t_0, t_1]` of a time-dependent problem."""

    def __init__(self, t0: float, t1: float):
        self.t0, self.t1 = float(t0), float(t1)
        if not (math.isfinite(self.t0) and math.isfinite(self.t1) and self.t1 > self.t0):
            raise ValueError(f"TimeInterval needs finite t0 < t1, got ({t0!r}, {t1!r})")

    def __repr__(self):
        return f"TimeInterval({self.t0}, {self.t1})"

    @property
    def length(self) -> float:
        return self.t1 - self.t0

    def map(self, unit: np.ndarray) -> np.ndarray:
        return self.t0 + unit * self.length

    def slices(self, n: int) -> np.ndarray:
        """``n`` equally spaced times from ``t0`` to ``t1``."""
        return np.linspace(self.t0, self.t1, n)
