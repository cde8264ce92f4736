r"""Re-entrant corners of a 2-D domain and the singular functions of the Laplacian there.

At a corner of interior angle :math:`\omega > \pi` the solution of a Poisson
problem is not in :math:`H^2`: with the edges' polar angle :math:`\theta \in [0,
\omega]` measured from one edge,

.. math::
    u = \gamma\, r^{\alpha} \sin(\alpha\theta) + \dots, \qquad \alpha = \pi/\omega

(Dirichlet edges; :math:`\cos` for Neumann ones). A smooth network approximates
:math:`r^{2/3}` badly, and its error spreads over the whole domain (measured on a
square with a square hole, 2000 steps: 8.9e-3 without, 4.6e-4 with the
functions below; docs/problems.md, "Holes").

The functions here have that leading behaviour, are exactly harmonic in the
domain and need no cut-off. Each corner :math:`z_k` is paired with a point
:math:`c_k` outside the domain on the bisector of the excluded wedge, and

.. math::
    S_{k,j}(z) = \operatorname{Im}\Big[e^{\,i j\alpha\omega/2}\,
        \big(d_k\, \tfrac{z - z_k}{z - c_k}\big)^{j\alpha}\,
        \big(1 + j\alpha\, \tfrac{z - z_k}{z_k - c_k}\big)\Big],
    \qquad d_k = |z_k - c_k|,

the principal power, whose branch cut is the segment :math:`[z_k, c_k]`, outside
the domain. The polynomial factor cancels the first-order term of
:math:`(1 + t)^{-j\alpha}`, :math:`t = (z - z_k)/(z_k - c_k)`, so that near
:math:`z_k`, :math:`S_{k,j} = r^{j\alpha}\sin(j\alpha\theta)\,(1 + O(r^2/d_k^2))`.
Without it the remainder is of order :math:`r^{j\alpha + 1}`, with second
derivatives unbounded at the corner, which the network must cancel: measured on
the hole, 1.3e-3 without and 4.6e-4 with it (2000 steps). Far from the corner
:math:`S_{k,j}` grows linearly. (:math:`\operatorname{Re}` and :math:`\cos` for
Neumann edges.)
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

from physopt import ConfigurationError

from ._domain import AbstractDomain, Box
from ._geometry import Polygon
from ._mesh_domain import MeshDomain
from ._set_operations import _SetOperation

__all__ = ["Corner", "reentrant_corners", "corner_candidates", "CornerFunctions"]

EDGE_KINDS = ("dirichlet", "neumann")


@dataclasses.dataclass(frozen=True)
class Corner:
    """A re-entrant corner: ``vertex``, the interior ``angle`` ω > π, the first edge's direction
    ``start`` (the domain lies counter-clockwise from it, between ``start`` and ``start + angle``),
    and ``pair``, a point outside the domain such that the segment to it stays outside."""

    vertex: tuple[float, float]
    start: float
    angle: float
    pair: tuple[float, float]


def _inside_arcs(domain: AbstractDomain, vertex: np.ndarray, radius: float, min_width: float = 0.0,
                 probes: int = 720) -> list[tuple[float, float]]:
    """The arcs ``(start, end)`` of directions from ``vertex`` at ``radius`` that lie inside ``domain``,
    their ends found by bisection to rounding (exact for straight edges); none if they span less than
    ``min_width`` in all."""
    angles = np.arange(probes) * (2 * np.pi / probes)

    def inside(a):
        a = np.atleast_1d(a)
        return domain.contains(vertex + radius * np.column_stack([np.cos(a), np.sin(a)]), tol=0.0)

    flags = inside(angles)
    if flags.all() or not flags.any() or (flags.sum() + 2) * (2 * np.pi / probes) < min_width:
        return []

    def crossing(lo, hi):  # inside(lo) != inside(hi): the direction of the edge between them
        state = inside(lo)[0]
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if inside(mid)[0] == state else (lo, mid)
        return 0.5 * (lo + hi)

    arcs, n = [], probes
    first_out = int(np.argmin(flags))
    for step in range(n):  # walk once around, starting outside
        i = (first_out + step) % n
        j = (i + 1) % n
        a, b = angles[i], angles[i] + 2 * np.pi / n
        if not flags[i] and flags[j]:
            begin = crossing(a, b)
        elif flags[i] and not flags[j]:
            end = crossing(a, b)
            arcs.append((begin, end + (2 * np.pi if end < begin else 0.0)))
    return arcs


def _edges(domain: AbstractDomain) -> np.ndarray:
    """The straight edges ``(n, 2, 2)`` of the polygons and rectangles a 2-D domain is built from."""
    if isinstance(domain, _SetOperation):
        return np.concatenate([_edges(domain.first), _edges(domain.second)])
    if isinstance(domain, Polygon):
        return np.stack([domain.starts, domain.ends], axis=1)
    if isinstance(domain, MeshDomain) and domain.dim == 2:  # its boundary segments
        return domain.points[domain.facets]
    if isinstance(domain, Box):
        (x0, y0), (x1, y1) = domain.lo, domain.hi
        v = np.array([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], dtype=float)
        return np.stack([v, np.roll(v, -1, axis=0)], axis=1)
    return np.zeros((0, 2, 2))  # curved boundaries (disks, meshes): no straight-edge corners


def corner_candidates(domain: AbstractDomain) -> np.ndarray:
    """Points where a 2-D domain may have a corner: the ends of the straight edges it is built from (its
    polygons', rectangles' and boundary meshes' segments) where the boundary turns, and the points where two
    of those edges cross (the corners a union or difference makes; checked for up to 2000 edges)."""
    edges = _edges(domain)
    ends, index = np.unique(np.round(edges.reshape(-1, 2), 12), axis=0, return_inverse=True)
    direction = (edges[:, 1] - edges[:, 0]) / np.linalg.norm(edges[:, 1] - edges[:, 0], axis=1, keepdims=True)
    outgoing = np.concatenate([direction, -direction])  # from each end along its edge
    owner = np.concatenate([index.reshape(-1, 2)[:, 0], index.reshape(-1, 2)[:, 1]])
    # two edges meeting (nearly) head on: a point of a straight boundary, not a corner
    order = np.argsort(owner, kind="stable")
    counts = np.bincount(owner, minlength=len(ends))
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pair = counts == 2
    d0, d1 = outgoing[order[first[pair]]], outgoing[order[first[pair] + 1]]
    straight = np.zeros(len(ends), dtype=bool)
    straight[pair] = (d0 * d1).sum(-1) < -math.cos(1e-6)
    points = [ends[~straight]]
    if len(edges) <= 2000:
        p, r = edges[:, 0], edges[:, 1] - edges[:, 0]
        for i in range(len(edges) - 1):  # p_i + t r_i = p_j + u r_j, t and u in [0, 1]
            q, s = p[i + 1:], r[i + 1:]
            cross = r[i, 0] * s[:, 1] - r[i, 1] * s[:, 0]
            with np.errstate(divide="ignore", invalid="ignore"):
                t = ((q[:, 0] - p[i, 0]) * s[:, 1] - (q[:, 1] - p[i, 1]) * s[:, 0]) / cross
                u = ((q[:, 0] - p[i, 0]) * r[i, 1] - (q[:, 1] - p[i, 1]) * r[i, 0]) / cross
            hit = (np.abs(cross) > 1e-14) & (t > 1e-12) & (t < 1 - 1e-12) & (u > 1e-12) & (u < 1 - 1e-12)
            points.append(p[i] + t[hit, None] * r[i])
    return np.unique(np.round(np.concatenate(points), 12), axis=0)


def reentrant_corners(domain: AbstractDomain, candidates=None, min_angle: float = 1.05 * math.pi) -> list[Corner]:
    """The corners of a 2-D ``domain`` with an interior angle of at least ``min_angle`` (default 189°: the
    shallow turns of a curve drawn with segments, 40 or more per circle, are left out).

    ``candidates``: points to examine (default: :func:`corner_candidates`, the vertices of the
    domain's polygons and rectangles and the crossings of their edges). A candidate counts when the
    directions into the domain form one arc wider than π.
    """
    if domain.dim != 2:
        raise ConfigurationError(f"re-entrant corners are found in 2-D domains only, not in {domain!r} ({domain.dim}-D)")
    points = np.asarray(corner_candidates(domain) if candidates is None else candidates, dtype=float)
    lo, hi = domain.bounds
    diameter = float(np.linalg.norm(np.asarray(hi) - np.asarray(lo)))
    radius = 1e-6 * diameter
    corners = []
    for vertex in points.reshape(-1, 2):
        arcs = _inside_arcs(domain, vertex, radius, min_angle)
        if len(arcs) != 1:
            continue
        start, end = arcs[0]
        angle = end - start
        if angle < min_angle or angle >= 2 * np.pi * (1 - 1e-9):
            continue
        bisector = start + angle + (2 * np.pi - angle) / 2  # of the excluded wedge
        direction = np.array([math.cos(bisector), math.sin(bisector)])
        ts = np.linspace(0, diameter, 2001)[1:]
        back_in = domain.contains(vertex + ts[:, None] * direction, tol=0.0)
        reach = ts[np.argmax(back_in)] if back_in.any() else diameter
        pair = vertex + 0.5 * reach * direction
        corners.append(Corner(tuple(map(float, vertex)), float(start % (2 * np.pi)), float(angle), tuple(map(float, pair))))
    return corners


class CornerFunctions(torch.nn.Module):
    r"""The singular functions :math:`S_{k,j}`, ``terms`` per corner (exponents :math:`j\pi/\omega_k`, j = 1..terms),
    as a map ``(..., 2) -> (..., n_corners * terms)`` (see the module docstring)."""

    def __init__(self, corners: list[Corner], terms: int = 1, edges: str = "dirichlet"):
        super().__init__()
        if not corners:
            raise ConfigurationError("no re-entrant corner to enrich: the domain has none (interior angles all <= π)")
        if edges not in EDGE_KINDS:
            raise ConfigurationError(f"corner functions: edges={edges!r}; choose one of {', '.join(EDGE_KINDS)}")
        if terms < 1:
            raise ConfigurationError(f"corner functions: terms must be >= 1, got {terms}")
        self.corners, self.terms, self.edges = corners, terms, edges
        vertex = torch.tensor([c.vertex for c in corners], dtype=torch.float64)
        pair = torch.tensor([c.pair for c in corners], dtype=torch.float64)
        self.register_buffer("vertex", vertex)
        self.register_buffer("pair", pair)
        self.register_buffer("offset", vertex - pair)  # z_k - c_k
        self.register_buffer("scale", torch.linalg.norm(vertex - pair, dim=1))
        self.register_buffer("exponent", torch.tensor([math.pi / c.angle for c in corners], dtype=torch.float64))
        self.register_buffer("phase", torch.tensor([c.angle / 2 for c in corners], dtype=torch.float64))
        self.n_out = len(corners) * terms

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = x[..., None, :] - self.vertex  # z - z_k
        b = x[..., None, :] - self.pair  # z - c_k
        # w = (z - z_k) / (z - c_k): |w| and arg w (the principal one: its cut is the segment [z_k, c_k])
        modulus = self.scale * torch.sqrt((a * a).sum(-1) / (b * b).sum(-1))
        argument = torch.atan2(a[..., 1] * b[..., 0] - a[..., 0] * b[..., 1], (a * b).sum(-1)) + self.phase
        j = torch.arange(1, self.terms + 1, dtype=x.dtype, device=x.device)
        power = self.exponent[..., None] * j  # (corners, terms)
        # P = (d w)^p e^{i p ω/2}: its real and imaginary parts
        magnitude, angle = modulus[..., None] ** power, power * argument[..., None]
        p_re, p_im = magnitude * torch.cos(angle), magnitude * torch.sin(angle)
        # Q = 1 + p t, t = (z - z_k) / (z_k - c_k)
        e = self.offset
        e2 = self.scale**2
        t_re, t_im = (a * e).sum(-1) / e2, (a[..., 1] * e[:, 0] - a[..., 0] * e[:, 1]) / e2
        q_re, q_im = 1 + power * t_re[..., None], power * t_im[..., None]
        if self.edges == "dirichlet":  # Im(PQ)
            values = p_re * q_im + p_im * q_re
        else:  # Re(PQ)
            values = p_re * q_re - p_im * q_im
        return values.flatten(-2)


def parse_enrichment(spec: str) -> tuple[int, str] | None:
    """``""`` (none), ``corners``, ``corners:J`` or ``corners:J:neumann`` as ``(terms J, edges)``; J defaults to 1."""
    if not spec.strip():
        return None
    kind, *rest = spec.replace(" ", "").split(":")
    usage = "corners, corners:J or corners:J:EDGES (J >= 1 singular functions per corner, EDGES dirichlet or neumann)"
    if kind != "corners" or len(rest) > 2:
        raise ConfigurationError(f"enrichment={spec!r}: give {usage}")
    try:
        terms = int(rest[0]) if rest else 1
    except ValueError:
        raise ConfigurationError(f"enrichment={spec!r}: give {usage}") from None
    edges = rest[1] if len(rest) > 1 else "dirichlet"
    if terms < 1 or edges not in EDGE_KINDS:
        raise ConfigurationError(f"enrichment={spec!r}: give {usage}")
    return terms, edges


def corner_enrichment(spec: str, domain: AbstractDomain, n_coordinates: int) -> CornerFunctions | None:
    """The :class:`CornerFunctions` that ``spec`` (:func:`parse_enrichment`) asks for on ``domain``, or None."""
    parsed = parse_enrichment(spec)
    if parsed is None:
        return None
    if domain.dim != 2 or n_coordinates != 2:
        raise ConfigurationError(f"enrichment={spec!r} needs a stationary problem on a 2-D domain, not {domain!r} "
                                 f"with {n_coordinates} coordinates")
    corners = reentrant_corners(domain)
    if not corners:
        raise ConfigurationError(f"enrichment={spec!r}: {domain!r} has no re-entrant corner (no vertex or edge crossing of its "
                                 "polygons and rectangles has an interior angle above π); drop the option")
    return CornerFunctions(corners, *parsed)
