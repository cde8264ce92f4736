"""Unit-cube sampling and evaluation meshes."""

from __future__ import annotations

import itertools
import math
from collections import Counter

import numpy as np
import pytest
from scipy.stats import qmc

from physopt import SAMPLING_METHODS, Mesh, delaunay_mesh, structured_mesh, unit_cube_samples

pytestmark = pytest.mark.cpu_only(reason="NumPy/SciPy sampling and mesh construction: no tensors")


# --------------------------------------------------------------------------- sampling
def test_sampling_methods_are_listed():
    assert set(SAMPLING_METHODS) == {"uniform", "sobol", "halton", "grid"}


@pytest.mark.parametrize("method", ["uniform", "sobol", "halton"])
@pytest.mark.parametrize("n, dim", [(1, 1), (100, 1), (100, 3), (257, 2), (64, 6)])
def test_random_and_qmc_samples_shape_and_range(method, n, dim):
    x = unit_cube_samples(n, dim, method, np.random.default_rng(0))
    assert x.shape == (n, dim)
    assert x.dtype == np.float64
    assert np.all((x >= 0) & (x <= 1))
    assert len(np.unique(x, axis=0)) == n


@pytest.mark.parametrize(
    "n, dim, k",
    [(7, 1, 7), (100, 2, 10), (10, 2, 4), (27, 3, 3), (28, 3, 4), (1, 4, 1)],
)
def test_grid_samples_are_cell_centres(n, dim, k):
    x = unit_cube_samples(n, dim, "grid", np.random.default_rng(0))
    assert x.shape == (k**dim, dim)
    assert x.shape[0] >= n
    centres = (np.arange(k) + 0.5) / k
    for j in range(dim):
        np.testing.assert_allclose(np.unique(x[:, j]), centres, rtol=0, atol=1e-15)
    assert len(np.unique(x, axis=0)) == k**dim


@pytest.mark.parametrize("method", SAMPLING_METHODS)
def test_seeded_draws_are_reproducible(method):
    a = unit_cube_samples(50, 3, method, np.random.default_rng(42))
    b = unit_cube_samples(50, 3, method, np.random.default_rng(42))
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("method", ["uniform", "sobol", "halton"])
def test_different_seeds_give_different_draws(method):
    a = unit_cube_samples(50, 3, method, np.random.default_rng(1))
    b = unit_cube_samples(50, 3, method, np.random.default_rng(2))
    assert not np.allclose(a, b)


@pytest.mark.parametrize("method", ["sobol", "halton"])
def test_qmc_differs_from_uniform_and_has_low_discrepancy(method):
    a = unit_cube_samples(256, 2, method, np.random.default_rng(3))
    b = unit_cube_samples(256, 2, "uniform", np.random.default_rng(3))
    assert not np.allclose(a, b)
    # low-discrepancy sets are far more even than i.i.d. points
    assert qmc.discrepancy(a) < 0.1 * qmc.discrepancy(b)


@pytest.mark.parametrize("method", ["sobol", "halton"])
def test_qmc_in_one_dimension_fills_every_dyadic_cell_once(method):
    x = unit_cube_samples(64, 1, method, np.random.default_rng(4))[:, 0]
    counts = np.bincount((x * 64).astype(int), minlength=64)
    assert np.all(counts == 1)


def test_sobol_prefix_of_a_non_power_of_two():
    x = unit_cube_samples(100, 2, "sobol", np.random.default_rng(5))
    full = unit_cube_samples(128, 2, "sobol", np.random.default_rng(5))
    assert x.shape == (100, 2)
    np.testing.assert_array_equal(x, full[:100])


@pytest.mark.parametrize("method", SAMPLING_METHODS)
def test_empty_draws(method):
    assert unit_cube_samples(0, 3, method, np.random.default_rng(0)).shape == (0, 3)
    assert unit_cube_samples(5, 0, method, np.random.default_rng(0)).shape == (5, 0)


def test_unknown_method_raises_listing_methods():
    with pytest.raises(ValueError, match="unknown sampling method 'lattice'.*uniform.*sobol.*halton.*grid"):
        unit_cube_samples(10, 2, "lattice", np.random.default_rng(0))


@pytest.mark.parametrize("n, dim", [(-1, 2), (3, -1)])
def test_negative_sizes_raise(n, dim):
    with pytest.raises(ValueError, match="n >= 0"):
        unit_cube_samples(n, dim, "uniform", np.random.default_rng(0))


# --------------------------------------------------------------------------- mesh helpers
def simplex_measures(points, cells):
    """Signed measures of simplices (length, area, volume) by determinants."""
    p = points[cells]  # (C, d+1, d)
    d = points.shape[1]
    edges = p[:, 1:, :] - p[:, :1, :]  # (C, d, d)
    return np.linalg.det(edges) / math.factorial(d)


def faces_of(cells):
    k = cells.shape[1]
    out = Counter()
    for face in itertools.combinations(range(k), k - 1):
        for f in np.sort(cells[:, face], axis=1):
            out[tuple(f)] += 1
    return out


def on_box_boundary(points, lo, hi):
    """For each face (rows of points), whether all its vertices lie on one face of the box."""
    lo, hi = np.asarray(lo), np.asarray(hi)
    on_lo = np.all(np.isclose(points, lo), axis=-2)
    on_hi = np.all(np.isclose(points, hi), axis=-2)
    return np.any(on_lo | on_hi, axis=-1)


def check_conforming(mesh, lo, hi):
    """Every facet is shared by two cells, except facets on the box boundary (one cell)."""
    counts = faces_of(mesh.cells)
    faces = np.array(list(counts))
    mult = np.array(list(counts.values()))
    assert set(mult) <= {1, 2}
    boundary = on_box_boundary(mesh.points[faces], lo, hi)
    np.testing.assert_array_equal(boundary, mult == 1)
    return faces[mult == 1]


# --------------------------------------------------------------------------- structured meshes
def test_structured_mesh_1d():
    mesh = structured_mesh(-1.0, 2.0, 7)
    assert isinstance(mesh, Mesh)
    assert mesh.cell_type == "line"
    assert mesh.dim == 1
    assert mesh.points.shape == (7, 1)
    assert mesh.cells.shape == (6, 2)
    assert mesh.shape == (7,)
    lengths = simplex_measures(mesh.points, mesh.cells)
    assert np.all(lengths > 0)
    np.testing.assert_allclose(lengths.sum(), 3.0, rtol=1e-14)
    np.testing.assert_allclose(mesh.points[:, 0], np.linspace(-1, 2, 7))


@pytest.mark.parametrize("n", [(2, 2), (4, 3), (5, 9)])
def test_structured_mesh_2d(n):
    lo, hi = np.array([0.0, -1.0]), np.array([2.0, 1.5])
    mesh = structured_mesh(lo, hi, n)
    assert mesh.cell_type == "triangle"
    assert mesh.points.shape == (n[0] * n[1], 2)
    assert mesh.cells.shape == (2 * (n[0] - 1) * (n[1] - 1), 3)
    assert mesh.shape == n
    assert mesh.cells.dtype == np.int64
    areas = simplex_measures(mesh.points, mesh.cells)
    assert np.all(areas > 0)  # consistently counter-clockwise
    np.testing.assert_allclose(areas.sum(), np.prod(hi - lo), rtol=1e-13)
    np.testing.assert_allclose(areas, np.prod(hi - lo) / len(areas), rtol=1e-12)
    boundary_edges = check_conforming(mesh, lo, hi)
    perimeter = np.linalg.norm(np.diff(mesh.points[boundary_edges], axis=1)[:, 0], axis=-1).sum()
    np.testing.assert_allclose(perimeter, 2 * np.sum(hi - lo), rtol=1e-13)


@pytest.mark.parametrize("n", [(2, 2, 2), (3, 4, 2), (4, 3, 5)])
def test_structured_mesh_3d_kuhn_tetrahedra_are_conforming(n):
    lo, hi = np.array([0.0, -1.0, 0.5]), np.array([1.0, 1.0, 2.0])
    mesh = structured_mesh(lo, hi, n)
    assert mesh.cell_type == "tetra"
    assert mesh.points.shape == (math.prod(n), 3)
    assert mesh.cells.shape == (6 * math.prod(k - 1 for k in n), 4)
    volumes = np.abs(simplex_measures(mesh.points, mesh.cells))
    cube = np.prod((hi - lo) / (np.array(n) - 1))
    np.testing.assert_allclose(volumes, cube / 6, rtol=1e-12)  # none degenerate
    np.testing.assert_allclose(volumes.sum(), np.prod(hi - lo), rtol=1e-13)
    boundary_faces = check_conforming(mesh, lo, hi)
    p = mesh.points[boundary_faces]
    area = 0.5 * np.linalg.norm(np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), axis=-1).sum()
    sides = hi - lo
    np.testing.assert_allclose(area, 2 * (sides[0] * sides[1] + sides[1] * sides[2] + sides[0] * sides[2]), rtol=1e-13)


def test_structured_mesh_points_in_c_order_and_all_used():
    mesh = structured_mesh([0.0, 0.0, 0.0], [1.0, 2.0, 3.0], (2, 3, 4))
    grid = mesh.points.reshape(2, 3, 4, 3)
    np.testing.assert_allclose(grid[0, 0, :, 2], np.linspace(0, 3, 4))  # last axis fastest
    np.testing.assert_allclose(grid[:, 0, 0, 0], [0.0, 1.0])
    np.testing.assert_allclose(grid[0, :, 0, 1], [0.0, 1.0, 2.0])
    assert set(np.unique(mesh.cells)) == set(range(len(mesh.points)))
    assert all(len(set(c)) == 4 for c in mesh.cells.tolist())


def test_structured_mesh_broadcasts_a_scalar_count():
    mesh = structured_mesh([0.0, 0.0], [1.0, 1.0], 3)
    assert mesh.shape == (3, 3)
    assert mesh.points.shape == (9, 2)


def test_structured_mesh_errors():
    with pytest.raises(ValueError, match="1-3 dimensions"):
        structured_mesh([0.0] * 4, [1.0] * 4, 3)
    with pytest.raises(ValueError, match="at least 2 points"):
        structured_mesh([0.0, 0.0], [1.0, 1.0], (1, 3))


def test_points3d_pads_with_zeros():
    mesh = structured_mesh([0.0, 0.0], [1.0, 2.0], 3)
    p3 = mesh.points3d()
    assert p3.shape == (9, 3)
    np.testing.assert_array_equal(p3[:, :2], mesh.points)
    np.testing.assert_array_equal(p3[:, 2], 0.0)


# --------------------------------------------------------------------------- Delaunay meshes
def _square_cloud(rng, n, dim):
    corners = np.array(list(itertools.product([0.0, 1.0], repeat=dim)))
    return np.concatenate([corners, rng.random((n, dim))])


@pytest.mark.parametrize("dim, cell_type", [(2, "triangle"), (3, "tetra")])
def test_delaunay_mesh_covers_the_convex_hull(dim, cell_type):
    points = _square_cloud(np.random.default_rng(0), 60, dim)
    mesh = delaunay_mesh(points)
    assert mesh.cell_type == cell_type
    assert mesh.cells.shape[1] == dim + 1
    measures = np.abs(simplex_measures(mesh.points, mesh.cells))
    assert np.all(measures > 0)
    np.testing.assert_allclose(measures.sum(), 1.0, rtol=1e-12)


def test_delaunay_mesh_keep_mask_drops_cells():
    points = _square_cloud(np.random.default_rng(1), 200, 2)
    full = delaunay_mesh(points)
    seen = []

    def keep(centroids):
        seen.append(centroids.shape)
        return np.linalg.norm(centroids - 0.5, axis=-1) < 0.3

    mesh = delaunay_mesh(points, keep=keep)
    assert seen == [(len(full.cells), 2)]
    assert 0 < len(mesh.cells) < len(full.cells)
    centroids = mesh.points[mesh.cells].mean(axis=1)
    assert np.all(np.linalg.norm(centroids - 0.5, axis=-1) < 0.3)
    # the kept cells are exactly the full mesh's cells passing the test
    full_centroids = full.points[full.cells].mean(axis=1)
    expected = full.cells[np.linalg.norm(full_centroids - 0.5, axis=-1) < 0.3]
    np.testing.assert_array_equal(mesh.cells, expected)


def test_delaunay_mesh_1d_sorts_points():
    x = np.array([[0.7], [0.1], [1.0], [0.4]])
    mesh = delaunay_mesh(x)
    assert mesh.cell_type == "line"
    np.testing.assert_array_equal(mesh.points[:, 0], [0.1, 0.4, 0.7, 1.0])
    np.testing.assert_allclose(simplex_measures(mesh.points, mesh.cells), [0.3, 0.3, 0.3])


def test_delaunay_mesh_rejects_four_dimensions():
    with pytest.raises(ValueError, match="1-3 dimensions"):
        delaunay_mesh(np.random.default_rng(0).random((20, 4)))
