r"""Stochastic estimators of a symmetric operator's trace and diagonal (Hutchinson).

For random :math:`v` with :math:`\mathbb{E}[vv^\top] = I`,
:math:`\operatorname{tr}A = \mathbb{E}[v^\top A v]` and
:math:`\operatorname{diag}A = \mathbb{E}[v \odot A v]`. Rademacher vectors
give the lowest variance. ``matvec`` maps a batch ``(k, P)`` to ``(k, P)``.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

__all__ = ["random_probes", "hutchinson_trace", "hutchinson_diagonal"]

MatVec = Callable[[torch.Tensor], torch.Tensor]


def random_probes(k: int, dim: int, distribution: str = "rademacher", generator=None, dtype=torch.float64, device=None) -> torch.Tensor:
    """``k`` probe vectors of length ``dim`` with identity second moment."""
    if distribution == "rademacher":
        v = torch.randint(0, 2, (k, dim), generator=generator, device=device).to(dtype) * 2 - 1
    elif distribution == "gaussian":
        v = torch.randn(k, dim, generator=generator, dtype=dtype, device=device)
    else:
        raise ValueError(f"unknown probe distribution '{distribution}'; use rademacher or gaussian")
    return v


def hutchinson_trace(matvec: MatVec, dim: int, samples: int = 64, batch: int = 32, distribution: str = "rademacher",
                     generator=None, dtype=torch.float64, device=None) -> tuple[float, float]:
    r"""Estimate :math:`\operatorname{tr}A`; returns ``(estimate, standard error)``."""
    values = []
    for start in range(0, samples, batch):
        V = random_probes(min(batch, samples - start), dim, distribution, generator, dtype, device)
        values.append((V * matvec(V)).sum(-1))
    v = torch.cat(values)
    stderr = float(v.std() / math.sqrt(len(v))) if len(v) > 1 else math.inf
    return float(v.mean()), stderr


def hutchinson_diagonal(matvec: MatVec, dim: int, samples: int = 64, batch: int = 32, distribution: str = "rademacher",
                        generator=None, dtype=torch.float64, device=None) -> torch.Tensor:
    r"""Estimate :math:`\operatorname{diag}A` as the mean of :math:`v \odot Av`."""
    total = torch.zeros(dim, dtype=dtype, device=device)
    for start in range(0, samples, batch):
        V = random_probes(min(batch, samples - start), dim, distribution, generator, dtype, device)
        total += (V * matvec(V)).sum(0)
    return total / samples
