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

import itertools
import math

import torch

from problems import Observations, UnknownParameters

__all__ = ["restricted_covariance", "identified_unknowns", "unknown_fields_at", "Z_95"]

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


def field_errors(solver) -> dict[str, dict]:
    """Each unknown field: ``{"field": True}``, with its relative L2 error on the problem's error points where the
    problem knows it (``reference_unknown(name, points)``)."""
    problem, out = solver.problem, {}
    fields = [name for name in solver.unknown_specs if name not in solver.model.unknowns.scalars]
    for name in fields:
        out[name] = {"field": True}
        if hasattr(problem, "reference_unknown"):
            points = torch.as_tensor(problem.error_points(), dtype=torch.float64)
            found = unknown_fields_at(solver.model, points)[name]
            truth = torch.as_tensor(problem.reference_unknown(name, points), dtype=torch.float64).reshape(-1)
            out[name]["rel_l2"] = float((found - truth).norm() / truth.norm())
    return out


def unknown_fields_at(model, points: torch.Tensor) -> dict[str, torch.Tensor]:
    """The identified unknown fields of a trained PINN ``model`` at ``points`` ``(N, n)``: ``{name: (N,) float64}``."""
    unknowns = getattr(model, "unknowns", None)
    if unknowns is None:
        return {}
    p = next(model.parameters())
    with torch.no_grad():
        values = unknowns.values()
        return {name: values[name](points.to(dtype=p.dtype, device=p.device)).double().cpu()
                for name in unknowns.specs if name not in unknowns.scalars}


def identified_unknowns(solver) -> dict[str, dict[str, float]]:
    r"""A PINN's unknowns: each one's value, standard error and 95 % interval.

    The errors come from :math:`J^\top J` at the current parameters (summed over the ranks) and the
    data terms' residual (or their ``noise``); without data terms only the values are given.
    """
    names = solver.model.unknowns.scalars  # unknown fields are nuisance parameters here, like the network's
    values = {k: float(v.detach()) for k, v in solver.unknown_values().items() if k in names}
    out = {name: {"value": values[name]} for name in names}
    out.update(field_errors(solver))
    data = [c for c in solver.soft if isinstance(c, Observations)]
    if not data or not names:
        return out
    objective = solver.least_squares()
    flat = objective.flat
    theta = flat.vector().detach()
    J = objective.jacobian(theta).detach()
    H = solver.ranks.sum(J.T @ J)
    offsets = dict(zip(flat.names, itertools.accumulate([0] + list(flat.sizes))))  # each unknown: one column
    index = [offsets["unknowns." + UnknownParameters.PREFIX + name] for name in names]
    with torch.no_grad():
        terms = solver.residual_terms(solver.field_at(flat, theta))
    keys = {id(c): key for c, key in zip(solver.soft, solver.term_names)}
    noise = {c.noise for c in data if getattr(c, "noise", None) is not None}
    counts = dict(zip(solver.term_names, solver.batch.condition_counts))
    n_data = sum(counts[keys[id(c)]] * len(c.components) for c in data)
    if len(noise) == 1 and len(data) == 1:  # known noise: c = w sigma^2 / N
        (sigma,) = noise
        scale = data[0].weight * sigma**2 / counts[keys[id(data[0])]]
    else:  # estimated from the data residual: c = ||r_d||^2 / (N_d - k)
        misfit = solver.ranks.sum(sum(terms[keys[id(c)]].square().sum() for c in data).detach())
        scale = float(misfit) / max(n_data - len(names), 1)
    cov = restricted_covariance(H, index, scale)
    raw = {name: float(getattr(solver.model.unknowns, UnknownParameters.PREFIX + name).detach()) for name in names}
    for i, name in enumerate(names):
        spec, se_raw = solver.unknown_specs[name], math.sqrt(max(float(cov[i, i]), 0.0))
        rho = torch.tensor(raw[name], dtype=torch.float64, requires_grad=True)
        (slope,) = torch.autograd.grad(spec.value(rho), rho)
        low, high = (float(spec.value(torch.tensor(raw[name] + s * Z_95 * se_raw, dtype=torch.float64)))
                     for s in (-1, 1))
        out[name].update({"std_error": abs(float(slope)) * se_raw, "ci95": [low, high]})
    return out
