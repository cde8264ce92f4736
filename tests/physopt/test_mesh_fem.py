"""P1 finite elements (reference solutions): second-order L2 convergence on a manufactured solution."""

import numpy as np
import pytest

from physopt import structured_mesh
from physopt.mesh import boundary_nodes, l2_error, p1_poisson

pytestmark = pytest.mark.cpu_only(reason="NumPy/SciPy P1 finite elements on Numba-built meshes: no tensors")


def test_p1_poisson_converges_at_second_order_and_keeps_dirichlet_values():
    def u(x):
        return np.sin(np.pi * x[:, 0]) * np.sin(np.pi * x[:, 1]) + x[:, 0]

    def f(x):
        return 2 * np.pi**2 * np.sin(np.pi * x[:, 0]) * np.sin(np.pi * x[:, 1])

    errors = []
    for n in (9, 17, 33):
        mesh = structured_mesh([0.0, 0.0], [1.0, 1.0], [n, n])
        fixed = boundary_nodes(mesh.cells)
        uh = p1_poisson(mesh.points, mesh.cells, f, fixed, u)
        assert np.allclose(uh[fixed], u(mesh.points[fixed]), atol=1e-14)
        errors.append(l2_error(mesh.points, mesh.cells, uh, u))
    assert np.allclose(np.log2(np.array(errors[:-1]) / errors[1:]), 2.0, atol=0.1)  # measured 1.97, 1.99
