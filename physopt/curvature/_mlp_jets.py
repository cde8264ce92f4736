r"""MLPs seen as weight sharing: second-order input jets, per-point Jacobians, Kronecker factors.

For a network of ``Linear`` layers and elementwise activations, the value, the
input gradient and the input Hessian at a point propagate together (collapsed
Taylor mode). Stack them as *copies* :math:`s = 0..S-1` of every layer input
:math:`a_s` — the value, the :math:`D` first derivatives
:math:`\partial_i a`, the :math:`D(D+1)/2` second derivatives
:math:`\partial_{ij} a` (:math:`i \le j`). A linear layer maps every copy by
:math:`W` (the bias enters the value only); an activation :math:`\sigma` maps

.. math::
    a \mapsto \sigma(a), \quad \partial_i a \mapsto \sigma'(a)\,\partial_i a, \quad
    \partial_{ij} a \mapsto \sigma'(a)\,\partial_{ij} a + \sigma''(a)\,\partial_i a\,\partial_j a .

A pointwise residual :math:`r_n` that depends on the field through its
derivatives of order :math:`\le 2` at the point :math:`x_n` then sees
:math:`W_l` only through :math:`z_{n,s} = W_l a_{n,s}`, so its parameter
Jacobian is a sum of outer products over the copies,

.. math::
    \frac{\partial r_n}{\partial W_l} = \sum_s g_{n,s}\, \tilde a_{n,s}^\top, \qquad
    g_{n,s} = \frac{\partial r_n}{\partial z_{n,s}}, \quad
    \tilde a_{n,s} = (a_{n,s}, \delta_{s0}),

and one backward pass of :math:`\sum_n r_n` gives every :math:`g_{n,s}` (the
points are independent). This is the Jacobian the curvature layer uses for MLP
PINNs (no nested reverse mode per point), and the structure behind K-FAC for
PINNs (Dangel, Müller & Zeinhofer 2024): the Gram block of layer :math:`l` is
approximated by :math:`B_l \otimes A_l` with
:math:`A_l = \frac{1}{NS}\sum_{n,s}\tilde a\tilde a^\top` and
:math:`B_l = \sum_{n,s} g g^\top` (“KFAC-expand”).

The same layer walk gives Taylor mode for MLPs: :func:`forward_laplacian`
(collapsed: value, directional derivatives and :math:`\sum_r \partial^2 u[d_r, d_r]`
in one pass, for exact or STDE directions) and :func:`taylor_coefficients`
(a full :math:`k`-jet, :math:`k \le 4`). All of them take their activation
derivatives and jet rules from :mod:`physopt._jets`.
"""

from __future__ import annotations

import dataclasses

import torch
from .._errors import ConfigurationError
from .._jets import activation_derivatives, collapsed_second, push_activation

__all__ = ["MLPStructure", "Jets", "LayerRecord", "KroneckerBlock", "KroneckerCurvature", "layer_jacobians", "kronecker_factors",
           "forward_laplacian", "taylor_coefficients"]

_ELEMENTWISE = (torch.nn.Tanh, torch.nn.Sigmoid, torch.nn.SiLU, torch.nn.GELU, torch.nn.Softplus, torch.nn.ELU)


def _is_elementwise(module: torch.nn.Module) -> bool:
    return isinstance(module, _ELEMENTWISE) or getattr(module, "elementwise", False) or type(module).__name__ == "_Sine"


def _activation_derivatives(act: torch.nn.Module, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """σ(z), σ'(z), σ''(z) of an elementwise activation (the jet engine's :func:`physopt._jets.activation_derivatives`)."""
    value, d1, d2 = activation_derivatives(act, z, 2)
    return value, d1, d2


@dataclasses.dataclass
class Jets:
    """Output value ``(N, m)``, gradient ``(N, m, D)`` (order ≥ 1) and Hessian ``(N, m, D, D)`` (order 2)."""

    value: torch.Tensor
    gradient: torch.Tensor | None
    hessian: torch.Tensor | None


@dataclasses.dataclass
class LayerRecord:
    """The copies entering (``inputs``, ``(N, S, in)``) and leaving (``outputs``, ``(N, S, out)``) one linear layer."""

    weight: str
    bias: str | None
    inputs: torch.Tensor
    outputs: torch.Tensor


@dataclasses.dataclass
class KroneckerBlock:
    r"""One linear layer's Gram block as :math:`\sum_t B_t \otimes A_t` (``A``: inputs with the bias row last, ``B``: outputs)."""

    weight: str
    bias: str | None
    pairs: list[tuple[torch.Tensor, torch.Tensor]]


class MLPStructure:
    """The ``Linear``/elementwise-activation chain of ``module`` (a ``Sequential`` or a module with ``.layers``).

    Raises :class:`ConfigurationError` for anything else (convolutions, norms,
    residual connections): those networks use the generic curvature products.
    """

    def __init__(self, module: torch.nn.Module):
        seq = module.layers if isinstance(getattr(module, "layers", None), torch.nn.Sequential) else module
        prefix = "layers." if seq is not module else ""
        if not isinstance(seq, torch.nn.Sequential):
            raise ConfigurationError(
                f"{type(module).__name__} is not a chain of Linear layers and elementwise activations; "
                "K-FAC and MLP jets need one (use engd/lm, which work for any network)"
            )
        self.steps: list[tuple[str, object]] = []
        for name, layer in seq.named_children():
            if isinstance(layer, torch.nn.Linear):
                bias = f"{prefix}{name}.bias" if layer.bias is not None else None
                self.steps.append(("linear", (f"{prefix}{name}.weight", bias)))
            elif _is_elementwise(layer):
                self.steps.append(("activation", layer))
            else:
                raise ConfigurationError(
                    f"layer {name} ({type(layer).__name__}) is neither Linear nor an elementwise activation; "
                    "K-FAC and MLP jets need an MLP (use engd/lm, which work for any network)"
                )
        self.linear = [s for kind, s in self.steps if kind == "linear"]
        if not self.linear:
            raise ConfigurationError("the network has no Linear layer")

    def jets(self, params: dict[str, torch.Tensor], x: torch.Tensor, order: int = 2, record: bool = False
             ) -> tuple[Jets, list[LayerRecord]]:
        """Value and input derivatives up to ``order`` (0, 1, 2) at the points ``x`` ``(N, D)``.

        With ``record``, also every linear layer's input and output copies
        (parameters in ``params`` must require grad for those to be differentiable).
        """
        if order not in (0, 1, 2):
            raise ValueError(f"jet order must be 0, 1 or 2, got {order}")
        n, d = x.shape
        pairs = [(i, j) for i in range(d) for j in range(i, d)] if order == 2 else []
        first, second = (d if order >= 1 else 0), len(pairs)
        copies = [x[:, None, :]]
        if first:
            copies.append(torch.eye(d, dtype=x.dtype, device=x.device).expand(n, d, d))
        if second:
            copies.append(x.new_zeros(n, second, d))
        h = torch.cat(copies, 1)
        rows = torch.tensor([i for i, _ in pairs], device=x.device, dtype=torch.long)
        cols = torch.tensor([j for _, j in pairs], device=x.device, dtype=torch.long)
        value_only = torch.zeros(1 + first + second, 1, dtype=x.dtype, device=x.device)
        value_only[0] = 1
        records: list[LayerRecord] = []
        for kind, step in self.steps:
            if kind == "linear":
                weight, bias = step
                z = h @ params[weight].T
                if bias is not None:
                    z = z + value_only * params[bias]
                if record:
                    records.append(LayerRecord(weight, bias, h, z))
                h = z
            else:
                value, d1, d2 = _activation_derivatives(step, h[:, 0])
                parts = [value[:, None]]
                if first:
                    grads = h[:, 1:1 + first]
                    parts.append(d1[:, None] * grads)
                if second:
                    parts.append(collapsed_second(d1[:, None], d2[:, None], h[:, 1 + first:], grads[:, rows] * grads[:, cols]))
                h = torch.cat(parts, 1)
        value = h[:, 0]
        gradient = h[:, 1:1 + first].transpose(1, 2) if first else None
        hessian = None
        if second:
            upper = h[:, 1 + first:].transpose(1, 2)  # (N, m, pairs)
            index = {pair: k for k, pair in enumerate(pairs)}
            symmetric = torch.tensor([index[min(i, j), max(i, j)] for i in range(d) for j in range(d)], device=x.device)
            hessian = upper[..., symmetric].reshape(n, -1, d, d)
        return Jets(value, gradient, hessian), records


    def _linear(self, params, step, h, bias=True):
        weight, b = step
        z = h @ params[weight].T
        return z + params[b] if bias and b is not None else z

    def forward_laplacian(self, params: dict[str, torch.Tensor], x: torch.Tensor, directions: torch.Tensor | None = None
                          ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        r"""Collapsed Taylor mode: value ``(N, m)``, directional derivatives ``(N, m, R)`` and :math:`\sum_r \partial^2 u[d_r, d_r]` ``(N, m)``.

        Propagates :math:`(y, J, l)`: a linear layer maps :math:`y \mapsto Wy + b`,
        :math:`J \mapsto WJ`, :math:`l \mapsto Wl`; an activation maps :math:`y \mapsto \sigma(y)`,
        :math:`J \mapsto \sigma' \odot J`, :math:`l \mapsto \sigma' \odot l + \sigma'' \odot \sum_r J_{:,r}^2`.
        ``directions`` ``(R, D)`` (shared) or ``(N, R, D)`` (per point); the identity
        (default) gives the exact Laplacian, :math:`\sqrt{D/|J|}\,e_j` the sparse STDE one.
        """
        n, d = x.shape
        if directions is None:
            directions = torch.eye(d, dtype=x.dtype, device=x.device)
        jac = directions.expand(n, *directions.shape[-2:]) if directions.ndim == 2 else directions
        y, lap = x, None  # None: l = 0 (the input's second coefficient), not multiplied through the first layer
        for kind, step in self.steps:
            if kind == "linear":
                y, jac = self._linear(params, step, y), self._linear(params, step, jac, False)
                lap = None if lap is None else self._linear(params, step, lap, False)
            else:
                value, d1, d2 = activation_derivatives(step, y, 2)
                products = (jac * jac).sum(1)
                lap = d2 * products if lap is None else collapsed_second(d1, d2, lap, products)
                y, jac = value, d1[:, None] * jac
        return y, jac.transpose(1, 2), (torch.zeros_like(y) if lap is None else lap)

    def taylor(self, params: dict[str, torch.Tensor], x: torch.Tensor, coefficients: list[torch.Tensor]
               ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        r"""Standard Taylor mode: push the jet :math:`(x, x_1, \dots, x_k)` (each ``(N, D)``, k ≤ 4) through the network.

        Returns the value and the output coefficients :math:`(y_1, \dots, y_k)`; with
        :math:`x_1 = v` and no higher input terms, :math:`y_k = \partial^k u[v, \dots, v]`.
        """
        y, coeffs = x, list(coefficients)
        for kind, step in self.steps:
            if kind == "linear":
                y, coeffs = self._linear(params, step, y), [self._linear(params, step, c, False) for c in coeffs]
            else:
                derivs = activation_derivatives(step, y, len(coeffs))
                y, coeffs = derivs[0], push_activation(derivs[1:], coeffs)
        return y, coeffs


def _params(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return dict(module.named_parameters())


def forward_laplacian(module: torch.nn.Module, x: torch.Tensor, directions: torch.Tensor | None = None
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:meth:`MLPStructure.forward_laplacian` of ``module`` with its own parameters, at points ``x`` ``(N, D)``."""
    return MLPStructure(module).forward_laplacian(_params(module), x, directions)


def taylor_coefficients(module: torch.nn.Module, x: torch.Tensor, coefficients: list[torch.Tensor]
                        ) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """:meth:`MLPStructure.taylor` of ``module`` with its own parameters, at points ``x`` ``(N, D)``."""
    return MLPStructure(module).taylor(_params(module), x, coefficients)


def layer_jacobians(records: list[LayerRecord], output_grads: list[torch.Tensor]) -> dict[str, torch.Tensor]:
    r"""Per-point parameter Jacobians :math:`\sum_s g_{n,s}\tilde a_{n,s}^\top` by parameter name, each ``(N, size)``."""
    out = {}
    for rec, g in zip(records, output_grads):
        out[rec.weight] = torch.einsum("nso,nsi->noi", g, rec.inputs).reshape(g.shape[0], -1)
        if rec.bias is not None:
            out[rec.bias] = g[:, 0]
    return out


def kronecker_factors(records: list[LayerRecord], output_grads: list[torch.Tensor]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    r"""KFAC-expand factors per linear layer: :math:`A = \frac{1}{NS}\sum\tilde a\tilde a^\top` (bias row last), :math:`B = \sum g g^\top`."""
    factors = []
    for rec, g in zip(records, output_grads):
        a = rec.inputs
        if rec.bias is not None:
            indicator = torch.zeros(a.shape[:2] + (1,), dtype=a.dtype, device=a.device)
            indicator[:, 0] = 1
            a = torch.cat([a, indicator], -1)
        a = a.reshape(-1, a.shape[-1])
        g = g.reshape(-1, g.shape[-1])
        factors.append((a.T @ a / a.shape[0], g.T @ g))
    return factors


@dataclasses.dataclass
class KroneckerCurvature:
    r"""One linearisation through MLP jets: :math:`r`, :math:`J^\top r`, products :math:`JV`, and the K-FAC blocks.

    ``terms`` holds, per loss term, its layer records and, per residual
    component, the output-copy gradients (rows of the term are point-major:
    ``n * K + k``); ``slices`` maps parameter names to their flat positions.
    Everything comes from the one backward pass that gave the factors, so no
    further differentiation of the residual is needed.
    """

    blocks: list[KroneckerBlock]
    residual: torch.Tensor
    terms: list[tuple[list[LayerRecord], list[list[torch.Tensor]]]]
    slices: dict[str, slice]

    def _layer_view(self, v: torch.Tensor, rec: LayerRecord, out: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        weight = v[..., self.slices[rec.weight]].reshape(v.shape[:-1] + (out, rec.inputs.shape[-1]))
        bias = v[..., self.slices[rec.bias]] if rec.bias is not None else None
        return weight, bias

    def gradient(self) -> torch.Tensor:
        r""":math:`J^\top r`, flat: per layer :math:`\sum_n r_n \sum_s g_{n,s}\tilde a_{n,s}^\top`."""
        size = max(s.stop for s in self.slices.values())
        out = self.residual.new_zeros(size)
        start = 0
        for records, components in self.terms:
            n, k = records[0].inputs.shape[0], len(components)
            r = self.residual[start:start + n * k].reshape(n, k)
            for c, grads in enumerate(components):
                for rec, g in zip(records, grads):
                    weighted = g * r[:, c, None, None]
                    out[self.slices[rec.weight]] += torch.einsum("nso,nsi->oi", weighted, rec.inputs).reshape(-1)
                    if rec.bias is not None:
                        out[self.slices[rec.bias]] += weighted[:, 0].sum(0)
            start += n * k
        return out

    def jvp(self, V: torch.Tensor) -> torch.Tensor:
        r""":math:`J v_j` for the rows ``v_j`` of ``V`` ``(k, P)``: per layer :math:`\sum_s g_{n,s}^\top (W_v \tilde a_{n,s})`."""
        rows = []
        for records, components in self.terms:
            n = records[0].inputs.shape[0]
            per_component = []
            for grads in components:
                total = V.new_zeros(V.shape[0], n)
                for rec, g in zip(records, grads):
                    weight, bias = self._layer_view(V, rec, g.shape[-1])
                    moved = torch.einsum("nsi,koi->knso", rec.inputs, weight)  # W_v a for every copy (a matmul)
                    total = total + (moved * g).sum((-1, -2))
                    if bias is not None:
                        total = total + bias @ g[:, 0].T
                per_component.append(total)
            rows.append(torch.stack(per_component, -1).reshape(V.shape[0], -1))
        return torch.cat(rows, 1)
