"""A model's parameters as one flat vector, for matrix-free curvature products.

Curvature works on functions of a flat vector :math:`\\theta \\in \\mathbb{R}^P`;
:class:`FlatParameters` maps between that vector and a module's named
parameters, and :meth:`FlatParameters.call` evaluates the module at any
:math:`\\theta` with ``torch.func.functional_call`` (the module itself is not
modified).
"""

from __future__ import annotations

import math

import torch
from torch.func import functional_call

__all__ = ["FlatParameters"]


class FlatParameters:
    """Flatten/unflatten the trainable parameters of ``module``."""

    def __init__(self, module: torch.nn.Module):
        self.module = module
        named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        if not named:
            raise ValueError("the module has no trainable parameters")
        self.names = [n for n, _ in named]
        self.shapes = [p.shape for _, p in named]
        self.sizes = [math.prod(s) for s in self.shapes]
        self.size = sum(self.sizes)

    def vector(self) -> torch.Tensor:
        """The current parameters as a detached flat vector (a copy)."""
        return torch.cat([p.detach().reshape(-1) for p in self.parameters()])

    def parameters(self) -> list[torch.Tensor]:
        params = dict(self.module.named_parameters())
        return [params[n] for n in self.names]

    def _check(self, theta: torch.Tensor) -> None:
        if theta.shape != (self.size,):
            raise ValueError(f"expected a parameter vector of shape ({self.size},), got {tuple(theta.shape)}")

    def unflatten(self, theta: torch.Tensor) -> dict[str, torch.Tensor]:
        self._check(theta)
        chunks = torch.split(theta, self.sizes)
        return {n: c.reshape(s) for n, c, s in zip(self.names, chunks, self.shapes)}

    def call(self, theta: torch.Tensor, *args, **kwargs):
        """The module's output with parameters ``theta`` (buffers as they are)."""
        return functional_call(self.module, self.unflatten(theta), args, kwargs)

    @torch.no_grad()
    def assign(self, theta: torch.Tensor) -> None:
        """Write ``theta`` into the module's parameters in place."""
        self._check(theta)
        for p, c in zip(self.parameters(), torch.split(theta, self.sizes)):
            p.copy_(c.reshape(p.shape))

    @torch.no_grad()
    def add_(self, delta: torch.Tensor, alpha: float = 1.0) -> None:
        """``parameters += alpha * delta`` in place."""
        self._check(delta)
        for p, c in zip(self.parameters(), torch.split(delta, self.sizes)):
            p.add_(c.reshape(p.shape), alpha=alpha)
