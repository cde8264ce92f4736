"""MeshDomain: measures, sampling uniform by measure, boundary normals, files, and a PINN on an L-shaped mesh."""

import math

import meshio
import numpy as np
import pytest
import torch

from physopt import ConfigurationError, laplacian, structured_mesh
from problems import Dirichlet, MeshDomain, Problem
from solvers import PINN


def l_shape(n=9):
    """[-1, 1]^2 without the quadrant (0, 1)^2, as triangles."""
    mesh = structured_mesh([-1.0, -1.0], [1.0, 1.0], [n, n])
    centroids = mesh.points[mesh.cells].mean(1)
    keep = ~((centroids[:, 0] > 0) & (centroids[:, 1] > 0))
    return MeshDomain(mesh.points, mesh.cells[keep])


def test_measures_of_the_l_shape():
    d = l_shape()
    assert d.measure == pytest.approx(3.0) and d.boundary_measure == pytest.approx(8.0)
    assert len(d.points) == 81 - 16  # nodes only the removed quadrant's cells used are dropped
    assert not d.contains(np.array([[0.5, 0.5], [1.0, 1.0]])).any()
    lo, hi = d.bounds
    assert np.allclose(lo, -1) and np.allclose(hi, 1)


@pytest.mark.parametrize("method", ["uniform", "sobol"])
def test_interior_and_boundary_samples_are_uniform_by_measure(method):
    d = l_shape()
    x = d.sample_interior(6000, method, rng=0)
    assert d.contains(x).all()
    assert not d.contains(np.array([[0.5, 0.5]]))[0]
    assert abs(((x[:, 0] < 0) & (x[:, 1] < 0)).mean() - 1 / 3) < 0.03  # one of three unit squares
    b, normals = d.sample_boundary(4000, method, rng=1)
    assert d.contains(b, tol=1e-9).all()
    # the two re-entrant edges (x = 0, y in [0, 1] and y = 0, x in [0, 1]) are 2 of 8 units of boundary
    reentrant = (np.isclose(b[:, 0], 0) & (b[:, 1] > 0)) | (np.isclose(b[:, 1], 0) & (b[:, 0] > 0))
    assert abs(reentrant.mean() - 0.25) < 0.03
    # outward normals there point into the removed quadrant
    assert np.allclose(normals[np.isclose(b[:, 0], 0) & (b[:, 1] > 1e-9)], [1.0, 0.0])
    assert np.allclose(np.linalg.norm(normals, axis=1), 1.0)


def test_reads_any_meshio_file_and_explains_bad_input(tmp_path):
    d = l_shape(5)
    path = tmp_path / "l.vtu"
    meshio.write(path, meshio.Mesh(np.c_[d.points, np.zeros(len(d.points))], [("triangle", d.cells)]))
    again = MeshDomain.from_file(path)
    assert again.dim == 2 and again.measure == pytest.approx(3.0)
    with pytest.raises(ConfigurationError, match="does not exist"):
        MeshDomain.from_file(tmp_path / "missing.msh")
    with pytest.raises(ConfigurationError, match="3 vertices"):
        MeshDomain(d.points, d.cells[:, :2])
    with pytest.raises(ConfigurationError, match="--bc soft"):
        d.boundary_factor(torch.zeros(2))


class LShapePoisson(Problem):
    """-Δu = 2π² sin πx sin πy on the L-shape, u = sin πx sin πy on the boundary."""

    domain = l_shape(9)
    conditions = [Dirichlet(lambda x: torch.sin(math.pi * x[0]) * torch.sin(math.pi * x[1]))]

    def residual(self, u, x):
        return -laplacian(u)(x) - 2 * math.pi**2 * torch.sin(math.pi * x[0]) * torch.sin(math.pi * x[1])

    def exact(self, x):
        return torch.sin(math.pi * x[0]) * torch.sin(math.pi * x[1])


def test_a_pinn_solves_poisson_on_an_l_shaped_mesh_domain():
    solver = PINN(LShapePoisson(), optimizer="lm", damping=1e-3, steps=100, points=300, boundary_points=120,
                  hidden="20", error_every=0)
    assert solver.hard is None  # bc=auto falls back to penalties: a mesh has no smooth boundary factor
    errors = solver.solve().errors()
    assert errors["rel_l2"] < 1e-3  # measured 8.5e-5 (error on the mesh nodes, none in the removed quadrant)
    with pytest.raises(ConfigurationError, match="boundary factor"):
        PINN(LShapePoisson(), bc="hard", steps=1)


# ----- boundary tags -------------------------------------------------------------------
from pathlib import Path  # noqa: E402

from physopt import ProblemDefinitionError  # noqa: E402
from problems import Box, Neumann  # noqa: E402

LSHAPE_MSH = Path(__file__).parents[2] / "problems" / "_library" / "data" / "lshape.msh"


def on_notch(x):
    """The re-entrant edges x = 0, 0 <= y <= 1 and y = 0, 0 <= x <= 1."""
    return (np.isclose(x[:, 0], 0, atol=1e-9) & (x[:, 1] > -1e-9)) | (np.isclose(x[:, 1], 0, atol=1e-9) & (x[:, 0] > -1e-9))


def tagged_l_shape(n=9, flip=False):
    """``l_shape(n)`` with its boundary facets tagged "outer" / "reentrant", given in the ids of the full grid."""
    mesh = structured_mesh([-1.0, -1.0], [1.0, 1.0], [n, n])
    centroids = mesh.points[mesh.cells].mean(1)
    cells = mesh.cells[~((centroids[:, 0] > 0) & (centroids[:, 1] > 0))]
    untagged = MeshDomain(mesh.points, cells)
    grid_ids = np.unique(cells)  # the constructor drops the removed quadrant's nodes and renumbers the rest
    facets = grid_ids[untagged.facets]
    if flip:
        facets = facets[:, ::-1]  # vertex order does not matter
    notch = on_notch(untagged.points[untagged.facets].mean(1))
    return mesh, cells, {"outer": facets[~notch], "reentrant": facets[notch]}


def test_the_shipped_gmsh_file_tags_outer_and_reentrant_edges():
    raw = meshio.read(LSHAPE_MSH)
    assert {k: list(v) for k, v in raw.field_data.items()} == {"outer": [1, 1], "reentrant": [2, 1], "domain": [3, 2]}
    d = MeshDomain.from_file(LSHAPE_MSH)
    plain = MeshDomain.from_file(LSHAPE_MSH.with_suffix(".vtu"))  # same mesh: lshape_poisson's
    assert np.array_equal(d.points, plain.points) and np.array_equal(d.cells, plain.cells)
    assert d.boundary_parts == ["outer", "reentrant"] and d.boundary_part_ids == {"outer": 1, "reentrant": 2}
    assert "domain" not in d.boundary_parts  # a cell group, not a facet group
    assert np.bincount(d.facet_tags).tolist() == [0, 48, 16]  # every boundary facet tagged
    assert d.boundary_part_measure("outer") == pytest.approx(6.0)
    assert d.boundary_part_measure("reentrant") == pytest.approx(2.0)
    midpoints = d.points[d.facets].mean(1)
    assert np.array_equal(d.facet_tags == 2, on_notch(midpoints))
    assert "boundary parts ['outer', 'reentrant']" in repr(d) and plain.boundary_parts == []


@pytest.mark.parametrize("method", ["uniform", "sobol"])
def test_boundary_part_masks_agree_with_the_geometry(method):
    d = MeshDomain.from_file(LSHAPE_MSH)
    b, _ = d.sample_boundary(5000, method, rng=3)
    reentrant, outer = d.boundary_part("reentrant")(b), d.boundary_part("outer")(b)
    assert np.array_equal(reentrant, on_notch(b))
    assert np.array_equal(outer, ~on_notch(b))  # no sample falls exactly on a shared corner
    assert abs(reentrant.mean() - 0.25) < 0.03
    # corners shared by the parts are on both; points off the boundary on neither; time columns are ignored
    corners = np.array([[0.0, 1.0], [1.0, 0.0], [0.0, 0.0], [0.5, 0.5], [-0.5, -0.5], [0.0, 0.5 + 1e-6]])
    assert d.boundary_part("reentrant")(corners).tolist() == [True, True, True, False, False, True]
    assert d.boundary_part("outer")(corners).tolist() == [True, True, False, False, False, False]
    assert d.boundary_part("reentrant")(np.c_[corners, np.full(len(corners), 7.0)]).tolist()[:3] == [True] * 3
    near = np.array([[1e-6, 0.5], [0.5, -1e-6]])
    assert not d.boundary_part("reentrant")(near).any()
    assert d.boundary_part("reentrant", tol=1e-5)(near).all()


def test_boundary_part_on_many_points_of_a_3d_surface():
    # a cube of tetrahedra, the face x = 0 tagged; 100,000 points in one call (several chunks)
    mesh = structured_mesh([0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [5, 5, 5])
    d = MeshDomain(mesh.points, mesh.cells)
    face = np.isclose(d.points[d.facets][:, :, 0], 0).all(1)
    tagged = MeshDomain(mesh.points, mesh.cells, boundary_tags={"left": d.facets[face]})
    assert tagged.boundary_part_measure("left") == pytest.approx(1.0)
    b, _ = tagged.sample_boundary(100_000, "uniform", rng=0)
    mask = tagged.boundary_part("left")(b)
    assert np.array_equal(mask, np.isclose(b[:, 0], 0))


def test_array_tags_follow_the_point_renumbering():
    mesh, cells, tags = tagged_l_shape(flip=True)
    d = MeshDomain(mesh.points, cells, boundary_tags=tags)
    assert len(d.points) < len(mesh.points)  # points were dropped and renumbered
    assert d.boundary_parts == ["outer", "reentrant"] and d.boundary_part_ids == {"outer": 1, "reentrant": 2}
    assert d.boundary_part_measure("reentrant") == pytest.approx(2.0)
    assert np.array_equal(d.facet_tags == 2, on_notch(d.points[d.facets].mean(1)))
    partial_tags = MeshDomain(mesh.points, cells, boundary_tags={"notch": tags["reentrant"]})
    assert np.bincount(partial_tags.facet_tags).tolist() == [24, 8]  # untagged facets: id 0
    # 1-D: facets are vertices
    line = MeshDomain(np.linspace(0, 1, 5)[:, None], np.c_[np.arange(4), np.arange(1, 5)], boundary_tags={"left": [0]})
    assert line.boundary_part("left")(np.array([[0.0], [1.0]])).tolist() == [True, False]


def test_bad_tags_and_names_are_explained():
    mesh, cells, tags = tagged_l_shape()
    d = MeshDomain(mesh.points, cells, boundary_tags=tags)
    with pytest.raises(ConfigurationError, match=r"no boundary part 'inlet'; its boundary parts: 'outer', 'reentrant'"):
        d.boundary_part("inlet")
    with pytest.raises(ConfigurationError, match="no boundary tags"):
        l_shape().boundary_part("outer")
    centre = int(np.argmin(np.linalg.norm(mesh.points - [-0.5, -0.5], axis=1)))  # an interior node
    inner = [[centre, centre + 1]]
    with pytest.raises(ConfigurationError, match=r"'wall' lists 1 of its 2 facet\(s\) that are not boundary facets"):
        MeshDomain(mesh.points, cells, boundary_tags={"wall": np.concatenate([tags["outer"][:1], inner])})
    removed = int(np.argmin(np.linalg.norm(mesh.points - [0.5, 0.5], axis=1)))  # a node only removed cells use
    with pytest.raises(ConfigurationError, match="a point no cell uses"):
        MeshDomain(mesh.points, cells, boundary_tags={"wall": [[removed, removed + 1]]})
    with pytest.raises(ConfigurationError, match=r"shape \(F, 2\)"):
        MeshDomain(mesh.points, cells, boundary_tags={"wall": [[0, 1, 2]]})
    with pytest.raises(ConfigurationError, match="must be a dict"):
        MeshDomain(mesh.points, cells, boundary_tags=[tags["outer"]])
    with pytest.raises(ProblemDefinitionError, match="or the name of a tagged boundary part"):
        Dirichlet(0.0, where=3)


def test_gmsh_interface_groups_are_not_boundary_parts(tmp_path):
    # a unit square with its interior edges tagged as an interface and its bottom side tagged
    mesh = structured_mesh([0.0, 0.0], [1.0, 1.0], [3, 3])
    d = MeshDomain(mesh.points, mesh.cells)
    side = d.facets[np.isclose(d.points[d.facets][:, :, 1], 0).all(1)]
    edges = np.sort(np.concatenate([mesh.cells[:, [0, 1]], mesh.cells[:, [1, 2]], mesh.cells[:, [0, 2]]]), axis=1)
    boundary = {tuple(f) for f in np.sort(d.facets, axis=1)}
    interface = np.array([e for e in np.unique(edges, axis=0) if tuple(e) not in boundary])  # all interior edges
    lines = np.concatenate([side, interface])
    ltag = np.r_[np.full(len(side), 5), np.full(len(interface), 6)]
    meshio.write(tmp_path / "sq.msh", meshio.Mesh(
        np.c_[mesh.points, np.zeros(len(mesh.points))], [("line", lines), ("triangle", mesh.cells)],
        cell_data={"gmsh:physical": [ltag, np.full(len(mesh.cells), 5)], "gmsh:geometrical": [ltag, np.ones(len(mesh.cells))]},
        field_data={"bottom": np.array([5, 1]), "interface": np.array([6, 1]), "body": np.array([5, 2])},
    ), file_format="gmsh22", binary=False)
    again = MeshDomain.from_file(tmp_path / "sq.msh")
    assert again.boundary_parts == ["bottom"] and again.boundary_part_ids == {"bottom": 5}
    assert again.boundary_part_measure("bottom") == pytest.approx(1.0)


class TaggedLShapePoisson(Problem):
    """-Δu = 1 on the shipped tagged L-shape; u = 0 on the re-entrant edges, ∂u/∂n = 0 elsewhere."""

    domain = MeshDomain.from_file(LSHAPE_MSH)
    conditions = [Dirichlet(0.0, where="reentrant"), Neumann(0.0, where="outer")]

    def residual(self, u, x):
        return -laplacian(u)(x) - 1.0


def test_a_pinn_samples_named_boundary_parts():
    solver = PINN(TaggedLShapePoisson(), steps=1, points=64, boundary_points=200, hidden="8", error_every=0)
    batch = {e["condition"].kind: e for e in solver.batch.conditions}
    dirichlet = batch["dirichlet"]["points"].detach().cpu().numpy()
    neumann = batch["neumann"]["points"].detach().cpu().numpy()
    assert len(dirichlet) == 200 and on_notch(dirichlet).all()
    assert len(neumann) == 200 and not on_notch(neumann).any()
    assert repr(TaggedLShapePoisson.conditions[0]) == "Dirichlet(0.0, where='reentrant')"
    # the normals of the outer part point out of the bounding square
    normals = batch["neumann"]["normals"].detach().cpu().numpy()
    assert np.allclose(np.abs(normals).max(1), 1.0)
    assert np.allclose((normals * neumann).sum(1), np.abs(neumann).max(1))


class Misnamed(TaggedLShapePoisson):
    conditions = [Dirichlet(0.0, where="inlet")]


class NamedPartOnABox(TaggedLShapePoisson):
    domain = Box([0.0, 0.0], [1.0, 1.0])
    conditions = [Dirichlet(0.0, where="outer")]


def test_a_pinn_explains_unknown_or_unavailable_part_names():
    with pytest.raises(ProblemDefinitionError, match=r"where='inlet'.*no boundary part 'inlet'; its boundary parts: 'outer'"):
        PINN(Misnamed(), steps=1, points=16, boundary_points=8, hidden="4")
    with pytest.raises(ProblemDefinitionError, match="has no boundary tags"):
        PINN(NamedPartOnABox(), steps=1, points=16, boundary_points=8, hidden="4")
