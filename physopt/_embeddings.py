r"""Input embeddings of an MLP: Fourier features and periodic embeddings.

Each is a fixed (untrained) linear map followed by a sine on some channels, so it is the first two
layers of an ordinary MLP (MLP jets, Taylor mode and STDE push through it like any layer):

- ``fourier:M:S`` — random Fourier features (Tancik et al. 2020; Wang, Wang & Perdikaris 2021):
  :math:`\gamma(x) = [\cos 2\pi Bx, \sin 2\pi Bx]`, :math:`B \in \mathbb{R}^{M\times n}`,
  :math:`B_{ij} \sim \mathcal N(0, S^2)` (drawn from the run's seed);
- ``fourier_axes:M:S`` — deterministic: :math:`\cos, \sin(2\pi S k x_i)`, :math:`k = 1..M`, per coordinate;
- ``periodic:K`` — exactly periodic in the coordinates a problem declares periodic (``Periodic``
  conditions), with period :math:`P_i` the domain's length: :math:`\cos, \sin(2\pi k x_i / P_i)`,
  :math:`k = 1..K`; the other coordinates pass through unchanged (Dong & Ni, JCP 2021).
"""

from __future__ import annotations

import math

import torch

from ._errors import ConfigurationError

__all__ = ["InputEmbedding", "parse_embedding"]

KINDS = ("fourier", "fourier_axes", "periodic")


class _PartialSine(torch.nn.Module):
    """:math:`\\sin` on the channels of ``mask``, the identity on the others (elementwise)."""

    elementwise = True

    def __init__(self, mask: torch.Tensor):
        super().__init__()
        self.register_buffer("mask", mask.to(torch.bool))

    def forward(self, z):
        return torch.where(self.mask, torch.sin(z), z)


class InputEmbedding:
    """A fixed map of the inputs: ``frequencies`` ``(out, n)`` and ``phases`` ``(out,)``, a sine where ``sine``."""

    def __init__(self, frequencies: torch.Tensor, phases: torch.Tensor, sine: torch.Tensor, spec: str):
        self.frequencies, self.phases, self.sine, self.spec = frequencies, phases, sine, spec

    @property
    def n_out(self) -> int:
        return self.frequencies.shape[0]

    def layers(self) -> list[torch.nn.Module]:
        """A frozen ``Linear`` and the partial sine: the first layers of an MLP."""
        linear = torch.nn.Linear(self.frequencies.shape[1], self.n_out, dtype=torch.float64)  # exact in float64 runs
        with torch.no_grad():
            linear.weight.copy_(self.frequencies)
            linear.bias.copy_(self.phases)
        linear.weight.requires_grad_(False)
        linear.bias.requires_grad_(False)
        return [linear, _PartialSine(self.sine)]

    def __repr__(self):
        return f"InputEmbedding({self.spec!r}, {self.frequencies.shape[1]} -> {self.n_out})"


def _harmonics(rows: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Cosine and sine rows for each frequency row: weights ``2π·row`` twice, phases ``π/2`` and 0."""
    w = torch.stack(rows) * (2 * math.pi)
    weights = torch.cat([w, w])
    phases = torch.cat([torch.full((len(rows),), math.pi / 2, dtype=torch.float64), torch.zeros(len(rows), dtype=torch.float64)])
    return weights, phases, torch.ones(2 * len(rows), dtype=torch.bool)


def parse_embedding(spec: str, n_in: int, periods: dict[int, float] | None = None,
                    generator: torch.Generator | None = None) -> InputEmbedding | None:
    """The embedding ``spec`` (``""``: none) for ``n_in`` inputs; ``periods``: coordinate -> period (``periodic``)."""
    spec = (spec or "").strip()
    if not spec:
        return None
    kind, *args = spec.split(":")
    usage = "fourier:M:S (random), fourier_axes:M:S (deterministic) or periodic:K"
    if kind not in KINDS:
        raise ConfigurationError(f"unknown embedding '{kind}'; give {usage}")
    try:
        count = int(args[0])
        scale = float(args[1]) if kind != "periodic" else 1.0
        if len(args) != (1 if kind == "periodic" else 2) or count < 1 or not scale > 0:
            raise ValueError
    except (ValueError, IndexError):
        raise ConfigurationError(f"embedding '{spec}': give {usage}, with M, K >= 1 and S > 0") from None
    eye = torch.eye(n_in, dtype=torch.float64)
    if kind == "fourier":
        B = torch.randn(count, n_in, dtype=torch.float64, generator=generator) * scale
        weights, phases, sine = _harmonics(list(B))
    elif kind == "fourier_axes":
        weights, phases, sine = _harmonics([scale * k * eye[i] for i in range(n_in) for k in range(1, count + 1)])
    else:
        if not periods:
            raise ConfigurationError("embedding 'periodic' needs a problem with Periodic conditions (it makes the network "
                                     "exactly periodic in those coordinates); use fourier:M:S otherwise")
        weights, phases, sine = _harmonics([k / periods[i] * eye[i] for i in sorted(periods) for k in range(1, count + 1)])
        free = [i for i in range(n_in) if i not in periods]  # the other coordinates pass through
        weights = torch.cat([weights, eye[free]])
        phases = torch.cat([phases, torch.zeros(len(free), dtype=torch.float64)])
        sine = torch.cat([sine, torch.zeros(len(free), dtype=torch.bool)])
    return InputEmbedding(weights, phases, sine, spec)
