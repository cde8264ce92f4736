"""Networks for pointwise fields: a plain multilayer perceptron."""

from __future__ import annotations

import math

import torch

from ._errors import ConfigurationError

__all__ = ["MLP", "ACTIVATIONS"]


class _Sine(torch.nn.Module):
    def forward(self, x):
        return torch.sin(x)


ACTIVATIONS = {
    "tanh": torch.nn.Tanh,
    "sin": _Sine,
    "gelu": torch.nn.GELU,
    "silu": torch.nn.SiLU,
    "softplus": torch.nn.Softplus,
    "sigmoid": torch.nn.Sigmoid,
}


class MLP(torch.nn.Module):
    r"""Fully connected network :math:`\mathbb{R}^{n} \to \mathbb{R}^{m}`, ``depth`` hidden layers of ``width`` (or widths ``hidden``).

    Works on one point ``(n,)`` or a batch ``(..., n)``. Weights are Glorot-normal,
    biases zero — smooth activations only, since PDE residuals differentiate it. ``embedding``
    (:func:`physopt.parse_embedding`: Fourier features, periodic) maps the inputs first, untrained.
    """

    def __init__(self, n_in: int, n_out: int, width: int = 32, depth: int = 3, activation: str = "tanh",
                 hidden: list[int] | None = None, embedding=None):
        super().__init__()
        hidden = [width] * depth if hidden is None else list(hidden)
        checks = [("n_in", n_in), ("n_out", n_out), ("width", width), ("depth", depth)]
        checks += [(f"hidden[{i}]", w) for i, w in enumerate(hidden)]
        for label, value in checks:
            if not isinstance(value, int) or value < 1:
                raise ConfigurationError(f"MLP {label} must be an integer >= 1, got {value!r}")
        if activation not in ACTIVATIONS:
            raise ConfigurationError(
                f"unknown activation '{activation}'; choose one of: {', '.join(ACTIVATIONS)}"
            )
        layers: list[torch.nn.Module] = []
        if embedding is not None:  # a fixed input embedding (physopt._embeddings): a frozen Linear and a sine
            if embedding.frequencies.shape[1] != n_in:
                raise ConfigurationError(f"MLP: the embedding takes {embedding.frequencies.shape[1]} inputs, not {n_in}")
            layers += embedding.layers()
            n_in = embedding.n_out
        sizes = [n_in] + hidden + [n_out]
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            linear = torch.nn.Linear(a, b)
            torch.nn.init.normal_(linear.weight, std=math.sqrt(2.0 / (a + b)))
            torch.nn.init.zeros_(linear.bias)
            layers.append(linear)
            if i < len(sizes) - 2:
                layers.append(ACTIVATIONS[activation]())
        self.layers = torch.nn.Sequential(*layers)
        self.n_in, self.n_out = sizes[0] if embedding is None else embedding.frequencies.shape[1], n_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)
