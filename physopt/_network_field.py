r"""A network seen through an ansatz, with its layers visible to Taylor mode.

A solver's field at one point is :math:`u(x) = A(x, N(x))`: a network
:math:`N` and, with hard constraints, an ansatz :math:`A` (without one,
:math:`A(x, n) = n`). To the operators it is an ordinary pointwise callable; a
Taylor-mode derivative mode that recognises a :class:`NetworkField` whose
network is an MLP computes sums of second directional derivatives with the
collapsed jets of :meth:`physopt.curvature.MLPStructure.forward_laplacian`
(one pass for all directions, the input layer's tangents :math:`W_1 v_r`
shared by every point) instead of nested ``jvp`` per direction.

**Through the ansatz.** Along :math:`x + t v` the network's output is
:math:`N_0 + t N_1 + \tfrac{t^2}{2} N_2 + \dots` with :math:`N_1 = \nabla N\,v` and
:math:`N_2 = \partial^2 N[v, v]`, and

.. math::
    \partial^2 u[v, v] = \frac{d^2}{dt^2} A(x + t v,\ N_0 + t N_1)\Big|_{t=0} + \partial_n A(x, N_0)\, N_2 ,

since :math:`N_2` enters only linearly, through :math:`\partial_n A`, which does
not depend on the direction. So :math:`\sum_r \partial^2 u[v_r, v_r]` needs the
per-direction first-order tangents :math:`N_{1,r}` but only the *sum*
:math:`\sum_r N_{2,r}` — exactly what the collapsed jets carry. The first term
is a second derivative in one scalar :math:`t` (nested ``jvp``, O(n) per
direction, no network pass). An ansatz function with a ``jets`` attribute,
``jets(x, N0, N1 (…, R), ΣN2, directions)``, computes the sum its own way
(:func:`problems.automatic_ansatz` does, for :math:`g + B N`: O(R + n) for a ball).
"""

from __future__ import annotations

from typing import Callable

import torch
from torch.func import jvp, vmap

__all__ = ["NetworkField"]


class NetworkField:
    """``u(x) = ansatz(x, network(x))`` at one point ``x`` ``(n,)``.

    Args:
        network: the pointwise network call ``x -> (m,)`` (or a scalar when ``squeeze``).
        structure: its :class:`physopt.curvature.MLPStructure` (None: not an MLP; only the generic paths apply).
        params: ``name -> tensor`` the structure's layers read (the network's parameters as the call uses them).
        ansatz: ``(x, n) -> u`` or None.
        squeeze: the network's single output is squeezed to a scalar before the ansatz.
        scale: a fixed factor on the network's output, before the ansatz (``u = A(x, scale·N(x))``).
    """

    def __init__(self, network: Callable, structure=None, params: dict | None = None, ansatz: Callable | None = None,
                 squeeze: bool = False, scale: float = 1.0):
        self.network, self.structure, self.params = network, structure, params
        self.ansatz, self.squeeze, self.scale = ansatz, squeeze, scale

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        out = self.network(x)
        if self.scale != 1:
            out = out * self.scale
        if self.squeeze:
            out = out.squeeze(-1)
        return out if self.ansatz is None else self.ansatz(x, out)

    @property
    def collapsible(self) -> bool:
        """Whether :meth:`second_sum` can use the collapsed MLP jets."""
        return self.structure is not None and self.params is not None

    def second_sum(self, x: torch.Tensor, directions: torch.Tensor) -> torch.Tensor:
        r""":math:`\sum_r \partial^2 u[v_r, v_r]` at ``x`` over the rows ``v_r`` of ``directions`` ``(R, n)``.

        The network's part by one collapsed forward pass; the ansatz's by the
        module docstring's formula.
        """
        value, tangents, second = self.structure.forward_laplacian(self.params, x[None], directions)
        value, tangents, second = value[0], tangents[0], second[0]  # (m,), (m, R), (m,)
        if self.scale != 1:
            value, tangents, second = value * self.scale, tangents * self.scale, second * self.scale
        if self.squeeze:
            value, tangents, second = value.squeeze(-1), tangents.squeeze(0), second.squeeze(-1)
        if self.ansatz is None:
            return second
        if hasattr(self.ansatz, "jets"):  # the ansatz knows its own second-order rule (problems.automatic_ansatz)
            return self.ansatz.jets(x, value, tangents, second, directions)
        ansatz = self.ansatz

        def along(v, n1):  # d²/dt² A(x + t v, N0 + t N1) at t = 0
            def first(t):
                return jvp(lambda s: ansatz(x + s * v, value + s * n1), (t,), (torch.ones_like(t),))[1]

            t0 = torch.zeros((), dtype=x.dtype, device=x.device)
            return jvp(first, (t0,), (torch.ones_like(t0),))[1]

        per_direction = vmap(along, in_dims=(0, -1))(directions, tangents).sum(0)
        through_second = jvp(lambda n: ansatz(x, n), (value,), (second,))[1]
        return per_direction + through_second
