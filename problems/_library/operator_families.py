r"""The operator-learning families of the library (issue 21; set-ups in ``../shared/REFERENCES.md``).

- ``antiderivative``: :math:`ds/dx = u(x)`, :math:`s(0) = 0` on [0, 1]; u an RBF-kernel GRF
  (length scale 0.2); 100 sensors (Lu et al. 2021; Wang et al. 2021).
- ``diffusion_reaction``: :math:`s_t = 0.01 s_{xx} + 0.01 s^2 + u(x)` on [0, 1]², zero initial and
  boundary values; u an RBF GRF (length scale 0.2); s on a 100 × 100 (x, t) grid (Wang et al. 2021).
- ``burgers1d_operator``: :math:`u_t + (u^2/2)_x = \nu u_{xx}` periodic on (0, 1), ν = 0.1,
  :math:`u_0 \sim N(0, 625(-\Delta + 25 I)^{-2})` without its constant mode (mean zero, as the reference
  generator), the map :math:`u_0 \mapsto u(\cdot, 1)` (Li et al. 2021), generated at 1024 points.
- ``darcy2d``: :math:`-\nabla\cdot(a\nabla s) = 1` on (0, 1)², s = 0 on the boundary,
  a = 12 where z ≥ 0 and 3 where z < 0, :math:`z \sim N(0, (-\Delta + 9 I)^{-2})` without its constant mode
  (Li et al. 2021). The generator takes face coefficients by the harmonic mean (the reference's MATLAB solver
  uses the arithmetic mean after interpolating a): the data are not bit-compatible with its files.

The classical generators are in :mod:`problems._operator_generators`.
"""

from __future__ import annotations

import numpy as np
import torch

from physopt import ProblemDefinitionError, partial

from .._family import AbstractProblemFamily, register_family
from .._operator_generators import antiderivative, burgers_periodic, darcy, diffusion_reaction
from .._random_fields import periodic_grf, rbf_grf

__all__ = ["Antiderivative", "DiffusionReaction", "BurgersOperator", "Darcy"]


@register_family("antiderivative")
class Antiderivative(AbstractProblemFamily):
    """Antiderivative operator u -> s, ds/dx = u, s(0) = 0; u a GRF of length scale 0.2 (100 sensors)."""

    coordinates = input_coordinates = ("x",)
    parameters = {"length_scale": 0.2}
    resolution = 100
    samples = (10000, 1000)
    solver_defaults = {"deeponet": {"epochs": 4000, "batch_size": 1000, "lr": 1e-3, "lr_final": 1e-5},
                       "pi_deeponet": {"steps": 40000, "batch_size": 500, "points": 100, "lr": 2e-3, "lr_final": 2e-5}}

    def validate(self):
        if not self.length_scale > 0:
            raise ProblemDefinitionError(f"antiderivative: length_scale must be > 0, got {self.length_scale}")

    def draw_inputs(self, n, resolution, rng):
        return rbf_grf(n, self.input_axes(resolution)[0], rng, length_scale=self.length_scale)

    def solve_inputs(self, inputs, resolution):
        return antiderivative(inputs, self.input_axes(resolution)[0])

    def residual(self, s, y, u):
        return partial(s, 0)(y) - u

    def constraint_points(self, rng, n):
        return {"initial": np.zeros((1, 1))}


@register_family("diffusion_reaction")
class DiffusionReaction(AbstractProblemFamily):
    """Diffusion-reaction source-to-solution operator, s_t = 0.01 s_xx + 0.01 s^2 + u(x), zero initial/boundary values."""

    coordinates = ("x", "t")
    input_coordinates = ("x",)
    parameters = {"diffusion": 0.01, "reaction": 0.01, "length_scale": 0.2}
    resolution = 100
    samples = (5000, 200)
    solver_defaults = {"pi_deeponet": {"steps": 20000, "batch_size": 100, "points": 400, "lr": 2e-3, "lr_final": 2e-5}}

    def validate(self):
        if not (self.diffusion > 0 and self.length_scale > 0):
            raise ProblemDefinitionError(f"diffusion_reaction: diffusion and length_scale must be > 0, got "
                                         f"{self.diffusion}, {self.length_scale}")

    def draw_inputs(self, n, resolution, rng):
        return rbf_grf(n, self.input_axes(resolution)[0], rng, length_scale=self.length_scale)

    def solve_inputs(self, inputs, resolution):
        x, t = self.output_axes(resolution)
        return diffusion_reaction(inputs, x, t, diffusion=self.diffusion, reaction=self.reaction)

    def residual(self, s, y, u):
        return partial(s, 1)(y) - self.diffusion * partial(s, 0, 0)(y) - self.reaction * s(y) ** 2 - u

    def constraint_points(self, rng, n):
        edge = rng.random(n)
        return {"initial": np.stack([edge, np.zeros(n)], -1),
                "boundary": np.concatenate([np.stack([np.zeros(n // 2), rng.random(n // 2)], -1),
                                            np.stack([np.ones(n - n // 2), rng.random(n - n // 2)], -1)])}


@register_family("burgers1d_operator")
class BurgersOperator(AbstractProblemFamily):
    """Burgers initial-value-to-solution operator u0 -> u(., 1), periodic (0, 1), nu = 0.1 (the FNO set-up)."""

    coordinates = input_coordinates = ("x",)
    periodic = True
    input_name, output_name = "u0", "u"
    parameters = {"nu": 0.1, "t_end": 1.0}
    version = 2  # 2: mean-zero initial values
    resolution = 1024
    samples = (1000, 200)
    solver_defaults = {"fno": {"modes": 16, "width": 64, "train_resolution": 256, "epochs": 300, "batch_size": 20}}

    def validate(self):
        if not (self.nu > 0 and self.t_end > 0):
            raise ProblemDefinitionError(f"burgers1d_operator: nu and t_end must be > 0, got {self.nu}, {self.t_end}")

    def check_resolution(self, resolution):
        resolution = super().check_resolution(resolution)
        if resolution % 2:
            raise ProblemDefinitionError(f"burgers1d_operator: the resolution must be even (FFT grid), got {resolution}")
        return resolution

    def draw_inputs(self, n, resolution, rng):  # mean zero (the reference's GRF has no constant mode)
        u0 = periodic_grf(n, resolution, rng, dim=1, sigma=25.0, tau=5.0, gamma=2.0)
        return u0 - u0.mean(axis=1, keepdims=True)

    def solve_inputs(self, inputs, resolution):
        return burgers_periodic(inputs, self.nu, self.t_end)


@register_family("darcy2d")
class Darcy(AbstractProblemFamily):
    """Darcy flow coefficient-to-pressure operator, -div(a grad s) = 1, s = 0 on the boundary, a = 12 or 3."""

    coordinates = input_coordinates = ("x", "y")
    input_name = "a"
    parameters = {"high": 12.0, "low": 3.0, "tau": 3.0}
    version = 2  # 2: the field's constant mode removed
    resolution = 64
    samples = (1000, 200)
    solver_defaults = {"fno": {"modes": 12, "width": 32, "epochs": 150, "batch_size": 20}}

    def validate(self):
        if not (self.high > 0 and self.low > 0 and self.tau > 0):
            raise ProblemDefinitionError(f"darcy2d: high, low and tau must be > 0 (an elliptic problem), got "
                                         f"{self.high}, {self.low}, {self.tau}")

    def draw_inputs(self, n, resolution, rng):
        z = periodic_grf(n, resolution, rng, dim=2, sigma=1.0, tau=self.tau, gamma=2.0)
        z -= z.mean(axis=(1, 2), keepdims=True)  # without its constant mode (4x the variance of the rest at tau = 3,
        return np.where(z >= 0, self.high, self.low)  # it would make half the draws nearly one value); as the reference

    def solve_inputs(self, inputs, resolution):
        return darcy(inputs)
