r"""Enriched networks: a network plus trained multiples of known functions.

.. math::
    u(x) = N_\theta(x) + \sum_k \gamma_k\, \phi_k(x),

the :math:`\phi_k` fixed (e.g. the singular functions of a re-entrant corner,
:class:`problems.CornerFunctions`), the :math:`\gamma_k` trained with θ and
starting at 0 — the extended finite element method's enrichment, and Hu, Jin &
Zhou's singularity-enriched PINN, for any network.
"""

from __future__ import annotations

import torch

__all__ = ["EnrichedNetwork"]


class EnrichedNetwork(torch.nn.Module):
    """``network(x) + functions(x) @ coefficients``; ``functions``: a module ``(..., n) -> (..., K)``.

    The coefficients are ``(K, n_out)`` (one column per output), trained, initially zero.
    """

    def __init__(self, network: torch.nn.Module, functions: torch.nn.Module, n_out: int):
        super().__init__()
        self.network, self.functions = network, functions
        self.coefficients = torch.nn.Parameter(torch.zeros(functions.n_out, n_out))
        self.n_in, self.n_out = getattr(network, "n_in", None), n_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(x) + self.functions(x).to(x.dtype) @ self.coefficients
