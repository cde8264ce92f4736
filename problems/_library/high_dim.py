r"""High-dimensional benchmarks on the unit ball (STDE paper, Shi et al., NeurIPS 2024, App. I.1).

On :math:`B^d = \{\|x\| \le 1\}` with u = 0 on the sphere, the paper's sign
convention, :math:`L u = g` with

- ``poisson_ball``:      :math:`L u = \Delta u`,
- ``allen_cahn_ball``:   :math:`L u = \Delta u + u - u^3`,
- ``sine_gordon_ball``:  :math:`L u = \Delta u + \sin u`,

and the forcing :math:`g = L u^*` of an exact solution
:math:`u^* = (1 - \|x\|^2)\, s(x)`, :math:`s = \sum_i c_i \varphi(x_i, \dots, x_{i+k-1})`,
:math:`c_i \sim N(0, 1)` drawn once (``seed``):

- two-body (k = 2): :math:`\varphi(a, b) = \sin(a + \cos b + b \cos a)`, i = 1..d−1;
- three-body (k = 3): :math:`\varphi(a, b, c) = \exp(a b c)`, i = 1..d−2.

**The forcing is computed by autodiff, in O(d) per point.** With
:math:`B = 1 - \|x\|^2` (:math:`\nabla B = -2x`, :math:`\Delta B = -2d`),

.. math:: \Delta u^* = -2d\, s - 4\, x\cdot\nabla s + B\, \Delta s,

and since each term of s depends on k consecutive coordinates,
:math:`x\cdot\nabla s = \sum_i c_i \sum_j x_{i+j}\, \partial_j\varphi_i` and
:math:`\Delta s = \sum_i c_i \sum_j \partial_j^2 \varphi_i`, where the first and
second partials of the k-variable :math:`\varphi` come from nested
``torch.func.jvp`` (forward mode; φ is elementwise, so one pass serves all
d − k + 1 terms). No d × d Hessian is formed and no
hand-derived formula is used (the reference code's three-body formula drops a
chain-rule factor).

**Sampling** (train and test in the paper): :math:`x = r\, z/\|z\|`,
:math:`z \sim N(0, I)`, :math:`r \sim U(0, 1)` -- *not* uniform by volume (that
would put almost every point at :math:`\|x\| \approx 1` in high d). The domain
:class:`RadialBall` maps unit-cube samples that way, so a PINN that samples the
domain draws the paper's points. **Hard constraint**: the conditions are
``[Dirichlet(0.0)]`` and the ball's boundary factor is :math:`1 - \|x\|^2`, so the
automatic ansatz under ``bc=auto`` is exactly the paper's
:math:`u_\theta = (1 - \|x\|^2)\,\mathrm{MLP}(x)` (g = 0: nothing of the solution
enters the ansatz).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.func import jvp

from physopt import ProblemDefinitionError, laplacian

from .._conditions import Dirichlet
from .._domain import Ball
from .._problem import Problem
from .._registry import register

__all__ = ["RadialBall", "BallBenchmark", "PoissonBall", "AllenCahnBall", "SineGordonBall",
           "body_sum", "body_sum_parts"]

CHUNK_COORDINATES = 4_000_000  # test points come in chunks of at most this many numbers (32 MB), one RNG stream each
TEST_BUDGET = 20_000_000  # auto n_test: at most this many coordinates (160 MB of float64)


def _two_body(a, b):
    return torch.sin(a + torch.cos(b) + b * torch.cos(a))


def _three_body(a, b, c):
    return torch.exp(a * b * c)


SOLUTIONS = {"two_body": (2, _two_body), "three_body": (3, _three_body)}


def _windows(x: torch.Tensor, k: int) -> list[torch.Tensor]:
    """The k shifted slices x[..., j : d − k + 1 + j], j < k (the arguments of the d − k + 1 terms)."""
    m = x.shape[-1] - k + 1
    return [x[..., j:j + m] for j in range(k)]


def body_sum(x: torch.Tensor, c: torch.Tensor, solution: str) -> torch.Tensor:
    r""":math:`s(x) = \sum_i c_i \varphi(x_i, \dots, x_{i+k-1})` at one point ``(d,)`` or a batch ``(N, d)``."""
    k, phi = SOLUTIONS[solution]
    return (c * phi(*_windows(x, k))).sum(-1)


def _partials(phi, args: list[torch.Tensor], j: int) -> tuple[torch.Tensor, torch.Tensor]:
    r""":math:`(\partial_j\varphi, \partial_j^2\varphi)` of every term at once, by nested forward-mode autodiff.

    :math:`\varphi` is built from elementwise torch functions, so term i depends only
    on entry i of each argument, and a ``jvp`` with a tangent of ones on argument j
    gives :math:`\partial_j\varphi` for all terms (the vmap over terms is the
    broadcasting); a second ``jvp`` of that gives :math:`\partial_j^2\varphi`.
    """
    ones = torch.ones_like(args[j])

    def along(a):
        return phi(*args[:j], a, *args[j + 1:])

    def first(a):
        return jvp(along, (a,), (ones,))[1]

    return jvp(first, (args[j],), (ones,))


def body_sum_parts(x: torch.Tensor, c: torch.Tensor, solution: str) -> tuple[torch.Tensor, ...]:
    r""":math:`(s,\ x\cdot\nabla s,\ \Delta s)` at one point ``x`` of shape ``(d,)``, O(d) work and memory.

    The partials of the k-variable term come from forward-mode autodiff
    (:func:`_partials`), for all d − k + 1 terms at once;
    :math:`x\cdot\nabla s = \sum_i c_i \sum_j x_{i+j}\partial_j\varphi_i` needs no
    scatter, and :math:`\Delta s = \sum_i c_i \sum_j \partial_j^2\varphi_i`. Works
    under an outer ``vmap`` over points.
    """
    k, phi = SOLUTIONS[solution]
    args = _windows(x, k)
    s = (c * phi(*args)).sum(-1)
    weighted_first, second_sum = 0, 0
    for j in range(k):
        first, second = _partials(phi, args, j)
        weighted_first = weighted_first + args[j] * first
        second_sum = second_sum + second
    return s, (c * weighted_first).sum(-1), (c * second_sum).sum(-1)


class RadialBall(Ball):
    r"""The unit-radius ball sampled as in the STDE paper: :math:`x = c + R\, r\, z/\|z\|`, r ~ U(0, 1).

    Same geometry, boundary factor and boundary sampling as :class:`~problems.Ball`;
    only the interior law differs (radius uniform instead of :math:`r^{1/d}`).
    """

    def _radial(self, unit):
        return unit  # r ~ U(0, 1): the paper's law (not uniform by volume)


class BallBenchmark(Problem):
    r"""Base of the STDE ball benchmarks: :math:`\Delta u + N(u) = g` on :math:`B^d`, u = 0 on the sphere.

    Subclasses set :meth:`nonlinearity` N. Parameters: ``d`` (dimension),
    ``solution`` (``"two_body"`` or ``"three_body"``), ``seed`` (of the c_i, drawn
    with a NumPy generator in float64), ``n_test`` (test points; 0: 20,000, capped
    at ``TEST_BUDGET // d`` so that d = 10⁵ needs 160 MB, not 16 GB).
    """

    parameters = {"d": 100, "solution": "two_body", "seed": 0, "n_test": 0}
    conditions = [Dirichlet(0.0)]

    @property
    def solver_defaults(self) -> dict:
        """The paper's set-up (App. I.1): MLP d-128-128-128-1, Adam from 1e-3, 100 fresh points per step, |J| = 16
        sampled coordinates, float32 — Adam because a Gauss–Newton Jacobian has 128·d columns per point — and the
        network's output scaled by √d, the size of s = Σ cᵢφᵢ (without it the tanh layers saturate to produce
        K ≈ sin(1)Σcᵢ and never learn the non-constant part: measured at d = 1000, rel. L2 6.8e-3 = the constant
        floor, against 9.4e-4 with it)."""
        return {"pinn": {"width": 128, "depth": 3, "points": 100, "resample_every": 1, "sampling": "uniform",
                         "optimizer": "adam", "steps": 10_000, "lr": 1e-3, "lr_final": 1e-5, "derivatives": "stde",
                         "samples": 16, "dtype": "float32", "error_every": 500, "output_scale": math.sqrt(self.d)}}

    def __init__(self, **params):
        super().__init__(**params)
        if self.solution not in SOLUTIONS:
            raise ProblemDefinitionError(
                f"problem '{self.problem_name}': solution must be one of {', '.join(SOLUTIONS)}, got {self.solution!r}")
        k = SOLUTIONS[self.solution][0]
        if self.d < k:
            raise ProblemDefinitionError(
                f"problem '{self.problem_name}': the {self.solution} solution needs d >= {k}, got d={self.d}")
        if self.n_test < 0:
            raise ProblemDefinitionError(f"problem '{self.problem_name}': n_test must be >= 0, got {self.n_test}")
        rng = np.random.default_rng(self.seed)
        self.coefficients = torch.as_tensor(rng.standard_normal(self.d - k + 1), dtype=torch.float64)
        self._domain = RadialBall([0.0] * self.d, 1.0)

    @property
    def domain(self):
        return self._domain

    # ----- the PDE ---------------------------------------------------------------------
    def nonlinearity(self, u):
        """N(u) of L u = Δu + N(u); zero for Poisson."""
        return torch.zeros_like(u)

    def residual(self, u, x, forcing=None):
        r""":math:`\Delta u + N(u) - g` at ``x``; ``forcing``: g at ``x`` if already known (:meth:`point_data`)."""
        return laplacian(u)(x) + self.nonlinearity(u(x)) - (self.forcing(x) if forcing is None else forcing)

    def point_data(self, points):
        """The forcing on a batch, computed once per batch, in chunks of at most ``CHUNK_COORDINATES`` numbers."""
        with torch.no_grad():
            return {"forcing": torch.cat([self.forcing(chunk) for chunk in points.split(self.chunk_rows)])}

    def _c(self, x):
        return self.coefficients.to(dtype=x.dtype, device=x.device)

    def exact(self, x):
        return (1 - (x * x).sum(-1)) * body_sum(x, self._c(x), self.solution)

    def forcing(self, x):
        r""":math:`g = \Delta u^* + N(u^*)` at one point ``(d,)`` or a batch ``(N, d)``, :math:`\Delta u^* = -2d s - 4 x\cdot\nabla s + B \Delta s`."""
        s, x_grad, lap = body_sum_parts(x, self._c(x), self.solution)
        b = 1 - (x * x).sum(-1)
        return -2 * x.shape[-1] * s - 4 * x_grad + b * lap + self.nonlinearity(b * s)

    def solution_at(self, points, chunk_coordinates: int = 4_000_000):
        """The exact solution ``(N, 1)`` on a batch, in chunks of at most ``chunk_coordinates`` numbers."""
        points = torch.as_tensor(points)
        rows = max(1, chunk_coordinates // max(1, points.shape[1]))
        parts = [self.exact(p) for p in points.split(rows)] or [points.new_zeros(0)]
        return torch.cat(parts).reshape(-1, 1)

    # ----- test points and the constant floor ------------------------------------------------
    @property
    def n_test_points(self) -> int:
        """Test-set size: ``n_test``, or 20,000 capped at ``TEST_BUDGET // d`` (at least 100)."""
        return self.n_test or min(20_000, max(100, TEST_BUDGET // self.d))

    @property
    def chunk_rows(self) -> int:
        """Rows per test chunk: 1000, fewer when d is large (at most ``CHUNK_COORDINATES`` numbers)."""
        return max(1, min(1000, CHUNK_COORDINATES // self.d))

    def test_chunks(self, n: int | None = None, dtype=torch.float64):
        r"""Yield the paper's test points in chunks: :math:`x = r z/\|z\|`, z ~ N(0, I), r ~ U(0, 1).

        Chunk j uses its own generator ``default_rng([seed, 1, j])``, so the set does
        not depend on how it is consumed; :meth:`error_points` is their concatenation.
        """
        n = self.n_test_points if n is None else n
        size = self.chunk_rows
        for j, start in enumerate(range(0, n, size)):
            rng = np.random.default_rng([self.seed, 1, j])
            rows = min(size, n - start)
            z = rng.standard_normal((rows, self.d))
            r = rng.random((rows, 1))
            yield torch.as_tensor(r * z / np.linalg.norm(z, axis=1, keepdims=True), dtype=dtype)

    def error_points(self) -> torch.Tensor:
        """The paper's test set (``n_test_points`` points, float64)."""
        return torch.cat(list(self.test_chunks()))


    def constant_floor(self, points=None) -> dict[str, float]:
        r"""Best fit :math:`K (1 - \|x\|^2)` to :math:`u^*` on the test points (least squares in K).

        Returns ``{"K": K, "rel_l2": ‖u* − K B‖/‖u*‖}`` accumulated chunk by chunk
        (``points``: a tensor or an iterable of chunks; default the test chunks). With
        :math:`|x_i| \sim 1/\sqrt d` the two-body s is nearly constant, so a network
        that learns only K(1 − ‖x‖²) already reaches this relative error.
        """
        chunks = self.test_chunks() if points is None else (points.split(self.chunk_rows) if torch.is_tensor(points) else points)
        uu = ub = bb = 0.0
        for p in chunks:
            p = torch.as_tensor(p, dtype=torch.float64)
            b = 1 - (p * p).sum(-1)
            u = b * body_sum(p, self.coefficients, self.solution)
            uu, ub, bb = uu + float(u @ u), ub + float(u @ b), bb + float(b @ b)
        k = ub / bb
        return {"K": k, "rel_l2": math.sqrt(max(uu - ub * k, 0.0) / uu)}

    def extra_errors(self, points: torch.Tensor, predicted: torch.Tensor, reference: torch.Tensor) -> dict[str, float]:
        r"""Beside every relative L2 error (``Solution.errors``): the constant floor on the same points and
        :math:`\|u - u^*\| / \|u^* - K(1 - \|x\|^2)\|`, the error of the non-constant part."""
        floor = self.constant_floor(points)
        nonconstant = reference[:, 0] - floor["K"] * (1 - (points * points).sum(-1))
        error = (predicted[:, 0] - reference[:, 0]).norm()
        return {"constant_floor_rel_l2": floor["rel_l2"], "nonconstant_rel_l2": float(error / nonconstant.norm())}

    def nonconstant_part(self, points: torch.Tensor, k: float | None = None) -> torch.Tensor:
        r""":math:`u^* - K(1 - \|x\|^2)` on ``points`` (K from :meth:`constant_floor` unless given).

        A harder error measure than the relative L2: ``‖u − u*‖ / ‖u* − K B‖``.
        """
        k = self.constant_floor()["K"] if k is None else k
        points = torch.as_tensor(points, dtype=torch.float64)
        return self.solution_at(points)[:, 0] - k * (1 - (points * points).sum(-1))


@register("poisson_ball")
class PoissonBall(BallBenchmark):
    r"""Δu = g on the unit ball B^d, u = 0 on the sphere; u = (1−‖x‖²)·Σ c_i φ (two/three-body, STDE paper)."""


@register("allen_cahn_ball")
class AllenCahnBall(BallBenchmark):
    r"""Δu + u − u³ = g on the unit ball B^d, u = 0 on the sphere; two/three-body exact u (STDE paper)."""

    def nonlinearity(self, u):
        return u - u**3


@register("sine_gordon_ball")
class SineGordonBall(BallBenchmark):
    r"""Δu + sin u = g on the unit ball B^d, u = 0 on the sphere; two/three-body exact u (STDE paper)."""

    def nonlinearity(self, u):
        return torch.sin(u)
