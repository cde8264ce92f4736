r"""LFlow: Lagrangian flow networks, densities that conserve mass by construction (Torres et al., ICLR 2024).

A time-conditioned bijection :math:`z = \Phi_t(x)` of :math:`\mathbb{R}^d` gives

.. math::
    \rho(x, t) = M\, \mathcal{N}(\Phi_t(x); 0, I)\, \big|\det \partial_x\Phi_t(x)\big|,\qquad
    v(x, t) = -(\partial_x\Phi_t)^{-1}\, \partial_t\Phi_t ,

so :math:`\partial_t\rho + \nabla\cdot(\rho v) = 0` holds identically: ρ is the
push-forward of a fixed density along the flow :math:`x_t = \Phi_t^{-1}(z)`, whose
velocity is v (implicit-function theorem). No ODE solve, no PDE penalty. M (the
total mass) is learned.

**The bijection** (our choice: affine coupling layers, RealNVP-style, conditioned on
t): an input squashing :math:`y = L\,\mathrm{artanh}(x/L)` on the problem's box (−L, L)^d, then ``layers`` couplings; layer k changes one coordinate j = k mod d,
:math:`y_j \leftarrow y_j e^{s} + b` with :math:`(s, b)` from a tanh MLP of the
other coordinates and t (:math:`s = 3\tanh(\cdot/3)`, bounded). Couplings are
exactly invertible with a triangular Jacobian — :math:`\log|\det| = \sum s` in
closed form, no Lipschitz constraint, no fixed-point inverse (invertible residual
blocks need both) — and every layer is smooth (C^∞), which the velocity's
derivatives need; shears with t-dependent coefficients compose into the
rotations of the benchmark.

**Fitting**: the mean squared misfit of :math:`\log\rho` to the problem's
:class:`problems.Observations` (and of v, where observed, weighted by
``velocity_weight``), by any first-order optimizer of the core (Adam by default).
The solution is an ordinary pointwise field :math:`(\log\rho, v)`.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch
from torch.func import jacfwd, jvp, vmap

from physopt import (
    MLP,
    OPTIMIZERS,
    ConfigurationError,
    StallRule,
    default_device,
    parse_schedule,
)
from problems import Observations, Problem

from ._base import AbstractSolver, register_solver
from ._options import AbstractOptions, option
from ._solution import Solution, error_function
from ._training import Checkpointer, NaNGuard, TargetError, TrainingState, train

__all__ = ["LFlow", "LFlowOptions", "ConditionalFlow"]

DTYPES = {"float32": torch.float32, "float64": torch.float64}


@dataclasses.dataclass
class LFlowOptions(AbstractOptions):
    """Options of the Lagrangian flow network (every one is also a CLI flag or ``--set key=value``)."""

    base_components: int = option(8, "Gaussians in the learned mixture the flow transports (0: one standard normal); "
                                     "a mixture lets few layers carry a multimodal density")
    layers: int = option(4, "affine coupling layers (each changes one coordinate, conditioned on the others and t)")
    width: int = option(64, "hidden width of each coupling's conditioner")
    depth: int = option(2, "hidden layers of each coupling's conditioner")
    misfit: str = option("density", "density: relative squared misfit of rho = exp(log_rho) (the measured better start: the "
                                    "log misfit sticks in rotated local minima); log: squared misfit of log_rho (the paper's)")
    time_curriculum: float = option(0.3, "fraction of the steps over which the fitted time window grows from the first "
                                         "observed time to the last (0: all data from the start); a flow that has to "
                                         "rotate far is led there continuously")
    velocity_weight: float = option(1.0, "weight of the velocity misfit, where velocities are observed")
    optimizer: str = option("adam", "optimizer or schedule (physopt list optimizers), e.g. adam or adam:2000,lbfgs:500")
    steps: int = option(3000, "total optimization steps")
    lr: float = option(1e-2, "Adam learning rate")
    lr_final: float = option(1e-4, "Adam's learning rate at the end of its phase (exponential decay from lr)")
    stall_rtol: float = option(0.6, "a second-order phase ends once its loss fell by less than this fraction over stall_window steps")
    stall_window: int = option(100, "the stall rule's window in steps (0: never stop a phase early)")
    dtype: str = option("float64", "float32 or float64")
    device: str = option(default_device, "cpu, cuda, cuda:1, ... (default: $PHYSOPT_DEVICE, else cpu)")
    seed: int = option(0, "random seed (networks)")
    error_every: int = option(500, "measure the relative L2 error every N steps (0: only at the end of each phase)")
    target_error: float = option(0.0, "stop once the relative L2 error is at most this")
    checkpoint_every: int = option(500, "steps between checkpoints (0: only at the end)")

    def validate(self):
        super().validate()
        self.check_choice("dtype", tuple(DTYPES))
        self.check_choice("misfit", ("density", "log"))
        for name in ("width", "depth"):
            self.check_range(name, 1)
        self.check_range("layers", 0)
        self.check_range("base_components", 0)
        for name in ("steps", "error_every", "checkpoint_every", "seed", "stall_window"):
            self.check_range(name, 0)
        if not 0 <= self.time_curriculum <= 1:
            raise ConfigurationError(f"time_curriculum must be in [0, 1] (a fraction of the steps), got {self.time_curriculum}")
        if not self.velocity_weight >= 0:
            raise ConfigurationError(f"velocity_weight must be >= 0, got {self.velocity_weight}")
        self.check_training()


def rotation(angles: torch.Tensor, dim: int) -> torch.Tensor:
    """A rotation of R^d (d = 2: one angle; d = 3: three Givens rotations in the planes (0,1), (0,2), (1,2))."""
    planes = [(0, 1)] if dim == 2 else [(0, 1), (0, 2), (1, 2)]
    out = torch.eye(dim, dtype=angles.dtype, device=angles.device)
    for a, (i, j) in zip(angles, planes):
        c, s = torch.cos(a), torch.sin(a)
        rows = [[torch.ones_like(a) if r == q else torch.zeros_like(a) for q in range(dim)] for r in range(dim)]
        rows[i][i], rows[i][j], rows[j][i], rows[j][j] = c, -s, s, c
        out = torch.stack([torch.stack(r) for r in rows]) @ out
    return out


class ConditionalLinear(torch.nn.Module):
    r"""y ↦ U(t) diag(e^{σ(t)}) V(t)ᵀ y + b(t), U, V rotations: an invertible linear map conditioned on t,
    log|det| = Σσ. Rotations by any angle, growth and drift in one layer (couplings would need unbounded shears)."""

    def __init__(self, dim: int, width: int):
        super().__init__()
        self.dim, self.n_angles = dim, 1 if dim == 2 else 3
        self.net = MLP(1, 2 * self.n_angles + 2 * dim, width=width, depth=1)
        last = [m for m in self.net.modules() if isinstance(m, torch.nn.Linear)][-1]
        torch.nn.init.zeros_(last.weight)  # the identity at the start
        torch.nn.init.zeros_(last.bias)

    def forward(self, y: torch.Tensor, t: torch.Tensor, logdet: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        p, a, d = self.net(t[None]), self.n_angles, self.dim
        log_scale = p[2 * a:2 * a + d]
        y = rotation(p[:a], d) @ (torch.exp(log_scale) * (rotation(p[a:2 * a], d).T @ y)) + p[2 * a + d:]
        return y, logdet + log_scale.sum()

    def inverse(self, y: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        p, a, d = self.net(t[None]), self.n_angles, self.dim
        return rotation(p[a:2 * a], d) @ (torch.exp(-p[2 * a:2 * a + d]) * (rotation(p[:a], d).T @ (y - p[2 * a + d:])))


class ConditionalFlow(torch.nn.Module):
    """The bijection z = Φ_t(x): squashing, then affine couplings conditioned on t (module docstring)."""

    def __init__(self, dim: int, half_width: float, layers: int, width: int, depth: int, components: int = 0):
        super().__init__()
        if components:  # a learned Gaussian mixture in z (time-independent, so the push-forward still conserves mass)
            g = torch.Generator().manual_seed(0)
            self.means = torch.nn.Parameter(1.5 * torch.randn(components, dim, generator=g))
            self.log_scales = torch.nn.Parameter(torch.zeros(components, dim))
            self.logits = torch.nn.Parameter(torch.zeros(components))
        self.dim, self.half_width = dim, half_width
        self.conditioners = torch.nn.ModuleList([MLP(dim, 2, width=width, depth=depth) for _ in range(layers)])
        for net in self.conditioners:  # start at the identity map
            last = [m for m in net.modules() if isinstance(m, torch.nn.Linear)][-1]
            torch.nn.init.zeros_(last.weight)
            torch.nn.init.zeros_(last.bias)
        # a conditional SVD-parametrised linear layer after the squashing and after every d couplings
        self.linears = torch.nn.ModuleList([ConditionalLinear(dim, width) for _ in range(layers // dim + 1)])
        self.log_mass = torch.nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(z, log|det ∂z/∂x|)`` at one point ``x`` ``(d,)`` and time ``t`` ``()``."""
        L = self.half_width
        u = x / (L * (1 + 1e-7))  # the box's faces stay finite (and invertible: no clamp, whose derivative is 0)
        y = L * torch.atanh(u)
        logdet = -torch.log1p(-u * u).sum() - self.dim * math.log1p(1e-7)
        for k, net in enumerate(self.conditioners):
            j = k % self.dim
            if j == 0:
                y, logdet = self.linears[k // self.dim](y, t, logdet)
            others = torch.cat([y[:j], y[j + 1:], t[None]])
            raw = net(others)
            s = 3 * torch.tanh(raw[0] / 3)
            y = torch.cat([y[:j], (y[j] * torch.exp(s) + raw[1])[None], y[j + 1:]])
            logdet = logdet + s
        return self.linears[-1](y, t, logdet) if len(self.conditioners) % self.dim == 0 else (y, logdet)

    def inverse(self, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """x = Φ_t⁻¹(z) at one point: the layers undone in reverse order (each in closed form)."""
        y, n = z, len(self.conditioners)
        if n % self.dim == 0:
            y = self.linears[-1].inverse(y, t)
        for k in reversed(range(n)):
            j = k % self.dim
            raw = self.conditioners[k](torch.cat([y[:j], y[j + 1:], t[None]]))
            s = 3 * torch.tanh(raw[0] / 3)
            y = torch.cat([y[:j], ((y[j] - raw[1]) * torch.exp(-s))[None], y[j + 1:]])
            if j == 0:
                y = self.linears[k // self.dim].inverse(y, t)
        L = self.half_width
        return L * (1 + 1e-7) * torch.tanh(y / L)

    def sample(self, n: int, t: float, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` points ``(n, d)`` drawn from ρ(·, t)/M: z from the base, then x = Φ_t⁻¹(z)."""
        like = {"dtype": self.log_mass.dtype, "device": self.log_mass.device}
        noise = torch.randn(n, self.dim, generator=generator, **like)
        if hasattr(self, "means"):
            pick = torch.multinomial(torch.softmax(self.logits, 0), n, replacement=True, generator=generator)
            noise = self.means[pick] + torch.exp(self.log_scales[pick]) * noise
        time = torch.tensor(float(t), **like)
        with torch.no_grad():
            return vmap(lambda z: self.inverse(z, time))(noise)

    def log_density(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """:math:`\\log\\rho = \\log M + \\log\\mathcal{N}(z) + \\log|\\det\\partial_x z|`."""
        z, logdet = self(x, t)
        return self.log_mass + self.log_base(z) + logdet

    def log_base(self, z: torch.Tensor) -> torch.Tensor:
        """log of the base density: N(0, I), or the learned mixture Σ πₖ N(μₖ, diag σₖ²)."""
        if not hasattr(self, "means"):
            return -0.5 * (z * z).sum() - 0.5 * self.dim * math.log(2 * math.pi)
        scaled = (z - self.means) * torch.exp(-self.log_scales)
        per = -0.5 * (scaled * scaled).sum(-1) - self.log_scales.sum(-1) - 0.5 * self.dim * math.log(2 * math.pi)
        return torch.logsumexp(per + torch.log_softmax(self.logits, 0), 0)

    def velocity(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """:math:`v = -(\\partial_x\\Phi_t)^{-1}\\partial_t\\Phi_t`."""
        jacobian = jacfwd(lambda y: self(y, t)[0])(x)
        dt = jvp(lambda s: self(x, s)[0], (t,), (torch.ones_like(t),))[1]
        # inv, not linalg.solve: forward-mode derivatives of solve are wrong under vmap in torch 2.13 (measured:
        # vmap(jacfwd) of a 2x2 solve differs from jacfwd by O(1) on all but the first point); d <= 3 here
        return -torch.linalg.inv(jacobian) @ dt

    def field(self, point: torch.Tensor) -> torch.Tensor:
        """``(log ρ, v)`` at one space-time point ``(x, t)``."""
        x, t = point[:-1], point[-1]
        return torch.cat([self.log_density(x, t)[None], self.velocity(x, t)])


@register_solver("lflow")
class LFlow(AbstractSolver):
    """Lagrangian flow network: a conserved density (and its velocity) fitted to observations, continuity exact."""

    Options = LFlowOptions
    single_process_reason = "its samples of the flow are not sharded over the ranks yet"
    tiny_options = {"layers": 2, "width": 8, "depth": 1, "steps": 6, "error_every": 0}

    def __init__(self, problem: Problem, options: LFlowOptions | None = None, **overrides):
        super().__init__(problem, options, **overrides)
        o, p = self.options, self.problem
        data = [c for c in p.conditions if isinstance(c, Observations)]
        if not data or not p.has_time or tuple(p.unknowns[:1]) != ("log_rho",) or p.n_unknowns != p.n_space + 1:
            raise ConfigurationError(
                f"lflow fits a conserved density to data: problem '{p.problem_name}' needs unknowns (log_rho, v0, ...), "
                f"time, and Observations (subclass problems.DensityTransport, or use problems.DensityData)")
        self.dtype, self.device = DTYPES[o.dtype], torch.device(o.device)
        lo, hi = p.domain.bounds
        half_width = float(max(np.abs(lo).max(), np.abs(hi).max()))
        torch.manual_seed(o.seed)
        with torch.device("cpu"):
            model = ConditionalFlow(p.n_space, half_width, o.layers, o.width, o.depth, o.base_components)
        self.model = model.to(dtype=self.dtype, device=self.device)
        densities = [c for c in data if c.components == ("log_rho",)]
        if o.base_components and densities:
            self._place_base(densities[0], o.base_components)
        self.horizon = None  # the time curriculum's current last time (None: all observations)
        self.data = [(torch.as_tensor(c.points, dtype=self.dtype, device=self.device),
                      torch.as_tensor(c.values, dtype=self.dtype, device=self.device),
                      [p.unknowns.index(name) for name in c.components], c.weight) for c in data]
        if any(not (set(i) <= {0} or set(i) <= set(range(1, p.n_unknowns))) for _, _, i, _ in self.data):
            raise ConfigurationError("lflow: each Observations must be of log_rho alone or of velocity components alone")

    def _place_base(self, observed: Observations, k: int) -> None:
        """Start the base mixture on the data: its means at the densest observed points of the earliest time, at
        least 0.3 of the box apart (greedy), mapped by the flow's start (the squashing), scales 0.3."""
        points, values = observed.points, observed.values[:, 0]
        early = points[:, -1] == points[:, -1].min()
        candidates = points[early][np.argsort(-values[early])][:, :-1]
        chosen = []
        for p in candidates:
            if all(np.linalg.norm(p - q) > 0.3 for q in chosen):
                chosen.append(p)
            if len(chosen) == k:
                break
        if not chosen:
            return
        L = self.model.half_width
        means = L * np.arctanh(np.clip(np.array(chosen) / L, -0.999, 0.999))
        with torch.no_grad():
            self.model.means[:len(chosen)] = torch.as_tensor(means, dtype=self.model.means.dtype)
            self.model.log_scales.fill_(math.log(0.3))

    def field(self, point: torch.Tensor) -> torch.Tensor:
        return self.model.field(point)

    def loss(self) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Misfits: ``density`` (relative, of ρ) or ``log_rho`` (mean squared), and (weighted) ``velocity``."""
        terms = {}
        for points, values, index, weight in self.data:
            if self.horizon is not None:  # the time curriculum's window
                inside = points[:, -1] <= self.horizon
                points, values = points[inside], values[inside]
            if index == [0]:
                predicted = vmap(lambda q: self.model.log_density(q[:-1], q[-1]))(points)[:, None]
                name, w = "log_rho", weight
                if self.options.misfit == "density":  # relative: Σ(ρ − ρ_obs)² / Σρ_obs²
                    observed = torch.exp(values)
                    terms["density"] = terms.get("density", 0) + w * (torch.exp(predicted) - observed).square().sum() \
                        / observed.square().sum()
                    continue
            else:
                predicted = vmap(lambda q: self.model.velocity(q[:-1], q[-1]))(points)[:, [i - 1 for i in index]]
                name, w = "velocity", weight * self.options.velocity_weight
            misfit = w * (predicted - values).square().mean()
            terms[name] = terms.get(name, 0) + misfit
        return sum(terms.values()), terms

    def optimizer_options(self, name: str, steps: int) -> dict:
        return OPTIMIZERS.get(name).arguments(self, self.options, steps)

    def enforcement(self) -> list[dict[str, str]]:
        return [{"condition": repr(c), "enforced": "data" if isinstance(c, Observations) else "ignored", "term": ""}
                for c in self.problem.conditions]

    def solve(self, callbacks=(), checkpoint_path=None, checkpoint: dict | None = None) -> Solution:
        o = self.options
        state = TrainingState(self.model, parse_schedule(o.optimizer, o.steps))
        if checkpoint is not None:
            state.load(checkpoint)
        cbs = [NaNGuard(), *callbacks]
        if o.target_error > 0:
            cbs.append(TargetError(o.target_error))
        if checkpoint_path is not None:
            cbs.append(Checkpointer(checkpoint_path, o.checkpoint_every))
        error_fn = error_function(self.problem, self.field, self.dtype, self.device)
        times = torch.cat([points[:, -1] for points, *_ in self.data])
        first, last = float(times.min()), float(times.max())
        ramp = o.time_curriculum * o.steps

        def before_step(step):  # the window [first, horizon] grows linearly to the whole record over the ramp
            self.horizon = None if step >= ramp else first + (last - first) * max(step / ramp, 0.05)

        train(state, self.loss, self.optimizer_options, cbs, error_fn, o.error_every, before_step,
              StallRule(o.stall_rtol, o.stall_window))
        self.horizon = None  # the final loss over all the observations
        info = {"steps": state.step, "stop_reason": state.stop_reason, "train_time_s": state.elapsed,
                "final_loss": float(self.loss()[0].detach())}
        return Solution(self.problem, self.model, self.field, info)
