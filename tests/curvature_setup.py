"""The curvature tests' float64 data: seeded tensors, a small tanh MLP, its two residual maps.

:class:`Setup` is the network, a parameter vector, points and the residuals
with their dense Jacobians that ``tests/physopt/test_curvature*.py`` share (the
``setup`` fixture of ``tests/physopt/conftest.py``):

- a PINN-like residual ``r(theta)_i = Laplacian_x u_theta(x_i)`` built with
  :func:`physopt.laplacian` and :meth:`FlatParameters.call`;
- a regression residual ``r(theta)_i = u_theta(x_i) - y_i``.
"""

from __future__ import annotations

import math

import torch
from torch.autograd.functional import jacobian as dense_jacobian
from torch.func import vmap

import physopt
from physopt.curvature import FlatParameters

F64 = torch.float64
TOL = 1e-10
N_POINTS = 12


def randn(*shape: int, seed: int) -> torch.Tensor:
    """Float64 test data, the same numbers on every device: drawn on the CPU, then moved to the default device."""
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64, device="cpu").to(torch.get_default_device())


def rand(*shape: int, seed: int) -> torch.Tensor:
    """Like :func:`randn`, uniform on [0, 1)."""
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64, device="cpu").to(torch.get_default_device())


def assert_close(actual, expected, tol: float = TOL):
    """``|actual - expected| <= tol * max(1, max|expected|)`` elementwise (absolute, scaled)."""
    actual = torch.as_tensor(actual, dtype=F64).detach()
    expected = torch.as_tensor(expected, dtype=F64).detach()
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    scale = max(1.0, float(expected.abs().max())) if expected.numel() else 1.0
    err = float((actual - expected).abs().max()) if expected.numel() else 0.0
    assert err <= tol * scale, f"max abs error {err:.3e} > {tol:.1e} * {scale:.3e}"


def make_mlp(seed: int = 0, widths=(2, 8, 8, 1)) -> torch.nn.Sequential:
    """A small float64 tanh MLP, initialised from ``seed`` without touching the global RNG."""
    layers = []
    with torch.random.fork_rng(), torch.device("cpu"):  # the same weights on every device: made on the CPU, then moved
        torch.manual_seed(seed)
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
            if i:
                layers.append(torch.nn.Tanh())
            layers.append(torch.nn.Linear(a, b))
        net = torch.nn.Sequential(*layers)
    return net.to(device=torch.get_default_device(), dtype=F64)


def pinn_residual(fp: FlatParameters, X: torch.Tensor):
    """``theta -> (Laplacian of the network at each x_i)``, shape ``(N,)``."""
    return lambda th: vmap(lambda x: physopt.laplacian(lambda y: fp.call(th, y)[0])(x))(X)


def regression_residual(fp: FlatParameters, X: torch.Tensor, y: torch.Tensor):
    """``theta -> network(X) - y``, shape ``(N,)``."""
    return lambda th: fp.call(th, X)[:, 0] - y


class Setup:
    """The network, its flat parameters, a parameter vector away from the module's, points, residuals."""

    def __init__(self):
        self.net = make_mlp(0)
        self.fp = FlatParameters(self.net)
        self.P = self.fp.size
        # evaluate away from the module's own parameters: the products must use theta, not the module
        self.theta = self.fp.vector() + 0.1 * randn(self.P, seed=1)
        self.X = rand(N_POINTS, 2, seed=2) * 2 - 1
        self.y = torch.sin(math.pi * self.X[:, 0]) * self.X[:, 1]
        self.residuals = {
            "pinn": pinn_residual(self.fp, self.X),
            "regression": regression_residual(self.fp, self.X, self.y),
        }
        self.J = {name: dense_jacobian(r, self.theta) for name, r in self.residuals.items()}
