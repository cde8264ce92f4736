r"""The jet engine shared by Taylor mode and the MLP jets of :mod:`physopt.curvature`.

A :math:`k`-jet of a curve :math:`x(t) = \sum_{j \le k} t^j x_j / j!` (the
*derivative* convention: :math:`x_j = x^{(j)}(0)`) is pushed through a function
by propagating the coefficients :math:`(x_0, x_1, \dots, x_k)`. A linear layer
:math:`y = Wx + b` maps every coefficient by :math:`W` (the bias enters
:math:`x_0` only); an elementwise :math:`\sigma` maps them by Faà di Bruno,

.. math::
    y_1 &= \sigma' x_1, \qquad y_2 = \sigma'' x_1^2 + \sigma' x_2, \\
    y_3 &= \sigma''' x_1^3 + 3\sigma'' x_1 x_2 + \sigma' x_3, \\
    y_4 &= \sigma'''' x_1^4 + 6\sigma''' x_1^2 x_2 + 4\sigma'' x_1 x_3 + 3\sigma'' x_2^2 + \sigma' x_4 ,

(:func:`push_activation`). With :math:`x_1 = v`, :math:`x_{j>1} = 0`, the
output coefficient :math:`y_k = \partial^k f[v, \dots, v]`. *Collapsed* rules
sum the second-order coefficient over many directions before it is formed
(:func:`collapsed_second`): the forward Laplacian carries
:math:`(y, J, l)` with :math:`l \mapsto \sigma' l + \sigma'' \sum_r J_{:,r}^2`.

:func:`activation_derivatives` gives :math:`\sigma, \sigma', \dots,
\sigma^{(k)}` (:math:`k \le 4`) in closed form for tanh, sin, sigmoid,
softplus, SiLU and GELU (nested forward mode for any other elementwise module).
"""

from __future__ import annotations

import math

import torch
from torch.func import jvp

__all__ = ["activation_derivatives", "push_activation", "collapsed_second"]


def _sigmoid_derivatives(z: torch.Tensor, order: int) -> list[torch.Tensor]:
    r"""s, s', s'', s''', s'''' with s' = s(1-s), s'' = s'(1-2s), s''' = s'(1-6s+6s^2), s'''' = s'(1-2s)(1-12s+12s^2)."""
    s = torch.sigmoid(z)
    d1 = s * (1 - s)
    out = [s, d1, d1 * (1 - 2 * s), d1 * (1 - 6 * s + 6 * s * s), d1 * (1 - 2 * s) * (1 - 12 * s + 12 * s * s)]
    return out[:order + 1]


def _closed_form(act: torch.nn.Module, z: torch.Tensor, order: int) -> list[torch.Tensor] | None:
    """The closed forms of the known activations, or None."""
    if isinstance(act, torch.nn.Tanh):
        t = torch.tanh(z)
        d1 = 1 - t * t
        return [t, d1, -2 * t * d1, 2 * d1 * (3 * t * t - 1), 8 * t * d1 * (2 - 3 * t * t)][:order + 1]
    if type(act).__name__ == "_Sine":
        s, c = torch.sin(z), torch.cos(z)
        return [s, c, -s, -c, s][:order + 1]
    if isinstance(act, torch.nn.Sigmoid):
        return _sigmoid_derivatives(z, order)
    if isinstance(act, torch.nn.SiLU):  # f = z s(z): f^(k) = k s^(k-1) + z s^(k)
        s = _sigmoid_derivatives(z, order)
        return [z * s[0]] + [k * s[k - 1] + z * s[k] for k in range(1, order + 1)]
    if isinstance(act, torch.nn.Softplus):  # f^(k)(z) = beta^(k-1) s^(k-1)(beta z); linear above the threshold
        beta, threshold = float(act.beta), float(act.threshold)
        s = _sigmoid_derivatives(beta * z, max(order - 1, 0))
        linear = beta * z > threshold
        out = [torch.where(linear, z, torch.nn.functional.softplus(z, beta, threshold))]
        for k in range(1, order + 1):
            out.append(torch.where(linear, torch.ones_like(z) if k == 1 else torch.zeros_like(z), beta ** (k - 1) * s[k - 1]))
        return out
    if isinstance(act, torch.nn.GELU) and act.approximate == "none":  # f = z Phi(z), phi' = -z phi
        phi = torch.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
        cdf = 0.5 * (1 + torch.erf(z / math.sqrt(2)))
        z2 = z * z
        return [z * cdf, cdf + z * phi, phi * (2 - z2), phi * z * (z2 - 4), phi * (-z2 * z2 + 7 * z2 - 4)][:order + 1]
    return None


def activation_derivatives(act: torch.nn.Module, z: torch.Tensor, order: int = 2) -> list[torch.Tensor]:
    r""":math:`[\sigma(z), \sigma'(z), \dots, \sigma^{(order)}(z)]` of an elementwise activation, ``order`` ≤ 4."""
    if not 0 <= order <= 4:
        raise ValueError(f"activation derivatives go up to order 4, got {order}")
    closed = _closed_form(act, z, order)
    if closed is not None:
        return closed
    ones = torch.ones_like(z)

    def nested(k):  # z -> (sigma(z), ..., sigma^(k)(z)) by k nested jvps with unit tangents
        if k == 0:
            return lambda y: (act(y),)

        def f(y):
            inner = nested(k - 1)
            values, tangents = jvp(inner, (y,), (ones,))
            return values + (tangents[-1],)

        return f

    return list(nested(order)(z))


def push_activation(derivs: list[torch.Tensor], coeffs: list[torch.Tensor]) -> list[torch.Tensor]:
    r"""Taylor coefficients :math:`(y_1, \dots, y_k)` of :math:`\sigma(x(t))` from :math:`(x_1, \dots, x_k)`, k ≤ 4.

    ``derivs`` = :math:`[\sigma', \dots, \sigma^{(k)}]` at :math:`x_0` (broadcast
    against the coefficients); the rules are the ones in the module docstring.
    """
    k = len(coeffs)
    if k > 4 or len(derivs) < k:
        raise ValueError(f"push_activation takes up to 4 coefficients and as many derivatives, got {k}, {len(derivs)}")
    x = list(coeffs) + [None] * (4 - k)
    s = list(derivs) + [None] * (4 - len(derivs))
    out = [s[0] * x[0]]
    if k >= 2:
        out.append(collapsed_second(s[0], s[1], x[1], x[0] * x[0]))
    if k >= 3:
        out.append(s[2] * x[0] ** 3 + 3 * s[1] * x[0] * x[1] + s[0] * x[2])
    if k >= 4:
        out.append(s[3] * x[0] ** 4 + 6 * s[2] * x[0] ** 2 * x[1] + 4 * s[1] * x[0] * x[2] + 3 * s[1] * x[1] ** 2
                   + s[0] * x[3])
    return out


def collapsed_second(d1: torch.Tensor, d2: torch.Tensor, second: torch.Tensor, products: torch.Tensor) -> torch.Tensor:
    r"""The order-2 rule :math:`\sigma' x_2 + \sigma'' P`: :math:`P = x_1^2` for one direction, :math:`\partial_i a\,\partial_j a`
    for a Hessian entry, :math:`\sum_r J_{:,r}^2` for the forward Laplacian."""
    return d1 * second + d2 * products
