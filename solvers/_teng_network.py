r"""The periodic-embedding network of TENG, with per-point parameter-Jacobian columns on demand.

.. math::
    p_{kf}(x) = a_{kf}\cos(\omega_k x_k + \phi_{kf}) + c_{kf},\qquad
    h_0 = \tanh(p),\quad h_l = \tanh(W_l h_{l-1} + b_l),\quad u = W_{L} h_{L-1} + b_{L}

with :math:`\omega_k = 2\pi / \text{period}_k`, so u is exactly periodic. For a
batch of points, one forward pass and one backward pass of :math:`\sum_i u(x_i)`
give every layer's inputs :math:`h` and output gradients :math:`g = \partial
u/\partial z` per point; a Jacobian column is then a product of one column of
each, :math:`\partial u(x_i)/\partial W_{ab} = g_{ia} h_{ib}`, so a random
subset of columns costs only its own size — the full Jacobian is never formed.

Every column is such a product, ``left[l_j] * right[r_j]``, of one row of two
banks of per-point vectors (:meth:`PeriodicMLP.column_banks`, stored row-major so
that a subset's rows are contiguous copies): the left bank holds the output
gradients (of the embedding and of every layer), the right bank the factors
they multiply (cos, −a sin, 1 and the layer inputs). A subset's Gram matrix is
then built in chunks of points without ever holding ``J_S`` (:mod:`._teng_lstsq`).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

__all__ = ["PeriodicMLP", "Taps"]


class Taps:
    """What a forward+backward pass over a batch leaves behind to build Jacobian columns from."""

    def __init__(self, u, angle, grad_p, hidden_in, hidden_grad):
        self.u = u  # (N,)
        self.angle = angle  # (N, d, F): ω_k x_k + φ_kf
        self.grad_p = grad_p  # (N, d, F): ∂u/∂p
        self.hidden_in = hidden_in  # per linear layer: its input (N, in)
        self.hidden_grad = hidden_grad  # per linear layer: ∂u/∂z (N, out)
        self.banks = None  # (left, right) of PeriodicMLP.column_banks, once built


def _stack_transposed(blocks: list[torch.Tensor]) -> torch.Tensor:
    """``torch.cat(blocks, 1).T.contiguous()`` with one copy instead of two."""
    out = torch.empty(sum(b.shape[1] for b in blocks), blocks[0].shape[0], dtype=blocks[0].dtype, device=blocks[0].device)
    at = 0
    for b in blocks:
        out[at : at + b.shape[1]] = b.T
        at += b.shape[1]
    return out


class PeriodicMLP(nn.Module):
    """u: R^d -> R, periodic with the given periods; ``features`` embedding features per input axis."""

    def __init__(self, periods: Sequence[float], features: int = 20, width: int = 40, depth: int = 5):
        super().__init__()
        d = len(periods)
        self.register_buffer("omega", torch.tensor([2 * math.pi / float(p) for p in periods]))
        self.amplitude = nn.Parameter(torch.randn(d, features))
        self.phase = nn.Parameter(2 * math.pi * torch.rand(d, features))
        self.offset = nn.Parameter(torch.zeros(d, features))
        sizes = [d * features] + [width] * depth
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.out = nn.Linear(sizes[-1], 1)
        self.n_space, self.features = d, features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` of shape ``(..., d)`` -> ``(...)``."""
        p = self.amplitude * torch.cos(self.omega[:, None] * x[..., :, None] + self.phase) + self.offset
        h = torch.tanh(p.reshape(*x.shape[:-1], -1))
        for layer in self.hidden:
            h = torch.tanh(layer(h))
        return self.out(h)[..., 0]

    # ----- Jacobian columns ---------------------------------------------------------------
    def taps(self, x: torch.Tensor) -> Taps:
        """Values and per-point layer inputs/output gradients on a batch ``x`` ``(N, d)``."""
        with torch.enable_grad():
            angle = self.omega[:, None] * x[:, :, None] + self.phase
            p = self.amplitude * torch.cos(angle) + self.offset
            h = torch.tanh(p.reshape(x.shape[0], -1))
            inputs, pre = [], []
            for layer in self.hidden:
                inputs.append(h)
                z = layer(h)
                pre.append(z)
                h = torch.tanh(z)
            u = self.out(h)[:, 0]
            grads = torch.autograd.grad(u.sum(), [p, *pre])
        ones = torch.ones_like(u)[:, None]
        return Taps(u.detach(), angle.detach(), grads[0], [t.detach() for t in inputs] + [h.detach()],
                    list(grads[1:]) + [ones])

    def column_banks(self, taps: Taps) -> tuple[torch.Tensor, torch.Tensor]:
        """The left and right banks ``(rows, N)``: column j of J is ``left[l_j] * right[r_j]`` (:meth:`column_rows`);
        built once per ``taps`` (each block copied in transposed once) and kept on them."""
        if taps.banks is None:
            n, m = taps.u.shape[0], taps.grad_p[0].numel()
            left_blocks = [taps.grad_p.reshape(n, m), *taps.hidden_grad]
            right_blocks = [torch.cos(taps.angle).reshape(n, m), (-self.amplitude.detach() * torch.sin(taps.angle)).reshape(n, m),
                            torch.ones_like(taps.u)[:, None], *taps.hidden_in]
            taps.banks = tuple(_stack_transposed(blocks) for blocks in (left_blocks, right_blocks))
        return taps.banks

    def column_rows(self) -> tuple[torch.Tensor, torch.Tensor]:
        """For every flat parameter j, the rows ``(l_j, r_j)`` of the banks whose product is column j."""
        m = self.amplitude.numel()
        ar = torch.arange(m)
        lefts, rights = [ar, ar, ar], [ar, m + ar, torch.full((m,), 2 * m)]
        at_left, at_right = m, 2 * m + 1  # the first layer's rows in the left and right banks
        for layer in [*self.hidden, self.out]:
            a, b = layer.weight.shape
            lefts += [at_left + torch.arange(a).repeat_interleave(b), at_left + torch.arange(a)]
            rights += [at_right + torch.arange(b).repeat(a), torch.full((a,), 2 * m)]
            at_left, at_right = at_left + a, at_right + b
        return torch.cat(lefts).to(self.omega.device), torch.cat(rights).to(self.omega.device)

    def jacobian_columns(self, taps: Taps, columns: torch.Tensor) -> torch.Tensor:
        """``J[:, columns]`` with ``J[i, j] = ∂u(x_i)/∂θ_j`` (θ flat in ``parameters()`` order)."""
        left, right = self.column_banks(taps)
        rows_left, rows_right = self.column_rows()
        return (left[rows_left[columns]] * right[rows_right[columns]]).T

    def jacobian(self, taps: Taps) -> torch.Tensor:
        r"""The full ``J`` (every column), by broadcasting instead of indexing: an outer product per
        layer, :math:`\partial u(x_i)/\partial W = g_i h_i^\top`, written in place (3-4x faster than gathering the columns)."""
        n = taps.u.shape[0]
        J = torch.empty(n, sum(p.numel() for p in self.parameters()), dtype=taps.u.dtype, device=taps.u.device)
        m = taps.grad_p[0].numel()
        g = taps.grad_p.reshape(n, m)
        torch.mul(g, torch.cos(taps.angle).reshape(n, m), out=J[:, :m])
        torch.mul(g, (-self.amplitude.detach() * torch.sin(taps.angle)).reshape(n, m), out=J[:, m : 2 * m])
        J[:, 2 * m : 3 * m] = g
        at = 3 * m
        for grad, inp in zip(taps.hidden_grad, taps.hidden_in):
            a, b = grad.shape[1], inp.shape[1]
            torch.mul(grad[:, :, None], inp[:, None, :], out=J[:, at : at + a * b].view(n, a, b))
            J[:, at + a * b : at + a * b + a] = grad
            at += a * b + a
        return J
