"""Point location and barycentric interpolation (Numba) against the pure-NumPy references on random meshes."""

import numpy as np
import pytest

from physopt import delaunay_mesh, structured_mesh
from physopt.mesh import (
    PointLocator,
    interpolate,
    interpolate_gradient,
    interpolate_gradient_reference,
    interpolate_reference,
    locate_reference,
)

pytestmark = pytest.mark.cpu_only(reason="Numba point location on NumPy arrays, checked against NumPy references")


def _meshes():
    rng = np.random.default_rng(0)
    return {
        "interval": structured_mesh([0.0], [2.0], [11]),
        "rectangle": structured_mesh([0.0, -1.0], [1.0, 2.0], [13, 9]),
        "delaunay2d": delaunay_mesh(rng.random((300, 2))),
        "box": structured_mesh([0.0, 0.0, 0.0], [1.0, 1.0, 2.0], [5, 6, 4]),
        "delaunay3d": delaunay_mesh(rng.random((120, 3))),
    }


@pytest.mark.parametrize("name", list(_meshes()))
def test_locator_agrees_with_the_reference_and_interpolates_linear_fields_exactly(name):
    mesh = _meshes()[name]
    rng = np.random.default_rng(1)
    lo, hi = mesh.points.min(0), mesh.points.max(0)
    queries = lo - 0.1 * (hi - lo) + rng.random((1500, mesh.dim)) * 1.2 * (hi - lo)
    queries[:50] = mesh.points[rng.choice(len(mesh.points), 50)]  # vertices: on shared faces of many cells
    found, weights = PointLocator(mesh.points, mesh.cells).locate(queries)
    ref_found, ref_weights = locate_reference(mesh.points, mesh.cells, queries)
    assert np.array_equal(found >= 0, ref_found >= 0)  # same inside/outside decisions
    assert (found[:50] >= 0).all() and (found >= 0).sum() > 200
    inside = found >= 0
    assert np.allclose(weights[inside].sum(1), 1.0) and (weights[inside] >= -1e-12).all()
    # a point on a shared face may be given to either cell: compare what matters, the interpolant
    slope = np.arange(1.0, mesh.dim + 1.0)
    values = np.stack([mesh.points @ slope + 0.5, mesh.points[:, 0] * 2.0 - 1.0], -1)
    ours = interpolate(mesh.cells, found, weights, values)
    reference = interpolate_reference(mesh.cells, ref_found, ref_weights, values)
    exact = np.stack([queries @ slope + 0.5, queries[:, 0] * 2.0 - 1.0], -1)
    assert np.abs(ours[inside] - exact[inside]).max() < 1e-12
    assert np.abs(reference[inside] - exact[inside]).max() < 1e-12
    assert np.isnan(ours[~inside]).all() and np.isnan(reference[~inside]).all()


def test_interpolation_of_a_scalar_field_keeps_its_shape_and_matches_the_reference():
    mesh = structured_mesh([0.0, 0.0], [1.0, 1.0], [6, 7])
    rng = np.random.default_rng(2)
    values = rng.random(len(mesh.points))  # not linear: both must still agree cell by cell
    queries = rng.random((400, 2))
    found, weights = PointLocator(mesh.points, mesh.cells).locate(queries)
    assert interpolate(mesh.cells, found, weights, values).shape == (400,)
    assert np.allclose(interpolate(mesh.cells, found, weights, values),
                       interpolate_reference(mesh.cells, found, weights, values), atol=1e-14)


def test_locator_rejects_bad_input_with_a_clear_message():
    mesh = structured_mesh([0.0, 0.0], [1.0, 1.0], [3, 3])
    with pytest.raises(ValueError, match="simplices of 3 vertices"):
        PointLocator(mesh.points, mesh.cells[:, :2])
    with pytest.raises(ValueError, match="degenerate"):
        PointLocator(np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]]), np.array([[0, 1, 2]]))
    with pytest.raises(ValueError, match=r"shape \(Q, 2\)"):
        PointLocator(mesh.points, mesh.cells).locate(np.zeros((4, 3)))


@pytest.mark.parametrize("dim", [2, 3])
def test_interpolated_gradients_match_the_reference_and_are_exact_for_linear_fields(dim):
    rng = np.random.default_rng(3 + dim)
    mesh = delaunay_mesh(rng.random((400, dim)))
    queries = -0.2 + 1.4 * rng.random((2000, dim))
    locator = PointLocator(mesh.points, mesh.cells)
    found, _ = locator.locate(queries)
    inside = found >= 0
    assert inside.sum() > 500 and (~inside).sum() > 100
    values = rng.standard_normal((len(mesh.points), 3))  # not linear: cell by cell agreement
    ours = interpolate_gradient(mesh.points, mesh.cells, found, values)
    assert ours.shape == (2000, 3, dim)
    assert np.allclose(ours[inside], interpolate_gradient_reference(mesh.points, mesh.cells, found, values)[inside],
                       rtol=1e-12, atol=1e-10)
    with_inverse = interpolate_gradient(mesh.points, mesh.cells, found, values, inverse=locator.inverse)
    assert np.array_equal(ours, with_inverse, equal_nan=True)
    slope = np.arange(1.0, dim + 1.0)
    linear = mesh.points @ slope - 0.5  # scalar field: (Q, d)
    for grad in (interpolate_gradient(mesh.points, mesh.cells, found, linear),
                 interpolate_gradient_reference(mesh.points, mesh.cells, found, linear)):
        assert grad.shape == (2000, dim)
        assert np.abs(grad[inside] - slope).max() < 1e-12
        assert np.isnan(grad[~inside]).all()
    assert np.isnan(ours[~inside]).all()
