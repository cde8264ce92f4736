r"""A domain given by a simplex mesh: from arrays or any file meshio reads.

Interior samples pick a cell with probability proportional to its measure
(one unit coordinate, inverted through the cumulative measures) and a
uniform point in it (the spacings of the remaining ``d`` sorted unit
coordinates are uniform barycentric coordinates); boundary samples do the same
on the boundary facets, with the facets' outward normals. So both are uniform
by measure, for random and quasi-random unit points alike.

Boundary facets may carry named tags (``boundary_tags``, or the facet physical
groups of a gmsh file), matched to the boundary facets by their sorted vertex
ids; ``boundary_part(name)`` turns a tag into a ``where`` predicate for
boundary conditions.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from physopt import ConfigurationError, Mesh
from physopt.mesh import PointLocator, boundary_facets, cell_measures, facet_normals

from ._domain import AbstractDomain

__all__ = ["MeshDomain"]

_SIMPLEX = {1: "line", 2: "triangle", 3: "tetra"}
_FACET = {1: "vertex", 2: "line", 3: "triangle"}


def _uniform_in_simplex(unit: np.ndarray) -> np.ndarray:
    """Barycentric coordinates ``(n, k + 1)`` uniform on the k-simplex from ``k`` unit coordinates ``(n, k)``."""
    s = np.sort(unit, axis=1)
    edges = np.concatenate([np.zeros((len(s), 1)), s, np.ones((len(s), 1))], axis=1)
    return np.diff(edges, axis=1)


def _facet_measures(points: np.ndarray, facets: np.ndarray) -> np.ndarray:
    k = facets.shape[1]
    if k == 1:
        return np.ones(len(facets))
    edges = points[facets[:, 1:]] - points[facets[:, :1]]  # (F, k-1, d)
    gram = edges @ np.transpose(edges, (0, 2, 1))
    return np.sqrt(np.clip(np.linalg.det(gram), 0, None)) / np.prod(np.arange(1, k))


def _match_rows(table: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Row of ``table`` (unique rows) equal to each row of ``queries``, -1 where none is."""
    if len(queries) == 0:
        return np.zeros(0, np.int64)
    _, inverse = np.unique(np.concatenate([table, queries]), axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    lookup = np.full(inverse.max() + 1, -1, np.int64)
    lookup[inverse[: len(table)]] = np.arange(len(table))
    return lookup[inverse[len(table):]]


class BoundaryPart:
    """``where`` predicate of one tagged boundary part: True for points ``(N, n)`` on one of its facets.

    Only the first ``d`` columns are looked at (time, if any, is ignored). A point
    counts as on a facet within ``tol`` (orthogonal distance ``tol``, barycentric
    coordinates ``>= -tol / facet diameter``), so a corner shared by two parts is
    on both. Candidate facets come from k-d trees over the facet centroids, one
    per factor-of-two class of facet size, so the cost grows with the number of
    points times the facets near each, not with all facets.
    """

    _CHUNK = 1 << 15

    def __init__(self, name: str, vertices: np.ndarray, tol: float):
        from scipy.spatial import cKDTree

        self.name, self.tol = name, float(tol)
        self.dim = vertices.shape[2]
        self._v0 = vertices[:, 0]
        edges = vertices[:, 1:] - vertices[:, :1]  # (T, k - 1, d)
        self._edges = edges
        if edges.shape[1]:
            self._pinv = np.linalg.pinv(np.transpose(edges, (0, 2, 1)))  # (T, k - 1, d): least-squares barycentrics
            diameter = np.linalg.norm(vertices[:, :, None] - vertices[:, None], axis=-1).max((1, 2))
            self._slack = self.tol / np.maximum(diameter, np.finfo(float).tiny)
        centroids = vertices.mean(1)
        radius = np.linalg.norm(vertices - centroids[:, None], axis=-1).max(1)
        self._classes = []
        if len(vertices):
            top = radius.max()
            size_class = np.zeros(len(radius), np.int64) if top == 0 else np.minimum(
                np.floor(np.log2(top / np.maximum(radius, top * 2.0**-40))), 40).astype(np.int64)
            for c in np.unique(size_class):
                members = np.nonzero(size_class == c)[0]
                self._classes.append((members, cKDTree(centroids[members]), radius[members].max() + self.tol))

    def __repr__(self):
        return f"boundary_part({self.name!r})"

    def __call__(self, points) -> np.ndarray:
        from scipy.spatial import cKDTree

        x = np.atleast_2d(np.asarray(points, dtype=np.float64))
        if x.shape[1] < self.dim:
            raise ConfigurationError(f"{self!r} needs points with at least {self.dim} coordinates, got shape {x.shape}")
        x = x[:, : self.dim]
        mask = np.zeros(len(x), bool)
        for start in range(0, len(x), self._CHUNK):
            chunk = x[start : start + self._CHUNK]
            tree = cKDTree(chunk)
            for members, facet_tree, reach in self._classes:
                pairs = tree.sparse_distance_matrix(facet_tree, reach, output_type="ndarray")
                i, j = pairs["i"].astype(np.int64), members[pairs["j"]]
                todo = ~mask[start + i]
                i, j = i[todo], j[todo]
                mask[start + i[self._on_facet(chunk[i], j)]] = True
        return mask

    def _on_facet(self, x, facet):
        y = x - self._v0[facet]
        if not self._edges.shape[1]:  # 1-D: facets are points
            return np.linalg.norm(y, axis=1) <= self.tol
        lam = np.einsum("pkd,pd->pk", self._pinv[facet], y)
        off = y - np.einsum("pk,pkd->pd", lam, self._edges[facet])
        slack = -self._slack[facet]
        return (np.linalg.norm(off, axis=1) <= self.tol) & (lam.min(1) >= slack) & (1 - lam.sum(1) >= slack)


class MeshDomain(AbstractDomain):
    """The region covered by a simplex mesh (``points (N, d)``, ``cells (C, d + 1)``), d = 1, 2, 3.

    ``boundary_tags`` names parts of the boundary: ``{name: facets}``, each
    ``facets`` an integer array ``(F_k, d)`` of vertex ids into ``points`` (the
    points as given), every row a boundary facet of the mesh. Tags get ids 1, 2,
    ... in order (a gmsh file's physical tags keep their numbers); ``facet_tags``
    holds the id of each boundary facet in ``facets`` (0: untagged; a facet in
    several parts: the last), ``boundary_part_ids`` maps names to ids.
    """

    has_boundary_factor = False

    def __init__(self, points, cells, boundary_tags=None):
        points = np.asarray(points, dtype=np.float64)
        cells = np.asarray(cells, dtype=np.int64)
        if points.ndim != 2 or points.shape[1] not in _SIMPLEX:
            raise ConfigurationError(f"MeshDomain needs points of shape (N, 1|2|3), got {points.shape}")
        self.dim = points.shape[1]
        if cells.ndim != 2 or cells.shape[1] != self.dim + 1:
            raise ConfigurationError(
                f"MeshDomain needs simplex cells with {self.dim + 1} vertices for {self.dim}-D points, got {cells.shape}"
            )
        if cells.min() < 0 or cells.max() >= len(points):
            raise ConfigurationError("MeshDomain: cells refer to points that do not exist")
        used = np.unique(cells)
        self._n_given, self._remap = len(points), None
        if len(used) < len(points):  # drop points no cell uses (they are not in the domain)
            remap = np.full(len(points), -1, np.int64)
            remap[used] = np.arange(len(used))
            points, cells = points[used], remap[cells]
            self._remap = remap  # given point id -> id in self.points (-1: dropped)
        self.points, self.cells = points, cells
        self.n_unit_interior, self.n_unit_boundary = self.dim + 1, self.dim
        self._measures = cell_measures(points, cells)
        self._cumulative = np.cumsum(self._measures) / self._measures.sum()
        self.facets, facet_cell, facet_opposite = boundary_facets(cells, len(points))
        self.normals = facet_normals(points, cells, facet_cell, facet_opposite)
        self._facet_measures = _facet_measures(points, self.facets)
        self._facet_cumulative = np.cumsum(self._facet_measures) / self._facet_measures.sum()
        self._locator = None
        self.facet_tags = np.zeros(len(self.facets), np.int64)
        self.boundary_part_ids: dict[str, int] = {}
        self._part_facets: dict[str, np.ndarray] = {}
        self._part_predicates: dict[str, BoundaryPart] = {}
        if boundary_tags is not None:
            if not hasattr(boundary_tags, "items"):
                raise ConfigurationError(
                    f"MeshDomain boundary_tags must be a dict {{name: facets (F, {self.dim}) of vertex ids}}, "
                    f"got {type(boundary_tags).__name__}"
                )
            self._tag_boundary(dict(boundary_tags))

    def _tag_boundary(self, tags: dict, ids=None, skip_interior: bool = False):
        """Match ``{name: facets (vertex ids of the given points)}`` to the boundary facets, ids ``1..`` unless given."""
        ids = list(range(1, len(tags) + 1)) if ids is None else list(ids)
        boundary = np.sort(self.facets, axis=1)
        for (name, facets), tag in zip(tags.items(), ids):
            if not isinstance(name, str) or not name:
                raise ConfigurationError(f"MeshDomain boundary tag names must be non-empty strings, got {name!r}")
            try:
                facets = np.asarray(facets, dtype=np.int64)
            except (TypeError, ValueError):
                raise ConfigurationError(f"MeshDomain boundary tag '{name}': facets must be integer vertex ids") from None
            if self.dim == 1 and facets.ndim == 1:
                facets = facets[:, None]
            if facets.ndim != 2 or facets.shape[1] != self.dim:
                raise ConfigurationError(
                    f"MeshDomain boundary tag '{name}' needs facets of shape (F, {self.dim}) (vertex ids of "
                    f"{_FACET[self.dim]}s), got {facets.shape}"
                )
            if len(facets) and (facets.min() < 0 or facets.max() >= self._n_given):
                raise ConfigurationError(f"MeshDomain boundary tag '{name}' refers to points that do not exist")
            renumbered = facets if self._remap is None else self._remap[facets]
            found = _match_rows(boundary, np.sort(renumbered, axis=1))
            missing = found < 0
            if missing.all() and len(found) and skip_interior:
                continue  # e.g. an interface between subdomains: not part of the boundary
            if missing.any():
                first = facets[np.argmax(missing)]
                dropped = self._remap is not None and (self._remap[first] < 0).any()
                raise ConfigurationError(
                    f"MeshDomain boundary tag '{name}' lists {int(missing.sum())} of its {len(facets)} facet(s) that "
                    f"are not boundary facets of the mesh (first: vertices {first.tolist()}"
                    + (", a point no cell uses" if dropped else f" at {self.points[renumbered[np.argmax(missing)]].tolist()}")
                    + "); tag only facets on the boundary"
                )
            if name in self.boundary_part_ids:
                found = np.union1d(self._part_facets[name], found)
            self.boundary_part_ids[name] = int(tag)
            self._part_facets[name] = np.unique(found)
            self.facet_tags[found] = int(tag)

    @property
    def boundary_parts(self) -> list[str]:
        """Names of the tagged boundary parts."""
        return list(self.boundary_part_ids)

    def _part(self, name):
        if not isinstance(name, str) or name not in self._part_facets:
            known = ", ".join(repr(n) for n in self.boundary_parts) or "none (this mesh has no boundary tags)"
            raise ConfigurationError(f"MeshDomain has no boundary part {name!r}; its boundary parts: {known}")
        return self._part_facets[name]

    def boundary_part_measure(self, name: str) -> float:
        """Length / area of the boundary part ``name`` (a point count in 1-D)."""
        return float(self._facet_measures[self._part(name)].sum())

    def boundary_part(self, name: str, tol: float | None = None) -> BoundaryPart:
        """A ``where`` predicate: True for the points ``(N, n)`` that lie on a facet tagged ``name``.

        ``tol`` defaults to 1e-9 times the diagonal of the mesh's bounding box.
        Use it as ``Dirichlet(0.0, where=domain.boundary_part("inlet"))``, or write
        ``where="inlet"``.
        """
        facets = self._part(name)
        if tol is None:
            if name not in self._part_predicates:
                diagonal = float(np.linalg.norm(self.points.max(0) - self.points.min(0)))
                self._part_predicates[name] = BoundaryPart(name, self.points[self.facets[facets]], 1e-9 * diagonal)
            return self._part_predicates[name]
        return BoundaryPart(name, self.points[self.facets[facets]], tol)

    @classmethod
    def from_file(cls, path) -> "MeshDomain":
        """Read any mesh meshio reads (``.msh``, ``.vtu``, ``.xdmf``, ...); the highest-dimensional simplices make the domain.

        A gmsh file's physical groups of facets (vertices / lines / triangles in
        1-D / 2-D / 3-D) become boundary tags, named from its physical names (an
        unnamed group by its number); groups lying wholly inside the domain, such
        as interfaces between subdomains, are left out.
        """
        import meshio

        path = Path(path)
        if not path.exists():
            raise ConfigurationError(f"mesh file {path} does not exist")
        mesh = meshio.read(path)
        for dim, kind in ((3, "tetra"), (2, "triangle"), (1, "line")):
            blocks = [b.data for b in mesh.cells if b.type == kind]
            if blocks:
                points = mesh.points[:, :dim]
                if dim < mesh.points.shape[1] and np.abs(mesh.points[:, dim:]).max() > 0:
                    raise ConfigurationError(f"{path}: {kind} cells with points off the {dim}-D coordinate plane")
                domain = cls(points, np.concatenate(blocks))
                tags, ids = _gmsh_facet_groups(mesh, dim)
                domain._tag_boundary(tags, ids, skip_interior=True)
                return domain
        raise ConfigurationError(f"{path}: no line, triangle or tetra cells (found: {[b.type for b in mesh.cells]})")

    def __repr__(self):
        parts = f", boundary parts {self.boundary_parts}" if self.boundary_part_ids else ""
        return f"MeshDomain({len(self.points)} points, {len(self.cells)} {_SIMPLEX[self.dim]} cells{parts})"

    @property
    def measure(self):
        return float(self._measures.sum())

    @property
    def boundary_measure(self):
        return float(self._facet_measures.sum())

    @property
    def bounds(self):
        return self.points.min(0), self.points.max(0)

    def map_interior(self, unit):
        cell = np.minimum(np.searchsorted(self._cumulative, unit[:, 0], side="right"), len(self.cells) - 1)
        bary = _uniform_in_simplex(unit[:, 1:])
        return np.einsum("nk,nkd->nd", bary, self.points[self.cells[cell]])

    def map_boundary(self, unit):
        facet = np.minimum(np.searchsorted(self._facet_cumulative, unit[:, 0], side="right"), len(self.facets) - 1)
        bary = _uniform_in_simplex(unit[:, 1:])
        points = np.einsum("nk,nkd->nd", bary, self.points[self.facets[facet]])
        return points, self.normals[facet]

    def contains(self, points, tol=1e-12):
        if self._locator is None:
            self._locator = PointLocator(self.points, self.cells)
        return self._locator.locate(np.atleast_2d(np.asarray(points, dtype=np.float64)), tol=max(tol, 1e-12))[0] >= 0

    def boundary_factor(self, x: torch.Tensor) -> torch.Tensor:
        raise ConfigurationError(
            "a mesh domain has no smooth boundary factor for --bc hard; use --bc soft (the default 'auto' does), "
            "or give the problem a HardConstraint"
        )

    def evaluation_mesh(self, resolution=None):
        return Mesh(self.points, _SIMPLEX[self.dim], self.cells)


def _gmsh_facet_groups(mesh, dim: int) -> tuple[dict[str, np.ndarray], list[int]]:
    """``({name: facets}, [physical tag])`` of the facet physical groups of a mesh read by meshio from gmsh."""
    physical = mesh.cell_data.get("gmsh:physical")
    if physical is None:
        return {}, []
    facets, tags = [], []
    for block, tag in zip(mesh.cells, physical):
        if block.type == _FACET[dim]:
            facets.append(np.asarray(block.data, np.int64).reshape(len(block.data), dim))
            tags.append(np.asarray(tag, np.int64).reshape(-1))
    if not facets:
        return {}, []
    facets, tags = np.concatenate(facets), np.concatenate(tags)
    names = {}
    for name, value in (mesh.field_data or {}).items():
        value = np.asarray(value).reshape(-1)
        if value.shape == (2,) and int(value[1]) == dim - 1:  # [tag, dim]: facet groups only
            names[int(value[0])] = name
    groups, ids = {}, []
    for tag in np.unique(tags):
        if tag <= 0:  # 0: no physical group
            continue
        groups[names.get(int(tag), str(int(tag)))] = facets[tags == tag]
        ids.append(int(tag))
    return groups, ids
