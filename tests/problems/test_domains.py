"""Domains: measures, interior and boundary sampling, normals, hard-BC factors, meshes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.func import vmap

from problems import Ball, Box, Disk, Interval, TimeInterval

F64 = torch.float64


def boundary_factor(domain, points):
    return vmap(domain.boundary_factor)(torch.as_tensor(points, dtype=F64)).cpu().numpy()


def within(fraction, p, n, sigmas=5.0):
    """``fraction`` of ``n`` Bernoulli(p) draws is within ``sigmas`` standard deviations of ``p``."""
    return abs(fraction - p) <= sigmas * math.sqrt(p * (1 - p) / n)


BOXES = [
    pytest.param([0.0], [2.0], id="1d"),
    pytest.param([0.0, -1.0], [3.0, 1.0], id="2d"),
    pytest.param([-1.0, 0.0, 2.0], [0.0, 0.5, 4.0], id="3d"),
    pytest.param([0.0] * 5, [1.0, 2.0, 1.0, 0.5, 3.0], id="5d"),
]
BALLS = [
    pytest.param([0.5], 2.0, id="1d"),
    pytest.param([1.0, -1.0], 0.5, id="2d"),
    pytest.param([0.0, 0.0, 1.0], 2.0, id="3d"),
    pytest.param([0.1, 0.2, 0.3, 0.4, 0.5, 0.6], 1.5, id="6d"),
]


# --------------------------------------------------------------------------- Box
@pytest.mark.parametrize("lo, hi", BOXES)
def test_box_measures_and_bounds(lo, hi):
    box = Box(lo, hi)
    lengths = np.array(hi) - np.array(lo)
    assert box.dim == len(lo)
    assert box.measure == pytest.approx(np.prod(lengths), rel=1e-14)
    faces = sum(2 * np.prod(np.delete(lengths, i)) for i in range(len(lo)))
    assert box.boundary_measure == pytest.approx(faces, rel=1e-14)
    b_lo, b_hi = box.bounds
    np.testing.assert_array_equal(b_lo, lo)
    np.testing.assert_array_equal(b_hi, hi)
    b_lo[0] = 99.0  # a copy, not the box's own array
    assert box.bounds[0][0] == lo[0]


def test_interval_is_a_one_dimensional_box():
    iv = Interval(-1.0, 3.0)
    assert isinstance(iv, Box)
    assert iv.dim == 1
    assert iv.measure == 4.0
    assert iv.boundary_measure == 2.0  # two end points


@pytest.mark.parametrize("method", ["uniform", "sobol", "halton", "grid"])
@pytest.mark.parametrize("lo, hi", BOXES)
def test_box_interior_samples_inside(lo, hi, method):
    box = Box(lo, hi)
    x = box.sample_interior(300, method, rng=0)
    if method == "grid":  # a full tensor grid: at least the points asked for
        assert x.shape[0] >= 300 and x.shape[1] == box.dim
    else:
        assert x.shape == (300, box.dim)
    assert np.all(box.contains(x))
    factor = boundary_factor(box, x)
    assert np.all(factor > 0)


@pytest.mark.parametrize("lo, hi", BOXES)
def test_box_boundary_samples_and_normals(lo, hi):
    box = Box(lo, hi)
    lo, hi = np.array(lo), np.array(hi)
    x, normals = box.sample_boundary(500, rng=1)
    assert x.shape == normals.shape == (500, box.dim)
    assert np.all(box.contains(x))
    np.testing.assert_allclose(np.linalg.norm(normals, axis=-1), 1.0, rtol=0, atol=1e-15)
    # the normal is +e_i on the face x_i = hi_i and -e_i on x_i = lo_i
    axis = np.argmax(np.abs(normals), axis=-1)
    sign = normals[np.arange(500), axis]
    assert set(np.unique(sign)) == {-1.0, 1.0}
    expected = np.zeros_like(normals)
    expected[np.arange(500), axis] = sign
    np.testing.assert_array_equal(normals, expected)
    on_face = x[np.arange(500), axis]
    np.testing.assert_array_equal(on_face, np.where(sign > 0, hi[axis], lo[axis]))
    np.testing.assert_allclose(boundary_factor(box, x), 0.0, atol=1e-14)


def test_box_boundary_sampling_is_proportional_to_face_area():
    box = Box([0.0, 0.0, 0.0], [1.0, 2.0, 3.0])
    n = 4000
    x, normals = box.sample_boundary(n, rng=2)
    areas = {0: 6.0, 1: 3.0, 2: 2.0}  # face area orthogonal to each axis
    total = 2 * sum(areas.values())
    for axis, area in areas.items():
        for sign in (-1.0, 1.0):
            fraction = np.mean(normals[:, axis] == sign)
            assert within(fraction, area / total, n), (axis, sign, fraction)


def test_rectangle_boundary_sampling_is_proportional_to_edge_length():
    box = Box([0.0, 0.0], [4.0, 1.0])
    n = 4000
    x, normals = box.sample_boundary(n, "halton", rng=3)
    # edges x = 0 and x = 4 have length 1 each; y = 0 and y = 1 length 4 each
    fraction = np.mean(normals[:, 0] != 0)
    assert within(fraction, 2 / 10, n)
    # within a face, points are uniform along it
    top = x[normals[:, 1] == 1.0]
    assert within(np.mean(top[:, 0] < 1.0), 0.25, len(top))
    assert abs(np.mean(top[:, 0]) - 2.0) < 0.15


def test_box_interior_samples_are_uniform():
    box = Box([0.0, 0.0], [2.0, 1.0])
    n = 4000
    x = box.sample_interior(n, rng=4)
    assert within(np.mean(x[:, 0] < 0.5), 0.25, n)
    assert within(np.mean((x[:, 1] > 0.5) & (x[:, 0] > 1.0)), 0.25, n)


def test_box_boundary_factor_positive_inside_zero_on_faces():
    box = Box([0.0, -1.0], [2.0, 1.0])
    centre = torch.tensor([1.0, 0.0], dtype=F64)
    assert box.boundary_factor(centre).item() == pytest.approx(1.0)
    assert box.boundary_factor(torch.tensor([0.0, 0.3], dtype=F64)).item() == 0.0
    assert box.boundary_factor(torch.tensor([0.5, 1.0], dtype=F64)).item() == 0.0


def test_box_contains():
    box = Box([0.0, 0.0], [1.0, 1.0])
    pts = np.array([[0.5, 0.5], [1.0, 0.0], [1.0 + 1e-9, 0.5], [-0.1, 0.5]])
    np.testing.assert_array_equal(box.contains(pts), [True, True, False, False])


def test_sampling_is_reproducible():
    box = Box([0.0, 0.0], [1.0, 1.0])
    np.testing.assert_array_equal(box.sample_interior(10, rng=7), box.sample_interior(10, rng=7))
    assert not np.allclose(box.sample_interior(10, rng=7), box.sample_interior(10, rng=8))
    a, na = box.sample_boundary(10, "sobol", rng=7)
    b, nb = box.sample_boundary(10, "sobol", rng=7)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(na, nb)


@pytest.mark.parametrize("lo, hi, shape", [([0.0], [2.0], (1001,)), ([0.0, -1.0], [3.0, 1.0], (101, 101)), ([-1.0, 0.0, 2.0], [0.0, 0.5, 4.0], (31, 31, 31))])
def test_box_evaluation_mesh(lo, hi, shape):
    box = Box(lo, hi)
    mesh = box.evaluation_mesh()
    assert mesh.shape == shape
    assert mesh.dim == box.dim
    assert np.all(box.contains(mesh.points))
    np.testing.assert_allclose(mesh.points.min(axis=0), lo)
    np.testing.assert_allclose(mesh.points.max(axis=0), hi)
    assert box.evaluation_mesh(5).points.shape == (5 ** box.dim, box.dim)
    np.testing.assert_array_equal(box.error_points(), mesh.points)


def test_high_dimensional_box_has_no_mesh_but_error_points():
    box = Box([0.0] * 5, [1.0] * 5)
    with pytest.raises(ValueError, match="error_points"):
        box.evaluation_mesh()
    pts = box.error_points(n=500)
    assert pts.shape == (500, 5)
    assert np.all(box.contains(pts))


# --------------------------------------------------------------------------- Ball
def test_ball_volume_known_values():
    assert Ball([0.0, 0.0], 2.0).measure == pytest.approx(math.pi * 4.0, rel=1e-14)
    assert Ball([1.0, 2.0, 3.0], 2.0).measure == pytest.approx(4.0 / 3.0 * math.pi * 8.0, rel=1e-14)
    assert Ball([0.0], 1.5).measure == pytest.approx(3.0, rel=1e-14)
    assert Ball([0.0] * 4, 1.0).measure == pytest.approx(math.pi**2 / 2, rel=1e-14)
    assert Ball([0.0] * 6, 2.0).measure == pytest.approx(math.pi**3 / 6 * 2.0**6, rel=1e-14)
    assert Ball([0.0, 0.0], 2.0).boundary_measure == pytest.approx(4 * math.pi, rel=1e-14)
    assert Ball([0.0, 0.0, 0.0], 2.0).boundary_measure == pytest.approx(16 * math.pi, rel=1e-14)
    assert Ball([0.0], 1.5).boundary_measure == pytest.approx(2.0, rel=1e-14)


@pytest.mark.parametrize("center, radius", BALLS[:3])
def test_ball_volume_by_monte_carlo(center, radius):
    ball = Ball(center, radius)
    lo, hi = ball.bounds
    np.testing.assert_allclose(lo, np.array(center) - radius)
    np.testing.assert_allclose(hi, np.array(center) + radius)
    n = 20000
    x = Box(lo, hi).sample_interior(n, "sobol", rng=0)
    fraction = np.mean(ball.contains(x))
    assert fraction == pytest.approx(ball.measure / np.prod(hi - lo), abs=0.01)


@pytest.mark.parametrize("method", ["uniform", "sobol", "halton"])
@pytest.mark.parametrize("center, radius", BALLS)
def test_ball_interior_samples_inside(center, radius, method):
    ball = Ball(center, radius)
    x = ball.sample_interior(400, method, rng=5)
    assert x.shape == (400, ball.dim)
    assert np.all(ball.contains(x))
    assert np.all(boundary_factor(ball, x) > 0)


@pytest.mark.parametrize("center, radius", BALLS)
def test_ball_interior_samples_uniform_by_volume(center, radius):
    ball = Ball(center, radius)
    n = 4000
    x = ball.sample_interior(n, rng=6)
    r = np.linalg.norm(x - np.array(center), axis=-1)
    d = ball.dim
    p = 0.5**d  # volume fraction of the ball of half the radius
    assert within(np.mean(r < radius / 2), p, n)
    assert within(np.mean(r < radius * 0.8), 0.8**d, n)
    # no direction is preferred: each half-space through the centre holds half the points
    for j in range(d):
        assert within(np.mean(x[:, j] > center[j]), 0.5, n)


@pytest.mark.parametrize("method", ["uniform", "halton"])
@pytest.mark.parametrize("center, radius", BALLS)
def test_ball_boundary_samples_and_normals(center, radius, method):
    ball = Ball(center, radius)
    c = np.array(center)
    x, normals = ball.sample_boundary(500, method, rng=7)
    assert x.shape == normals.shape == (500, ball.dim)
    np.testing.assert_allclose(np.linalg.norm(x - c, axis=-1), radius, rtol=1e-13)
    np.testing.assert_allclose(np.linalg.norm(normals, axis=-1), 1.0, rtol=1e-13)
    np.testing.assert_allclose(normals, (x - c) / radius, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(boundary_factor(ball, x), 0.0, atol=1e-12)
    assert np.all(ball.contains(x, tol=1e-9))


def test_ball_boundary_directions_uniform():
    ball = Ball([0.0, 0.0, 0.0], 1.0)
    n = 4000
    _, normals = ball.sample_boundary(n, rng=8)
    # on the unit sphere each coordinate is uniform on [-1, 1] (Archimedes)
    for j in range(3):
        assert within(np.mean(normals[:, j] > 0.5), 0.25, n)


def test_ball_boundary_factor():
    ball = Ball([1.0, 0.0], 2.0)
    assert ball.boundary_factor(torch.tensor([1.0, 0.0], dtype=F64)).item() == pytest.approx(1.0)
    assert ball.boundary_factor(torch.tensor([2.0, 0.0], dtype=F64)).item() == pytest.approx(0.75)
    assert ball.boundary_factor(torch.tensor([1.0, -2.0], dtype=F64)).item() == pytest.approx(0.0, abs=1e-15)


def test_disk_is_a_two_dimensional_ball():
    disk = Disk((1.0, 2.0), 0.5)
    assert isinstance(disk, Ball)
    assert disk.dim == 2
    assert disk.measure == pytest.approx(math.pi * 0.25)
    assert Disk().radius == 1.0
    np.testing.assert_array_equal(Disk().center, [0.0, 0.0])


@pytest.mark.parametrize("center, radius", [((0.0, 0.0), 1.0), ((1.0, -2.0), 0.5)])
def test_disk_evaluation_mesh(center, radius):
    disk = Disk(center, radius)
    mesh = disk.evaluation_mesh()
    assert mesh.cell_type == "triangle"
    assert np.all(disk.contains(mesh.points, tol=1e-12))
    p = mesh.points[mesh.cells]
    e1, e2 = p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]
    areas = 0.5 * np.abs(e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0])
    assert np.all(areas > 0)
    # an inscribed polygon with hundreds of vertices: area within 1e-3 of the disk's
    assert areas.sum() == pytest.approx(disk.measure, rel=1e-3)
    assert areas.sum() <= disk.measure
    centroids = p.mean(axis=1)
    assert np.all(disk.contains(centroids))


def test_ball_evaluation_meshes_in_1d_and_3d():
    segment = Ball([1.0], 2.0).evaluation_mesh()
    assert segment.cell_type == "line"
    np.testing.assert_allclose([segment.points.min(), segment.points.max()], [-1.0, 3.0])
    ball = Ball([0.0, 0.0, 1.0], 2.0)
    mesh = ball.evaluation_mesh(resolution=4)
    assert mesh.cell_type == "tetra"
    assert np.all(ball.contains(mesh.points, tol=1e-12))
    with pytest.raises(ValueError, match="error_points"):
        Ball([0.0] * 4, 1.0).evaluation_mesh()
    pts = Ball([0.0] * 6, 1.0).error_points(n=300)
    assert pts.shape == (300, 6)
    assert np.all(np.linalg.norm(pts, axis=-1) <= 1.0)


# --------------------------------------------------------------------------- TimeInterval
def test_time_interval():
    ti = TimeInterval(0.5, 2.0)
    assert ti.length == 1.5
    np.testing.assert_allclose(ti.map(np.array([0.0, 0.5, 1.0])), [0.5, 1.25, 2.0])
    np.testing.assert_allclose(ti.slices(4), [0.5, 1.0, 1.5, 2.0])


# --------------------------------------------------------------------------- invalid input
@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: Box([0.0, 0.0], [1.0]), "differ in dimension"),
        (lambda: Box([0.0, 1.0], [1.0, 1.0]), "lo < hi"),
        (lambda: Box([2.0], [1.0]), "lo < hi"),
        (lambda: Box([], []), "non-empty"),
        (lambda: Box([0.0, float("nan")], [1.0, 1.0]), "finite"),
        (lambda: Box([0.0], [float("inf")]), "finite"),
        (lambda: Interval(1.0, 1.0), "lo < hi"),
        (lambda: Ball([0.0, 0.0], 0.0), "radius must be positive"),
        (lambda: Ball([0.0, 0.0], -1.0), "radius must be positive"),
        (lambda: Ball([0.0, 0.0], float("nan")), "radius must be positive"),
        (lambda: Ball([], 1.0), "non-empty"),
        (lambda: Disk((0.0, 0.0, 0.0), 1.0), "2-D"),
        (lambda: Disk((0.0,), 1.0), "2-D"),
        (lambda: Disk((0.0, 0.0), 0.0), "positive"),
        (lambda: TimeInterval(1.0, 1.0), "t0 < t1"),
        (lambda: TimeInterval(1.0, 0.0), "t0 < t1"),
        (lambda: TimeInterval(0.0, float("inf")), "finite"),
    ],
)
def test_invalid_domains_raise_helpful_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()


# --------------------------------------------------------------------------- grid sampling
def test_grid_sampling_with_a_perfect_power_is_even():
    box = Box([0.0, 0.0], [1.0, 1.0])
    x = box.sample_interior(16, "grid", rng=0)
    np.testing.assert_allclose(x.mean(axis=0), [0.5, 0.5])
    _, normals = box.sample_boundary(16, "grid", rng=0)
    _, counts = np.unique(normals, axis=0, return_counts=True)
    np.testing.assert_array_equal(counts, [4, 4, 4, 4])


def test_grid_sampling_with_a_non_power_count_covers_the_domain():
    box = Box([0.0, 0.0], [1.0, 1.0])
    x = box.sample_interior(10, "grid", rng=0)
    assert len(x) >= 10
    for a in (0.0, 0.25, 0.5, 0.75):
        assert np.any((x[:, 0] >= a) & (x[:, 0] < a + 0.25)), f"no point with {a} <= x0 < {a + 0.25}"
    _, normals = box.sample_boundary(10, "grid", rng=0)
    assert len(np.unique(normals, axis=0)) == 4, "a face of the square got no boundary point"
