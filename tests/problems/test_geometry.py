"""Polygons and set operations of domains: exact membership, uniform sampling, outward normals, distances."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import chisquare

from problems import Box, Difference, Disk, Intersection, Polygon, Rectangle, Triangle, Union

SQUARE = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]
HOLE = [(0.4, 0.4), (0.6, 0.4), (0.6, 0.6), (0.4, 0.6)]
L_SHAPE = [(0, 0), (2, 0), (2, 1), (1, 1), (1, 2), (0, 2)]


def square_with_hole():
    return Polygon(SQUARE) - Polygon(HOLE)


def rectangle_and_half_disk():
    return Rectangle([0.0, 0.0], [1.0, 1.0]) | Disk((1.0, 0.5), 0.5)


def test_polygons_measure_triangulate_and_refuse_bad_vertices():
    shape = Polygon(L_SHAPE)
    assert shape.measure == 3.0 and shape.boundary_measure == 8.0
    assert Polygon(L_SHAPE[::-1]).measure == 3.0  # either orientation
    assert len(shape.triangles) == 4 and shape._triangle_areas.sum() == pytest.approx(3.0, rel=1e-14)
    assert Triangle((0, 0), (2, 0), (0, 1)).measure == 1.0
    assert Rectangle([0, 0], [2, 1]).measure == 2.0
    with pytest.raises(ValueError, match="edges 0 and 2 cross"):
        Polygon([(0, 0), (2, 2), (2, 0), (0, 1)])  # a bow tie
    with pytest.raises(ValueError, match="enclose no area"):
        Polygon([(0, 0), (1, 1), (2, 2)])
    with pytest.raises(ValueError, match="at least 3 finite 2-D vertices"):
        Polygon([(0, 0), (1, 1)])
    with pytest.raises(ValueError, match="differ in dimension"):
        Union(Box([0], [1]), Rectangle([0, 0], [1, 1]))


def test_membership_is_exact():
    shape = square_with_hole()
    inside = np.array([[0.2, 0.2], [0.4, 0.5], [0.0, 0.0], [0.39, 0.5]])  # a hole's edge and a corner are in
    outside = np.array([[0.5, 0.5], [0.41, 0.59], [1.01, 0.5], [-1e-9, 0.5]])
    assert shape.contains(inside).all() and not shape.contains(outside).any()
    both = rectangle_and_half_disk()
    assert both.contains(np.array([[1.4, 0.5], [1.0, 0.05]])).all() and not both.contains(np.array([[1.4, 0.1]])).any()
    lens = Intersection(Disk((0.0, 0.0), 1.0), Disk((1.0, 0.0), 1.0))
    assert lens.contains(np.array([[0.5, 0.8]])).all() and not lens.contains(np.array([[0.5, 0.9]])).any()
    assert lens.measure == pytest.approx(2 * np.pi / 3 - np.sqrt(3) / 2, rel=2e-3)  # estimated from Sobol points


@pytest.mark.parametrize("make, cells", [(square_with_hole, 10), (lambda: Polygon(L_SHAPE), 8)])
def test_interior_samples_are_uniform_by_area(make, cells):
    """Chi-square over grid cells that lie wholly inside or outside the domain (their areas are exact)."""
    shape = make()
    lo, hi = shape.bounds
    points = shape.sample_interior(40_000, "uniform", 0)
    assert shape.contains(points).all()
    index = np.floor((points - lo) / (hi - lo) * cells).clip(0, cells - 1).astype(int)
    counts = np.bincount(index[:, 0] * cells + index[:, 1], minlength=cells * cells)
    centres = (np.stack(np.meshgrid(np.arange(cells), np.arange(cells), indexing="ij"), -1).reshape(-1, 2) + 0.5)
    inside = shape.contains(lo + centres / cells * (hi - lo))
    assert counts[~inside].sum() == 0
    assert chisquare(counts[inside]).pvalue > 1e-3


def test_boundary_samples_are_uniform_by_length_with_unit_outward_normals():
    shape = rectangle_and_half_disk()  # the square's left, top and bottom edges, and a half circle
    points, normals = shape.sample_boundary(40_000, "uniform", 0)
    assert np.allclose(np.linalg.norm(normals, axis=1), 1.0)
    on_arc = points[:, 0] > 1.0 + 1e-12
    length = 3.0 + np.pi / 2
    assert abs(on_arc.mean() - (np.pi / 2) / length) < 4 * np.sqrt(0.25 / len(points))
    angles = np.arctan2(points[on_arc, 1] - 0.5, points[on_arc, 0] - 1.0)
    assert chisquare(np.histogram(angles, bins=12, range=(-np.pi / 2, np.pi / 2))[0]).pvalue > 1e-3
    assert np.allclose(normals[on_arc], (points[on_arc] - [1.0, 0.5]) / 0.5)  # radial on the arc
    assert not (np.isclose(points[:, 0], 1.0) & (np.abs(points[:, 1] - 0.5) < 0.49)).any()  # no inner edge


@pytest.mark.parametrize("make", [square_with_hole, rectangle_and_half_disk, lambda: Polygon(L_SHAPE),
                                  lambda: (Polygon(SQUARE) - Disk((1.0, 1.0), 0.4)) | Triangle((1, 0), (1.5, 0.5), (1, 1))])
def test_normals_point_out_and_the_distance_vanishes_on_the_boundary(make):
    shape = make()
    points, normals = shape.sample_boundary(2000, "sobol", 1)
    corners = getattr(shape, "corners", np.zeros((0, 2)))
    away = np.ones(len(points), bool)
    if len(corners):
        away = np.linalg.norm(points[:, None] - corners[None], axis=-1).min(1) > 1e-3
    step = 1e-6
    assert shape.contains(points).all()
    assert not shape.contains(points[away] + step * normals[away]).any()  # outward
    assert shape.contains(points[away] - step * normals[away]).all()
    distance = torch.vmap(shape.distance)
    on = distance(torch.as_tensor(points[away]))
    assert on.abs().max() < 1e-10
    inner = distance(torch.as_tensor(shape.sample_interior(500, "sobol", 2)))
    assert (inner > 0).all()
    slope = torch.vmap(torch.func.grad(shape.distance))(torch.as_tensor(points[away] - 1e-9 * normals[away]))
    off = ((slope * torch.as_tensor(normals[away])).sum(1) + 1).abs()  # normalised: ∂φ/∂n = -1 (but near corners)
    assert float((off < 1e-4).double().mean()) > 0.99 and float(off.max()) < 0.05


def test_rejection_draws_are_reproducible_from_the_unit_points():
    shape = square_with_hole()
    unit = np.random.default_rng(3).random((500, 2))
    np.testing.assert_array_equal(shape.map_interior(unit.copy()), shape.map_interior(unit.copy()))
    assert Difference(Polygon(SQUARE), Polygon(HOLE)).measure == pytest.approx(0.96, rel=1e-3)
    assert square_with_hole().boundary_measure == pytest.approx(4.8, rel=1e-3)


def test_the_evaluation_mesh_covers_the_domain_only():
    mesh = square_with_hole().evaluation_mesh()
    centroids = mesh.points[mesh.cells].mean(1)
    assert square_with_hole().contains(centroids).all()
    a, b, c = (mesh.points[mesh.cells[:, k]] for k in range(3))
    area = 0.5 * np.abs((b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])).sum()
    assert area == pytest.approx(0.96, rel=1e-9)  # the hole's corners are mesh nodes: exact cover


def test_edges_the_operands_share_count_once_or_not_at_all():
    side_by_side = Rectangle([0, 0], [1, 1]) | Rectangle([1, 0], [2, 1])  # the edge x = 1 is inside the union
    assert side_by_side.boundary_measure == pytest.approx(6.0, rel=1e-3)
    points, _ = side_by_side.sample_boundary(4000, "uniform", 0)
    assert not (np.isclose(points[:, 0], 1.0) & (points[:, 1] > 1e-6) & (points[:, 1] < 1 - 1e-6)).any()
    overlapping = Rectangle([0, 0], [2, 1]) & Rectangle([0, 0], [1, 1])  # three edges shared with the same side
    assert overlapping.boundary_measure == pytest.approx(4.0, rel=1e-3)
    notch = Rectangle([0, 0], [2, 1]) - Rectangle([1, 0], [2, 1])  # cuts along x = 1 from inside the first
    assert notch.boundary_measure == pytest.approx(4.0, rel=1e-3) and notch.measure == pytest.approx(1.0, rel=1e-3)
