r"""The least-squares solves of TENG's column-subset fits: :math:`J_S\delta \approx r` for a subset S of columns.

Two ways, one interface (:class:`SubsetSystem`, ``solve(rcond)`` / ``damped(mu)``):

- ``"gram"`` (the default): the normal equations. :math:`G = J_S^\top J_S` and
  :math:`g = J_S^\top r` are accumulated over chunks of points from the network's
  column banks (:meth:`PeriodicMLP.column_banks`; ``J_S`` is never held whole; on the
  CPU by BLAS ``syrk``, half a matrix product), then :math:`G = V\Lambda V^\top` once.
  Every cut-off and damping after that costs two matrix–vector products:

  .. math::
      \delta_{\text{rcond}} = \sum_{\lambda_k > \text{rcond}^2\lambda_{\max}} v_k \frac{v_k^\top g}{\lambda_k},
      \qquad \delta_\mu = V(\Lambda + \mu)^{-1}V^\top g .

  The truncation is the truncated SVD of :math:`J_S` (:math:`\lambda = \sigma^2`) as far
  as the Gram matrix resolves it: its eigenvalues carry an absolute error of about
  eps·λ_max, so a cut-off below :func:`gram_resolution` (10√eps: 1.5e-7 in float64)
  acts as that (``qr`` resolves smaller ones). Where the eigendecomposition fails, the
  system falls back to QR.
- ``"qr"``: :func:`truncated_lstsq` on the formed ``J_S`` (LAPACK's column-pivoted QR on
  the CPU, a thin SVD elsewhere): exact to the last bits, 10–20x dearer at the paper's size.
"""

from __future__ import annotations

import math

import scipy.linalg
import scipy.linalg.blas
import torch

__all__ = ["SubsetSystem", "truncated_lstsq", "gram_resolution", "normal_equations"]

#: elements of one chunk of J_S^T (columns x points) while the Gram matrix is accumulated: 32 MiB in float64 on
#: the CPU (a 1,024-column syrk by chunks of 4,096 points: 1.7 s against 2.5 s for the whole 65,536 at once),
#: 1 GiB on accelerators (fewer, bigger products)
CHUNK_ELEMENTS = 1 << 22
DEVICE_CHUNK_ELEMENTS = 1 << 27


def gram_resolution(dtype: torch.dtype) -> float:
    """The smallest singular-value cut-off (relative) that the eigenvalues of a Gram matrix resolve: 10√eps."""
    return 10 * math.sqrt(torch.finfo(dtype).eps)


def truncated_lstsq(J: torch.Tensor, b: torch.Tensor, rcond: float, method: str | None = None) -> torch.Tensor:
    r"""Rank-revealing least squares :math:`\min\|J\delta - b\|`: directions below ``rcond``·(largest) are dropped.

    ``method`` ``"gelsy"`` (LAPACK's QR with column pivoting; the CPU's default) or ``"svd"``
    (a thin SVD; the default elsewhere, since torch's only CUDA driver, ``gels``, ignores
    ``rcond`` and is not rank-revealing).
    """
    if (method or ("gelsy" if J.device.type == "cpu" else "svd")) == "gelsy":
        # SciPy's gelsy, not torch's: torch 2.13's passes LAPACK an uninitialised pivot array (JPVT), so columns
        # are sometimes held in front and the rank decision goes wrong, depending on leftover memory
        x = scipy.linalg.lstsq(J.detach().cpu().numpy(), b.detach().cpu().numpy(), cond=rcond, lapack_driver="gelsy",
                               check_finite=False)[0]
        return torch.from_numpy(x).to(dtype=J.dtype, device=J.device)
    U, s, Vh = torch.linalg.svd(J, full_matrices=False)
    coef = torch.where(s > rcond * s[0], 1 / s, torch.zeros_like(s))
    return Vh.T @ (coef * (U.T @ b))


def normal_equations(left: torch.Tensor, right: torch.Tensor, rows_left: torch.Tensor, rows_right: torch.Tensor,
                     r: torch.Tensor, syrk: bool | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(J_S^T J_S, J_S^T r)`` with ``J_S^T[k] = left[rows_left[k]] * right[rows_right[k]]``, chunk by chunk of
    points; by BLAS ``syrk`` (SciPy) where ``syrk`` (default: on the CPU), else by matrix products."""
    m, n = len(rows_left), left.shape[1]
    use_syrk = left.device.type == "cpu" if syrk is None else syrk
    chunk = max(256, (CHUNK_ELEMENTS if left.device.type == "cpu" else DEVICE_CHUNK_ELEMENTS) // m)
    buffer = torch.empty(m, min(chunk, n), dtype=left.dtype, device=left.device)
    g = torch.zeros(m, dtype=left.dtype, device=left.device)
    blas_syrk = scipy.linalg.blas.get_blas_funcs("syrk", dtype=buffer.numpy().dtype) if use_syrk else None
    G = None if use_syrk else torch.zeros(m, m, dtype=left.dtype, device=left.device)
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        block = buffer[:, : stop - start]
        torch.mul(left[rows_left, start:stop], right[rows_right, start:stop], out=block)
        g.addmv_(block, r[start:stop])
        if use_syrk:  # lower triangle of block @ block.T: BLAS syrk on the Fortran view (points x columns) of the block
            a = block.numpy().T
            G = (blas_syrk(1.0, a, trans=1, lower=1) if G is None
                 else blas_syrk(1.0, a, beta=1.0, c=G, trans=1, lower=1, overwrite_c=1))
        else:
            G.addmm_(block, block.T)
    if use_syrk:
        G = torch.from_numpy(G)
        G = torch.tril(G) + torch.tril(G, -1).T
    return G, g


class SubsetSystem:
    r"""The least-squares system :math:`J_S\delta \approx r` of one column subset, factored once, solved for
    any cut-off (``solve``) or damping (``damped``); ``method`` ``"gram"`` or ``"qr"`` (see the module)."""

    def __init__(self, left, right, rows_left, rows_right, r: torch.Tensor, method: str = "gram"):
        self.r = r
        self._bank = (left, right, rows_left, rows_right)
        self._J = None
        self.eigen = None  # (eigenvalues, eigenvectors, V^T J_S^T r) for "gram"; None: solved by QR
        if method == "gram":
            G, g = normal_equations(left, right, rows_left, rows_right, r)
            try:
                e, V = torch.linalg.eigh(G)
            except torch.linalg.LinAlgError:  # the fall-back: QR on J_S
                pass
            else:
                self.eigen = (e.clamp_min(0), V, V.T @ g)

    @property
    def J(self) -> torch.Tensor:
        """``J_S`` itself (points x columns), formed on first use (the QR solves)."""
        if self._J is None:
            left, right, rows_left, rows_right = self._bank
            self._J = (left[rows_left] * right[rows_right]).T
        return self._J

    @property
    def largest(self) -> float:
        """The largest eigenvalue of ``J_S^T J_S`` (σ_max²); only for ``"gram"``."""
        return float(self.eigen[0][-1])

    def solve(self, rcond: float) -> torch.Tensor:
        """δ minimising ‖J_S δ − r‖ with singular values below ``rcond``·σ_max dropped (``gram``: at least
        :func:`gram_resolution`)."""
        if self.eigen is None:
            return truncated_lstsq(self.J, self.r, rcond)
        rcond = max(rcond, gram_resolution(self.r.dtype))
        e, V, w = self.eigen
        coef = torch.where(e > rcond**2 * e[-1], 1 / e.clamp_min(torch.finfo(e.dtype).tiny), torch.zeros_like(e))
        return V @ (coef * w)

    def damped(self, mu: float) -> tuple[torch.Tensor, float]:
        r"""``(δ, predicted)``: :math:`\delta = (J_S^\top J_S + \mu I)^{-1}J_S^\top r` and the decrease of
        :math:`\|r - J_S\delta\|^2` it predicts, :math:`\sum_k w_k^2\,(2/(\lambda_k+\mu) - \lambda_k/(\lambda_k+\mu)^2)`."""
        e, V, w = self.eigen
        inv = 1 / (e + mu)
        predicted = float((w**2 * (2 * inv - e * inv**2)).sum())
        return V @ (inv * w), predicted
