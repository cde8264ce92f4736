"""The operator tests' small float64 tanh MLPs and their dense autograd references.

``torch.autograd.functional`` gives Jacobians and Hessians, nested
``torch.autograd.grad`` third and fourth derivatives; ``fields()`` is the grid of
input dimensions and output shapes the operators are tested on.
"""

from __future__ import annotations

import math

import pytest
import torch

from seeded import randn

F64 = torch.float64
TOL = dict(rtol=1e-10, atol=1e-10)

N_INS = (1, 2, 3)
OUT_SHAPES = ((), (1,), (2,), (3,))


class MLP:
    """A small tanh MLP ``R^n -> R^out`` with explicit float64 parameters.

    Acts on one point ``(n,)`` or on a batch ``(B, n)`` (rows independent).
    """

    def __init__(self, n_in, out_shape=(), width=8, depth=2, seed=0):
        g = torch.Generator().manual_seed(1000 * seed + 17 * n_in + len(out_shape) + sum(out_shape))
        self.out_shape = tuple(out_shape)
        m = math.prod(self.out_shape)
        sizes = [n_in] + [width] * depth + [m]
        self.params = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            w = randn(b, a, generator=g, dtype=F64) / math.sqrt(a)
            bias = 0.5 * randn(b, generator=g, dtype=F64)
            self.params += [w.requires_grad_(), bias.requires_grad_()]

    def __call__(self, x):
        h = x
        for i in range(0, len(self.params) - 2, 2):
            h = torch.tanh(h @ self.params[i].T + self.params[i + 1])
        out = h @ self.params[-2].T + self.params[-1]
        return out.reshape(x.shape[:-1] + self.out_shape)


def point(n, seed=0):
    g = torch.Generator().manual_seed(123 + seed)
    return randn(n, generator=g, dtype=F64)


def close(actual, expected):
    torch.testing.assert_close(actual.detach(), expected.detach(), **TOL)


def ref_jacobian(u, x):
    return torch.autograd.functional.jacobian(u, x)


def ref_hessian(u, x):
    """Dense Hessian, shape ``out + (n, n)``, one scalar component at a time."""
    out = u(x).shape
    if out == ():
        return torch.autograd.functional.hessian(u, x)
    flat = [torch.autograd.functional.hessian(lambda y, k=k: u(y).reshape(-1)[k], x) for k in range(math.prod(out))]
    return torch.stack(flat).reshape(out + (x.shape[0], x.shape[0]))


def ref_nested(u, x, index):
    """``d^k u / dx_{i1} ... dx_{ik}`` by nested ``torch.autograd.grad``, shape ``out``."""
    x = x.detach().clone().requires_grad_(True)
    y = u(x)
    values = []
    for comp in y.reshape(-1):
        g = comp
        for i in index:
            (gx,) = torch.autograd.grad(g, x, create_graph=True)
            g = gx[i]
        values.append(g.detach())
    return torch.stack(values).reshape(y.shape)


def ref_directional(u, x, v, order):
    """``d^k/ds^k u(x + s v)`` at ``s = 0`` by nested ``torch.autograd.grad``."""
    x = x.detach().clone().requires_grad_(True)
    y = u(x)
    values = []
    for comp in y.reshape(-1):
        g = comp
        for _ in range(order):
            (gx,) = torch.autograd.grad(g, x, create_graph=True)
            g = (gx * v).sum()
        values.append(g.detach())
    return torch.stack(values).reshape(y.shape)


def fields():
    return [pytest.param(n, out, id=f"n{n}-out{'x'.join(map(str, out)) or 'scalar'}") for n in N_INS for out in OUT_SHAPES]
