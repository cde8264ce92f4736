"""Structured meshes (Numba kernels) against the NumPy reference: same points, same cells in the same order."""

import numpy as np
import pytest

import physopt
from physopt.mesh import cell_measures, structured_cells, structured_mesh, structured_mesh_reference, structured_points

pytestmark = pytest.mark.cpu_only(reason="Numba mesh kernels on NumPy arrays, checked against NumPy references")

BOXES = [
    ([0.0], [2.0], [11]),
    ([-1.0], [3.0], 2),
    ([0.0, -1.0], [1.0, 2.0], [13, 9]),
    ([0.0, 0.0], [1.0, 1.0], [2, 2]),
    ([0.25, 0.0], [0.5, 7.0], [2, 5]),
    ([0.0, 0.0, 0.0], [1.0, 1.0, 2.0], [5, 6, 4]),
    ([0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [3, 5, 4]),
    ([0.0, 0.0, 0.0], [1.0, 1.0, 1.0], 2),
    ([-0.3, 1.0, 2.0], [0.7, 1.1, 5.0], [2, 7, 3]),
    ([0.1, -3.0, 1e-3], [0.7, 1e5, 2e-3], [8, 3, 6]),
]


@pytest.mark.parametrize("lo, hi, n", BOXES)
def test_numba_mesh_equals_the_reference(lo, hi, n):
    mesh, ref = structured_mesh(lo, hi, n), structured_mesh_reference(lo, hi, n)
    assert np.allclose(mesh.points, ref.points, rtol=0, atol=1e-15)
    assert np.array_equal(mesh.points, ref.points)  # linspace rounding reproduced exactly
    assert np.array_equal(mesh.cells, ref.cells)
    assert mesh.cells.dtype == np.int64 and mesh.points.dtype == np.float64
    assert mesh.shape == ref.shape and mesh.cell_type == ref.cell_type
    assert np.array_equal(structured_points(lo, hi, mesh.shape), mesh.points)
    assert np.array_equal(structured_cells(mesh.shape), mesh.cells)


@pytest.mark.parametrize("lo, hi, n", BOXES)
def test_cells_are_positive_and_fill_the_box(lo, hi, n):
    mesh = structured_mesh(lo, hi, n)
    lo, hi = np.atleast_1d(lo), np.atleast_1d(hi)
    dim = len(lo)
    n = np.broadcast_to(n, (dim,))
    assert mesh.points.shape == (np.prod(n), dim)
    assert len(mesh.cells) == {1: 1, 2: 2, 3: 6}[dim] * np.prod(n - 1)
    edges = mesh.points[mesh.cells[:, 1:]] - mesh.points[mesh.cells[:, :1]]
    assert (np.linalg.det(np.swapaxes(edges, 1, 2)) > 0).all()  # positively oriented
    measures = cell_measures(mesh.points, mesh.cells)
    assert (measures > 0).all()
    assert np.isclose(measures.sum(), np.prod(hi - lo), rtol=1e-12)


def test_points_are_in_c_order_like_meshgrid():
    mesh = structured_mesh([0.0, 1.0, 2.0], [1.0, 2.0, 4.0], [3, 5, 4])
    grid = np.meshgrid(*(np.linspace(a, b, k) for a, b, k in [(0, 1, 3), (1, 2, 5), (2, 4, 4)]), indexing="ij")
    assert np.array_equal(mesh.points, np.stack([g.ravel() for g in grid], -1))


def test_reversed_axes_keep_the_reference_orientation():
    for lo, hi in [([1.0, 0.0, 0.0], [0.0, 1.0, 1.0]), ([1.0, 1.0, 0.0], [0.0, 0.0, 1.0])]:
        mesh, ref = structured_mesh(lo, hi, [3, 4, 2]), structured_mesh_reference(lo, hi, [3, 4, 2])
        assert np.array_equal(mesh.cells, ref.cells) and np.array_equal(mesh.points, ref.points)


def test_public_api_is_the_numba_version():
    assert physopt.structured_mesh is structured_mesh


@pytest.mark.parametrize("build", [structured_mesh, structured_mesh_reference])
def test_bad_input_raises_a_clear_message(build):
    with pytest.raises(ValueError, match=r"at least 2 points per axis, got \(1, 3\)"):
        build([0.0, 0.0], [1.0, 1.0], [1, 3])
    with pytest.raises(ValueError, match="at least 2 points per axis"):
        build([0.0], [1.0], 0)
    with pytest.raises(ValueError, match="1-3 dimensions, not 4"):
        build([0.0] * 4, [1.0] * 4, 3)


def test_kernels_reject_bad_shapes():
    with pytest.raises(ValueError, match="1-3 dimensions, not 4"):
        structured_cells([2, 2, 2, 2])
    with pytest.raises(ValueError, match="at least 2 points per axis"):
        structured_points([0.0, 0.0], [1.0, 1.0], [2, 1])
