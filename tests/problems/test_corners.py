"""Re-entrant corners of 2-D domains and the Laplacian's singular functions there."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from physopt import ConfigurationError
from problems import CornerFunctions, Disk, Polygon, Rectangle, reentrant_corners
from problems._corners import parse_enrichment

SQUARE = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]
HOLE = [(0.4, 0.4), (0.6, 0.4), (0.6, 0.6), (0.4, 0.6)]
L_SHAPE = [(-1, -1), (1, -1), (1, 0), (0, 0), (0, 1), (-1, 1)]


def test_corners_of_a_hole_an_l_shape_and_convex_domains():
    corners = reentrant_corners(Polygon(SQUARE) - Polygon(HOLE))
    assert sorted(c.vertex for c in corners) == sorted(map(tuple, HOLE))
    for c in corners:  # the hole's corners: 3π/2 through the domain, paired with the hole's centre
        assert c.angle == pytest.approx(1.5 * math.pi, abs=1e-9)
        assert np.allclose(c.pair, (0.5, 0.5), atol=1e-9)
    start = {c.vertex: c.start for c in corners}
    assert start[(0.4, 0.4)] == pytest.approx(math.pi / 2, abs=1e-9)  # up the hole's left edge, then counter-clockwise
    (corner,) = reentrant_corners(Polygon(L_SHAPE))
    assert corner.vertex == (0.0, 0.0) and corner.angle == pytest.approx(1.5 * math.pi, abs=1e-9)
    assert corner.start == pytest.approx(math.pi / 2, abs=1e-9)
    # its pair lies outside, on the excluded quadrant's diagonal
    assert corner.pair[0] == pytest.approx(corner.pair[1]) and corner.pair[0] > 0
    # a sharper corner: 2π - 2 atan(1/2) ≈ 1.70π
    (sharp,) = reentrant_corners(Polygon([(0, 0), (1, 0.5), (-1, 1), (-1, -1), (1, -0.5)]))
    assert sharp.angle == pytest.approx(2 * math.pi - 2 * math.atan(0.5), abs=1e-9)
    # rectangles too, and the corners where a union's or difference's edges cross
    assert sorted(c.vertex for c in reentrant_corners(Rectangle([0, 0], [1, 1]) - Rectangle([0.4, 0.4], [0.6, 0.6]))) \
        == sorted(map(tuple, HOLE))
    for shape in (Rectangle([0, 0], [2, 1]) | Rectangle([0, 0], [1, 2]), Rectangle([0, 0], [2, 2]) - Rectangle([1, 1], [3, 3])):
        (crossing,) = reentrant_corners(shape)
        assert crossing.vertex == (1.0, 1.0) and crossing.angle == pytest.approx(1.5 * math.pi, abs=1e-9)
        assert not shape.contains(np.linspace(crossing.vertex, crossing.pair, 50)[1:]).any()  # the cut stays outside
    assert reentrant_corners(Rectangle([0, 0], [1, 1]) - Disk((0.5, 0.5), 0.2)) == []  # a round hole: no corner
    # a mesh domain: the turning points of its boundary segments (the library's L-shape mesh)
    from problems._library.lshape import LShapePoisson
    (mesh_corner,) = reentrant_corners(LShapePoisson.domain)
    assert mesh_corner.vertex == (0.0, 0.0)  # its angle to 1e-7: the mesh's point location has a tolerance
    assert mesh_corner.angle == pytest.approx(1.5 * math.pi, abs=1e-6)
    assert reentrant_corners(Polygon(SQUARE)) == [] and reentrant_corners(Rectangle([0, 0], [1, 1]) | Disk((1, 0.5), 0.5)) == []
    with pytest.raises(ConfigurationError, match="2-D domains only"):
        from problems import Box
        reentrant_corners(Box([0, 0, 0], [1, 1, 1]))


@pytest.mark.parametrize("edges", ["dirichlet", "neumann"])
def test_singular_functions_are_harmonic_and_have_the_corner_behaviour(edges, device):
    corners = reentrant_corners(Polygon(L_SHAPE))
    functions = CornerFunctions(corners, terms=3, edges=edges).to(device=device, dtype=torch.float64)
    alpha = 2.0 / 3.0
    points = torch.tensor([[-0.5, 0.3], [0.4, -0.7], [-0.2, -0.9]], dtype=torch.float64, device=device)
    for x in points:  # Im/Re of an analytic function: exactly harmonic
        hessians = torch.func.hessian(functions)(x)  # (terms, 2, 2)
        assert hessians.diagonal(dim1=1, dim2=2).sum(-1).abs().max() < 1e-10
        assert hessians.abs().max() > 1e-3  # not trivially
    angular = np.sin if edges == "dirichlet" else np.cos
    for r in (1e-4, 1e-3):
        theta = np.linspace(0.0, 1.5 * math.pi, 7)  # from the first edge (up the y axis) counter-clockwise
        x = np.column_stack([r * np.cos(theta + math.pi / 2), r * np.sin(theta + math.pi / 2)])
        values = functions(torch.tensor(x, device=device)).cpu().numpy()
        for j in range(3):
            expected = r ** ((j + 1) * alpha) * angular((j + 1) * alpha * theta)
            # S = r^a sin(a θ) (1 + O(r²/d²)), d = |z - c| = √2 here
            assert np.allclose(values[:, j], expected, rtol=0, atol=5 * r**2 * r ** ((j + 1) * alpha))


def test_singular_functions_are_continuous_across_the_domain():
    """The branch cut lies outside: no jump along a loop around the hole."""
    corners = reentrant_corners(Polygon(SQUARE) - Polygon(HOLE))
    functions = CornerFunctions(corners, terms=2).double()
    t = np.linspace(0, 2 * math.pi, 4001)
    loop = torch.tensor(np.column_stack([0.5 + 0.2 * np.cos(t), 0.5 + 0.2 * np.sin(t)]))
    values = functions(loop).numpy()
    assert np.abs(np.diff(values, axis=0)).max() < 2e-3  # smooth: steps of O(Δt)


def test_enrichment_option_is_parsed_with_clear_errors():
    assert parse_enrichment("") is None
    assert parse_enrichment("corners") == (1, "dirichlet")
    assert parse_enrichment("corners:2:neumann") == (2, "neumann")
    for bad in ("corner", "corners:0", "corners:2:robin", "corners:x", "corners:1:dirichlet:3"):
        with pytest.raises(ConfigurationError, match="give corners, corners:J"):
            parse_enrichment(bad)
    with pytest.raises(ConfigurationError, match="no re-entrant corner"):
        CornerFunctions([])


def test_a_circle_drawn_with_segments_has_no_corners():
    """A hole drawn as a 48-gon turns by 7.5° at each vertex (187.5° through the domain, under the 189° kept)."""
    t = np.linspace(0, 2 * np.pi, 49)[:-1]
    circle = np.column_stack([0.5 + 0.2 * np.cos(t), 0.5 + 0.2 * np.sin(t)])
    assert reentrant_corners(Polygon(SQUARE) - Polygon(circle)) == []
    octagon = circle[::6]  # 45° turns: corners
    assert len(reentrant_corners(Polygon(SQUARE) - Polygon(octagon))) == 8
