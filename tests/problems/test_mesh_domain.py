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
