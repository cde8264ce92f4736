r"""Lid-driven cavity: steady incompressible Navier–Stokes in the unit square, unknowns ``(u, v, p)``.

.. math::
    (\mathbf u\cdot\nabla)\mathbf u + \nabla p - \tfrac{1}{Re}\Delta\mathbf u = 0,\qquad \nabla\cdot\mathbf u = 0,

:math:`\mathbf u = (1, 0)` on the lid :math:`y = 1` and :math:`\mathbf u = 0` on the other walls (a condition on
the velocity alone: ``Dirichlet(..., components=("u", "v"))``); the pressure, fixed only up to a constant by the
equations, is pinned by ``p(½, ½) = 0``.

Reference velocity: second-order finite differences in stream function and vorticity
(:math:`\Delta\psi = -\omega`, :math:`u = \psi_y`, :math:`v = -\psi_x`, Thom's wall vorticity), solved by Newton's
method (:func:`cavity_finite_differences`), Richardson-extrapolated from 128 and 256 cells. For ``Re = 100`` it is
shipped (``data/cavity_re100.npz``, written by :func:`write_reference` in 45 s); another ``Re`` is solved
on 128 cells when first needed. The pressure has no reference (the errors are those of u and v). The published
centreline velocities of Ghia, Ghia & Shin (1982) for ``Re = 100`` are in :data:`GHIA_RE100`; the converged finite
differences differ from them by at most 5e-3 (u) and 9e-3 (v).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch

from physopt import jacobian, laplacian

from .._conditions import Dirichlet
from .._data import Data
from .._domain import Box
from .._problem import Problem
from .._registry import register

REFERENCE_FILE = Path(__file__).parent / "data" / "cavity_re100.npz"

#: Ghia, Ghia & Shin (1982), J. Comput. Phys. 48, Tables I and II, Re = 100: u along the vertical centreline
#: x = ½ at the heights ``y``, and v along the horizontal centreline y = ½ at ``x``.
GHIA_RE100 = {
    "y": np.array([1.0, 0.9766, 0.9688, 0.9609, 0.9531, 0.8516, 0.7344, 0.6172, 0.5, 0.4531, 0.2813, 0.1719,
                   0.1016, 0.0703, 0.0625, 0.0547, 0.0]),
    "u": np.array([1.0, 0.84123, 0.78871, 0.73722, 0.68717, 0.23151, 0.00332, -0.13641, -0.20581, -0.21090,
                   -0.15662, -0.10150, -0.06434, -0.04775, -0.04192, -0.03717, 0.0]),
    "x": np.array([1.0, 0.9688, 0.9609, 0.9531, 0.9453, 0.9063, 0.8594, 0.8047, 0.5, 0.2344, 0.2266, 0.1563,
                   0.0938, 0.0781, 0.0703, 0.0625, 0.0]),
    "v": np.array([0.0, -0.05906, -0.07391, -0.08864, -0.10313, -0.16914, -0.22445, -0.24533, 0.05454, 0.17527,
                   0.17507, 0.16077, 0.12317, 0.10890, 0.10091, 0.09233, 0.0]),
}


def cavity_finite_differences(cells: int, Re: float, initial=None, tol: float = 1e-13):
    r"""Velocity of the lid-driven cavity on a ``(cells+1)²`` grid: ``(x, u, v, psi, omega)``, arrays indexed ``[j, i]``
    (``y`` index first).

    Unknowns :math:`\psi, \omega` at every node. Interior: :math:`\Delta_h\psi + \omega = 0` and
    :math:`\psi_y\omega_x - \psi_x\omega_y - \Delta_h\omega/Re = 0` (central differences, second order); walls:
    :math:`\psi = 0` and Thom's :math:`\omega_w = -2\psi_{\text{adjacent}}/h^2 - 2U/h` (:math:`U = 1` on the lid).
    Newton's method with the exact sparse Jacobian (the equations are bilinear), from ``initial = (psi, omega)``
    or rest; converged when the update of ψ is below ``tol``.
    """
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla

    n, h = cells, 1.0 / cells
    m = n + 1
    eye = sp.identity(m, format="csr")
    d1 = sp.diags([-1.0, 1.0], [-1, 1], shape=(m, m)) / (2 * h)
    d2 = sp.diags([1.0, -2.0, 1.0], [-1, 0, 1], shape=(m, m)) / h**2
    Dx, Dy = sp.kron(eye, d1).tocsr(), sp.kron(d1, eye).tocsr()  # node k = j·m + i
    L = (sp.kron(eye, d2) + sp.kron(d2, eye)).tocsr()
    i, j = (a.ravel() for a in np.meshgrid(np.arange(m), np.arange(m)))
    wall = (i == 0) | (i == n) | (j == 0) | (j == n)
    corner = ((i == 0) | (i == n)) & ((j == 0) | (j == n))
    lid = np.where((j == n) & ~corner, 2.0 / h, 0.0)
    inward = np.where(i == 0, 1, np.where(i == n, -1, 0)) + m * np.where(j == 0, 1, np.where(j == n, -1, 0))
    rows = np.flatnonzero(wall & ~corner)
    thom = sp.csr_matrix((np.full(len(rows), 2 / h**2), (rows, rows + inward[rows])), shape=(m * m, m * m))
    inside, on_wall = sp.diags((~wall).astype(float)), sp.diags(wall.astype(float))
    psi, omega = (np.zeros(m * m), np.zeros(m * m)) if initial is None else (a.ravel().copy() for a in initial)
    for _ in range(50):
        ox, oy, px, py = Dx @ omega, Dy @ omega, Dx @ psi, Dy @ psi
        f_psi = np.where(wall, psi, L @ psi + omega)
        f_omega = np.where(wall, omega + thom @ psi + lid, py * ox - px * oy - (L @ omega) / Re)
        jac = sp.bmat([
            [inside @ L + on_wall, inside],
            [inside @ (sp.diags(ox) @ Dy - sp.diags(oy) @ Dx) + on_wall @ thom,
             inside @ (sp.diags(py) @ Dx - sp.diags(px) @ Dy - L / Re) + on_wall],
        ]).tocsc()
        step = spla.spsolve(jac, -np.concatenate([f_psi, f_omega]))
        psi, omega = psi + step[: m * m], omega + step[m * m:]
        if np.abs(step[: m * m]).max() < tol:
            break
    else:
        raise RuntimeError(f"lid-driven cavity finite differences: Newton did not converge (Re = {Re:g}, {cells} cells)")
    u, v = (Dy @ psi).reshape(m, m), -(Dx @ psi).reshape(m, m)
    u[0, :] = u[:, 0] = u[:, n] = 0.0
    u[n, 1:n] = 1.0
    v[0, :] = v[n, :] = v[:, 0] = v[:, n] = 0.0
    return np.linspace(0.0, 1.0, m), u, v, psi.reshape(m, m), omega.reshape(m, m)


def cavity_reference(Re: float, cells: int = 128, continuation: float = 100.0):
    """``(x, u, v)`` on ``cells + 1`` nodes a side; ``Re`` above ``continuation`` is reached in steps of it."""
    state = None
    for re in [*np.arange(continuation, Re, continuation), Re]:
        x, u, v, psi, omega = cavity_finite_differences(cells, float(re), state)
        state = (psi, omega)
    return x, u, v


def write_reference(path: Path = REFERENCE_FILE) -> None:
    """Richardson-extrapolate Re = 100 from 128 and 256 cells, (4·fine − coarse)/3 on the 129² common nodes."""
    x, u1, v1, *_ = cavity_finite_differences(128, 100.0)
    _, u2, v2, *_ = cavity_finite_differences(256, 100.0)
    u, v = (4 * u2[::2, ::2] - u1) / 3, (4 * v2[::2, ::2] - v1) / 3
    np.savez_compressed(path, x=x, u=u, v=v)


@functools.lru_cache(maxsize=4)
def _reference_interpolators(Re: float):
    from scipy.interpolate import RegularGridInterpolator

    if Re == 100.0 and REFERENCE_FILE.is_file():
        stored = np.load(REFERENCE_FILE)
        x, u, v = stored["x"], stored["u"], stored["v"]
    else:
        x, u, v = cavity_reference(Re)
    return tuple(RegularGridInterpolator((x, x), f, method="cubic") for f in (u, v))


@register("lid_driven_cavity")
class LidDrivenCavity(Problem):
    """Steady Navier–Stokes in [0,1]², lid u = 1 at y = 1, no slip elsewhere; velocity (u, v) and pressure p."""

    domain = Box([0.0, 0.0], [1.0, 1.0])
    unknowns = ("u", "v", "p")
    parameters = {"Re": 100.0}
    vectors = {"velocity": ("u", "v")}  # drawn as one field: streamlines over its magnitude
    conditions = [
        Dirichlet(lambda x: torch.stack([(x[1] > 1.0 - 1e-9).to(x.dtype), torch.zeros_like(x[0])]), components=("u", "v")),
        Data([[0.5, 0.5]], [[0.0]], ("p",)),  # the pressure's constant
    ]

    def __init__(self, **params):
        super().__init__(**params)
        if not self.Re > 0:
            raise ValueError(f"lid_driven_cavity needs Re > 0, got {self.Re}")

    def residual(self, w, x):
        s, J, L = w(x), jacobian(w)(x), laplacian(w)(x)
        u, v = s[0], s[1]
        momentum_x = u * J[0, 0] + v * J[0, 1] + J[2, 0] - L[0] / self.Re
        momentum_y = u * J[1, 0] + v * J[1, 1] + J[2, 1] - L[1] / self.Re
        return torch.stack([momentum_x, momentum_y, J[0, 0] + J[1, 1]])

    def reference_solution(self, points: torch.Tensor) -> torch.Tensor:
        """u and v from the finite-difference reference; p has none (NaN: left out of the errors)."""
        xy = points.detach().double().cpu().numpy()[:, ::-1]  # the grids are indexed [y, x]
        u, v = (f(np.clip(xy, 0.0, 1.0)) for f in _reference_interpolators(float(self.Re)))
        values = np.column_stack([u, v, np.full(len(u), np.nan)])
        return torch.as_tensor(values, dtype=points.dtype, device=points.device)

    def centreline_errors(self, solution) -> dict[str, float]:
        """Max abs differences from Ghia et al. (1982) (Re = 100 only): u on x = ½ and v on y = ½."""
        if self.Re != 100.0:
            raise ValueError(f"Ghia et al.'s table in physopt is for Re = 100, this problem has Re = {self.Re:g}")
        g = GHIA_RE100
        on_x = torch.tensor(np.column_stack([np.full_like(g["y"], 0.5), g["y"]]))
        on_y = torch.tensor(np.column_stack([g["x"], np.full_like(g["x"], 0.5)]))
        return {"ghia_u_max_abs": float(np.abs(solution.numpy(on_x)[:, 0] - g["u"]).max()),
                "ghia_v_max_abs": float(np.abs(solution.numpy(on_y)[:, 1] - g["v"]).max())}
