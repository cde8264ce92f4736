"""Quadrature exactness, element measures and discrete L2/H1 errors against NumPy references and known rates."""

import itertools
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from physopt import delaunay_mesh, structured_mesh
from physopt.mesh import (
    cell_measures,
    cell_measures_reference,
    h1_error,
    l2_error,
    l2_error_reference,
    p1_gradients,
    simplex_quadrature,
)

pytestmark = pytest.mark.cpu_only(reason="Numba quadrature kernels on NumPy arrays, checked against NumPy references")

RULES = [(1, d) for d in range(0, 10)] + [(2, d) for d in (1, 2, 3, 4, 5)] + [(3, d) for d in (1, 2, 3)]


@pytest.mark.parametrize("dim, degree", RULES)
def test_quadrature_is_exact_for_polynomials_of_its_degree(dim, degree):
    bary, weights = simplex_quadrature(dim, degree)
    assert abs(weights.sum() - 1) < 1e-14 and np.allclose(bary.sum(1), 1)
    x = bary[:, 1:]  # coordinates in the unit simplex
    for alpha in itertools.product(range(degree + 1), repeat=dim):
        if sum(alpha) > degree:
            continue
        exact = math.prod(math.factorial(a) for a in alpha) * math.factorial(dim) / math.factorial(sum(alpha) + dim)
        assert abs((weights * np.prod(x ** np.array(alpha), -1)).sum() - exact) < 1e-12


def test_quadrature_refuses_degrees_it_does_not_have():
    with pytest.raises(ValueError, match="tetrahedra: <= 3"):
        simplex_quadrature(3, 4)


def _meshes():
    rng = np.random.default_rng(3)
    return [structured_mesh([0.0], [2.0], [9]), structured_mesh([0.0, 0.0], [1.0, 2.0], [7, 5]),
            delaunay_mesh(rng.random((80, 2))), structured_mesh([0.0] * 3, [1.0, 2.0, 1.0], [4, 3, 5]),
            delaunay_mesh(rng.random((60, 3)))]


@pytest.mark.parametrize("index", range(5))
def test_measures_match_the_reference_and_sum_to_the_domain(index):
    mesh = _meshes()[index]
    ours = cell_measures(mesh.points, mesh.cells)
    assert np.allclose(ours, cell_measures_reference(mesh.points, mesh.cells), rtol=1e-12)
    if mesh.shape is not None:  # structured: the box's measure
        assert abs(ours.sum() - np.prod(mesh.points.max(0) - mesh.points.min(0))) < 1e-12


@pytest.mark.parametrize("index", range(5))
def test_errors_vanish_for_linear_fields_and_match_the_reference(index):
    mesh = _meshes()[index]
    slope = np.arange(1.0, mesh.dim + 1.0)
    linear = mesh.points @ slope + 0.25
    assert l2_error(mesh.points, mesh.cells, linear, lambda x: x @ slope + 0.25) < 1e-13
    assert h1_error(mesh.points, mesh.cells, linear, lambda x: np.broadcast_to(slope, x.shape)) < 1e-12
    assert np.allclose(p1_gradients(mesh.points, mesh.cells, linear), slope, atol=1e-12)

    def smooth(x):
        return np.sin(2 * x[:, 0]) * np.exp(x[:, -1] / 2)

    values = smooth(mesh.points) + 0.01
    assert abs(l2_error(mesh.points, mesh.cells, values, smooth)
               - l2_error_reference(mesh.points, mesh.cells, values, smooth)) < 1e-13


def test_p1_interpolation_errors_converge_at_the_known_rates():
    """||u - I_h u||_L2 = O(h^2), |u - I_h u|_H1 = O(h) for a smooth u on uniform triangle meshes."""

    def u(x):
        return np.sin(np.pi * x[:, 0]) * np.sin(np.pi * x[:, 1])

    def grad_u(x):
        return np.pi * np.stack([np.cos(np.pi * x[:, 0]) * np.sin(np.pi * x[:, 1]),
                                 np.sin(np.pi * x[:, 0]) * np.cos(np.pi * x[:, 1])], -1)

    l2, h1 = [], []
    for n in (9, 17, 33):
        mesh = structured_mesh([0.0, 0.0], [1.0, 1.0], [n, n])
        l2.append(l2_error(mesh.points, mesh.cells, u(mesh.points), u))
        h1.append(h1_error(mesh.points, mesh.cells, u(mesh.points), grad_u))
    assert np.allclose(np.log2(np.array(l2[:-1]) / l2[1:]), 2.0, atol=0.1)
    assert np.allclose(np.log2(np.array(h1[:-1]) / h1[1:]), 1.0, atol=0.1)


@pytest.mark.parametrize("threads", ["1", "2"])
def test_numba_kernels_keep_torchs_thread_count(threads):
    """Numba's parallel kernels share torch's OpenMP runtime: defining and running them must not change the
    thread count torch was started with (OMP_NUM_THREADS=1 used to become 2 on importing the problems)."""
    code = ("import torch, numpy as np; import problems, solvers; from physopt import structured_mesh; "
            "from physopt.mesh import cell_measures; m = structured_mesh([0, 0], [1, 1], [5, 5]); "
            "cell_measures(np.asarray(m.points), np.asarray(m.cells)); print(torch.get_num_threads())")
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_NUM_THREADS"}
    env["OMP_NUM_THREADS"] = threads
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split()[-1] == threads
