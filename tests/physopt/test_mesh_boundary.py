"""Boundary facets, nodes and outward normals against the NumPy reference and known boxes."""

import numpy as np
import pytest

from physopt import delaunay_mesh, structured_mesh
from physopt.mesh import boundary_facets, boundary_facets_reference, boundary_nodes, facet_normals

pytestmark = pytest.mark.cpu_only(reason="Numba boundary kernels on NumPy arrays, checked against NumPy references")


def _canonical(facets):
    return np.unique(np.sort(facets, axis=1), axis=0)


@pytest.mark.parametrize("mesh", [
    structured_mesh([0.0], [1.0], [7]), structured_mesh([0.0, 0.0], [2.0, 1.0], [6, 4]),
    delaunay_mesh(np.random.default_rng(0).random((70, 2))), structured_mesh([0.0] * 3, [1.0, 1.0, 2.0], [3, 4, 3]),
    delaunay_mesh(np.random.default_rng(1).random((50, 3))),
], ids=["interval", "rectangle", "delaunay2d", "box", "delaunay3d"])
def test_boundary_facets_match_the_reference_and_close_the_surface(mesh):
    facets, cell, opposite = boundary_facets(mesh.cells)
    ref, ref_cell, ref_opposite = boundary_facets_reference(mesh.cells)
    assert np.array_equal(_canonical(facets), _canonical(ref))
    normals = facet_normals(mesh.points, mesh.cells, cell, opposite)
    assert np.allclose(np.linalg.norm(normals, axis=1), 1.0)
    centroid = mesh.points[mesh.cells[cell]].mean(1)
    inward = mesh.points[mesh.cells[cell, opposite]] - centroid  # toward the opposite vertex
    assert ((normals * inward).sum(1) < 0).all()
    if mesh.dim > 1:  # divergence theorem: the area-weighted outward normals of a closed surface sum to zero
        edges = mesh.points[facets[:, 1:]] - mesh.points[facets[:, :1]]
        sizes = np.linalg.norm(edges[:, 0], axis=1) if mesh.dim == 2 else np.linalg.norm(np.cross(edges[:, 0], edges[:, 1]), axis=1) / 2
        assert np.allclose((sizes[:, None] * normals).sum(0), 0.0, atol=1e-12)


def test_boundary_nodes_of_a_structured_rectangle_are_its_perimeter():
    mesh = structured_mesh([0.0, 0.0], [1.0, 1.0], [5, 4])
    nodes = boundary_nodes(mesh.cells)
    on_edge = np.isclose(mesh.points, 0).any(1) | np.isclose(mesh.points, 1).any(1)
    assert np.array_equal(nodes, np.nonzero(on_edge)[0])
    facets, cell, opposite = boundary_facets(mesh.cells)
    assert len(facets) == 2 * (4 + 3)
    normals = facet_normals(mesh.points, mesh.cells, cell, opposite)
    assert set(map(tuple, np.round(normals, 12))) == {(1.0, 0.0), (-1.0, 0.0), (0.0, 1.0), (0.0, -1.0)}
