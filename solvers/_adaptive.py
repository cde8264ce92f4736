r"""Residual-based adaptive collocation (Wu, Zhu, Tan, Kartha & Lu, CMAME 2023).

At every resampling of the interior points (``resample_every`` steps) a pool of ``POOL`` times as many
points is drawn from the domain as usual and the PDE residual :math:`r` of the current network is
evaluated there:

- ``rad:K:C`` (residual-based adaptive distribution): the new interior points are drawn from the pool
  without replacement with probabilities :math:`p_i \propto |r_i|^K / \overline{|r|^K} + C`
  (``K = 1, C = 1`` is the paper's default; large ``C`` tends to uniform sampling);
- ``rar:M`` (residual-based adaptive refinement, greedy): the interior points are kept and the ``M``
  pool points of largest residual are added, so the set grows by ``M`` each time.

The first batch is drawn uniformly (the network is not trained yet).
"""

from __future__ import annotations

import numpy as np

from physopt import ConfigurationError

__all__ = ["AdaptiveSampling", "parse_adaptive", "POOL"]

POOL = 10  # pool size, in multiples of the interior points


class AdaptiveSampling:
    """``kind`` ``"rad"`` (``k``, ``c``) or ``"rar"`` (``m`` points added each time)."""

    def __init__(self, kind: str, k: float = 1.0, c: float = 1.0, m: int = 0):
        self.kind, self.k, self.c, self.m = kind, k, c, m

    def choose(self, residual_norms: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        """Indices into the pool: ``n`` drawn by density (RAD), or the ``m`` largest (RAR)."""
        if self.kind == "rar":
            return np.argsort(-residual_norms, kind="stable")[: self.m]
        weight = residual_norms**self.k
        mean = weight.mean()
        density = (weight / mean if mean > 0 else np.zeros_like(weight)) + self.c
        if not density.sum() > 0:  # k and c both zero with a zero residual: uniform
            density = np.ones_like(density)
        return rng.choice(len(density), size=n, replace=False, p=density / density.sum())

    def __repr__(self):
        return f"rar:{self.m}" if self.kind == "rar" else f"rad:{self.k:g}:{self.c:g}"


def parse_adaptive(spec: str) -> AdaptiveSampling | None:
    """``""`` (none), ``rad``, ``rad:K:C``, ``rar:M``."""
    spec = (spec or "").strip()
    if not spec:
        return None
    kind, *args = spec.split(":")
    usage = "rad:K:C (e.g. rad:1:1) or rar:M (e.g. rar:64)"
    try:
        if kind == "rad" and len(args) in (0, 2):
            k, c = (float(a) for a in args) if args else (1.0, 1.0)
            if k >= 0 and c >= 0 and np.isfinite(k) and np.isfinite(c):
                return AdaptiveSampling("rad", k=k, c=c)
        if kind == "rar" and len(args) == 1 and int(args[0]) >= 1:
            return AdaptiveSampling("rar", m=int(args[0]))
    except ValueError:
        pass
    raise ConfigurationError(f"adaptive={spec!r}: give {usage}, with K, C >= 0 and M >= 1")
