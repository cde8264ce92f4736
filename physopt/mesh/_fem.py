r"""P1 finite elements for the Poisson problem, for reference solutions (scipy.sparse).

Solves :math:`-\Delta u = f` in the mesh's domain, :math:`u = g` on given nodes:
stiffness :math:`K_{ij} = \sum_K |K|\,\nabla\lambda_i\cdot\nabla\lambda_j`, load
:math:`b_i = \sum_K |K| \sum_q w_q f(x_q)\lambda_i(x_q)` (degree-3 rule, or the
highest available), Dirichlet values by elimination, sparse direct solve.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse
import scipy.sparse.linalg

from ._locate import inverse_edge_matrices
from ._quadrature import cell_measures, simplex_quadrature

__all__ = ["p1_poisson"]


def p1_poisson(points: np.ndarray, cells: np.ndarray, source, dirichlet_nodes: np.ndarray, dirichlet_values) -> np.ndarray:
    """Nodal P1 solution of ``-Δu = source(x)`` with ``u = dirichlet_values`` (array or callable of points) on the given nodes."""
    points = np.asarray(points, np.float64)
    cells = np.asarray(cells, np.int64)
    n, d = points.shape
    k = d + 1
    inverse = inverse_edge_matrices(points, cells)  # rows: gradients of lambda_1..lambda_d
    grads = np.concatenate([-inverse.sum(1, keepdims=True), inverse], 1)  # (C, k, d)
    measures = cell_measures(points, cells)
    local = measures[:, None, None] * grads @ np.transpose(grads, (0, 2, 1))  # (C, k, k)
    rows = np.repeat(cells, k, axis=1).ravel()
    cols = np.tile(cells, (1, k)).ravel()
    K = scipy.sparse.coo_matrix((local.ravel(), (rows, cols)), shape=(n, n)).tocsr()
    bary, weights = simplex_quadrature(d, min(3, {1: 3, 2: 3, 3: 3}[d]))
    x = np.einsum("qm,cmd->cqd", bary, points[cells])
    f = np.asarray(source(x.reshape(-1, d)), np.float64).reshape(x.shape[:2])
    local_load = measures[:, None] * np.einsum("q,cq,qm->cm", weights, f, bary)
    b = np.bincount(cells.ravel(), local_load.ravel(), minlength=n)
    fixed = np.unique(np.asarray(dirichlet_nodes, np.int64))
    g = dirichlet_values(points[fixed]) if callable(dirichlet_values) else np.broadcast_to(dirichlet_values, fixed.shape)
    u = np.zeros(n)
    u[fixed] = g
    free = np.setdiff1d(np.arange(n), fixed)
    rhs = b[free] - K[free][:, fixed] @ u[fixed]
    u[free] = scipy.sparse.linalg.spsolve(K[free][:, free].tocsc(), rhs)
    return u
