r"""Standard errors of identified unknowns from the Gauss–Newton matrix (a Laplace approximation).

At the fitted parameters :math:`\hat\theta = (\hat\theta_{net}, \hat\rho)` of the loss
:math:`L = \|r\|^2`, with the data rows :math:`r_d = \sqrt{w/N_d}\,(q(x_i) - y_i)` measured with
independent noise of variance :math:`\sigma^2`, the loss is :math:`c = w\sigma^2/N_d` times
twice the negative log-likelihood, and

.. math::
    \operatorname{Cov}(\hat\rho) \approx c\,[(J^\top J)^{+}]_{\rho\rho}
    = c\,\big(H_{\rho\rho} - H_{\rho n} H_{nn}^{+} H_{n\rho}\big)^{-1},\qquad H = J^\top J ,

the Schur complement eliminating the network's parameters (a pseudo-inverse: directions of
the network that no residual determines constrain nothing). :math:`\sigma^2` is the given
noise, else :math:`\|r_d\|^2 N_d/(w\,(N_d - k))` from the data residual (k unknowns), i.e.
:math:`c = \|r_d\|^2/(N_d - k)`. The PDE and boundary terms enter :math:`H` with their weights,
as if they were observations on the same scale. Errors of a transformed unknown
:math:`v(\rho)` follow by the delta method, :math:`\operatorname{se}(v) = |v'(\rho)|\operatorname{se}(\rho)`.
"""

from __future__ import annotations

import math

import torch

__all__ = ["restricted_covariance", "Z_95"]

#: the two-sided 95 % quantile of the normal distribution
Z_95 = 1.959963984540054


def restricted_covariance(H: torch.Tensor, index: list[int], scale: float, rcond: float = 1e-12) -> torch.Tensor:
    r""":math:`c\,[H^{+}]_{II}` for the symmetric positive semi-definite ``H`` and the columns ``index``.

    The other columns are eliminated with a pseudo-inverse (eigenvalues below ``rcond`` times the
    largest dropped); the ``k x k`` Schur complement is inverted exactly.
    """
    others = [j for j in range(H.shape[0]) if j not in set(index)]
    H_uu = H[index][:, index]
    if others:
        H_nn, H_nu = H[others][:, others], H[others][:, index]
        e, Q = torch.linalg.eigh(H_nn)
        keep = e > rcond * e.abs().max().clamp_min(torch.finfo(H.dtype).tiny)
        coupling = Q[:, keep].T @ H_nu
        H_uu = H_uu - coupling.T @ (coupling / e[keep, None])
    return scale * torch.linalg.inv(0.5 * (H_uu + H_uu.T))
