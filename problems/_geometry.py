r"""Polygons: :class:`Polygon`, :func:`Triangle`, and :func:`Rectangle` (a 2-D :class:`Box`).

A simple polygon, triangulated by ear clipping; interior points pick a triangle by area, then a uniform
point in it; boundary points pick an edge by length, with the outward normal. ``contains`` and
``signed_distance`` are exact. Set operations of polygons and other domains: :mod:`problems._set_operations`.

Hard constraints need a function that vanishes on the boundary and is positive inside:
:meth:`Polygon.distance`, an approximate signed distance (Sukumar & Srivastava, CMAME 2022), normalised
(:math:`\partial_n \phi = -1` on the boundary) and smooth except at corners: the R-equivalence
:math:`\phi = (\sum_i \phi_i^{-1})^{-1}` of its edges' trimmed distances. ``boundary_factor`` is ``distance``.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.stats import qmc

from physopt import delaunay_mesh

from ._domain import AbstractDomain, Box
from ._mesh_domain import _uniform_in_simplex

__all__ = ["Polygon", "Triangle", "Rectangle"]


def Rectangle(lo, hi) -> Box:
    """The rectangle with lower-left corner ``lo`` and upper-right ``hi`` (a two-dimensional :class:`Box`)."""
    box = Box(lo, hi)
    if box.dim != 2:
        raise ValueError(f"Rectangle needs 2-D corners, got lo={lo!r}, hi={hi!r}")
    return box


def _delaunay_evaluation_mesh(domain: AbstractDomain, spacing: float):
    """Boundary points every ``spacing``, a grid inside, Delaunay, triangles whose centroid is inside kept."""
    lo, hi = domain.bounds
    n = np.maximum(2, np.ceil((hi - lo) / spacing).astype(int) + 1)
    grid = np.stack(np.meshgrid(*(np.linspace(a, b, k) for a, b, k in zip(lo, hi, n)), indexing="ij"), -1)
    grid = grid.reshape(-1, domain.dim)
    inside = grid[domain.contains(grid, tol=-0.3 * spacing)]  # not too close to the boundary
    count = max(64, int(np.ceil(domain.boundary_measure / spacing)))
    boundary = domain.map_boundary(qmc.Sobol(domain.n_unit_boundary, seed=0).random(2 ** int(np.ceil(np.log2(count)))))[0]
    corners = getattr(domain, "corners", np.zeros((0, domain.dim)))
    points = np.unique(np.round(np.concatenate([corners, boundary, inside]), 12), axis=0)
    return delaunay_mesh(points, keep=lambda c: domain.contains(c, tol=-1e-12 * float(np.max(hi - lo))))


class Polygon(AbstractDomain):
    """A simple polygon from its vertices in order (either orientation; not closed: the last joins the first)."""

    def __init__(self, vertices):
        v = np.asarray(vertices, dtype=float)
        if v.ndim != 2 or v.shape[1] != 2 or len(v) < 3 or not np.all(np.isfinite(v)):
            raise ValueError(f"Polygon needs at least 3 finite 2-D vertices, shape (n, 2), got {np.shape(vertices)}")
        area = 0.5 * float(np.sum(v[:, 0] * np.roll(v[:, 1], -1) - np.roll(v[:, 0], -1) * v[:, 1]))
        if abs(area) <= 1e-14 * float(np.ptp(v, axis=0).max()) ** 2:
            raise ValueError("Polygon: the vertices enclose no area (all on one line?)")
        self.vertices = v if area > 0 else v[::-1].copy()  # counter-clockwise: the inside on the left of each edge
        self._check_simple()
        self.dim, self.n_unit_interior, self.n_unit_boundary = 2, 3, 2
        self._area = abs(area)
        self.starts, self.ends = self.vertices, np.roll(self.vertices, -1, axis=0)
        edges = self.ends - self.starts
        self.lengths = np.linalg.norm(edges, axis=1)
        self.normals = np.column_stack([edges[:, 1], -edges[:, 0]]) / self.lengths[:, None]  # outward (CCW)
        self.triangles = self._ear_clipping()
        a, b, c = (self.vertices[self.triangles[:, k]] for k in range(3))
        self._triangle_areas = 0.5 * np.abs((b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0]))
        self.corners = self.vertices

    def __repr__(self):
        return f"Polygon({self.vertices.round(12).tolist()})"

    def _check_simple(self):
        v = self.vertices
        n = len(v)
        for i in range(n):
            for j in range(i + 1, n):
                if j == i + 1 or (i == 0 and j == n - 1):
                    continue  # neighbours share a vertex
                if _segments_cross(v[i], v[(i + 1) % n], v[j], v[(j + 1) % n]):
                    raise ValueError(f"Polygon: edges {i} and {j} cross; give the vertices of a simple polygon in order")

    def _ear_clipping(self) -> np.ndarray:
        """Triangles ``(n - 2, 3)`` (vertex indices) of the counter-clockwise simple polygon."""
        v = self.vertices
        left = list(range(len(v)))
        triangles = []
        while len(left) > 3:
            for k in range(len(left)):
                i, j, m = left[k - 1], left[k], left[(k + 1) % len(left)]
                a, b, c = v[i], v[j], v[m]
                if (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]) <= 0:
                    continue  # a reflex (or flat) corner is no ear
                others = [v[p] for p in left if p not in (i, j, m)]
                if any(_in_triangle(p, a, b, c) for p in others):
                    continue
                triangles.append((i, j, m))
                left.pop(k)
                break
            else:  # pragma: no cover - a simple polygon always has an ear
                raise ValueError("Polygon: no ear found; are the vertices those of a simple polygon?")
        triangles.append(tuple(left))
        return np.asarray(triangles, dtype=np.int64)

    @property
    def measure(self):
        return self._area

    @property
    def boundary_measure(self):
        return float(self.lengths.sum())

    @property
    def bounds(self):
        return self.vertices.min(0), self.vertices.max(0)

    def map_interior(self, unit):
        cumulative = np.cumsum(self._triangle_areas) / self._triangle_areas.sum()
        k = np.minimum(np.searchsorted(cumulative, unit[:, 0], side="right"), len(cumulative) - 1)
        return np.einsum("nk,nkd->nd", _uniform_in_simplex(unit[:, 1:]), self.vertices[self.triangles[k]])

    def map_boundary(self, unit):
        cumulative = np.cumsum(self.lengths) / self.lengths.sum()
        k = np.minimum(np.searchsorted(cumulative, unit[:, 0], side="right"), len(cumulative) - 1)
        t = unit[:, 1:2]
        return self.starts[k] + t * (self.ends[k] - self.starts[k]), self.normals[k].copy()

    def signed_distance(self, points) -> np.ndarray:
        """Exact signed distance to the boundary, negative inside, ``(N,)``."""
        p = np.asarray(points, dtype=float).reshape(-1, 2)
        a, d = self.starts[None], (self.ends - self.starts)[None]
        t = np.clip(((p[:, None] - a) * d).sum(-1) / (self.lengths**2)[None], 0.0, 1.0)
        gap = np.linalg.norm(p[:, None] - a - t[..., None] * d, axis=-1).min(1)
        return np.where(self._inside(p), -gap, gap)

    def _inside(self, p: np.ndarray) -> np.ndarray:
        """Even-odd rule: a ray to +x crosses the boundary an odd number of times."""
        a, b = self.starts[None], self.ends[None]
        y, x = p[:, 1:2], p[:, 0:1]
        straddle = (a[..., 1] > y) != (b[..., 1] > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            cross_x = a[..., 0] + (y - a[..., 1]) * (b[..., 0] - a[..., 0]) / (b[..., 1] - a[..., 1])
        return (straddle & (x < cross_x)).sum(1) % 2 == 1

    def contains(self, points, tol=1e-12):
        return self.signed_distance(points) <= tol

    def distance(self, x: torch.Tensor) -> torch.Tensor:
        r"""Approximate signed distance at one point: the R-equivalence of the edges' trimmed distances, signed by the
        winding number. Zero on the edges, :math:`\partial_n\phi = -1` there, smooth except at the vertices."""
        a = torch.as_tensor(self.starts, dtype=x.dtype, device=x.device)
        b = torch.as_tensor(self.ends, dtype=x.dtype, device=x.device)
        d = b - a
        length = torch.as_tensor(self.lengths, dtype=x.dtype, device=x.device)
        rel = x - a
        f = (rel[:, 1] * d[:, 0] - rel[:, 0] * d[:, 1]) / length  # signed distance to each edge's line
        centre = x - (a + b) / 2
        t = ((length / 2) ** 2 - (centre * centre).sum(1)) / length  # > 0 within the disk on the edge
        trimmed = torch.sqrt(f * f + ((torch.sqrt(t * t + f**4) - t) / 2) ** 2)
        tiny = torch.finfo(x.dtype).tiny
        phi = 1 / (1 / trimmed.clamp_min(tiny)).sum()
        to_a, to_b = a - x, b - x
        turn = torch.atan2(to_a[:, 0] * to_b[:, 1] - to_a[:, 1] * to_b[:, 0], (to_a * to_b).sum(1)).sum()
        return torch.where(turn > torch.pi, phi, -phi)  # winding number 1 inside (counter-clockwise), 0 outside

    def boundary_factor(self, x):
        return self.distance(x)

    def evaluation_mesh(self, resolution=None):
        size = float(np.ptp(self.vertices, axis=0).max())
        return _delaunay_evaluation_mesh(self, size / (resolution or 100))


def Triangle(a, b, c) -> Polygon:
    """The triangle with corners ``a``, ``b``, ``c``."""
    return Polygon([a, b, c])


def _orientation(p, q, r) -> float:
    return (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])


def _segments_cross(p1, p2, q1, q2) -> bool:
    """Whether two closed segments meet (touching counts)."""
    o1, o2, o3, o4 = _orientation(p1, p2, q1), _orientation(p1, p2, q2), _orientation(q1, q2, p1), _orientation(q1, q2, p2)
    if o1 * o2 < 0 and o3 * o4 < 0:
        return True

    def on(p, q, r, o):  # r on segment pq, given collinear
        return o == 0 and min(p[0], q[0]) <= r[0] <= max(p[0], q[0]) and min(p[1], q[1]) <= r[1] <= max(p[1], q[1])

    return on(p1, p2, q1, o1) or on(p1, p2, q2, o2) or on(q1, q2, p1, o3) or on(q1, q2, p2, o4)


def _in_triangle(p, a, b, c) -> bool:
    """``p`` inside or on the counter-clockwise triangle ``abc``."""
    return _orientation(a, b, p) >= 0 and _orientation(b, c, p) >= 0 and _orientation(c, a, p) >= 0
