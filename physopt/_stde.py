r"""STDE: stochastic Taylor derivative estimators (Shi et al. 2024).

Every estimate is a sum of directional derivatives along random directions,
each computed exactly by Taylor mode (:mod:`physopt._taylor_mode`). Over the
:math:`k` coordinates in ``dims`` and with :math:`S` = ``samples``:

- sparse Laplacian: draw :math:`|J| = \min(S, k)` coordinates without
  replacement, :math:`\widehat{\Delta u} = \frac{k}{|J|} \sum_{j \in J} \partial^2 u/\partial x_j^2`
  (exact when :math:`|J| = k`);
- dense (Hutchinson) Laplacian: :math:`v_s` Rademacher or Gaussian on all
  :math:`k` coordinates (:math:`E[vv^\top] = I`),
  :math:`\widehat{\Delta u} = \frac1S \sum_s v_s^\top \nabla^2 u\, v_s`;
- second-order operator :math:`\operatorname{tr}(A\nabla^2 u)`: the same
  directions, :math:`\partial^2 u[v, A^\top v] = v^\top A \nabla^2 u\, v` (sparse: scaled by :math:`k/|J|`);
- biharmonic: :math:`v_s \sim N(0, I)`, :math:`\widehat{\Delta^2 u} = \frac{1}{3S}\sum_s \partial^4 u[v_s, v_s, v_s, v_s]`
  (Isserlis: :math:`E[(v^\top\nabla)^4 u] = 3\Delta^2 u`), whatever ``estimator`` says;
- diagonal operators :math:`\sum_i \partial^k u/\partial x_i^k`: sparse, :math:`\frac{k}{|J|}\sum_{j \in J} D_k(e_j)`.

Each is unbiased. **Randomness.** ``per="step"`` (default): the mode draws the
directions from its own seeded generator *outside* the per-point function —
once per (operator kind, coordinates) and then cached, so every point, the
residual and its Jacobian share them — until :meth:`STDEMode.resample`, which a
solver calls once per optimizer step. ``per="point"``: every point draws its
own directions with torch's random functions inside the per-point function;
the caller's ``vmap`` must then pass ``randomness=mode.randomness``
(``"different"``), and draws follow torch's global seed.

**Loss form.** Squaring one estimate is biased,
:math:`E[\hat r^2] = r^2 + \operatorname{Var}\hat r`; the product of two
independent estimates is not, :math:`E[\hat r_1 \hat r_2] = r^2`
(``loss="unbiased"``: the solver evaluates the residual a second time inside
:meth:`STDEMode.independent`). The default is ``"biased"``: it costs one
estimate instead of two, it keeps the loss a sum of squares (what Gauss–Newton
and LM need, and never negative), and its bias, the estimator's variance, falls
like :math:`1/|J|` and vanishes for the sparse estimator at :math:`|J| = k`.
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch
from torch.func import vmap

from ._errors import ConfigurationError
from ._network_field import NetworkField
from ._taylor_mode import TaylorMode, directional_k, embedded, embedded_rows, second_sum, unit_vectors

__all__ = ["STDEMode", "ESTIMATORS"]

ESTIMATORS = ("sparse", "rademacher", "gaussian")


class STDEMode(TaylorMode):
    """Stochastic Taylor derivative estimators (sparse or Hutchinson Laplacian, tr(A∇²u), biharmonic, diagonal)."""

    name = "stde"
    stochastic = True

    def __init__(self, samples: int = 16, estimator: str = "sparse", per: str = "step", loss: str = "biased",
                 seed: int = 0):
        checks = [("stde_estimator", estimator, ESTIMATORS), ("stde_samples_per", per, ("step", "point")),
                  ("stde_loss", loss, ("biased", "unbiased"))]
        for label, value, choices in checks:
            if value not in choices:
                raise ConfigurationError(f"{label} must be one of {', '.join(choices)}, got {value!r}")
        if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
            raise ConfigurationError(f"samples must be an integer >= 1, got {samples!r}")
        self.samples, self.estimator, self.per, self.loss, self.seed = samples, estimator, per, loss, seed
        self.randomness = "different" if per == "point" else "error"
        self.rng = np.random.default_rng(seed)
        self.stream = 0
        self._draws: dict[tuple, np.ndarray] = {}

    @classmethod
    def from_options(cls, options=None):
        if options is None:
            return cls()
        return cls(getattr(options, "samples", 16), getattr(options, "stde_estimator", "sparse"),
                   getattr(options, "stde_samples_per", "step"), getattr(options, "stde_loss", "biased"),
                   getattr(options, "seed", 0))

    def __repr__(self):
        return (f"STDEMode(samples={self.samples}, estimator={self.estimator!r}, per={self.per!r}, "
                f"loss={self.loss!r}, seed={self.seed})")

    # ----- randomness ---------------------------------------------------------------
    def resample(self) -> None:
        """Forget the shared directions: the next evaluation draws new ones (per-step samples)."""
        self._draws.clear()

    @contextlib.contextmanager
    def independent(self):
        """Inside the block, estimates use a second, independent set of directions (the unbiased loss)."""
        previous, self.stream = self.stream, self.stream + 1
        try:
            yield
        finally:
            self.stream = previous

    def _numpy_draw(self, kind: str, k: int, count: int) -> np.ndarray:
        if kind == "sparse":  # the sampled coordinates (indices into dims), not k-long one-hot rows
            return self.rng.choice(k, size=count, replace=False)
        if kind == "rademacher":
            return self.rng.integers(0, 2, size=(count, k)) * 2.0 - 1.0
        return self.rng.standard_normal((count, k))

    def _torch_draw(self, kind: str, k: int, count: int, x: torch.Tensor) -> torch.Tensor:
        like = {"dtype": x.dtype, "device": x.device}
        if kind == "sparse":
            return torch.rand(k, **like).argsort()[:count]
        if kind == "rademacher":
            return (torch.rand(count, k, **like) < 0.5).to(x.dtype) * 2 - 1
        return torch.randn(count, k, **like)

    def directions(self, kind: str, x: torch.Tensor, dims: tuple[int, ...]) -> tuple[torch.Tensor, float]:
        r"""Random directions ``(count, n)`` on ``dims`` (zeros elsewhere) and the estimator's scale.

        ``kind`` "sparse": ``min(samples, k)`` unit vectors without replacement, scale :math:`k/|J|`;
        "rademacher"/"gaussian": ``samples`` dense vectors, scale :math:`1/S`.
        """
        k = len(dims)
        count = min(self.samples, k) if kind == "sparse" else self.samples
        if self.per == "point":
            V = self._torch_draw(kind, k, count, x)
        else:
            key = (self.stream, kind, x.shape[-1], tuple(dims), count)
            if key not in self._draws:
                self._draws[key] = self._numpy_draw(kind, k, count)
            V = torch.as_tensor(self._draws[key], device=x.device)
            V = V if kind == "sparse" else V.to(x.dtype)
        if kind == "sparse":
            chosen = torch.as_tensor(list(dims), device=x.device)[V]
            return unit_vectors(x, chosen), k / count
        return embedded_rows(V, x, dims), 1.0 / count

    # ----- estimators -----------------------------------------------------------------
    def laplacian(self, u, dims):
        def op(x):
            D, scale = self.directions(self.estimator, x, dims)
            if isinstance(u, NetworkField) and u.collapsible:  # one collapsed pass through the MLP
                return scale * u.second_sum(x, D)
            return scale * second_sum(u, x, D)

        return op

    def trace_hessian(self, u, A, dims):
        def op(x):
            D, scale = self.directions(self.estimator, x, dims)
            return scale * second_sum(u, x, D, D @ embedded(x, dims, A))  # rows (A^T v)^T

        return op

    def biharmonic(self, u, dims):
        def op(x):
            D, scale = self.directions("gaussian", x, dims)
            return scale / 3 * vmap(lambda v: directional_k(u, x, v, 4))(D).sum(0)

        return op

    def diagonal(self, u, order, dims):
        def op(x):
            D, scale = self.directions("sparse", x, dims)
            return scale * vmap(lambda v: directional_k(u, x, v, order))(D).sum(0)

        return op
