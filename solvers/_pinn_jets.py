r"""PINN residuals through MLP jets: fast per-point Jacobians and K-FAC factors.

For an MLP, every loss term that looks at the field and its derivatives of
order :math:`k \le 2` at its own point is evaluated from the network's
:math:`k`-jet there (:class:`physopt.curvature.MLPStructure`): the field is
replaced, around each point :math:`x_n`, by its Taylor polynomial

.. math::
    \tilde u_n(y) = u(x_n) + \nabla u(x_n)\cdot(y - x_n) + \tfrac12 (y-x_n)^\top \nabla^2 u(x_n)\,(y-x_n),

which has the same derivatives up to order 2 at :math:`x_n`, so the problem's
own residual (any operators, any hard-constraint ansatz) gives the same value.
The parameter Jacobian then comes from one backward pass through the layer
copies instead of nested reverse mode per point, and the same pass yields the
Kronecker factors of K-FAC. Before use, every term is checked against the
exact evaluation; a term that disagrees (it needs higher derivatives, or looks
at other points) keeps the exact path.
"""

from __future__ import annotations

import dataclasses
import itertools

import torch
from torch.func import vmap

from physopt import ConfigurationError, derivative_mode
from physopt.curvature import FlatParameters
from physopt.curvature import KroneckerBlock, KroneckerCurvature, MLPStructure, kronecker_factors, per_point_jacobian

__all__ = ["JetResiduals", "jets_for"]


class JetResiduals:
    """Residuals, Jacobian and Kronecker factors of a PINN's terms via MLP jets (exact path where needed)."""

    def __init__(self, solver, flat: FlatParameters):
        self.solver, self.flat = solver, flat
        self.structure = MLPStructure(solver.model)
        names = {n for pair in self.structure.linear for n in pair if n is not None}
        if names != set(flat.names):
            raise ConfigurationError("the network has parameters outside its Linear layers; MLP jets do not apply")
        self.jet_ok: dict[str, bool] = {}

    # ----- evaluation -------------------------------------------------------------
    def _context(self):
        solver = self.solver
        return solver.problem.layout(), derivative_mode(getattr(solver, "mode", solver.options.derivatives))

    def _field_around(self, value, gradient, hessian, center):
        single = self.solver.problem.n_unknowns == 1
        hard = self.solver.hard
        scale = self.solver.options.output_scale

        def net(y):
            d = y - center
            out = value
            if gradient is not None:
                out = out + gradient @ d
            if hessian is not None:
                out = out + 0.5 * (hessian @ d) @ d
            out = out * scale if scale != 1 else out
            return out.squeeze(-1) if single else out

        return net if hard is None else (lambda y: hard.ansatz(y, net(y)))

    def _jet_term(self, params, fn, args, order, record=False):
        """The term's per-point residuals ``(N, K)`` from the jets at ``args[0]``, and the layer records."""
        jets, records = self.structure.jets(params, args[0], order, record=record)
        parts = [t for t in (jets.value, jets.gradient, jets.hessian) if t is not None]

        def point(*a):
            value, gradient, hessian = (list(a[:len(parts)]) + [None, None])[:3]
            x = a[len(parts)]
            return fn(self._field_around(value, gradient, hessian, x), x, *a[len(parts) + 1:])

        r = vmap(point)(*parts, *args)
        return r.reshape(r.shape[0], -1), records

    def _exact_term(self, theta, fn, args):
        field = self.solver.field_at(self.flat, theta)
        r = vmap(lambda *a: fn(field, *a))(*args)
        return r.reshape(r.shape[0], -1)

    def check(self, theta: torch.Tensor) -> dict[str, bool]:
        """Compare every term's jet evaluation with the exact one at ``theta``; remember which agree."""
        params = self.flat.unflatten(theta.detach())
        tol = 1e-8 if theta.dtype == torch.float64 else 1e-3
        layout, mode = self._context()
        with layout, mode, torch.no_grad():
            for name, fn, args, _, order in self.solver._pointwise_terms():
                if order is None:
                    self.jet_ok[name] = False
                    continue
                exact = self._exact_term(theta.detach(), fn, args)
                jet, _ = self._jet_term(params, fn, args, order)
                self.jet_ok[name] = bool((jet - exact).abs().max() <= tol * (1 + exact.abs().max()))
        return dict(self.jet_ok)

    def _terms(self, theta):
        if not self.jet_ok:
            self.check(theta)
        for name, fn, args, scale, order in self.solver._pointwise_terms():
            yield name, fn, args, scale, (order if self.jet_ok.get(name, False) else None)

    def residual_terms(self, theta: torch.Tensor) -> dict[str, torch.Tensor]:
        params = self.flat.unflatten(theta)
        layout, mode = self._context()
        out = {}
        with layout, mode:
            for name, fn, args, scale, order in self._terms(theta):
                r = self._exact_term(theta, fn, args) if order is None else self._jet_term(params, fn, args, order)[0]
                out[name] = r.reshape(-1) * scale
        return out

    def residual(self, theta: torch.Tensor) -> torch.Tensor:
        return torch.cat(list(self.residual_terms(theta).values()))

    # ----- first-order structure ------------------------------------------------
    def _backward(self, theta, fn, args, order, scale):
        """Records and the output-copy gradients of every residual component, each ``(N, S, out)``."""
        params = {k: v.detach().clone().requires_grad_() for k, v in self.flat.unflatten(theta).items()}
        with torch.enable_grad():
            r, records = self._jet_term(params, fn, args, order, record=True)
            r = r * scale
            outputs = [rec.outputs for rec in records]
            grads = [torch.autograd.grad(r[:, k].sum(), outputs, retain_graph=k + 1 < r.shape[1])
                     for k in range(r.shape[1])]
        self._last_residual = r.detach()
        records = [dataclasses.replace(rec, inputs=rec.inputs.detach(), outputs=rec.outputs.detach()) for rec in records]
        return records, grads

    def jacobian(self, theta: torch.Tensor) -> torch.Tensor:
        """Dense ``(N, P)`` Jacobian of :meth:`residual`, term by term, written in place (no concatenation copies)."""
        blocks = []
        layout, mode = self._context()
        with layout, mode:
            for _, fn, args, scale, order in self._terms(theta):
                if order is None:
                    J = per_point_jacobian(lambda th, *a, fn=fn: fn(self.solver.field_at(self.flat, th), *a), theta, *args,
                                           scale=scale)
                    blocks.append(J.reshape(len(args[0]), -1, theta.numel()))
                else:
                    blocks.append(self._backward(theta, fn, args, order, scale))
            rows = sum(b.shape[0] * b.shape[1] if torch.is_tensor(b) else b[1][0][0].shape[0] * len(b[1]) for b in blocks)
            J = theta.new_empty(rows, theta.numel())
            offsets = dict(zip(self.flat.names, [0] + list(itertools.accumulate(self.flat.sizes))[:-1]))
            start = 0
            for block in blocks:
                if torch.is_tensor(block):
                    J[start:start + block.shape[0] * block.shape[1]] = block.reshape(-1, theta.numel())
                    start += block.shape[0] * block.shape[1]
                    continue
                records, grads = block
                n, k = grads[0][0].shape[0], len(grads)
                view = J[start:start + n * k].view(n, k, -1)
                for c, g in enumerate(grads):
                    for rec, gl in zip(records, g):
                        out, inp = gl.shape[-1], rec.inputs.shape[-1]
                        o = offsets[rec.weight]
                        per_point = torch.bmm(gl.transpose(1, 2), rec.inputs.detach())  # sum_s g a^T, (n, out, in)
                        view[:, c, o:o + out * inp].copy_(per_point.reshape(n, -1))
                        if rec.bias is not None:
                            view[:, c, offsets[rec.bias]:offsets[rec.bias] + out].copy_(gl[:, 0])
                start += n * k
        return J

    def kronecker(self, theta: torch.Tensor) -> KroneckerCurvature:
        r"""Per linear layer, the KFAC-expand factors ``(A, B)`` of the PDE residual and of the other terms together,
        with the residual, :math:`J^\top r` and :math:`JV` products from the same pass.

        Raises :class:`ConfigurationError` when a term has no jet form (then K-FAC does not apply).
        """
        groups: dict[str, list] = {"residual": [], "conditions": []}
        terms, residuals = [], []
        layout, mode = self._context()
        with layout, mode:
            for name, fn, args, scale, order in self._terms(theta):
                if order is None:
                    raise ConfigurationError(
                        f"kfac (K-FAC) needs every loss term in jet form; '{name}' is not (periodic pairs, derivatives "
                        "above second order). Use --optimizer lm or engd"
                    )
                records, grads = self._backward(theta, fn, args, order, scale)
                terms.append((records, grads))
                residuals.append(self._last_residual.reshape(-1))
                group = groups["residual" if name == "residual" else "conditions"]
                for g in grads:  # each residual component counts as its own samples
                    group.append([(rec, gl.detach()) for rec, gl in zip(records, g)])
        # per layer and group: A = the sample-weighted mean of the terms' input factors, B = the sum of their output
        # factors; on several ranks both are completed by one all_reduce of (A * count, B, count) over all layers
        partial = []
        for i in range(len(self.structure.linear)):
            for samples in groups.values():
                if not samples:
                    continue
                factors = [kronecker_factors([s[i][0]], [s[i][1]])[0] for s in samples]
                counts = [s[i][0].inputs.shape[0] * s[i][0].inputs.shape[1] for s in samples]
                total = sum(counts)
                A = sum(f[0] * c for f, c in zip(factors, counts)).detach()
                B = sum(f[1] for f in factors).detach()
                partial += [A, B, A.new_tensor(float(total))]
        summed = iter(self.solver.ranks.sum_all(partial))
        layers = []
        for weight, bias in self.structure.linear:
            pairs = []
            for samples in groups.values():
                if samples:
                    A, B, total = next(summed), next(summed), next(summed)
                    pairs.append((A / total, B))
            layers.append(KroneckerBlock(weight, bias, pairs))
        offsets = [0] + list(itertools.accumulate(self.flat.sizes))
        slices = {name: slice(a, b) for name, a, b in zip(self.flat.names, offsets[:-1], offsets[1:])}
        return KroneckerCurvature(layers, torch.cat(residuals), terms, slices)


def jets_for(solver, flat: FlatParameters, theta: torch.Tensor) -> JetResiduals | None:
    """:class:`JetResiduals` for ``solver`` when its network is an MLP and some term has a jet form, else None."""
    try:
        jets = JetResiduals(solver, flat)
    except ConfigurationError:
        return None
    return jets if any(jets.check(theta).values()) else None

