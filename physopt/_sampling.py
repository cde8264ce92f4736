"""Points in the unit hypercube, by pseudo-random or quasi-Monte Carlo sequences.

Domains map these to their own shape. QMC sequences come from
:mod:`scipy.stats.qmc` (scrambled, seeded), so every draw is reproducible.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import qmc

from ._errors import ConfigurationError

__all__ = ["SAMPLING_METHODS", "unit_cube_samples"]

SAMPLING_METHODS = ("uniform", "sobol", "halton", "grid")
SOBOL_MAX_DIM = 21_201  # scipy.stats.qmc.Sobol's direction numbers (Joe & Kuo)


def unit_cube_samples(n: int, dim: int, method: str, rng: np.random.Generator) -> np.ndarray:
    """``n`` points in :math:`[0, 1]^{dim}`, shape ``(n, dim)``, float64.

    Args:
        n: number of points.
        dim: dimension.
        method: ``"uniform"`` (i.i.d.), ``"sobol"``, ``"halton"`` (scrambled QMC),
            or ``"grid"`` (cell centres of a tensor grid with ``ceil(n^(1/dim))``
            points per axis; returns that many points, which may exceed ``n``:
            a tensor grid cannot be cut short without leaving part of the cube empty).
        rng: generator that seeds the draw.
    """
    if n < 0 or dim < 0:
        raise ValueError(f"need n >= 0 and dim >= 0, got n={n}, dim={dim}")
    if dim == 0 or n == 0:
        return np.zeros((n, dim))
    if method == "uniform":
        return rng.random((n, dim))
    if method == "sobol" and dim > SOBOL_MAX_DIM:
        raise ConfigurationError(f"sampling=sobol supports at most {SOBOL_MAX_DIM:,} dimensions (SciPy's direction "
                                 f"numbers); these points need {dim:,}: use sampling=uniform (or halton)")
    if method in ("sobol", "halton"):
        seed = int(rng.integers(2**31))
        engine = qmc.Sobol(dim, seed=seed) if method == "sobol" else qmc.Halton(dim, seed=seed)
        if method == "sobol":
            m = math.ceil(math.log2(max(n, 1)))
            return engine.random_base2(m)[:n]  # a prefix of a balanced power-of-two set
        return engine.random(n)
    if method == "grid":
        k = math.ceil(round(n ** (1.0 / dim), 9))
        axis = (np.arange(k) + 0.5) / k
        mesh = np.meshgrid(*([axis] * dim), indexing="ij")
        return np.stack([m.ravel() for m in mesh], axis=-1)
    raise ValueError(f"unknown sampling method '{method}'; choose one of: {', '.join(SAMPLING_METHODS)}")
