r"""LPINN: Lagrangian physics-informed networks for transport (Mojgani, Balajewicz, Hassanzadeh 2023).

A transport problem :math:`u_t + f(x, t, u)\, u_x = g\, u_{xx}` (periodic in x
with period L; the problem declares ``transport_velocity`` f and ``diffusion`` g)
is solved along its characteristics. Two networks on the Lagrangian label
:math:`x_0` and time, fed :math:`(\cos 2\pi x_0/L,\ \sin 2\pi x_0/L,\ t)` so that
periodicity is exact, give the characteristic :math:`X(x_0, t)` and the state
:math:`w(x_0, t) = u(X(x_0, t), t)`:

.. math::
    r_X = X_t - f(X, t, w), \qquad r_w = w_t - g\, w_{XX},\qquad
    w_{XX} = \frac{1}{X_{x_0}}\partial_{x_0}\!\Big(\frac{w_{x_0}}{X_{x_0}}\Big)
           = \frac{w_{x_0x_0} X_{x_0} - w_{x_0} X_{x_0x_0}}{X_{x_0}^3}

(the chain rule, exact also where :math:`X_{x_0} \ne 1`; the reference code
differentiates in :math:`x_0`, right only for pure convection). With
``initial="hard"`` (default) :math:`X = x_0 + t N_X` and :math:`w = u_0(x_0) + t N_w`
meet the initial values exactly; ``"soft"`` (the paper's) adds them as
penalty terms. With ``drift`` (default) the characteristic starts at its
initial speed, :math:`X = x_0 + t f(x_0, t_0, u_0(x_0)) + \dots`, and the network
learns the correction: exact for constant-speed convection, the inviscid
characteristics for Burgers (without it Adam must grow an output of size β). The loss is the mean of :math:`r_X^2 + r_w^2` over collocation
points :math:`(x_0, t)`, trained by any optimizer of the core (Gauss–Newton ones
get the per-point Jacobian of the residual vector).

**Eulerian values.** At a time t the labels :math:`x_0^{(j)} = jL/M` (``labels``)
move to :math:`X_j = X(x_0^{(j)}, t) \bmod L`; the solution at x is the
periodic cubic Hermite interpolant through :math:`(X_j, w_j)` with the exact
slopes :math:`w_{x_0}/X_{x_0}` (error :math:`O(h^4)`). This needs
:math:`X_{x_0} > 0` (characteristics that have not crossed); where they have,
the solution's ``info`` says so.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch
from torch.func import jvp, vmap

from physopt import (
    ACTIVATIONS,
    MLP,
    OPTIMIZERS,
    SAMPLING_METHODS,
    ConfigurationError,
    StallRule,
    default_device,
    parse_schedule,
    relative_l2,
    unit_cube_samples,
)
from physopt.curvature import FlatParameters, per_point_jacobian
from physopt.optim import LeastSquaresObjective
from problems import Initial, Periodic, Problem

from ._base import AbstractSolver, register_solver
from ._options import AbstractOptions, option
from ._pinn_collocation import _decode_rng, _encode_rng
from ._solution import AbstractSolution, Metric
from ._training import Checkpointer, NaNGuard, TargetError, TrainingState, train

__all__ = ["LPINN", "LPINNOptions", "LagrangianSolution", "LagrangianNetwork", "hermite_periodic",
           "eulerian_second_derivative"]

DTYPES = {"float32": torch.float32, "float64": torch.float64}


@dataclasses.dataclass
class LPINNOptions(AbstractOptions):
    """Options of the Lagrangian PINN (every one is also a CLI flag or ``--set key=value``)."""

    width: int = option(32, "hidden width of each branch (characteristic X and state w)")
    depth: int = option(3, "hidden layers of each branch")
    activation: str = option("tanh", "tanh, sin, gelu, silu, softplus, sigmoid")
    points: int = option(1024, "collocation points (label x0, time t)")
    sampling: str = option("sobol", "uniform, sobol, halton or grid")
    resample_every: int = option(0, "draw new collocation points every N steps (0: never; Gauss-Newton phases want 0)")
    initial: str = option("hard", "hard: X = x0 + t N_X, w = u0(x0) + t N_w (exact initial values); soft: penalty terms (the paper's)")
    initial_points: int = option(256, "initial=soft: labels on t = t0 for the penalty terms")
    drift: bool = option(True, "start each characteristic at its initial speed, X = x0 + t f(x0, t0, u0(x0)) + the network's "
                               "correction (false: the network alone, the paper's; Adam then has to learn speeds like beta = 100)")
    labels: int = option(1024, "Lagrangian labels per time for the Eulerian values (cubic Hermite interpolation in X)")
    optimizer: str = option("adam+lm", "optimizer or schedule (physopt list optimizers), e.g. adam, lm, adam:500,lm:1500")
    steps: int = option(2000, "total optimization steps")
    lr: float = option(1e-3, "Adam learning rate")
    lr_final: float = option(1e-4, "Adam's learning rate at the end of its phase (exponential decay from lr)")
    engd_solver: str = option("auto", "linear solver of engd/lm: auto, cholesky, cg, pinv, ...")
    damping: float = option(0.0, "initial damping of engd/lm; 0: each one's default")
    stall_rtol: float = option(0.6, "a second-order phase ends once its loss fell by less than this fraction over stall_window steps")
    stall_window: int = option(100, "the stall rule's window in steps (0: never stop a phase early)")
    dtype: str = option("float64", "float32 or float64")
    device: str = option(default_device, "cpu, cuda, cuda:1, ... (default: $PHYSOPT_DEVICE, else cpu)")
    seed: int = option(0, "random seed (networks, sampling)")
    error_every: int = option(100, "measure the relative L2 error every N steps (0: only at the end of each phase)")
    target_error: float = option(0.0, "stop once the relative L2 error is at most this")
    checkpoint_every: int = option(500, "steps between checkpoints (0: only at the end)")

    def validate(self):
        super().validate()
        self.check_choice("activation", tuple(ACTIVATIONS))
        self.check_choice("sampling", SAMPLING_METHODS)
        self.check_choice("initial", ("hard", "soft"))
        self.check_choice("dtype", tuple(DTYPES))
        for name in ("width", "depth", "points", "initial_points", "labels"):
            self.check_range(name, 1)
        for name in ("steps", "resample_every", "error_every", "checkpoint_every", "seed", "stall_window"):
            self.check_range(name, 0)
        self.check_training()


def eulerian_second_derivative(X_a, X_aa, w_a, w_aa):
    r""":math:`u_{xx}` at :math:`x = X(x_0)` from the label derivatives of the map X and of :math:`w = u \circ X`.

    :math:`u_x = w_{x_0}/X_{x_0}` and :math:`u_{xx} = \frac{1}{X_{x_0}}\partial_{x_0}(w_{x_0}/X_{x_0})
    = (w_{x_0x_0} X_{x_0} - w_{x_0} X_{x_0x_0})/X_{x_0}^3`.
    """
    return (w_aa * X_a - w_a * X_aa) / X_a**3


class LagrangianNetwork(torch.nn.Module):
    r"""Two MLP branches on :math:`(\cos 2\pi x_0/L, \sin 2\pi x_0/L, t)`: outputs ``(..., 2)`` = (path, state)."""

    def __init__(self, period: float, width: int, depth: int, activation: str):
        super().__init__()
        self.period = period
        self.path = MLP(3, 1, width=width, depth=depth, activation=activation)
        self.state = MLP(3, 1, width=width, depth=depth, activation=activation)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        angle = (2 * math.pi / self.period) * z[..., 0]
        features = torch.stack([torch.cos(angle), torch.sin(angle), z[..., 1]], -1)
        return torch.cat([self.path(features), self.state(features)], -1)


def hermite_periodic(nodes: torch.Tensor, values: torch.Tensor, slopes: torch.Tensor, period: float,
                     queries: torch.Tensor) -> torch.Tensor:
    r"""Periodic cubic Hermite interpolant through ``(nodes, values)`` with ``slopes``, at ``queries``.

    ``nodes`` and ``queries`` are wrapped into :math:`[0, L)`; the nodes may come in any order (sorted here).
    """
    nodes = torch.remainder(nodes, period)
    order = torch.argsort(nodes)
    y, v, s = nodes[order], values[order], slopes[order]
    y = torch.cat([y[-1:] - period, y, y[:1] + period])
    v, s = torch.cat([v[-1:], v, v[:1]]), torch.cat([s[-1:], s, s[:1]])
    q = torch.remainder(queries, period)
    i = (torch.searchsorted(y, q, right=True) - 1).clamp(0, len(y) - 2)
    h = y[i + 1] - y[i]
    tau = (q - y[i]) / h
    h00, h10 = (1 + 2 * tau) * (1 - tau) ** 2, tau * (1 - tau) ** 2
    h01, h11 = tau**2 * (3 - 2 * tau), tau**2 * (tau - 1)
    return h00 * v[i] + h10 * h * s[i] + h01 * v[i + 1] + h11 * h * s[i + 1]


class LagrangianSolution(AbstractSolution):
    """An LPINN's solution: Eulerian values by moving labels along X and interpolating (module docstring)."""

    kind = "pointwise"  # values anywhere in space-time, like a PINN's

    def __init__(self, problem, model, solver: "LPINN", info: dict | None = None):
        super().__init__(problem, model, info)
        self.solver = solver

    def __call__(self, points) -> torch.Tensor:
        points = torch.as_tensor(points, dtype=self.dtype, device=self.device)
        if points.ndim != 2 or points.shape[1] != 2:
            raise ValueError(f"points must have shape (N, 2) (x, t) for problem '{self.problem.problem_name}', "
                             f"got {tuple(points.shape)}")
        with torch.no_grad():
            return self.solver.eulerian(points)[0].reshape(-1, 1)

    def metrics(self) -> list[Metric]:
        """Where the map x0 -> X stops being invertible (crossed characteristics: a shock), on the error points."""
        with torch.no_grad():
            crossed = self.solver.eulerian(torch.as_tensor(self.problem.error_points(), dtype=self.dtype,
                                                           device=self.device))[1]
        return [Metric("crossed_labels", crossed, "largest fraction of labels with X_x0 <= 0 at one error time "
                       "(0: the characteristics have not crossed and the Eulerian values are well defined)")]


@register_solver("lpinn")
class LPINN(AbstractSolver):
    """Lagrangian PINN: characteristics and state by two networks, for periodic 1-D transport (convection, Burgers)."""

    Options = LPINNOptions
    single_process_reason = "its characteristic and initial points are not sharded over the ranks yet"
    tiny_options = {"points": 64, "initial_points": 16, "width": 8, "depth": 1, "steps": 10, "optimizer": "adam",
                    "labels": 64}

    def __init__(self, problem: Problem, options: LPINNOptions | None = None, **overrides):
        super().__init__(problem, options, **overrides)
        o, p = self.options, self.problem
        self._check_problem()
        self.dtype, self.device = DTYPES[o.dtype], torch.device(o.device)
        self.lo, hi = float(p.domain.bounds[0][0]), float(p.domain.bounds[1][0])
        self.period = hi - self.lo
        torch.manual_seed(o.seed)
        with torch.device("cpu"):  # the same initial weights on every device
            model = LagrangianNetwork(self.period, o.width, o.depth, o.activation)
        self.model = model.to(dtype=self.dtype, device=self.device)
        self.initial = next(c for c in p.conditions if isinstance(c, Initial))
        self.rng = np.random.default_rng(o.seed)
        self.sample()

    def _check_problem(self) -> None:
        p = self.problem
        name = p.problem_name
        if p.n_space != 1 or not p.has_time:
            raise ConfigurationError(f"lpinn solves periodic 1-D transport in space and time; problem '{name}' is not one")
        kinds = [(type(c), getattr(c, "order", 0), getattr(c, "derivative", False)) for c in p.conditions]
        if sorted(k[0].__name__ for k in kinds) != ["Initial", "Periodic"] or any(k[1] or k[2] for k in kinds):
            raise ConfigurationError(f"lpinn needs exactly an Initial value and Periodic(dim=0); problem '{name}' has "
                                     f"{', '.join(map(repr, p.conditions))}")
        velocity = getattr(p, "transport_velocity", None)
        try:
            one = torch.ones((), dtype=torch.float64)
            velocity(one, one, one)
            float(getattr(p, "diffusion"))
        except (NotImplementedError, TypeError, AttributeError):
            raise ConfigurationError(
                f"lpinn needs the problem to declare its transport: `transport_velocity(x, t, u)` (f in u_t + f u_x = "
                f"g u_xx) and `diffusion` (g); problem '{name}' does not (subclass problems.TransportProblem)") from None

    # ----- the fields ---------------------------------------------------------------
    def _initial_value(self, x0: torch.Tensor) -> torch.Tensor:
        return self.initial.value(x0[None]).reshape(())

    def characteristic(self, call, z: torch.Tensor) -> torch.Tensor:
        """``(X, w)`` at one point ``z = (x0, t)`` for the network call ``call``, through the initial ansatz."""
        out = call(z)
        t0 = self.problem.time.t0
        tau = z[1] - t0
        x0 = z[0]
        if self.options.initial == "hard":
            u0 = self._initial_value(x0)
            path, state = x0 + tau * out[0], u0 + tau * out[1]
        else:
            path, state = x0 + out[0], out[1]
        if self.options.drift:
            u0 = self._initial_value(x0) if self.options.initial == "soft" else u0
            path = path + tau * self.problem.transport_velocity(x0, torch.full_like(x0, t0), u0)
        return torch.stack([path, state])

    def point_residuals(self, call, z: torch.Tensor) -> torch.Tensor:
        r""":math:`(r_X, r_w)` at one collocation point (module docstring)."""
        x0, t = z[0], z[1]
        one = torch.ones_like(x0)

        def along_label(a):
            return self.characteristic(call, torch.stack([a, t]))

        (X, w), (X_t, w_t) = jvp(lambda s: self.characteristic(call, torch.stack([x0, s])), (t,), (one,))
        r_X = X_t - self.problem.transport_velocity(X, t, w)
        g = float(self.problem.diffusion)
        if not g:  # pure transport: no second derivatives to take
            return torch.stack([r_X, w_t])
        (X_a, w_a), (X_aa, w_aa) = jvp(lambda a: jvp(along_label, (a,), (one,))[1], (x0,), (one,))
        return torch.stack([r_X, w_t - g * eulerian_second_derivative(X_a, X_aa, w_a, w_aa)])

    def initial_residuals(self, call, x0: torch.Tensor) -> torch.Tensor:
        """``(X − x0, w − u0)`` at one label on t = t0 (``initial="soft"``)."""
        X, w = self.characteristic(call, torch.stack([x0, torch.full_like(x0, self.problem.time.t0)]))
        return torch.stack([X - x0, w - self._initial_value(x0)])

    # ----- sampling and loss ------------------------------------------------------------
    def sample(self) -> None:
        """Draw collocation points ``(x0, t)`` (and initial labels, ``initial="soft"``)."""
        o, p = self.options, self.problem
        self._rng_before_batch = _encode_rng(self.rng)
        unit = unit_cube_samples(o.points, 2, o.sampling, self.rng)
        z = np.column_stack([self.lo + self.period * unit[:, 0], p.time.map(unit[:, 1:])])
        self.points = torch.as_tensor(z, dtype=self.dtype, device=self.device)
        labels = self.lo + self.period * unit_cube_samples(o.initial_points, 1, o.sampling, self.rng)[:, 0]
        self.labels0 = torch.as_tensor(labels, dtype=self.dtype, device=self.device)

    def _terms(self) -> list[tuple[str, callable, torch.Tensor, float]]:
        """``(name, fn(call, point), points, scale)``: each term contributes ``scale² Σ |fn|²``."""
        terms = [("transport", self.point_residuals, self.points, 1 / math.sqrt(len(self.points)))]
        if self.options.initial == "soft":
            terms.append(("initial", self.initial_residuals, self.labels0, 1 / math.sqrt(len(self.labels0))))
        return terms

    def residual_terms(self, call=None) -> dict[str, torch.Tensor]:
        call = call or self.model
        return {name: vmap(lambda z, fn=fn: fn(call, z))(points).reshape(-1) * scale
                for name, fn, points, scale in self._terms()}

    def loss(self) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Total loss and its terms: ``characteristic`` (mean r_X²), ``state`` (mean r_w²), ``initial`` (soft)."""
        r = self.residual_terms()
        transport = r["transport"].reshape(-1, 2)
        terms = {"characteristic": transport[:, 0].square().sum(), "state": transport[:, 1].square().sum()}
        if "initial" in r:
            terms["initial"] = r["initial"].square().sum()
        return sum(terms.values()), terms

    def least_squares(self) -> LeastSquaresObjective:
        """The loss as :math:`\\|r(\\theta)\\|^2` over the flat parameters, with per-point Jacobians."""
        flat = FlatParameters(self.model)

        def call_at(theta):
            return lambda z: flat.call(theta, z)

        def residual(theta):
            return torch.cat(list(self.residual_terms(call_at(theta)).values()))

        def jacobian(theta):
            return torch.cat([per_point_jacobian(lambda th, z, fn=fn: fn(call_at(th), z), theta, points, scale=scale)
                              .reshape(-1, theta.numel()) for _, fn, points, scale in self._terms()])

        return LeastSquaresObjective(flat, residual, lambda theta: self.residual_terms(call_at(theta)), jacobian)

    # ----- Eulerian values ------------------------------------------------------------
    def eulerian(self, points: torch.Tensor) -> tuple[torch.Tensor, float]:
        """u at Eulerian points ``(N, 2)`` = (x, t) — labels moved to time t, Hermite-interpolated in X — and the
        largest fraction of labels whose characteristics have crossed (X_x0 <= 0) at one of those times."""
        m = self.options.labels
        labels = self.lo + self.period * torch.arange(m, dtype=self.dtype, device=self.device) / m
        times, where = torch.unique(points[:, 1], return_inverse=True)
        out = torch.empty(len(points), dtype=self.dtype, device=self.device)

        def with_slope(z):
            return jvp(lambda a: self.characteristic(self.model, torch.stack([a, z[1]])), (z[0],), (torch.ones_like(z[0]),))

        crossed = 0.0
        for i, t in enumerate(times):
            value, along = vmap(with_slope)(torch.stack([labels, t.expand(m)], -1))
            (X, w), (X_a, w_a) = value.unbind(-1), along.unbind(-1)
            crossed = max(crossed, float((X_a <= 0).double().mean()))
            mine = where == i
            out[mine] = hermite_periodic(X - self.lo, w, w_a / X_a, self.period, points[mine, 0] - self.lo)
        return out, crossed

    def _error_fn(self):
        if not self.problem.has_reference:
            return None
        points = self.problem.error_points()
        reference = self.problem.solution_at(points).reshape(-1).to(dtype=self.dtype, device=self.device)
        points = points.to(dtype=self.dtype, device=self.device)

        def rel_l2() -> float:
            with torch.no_grad():
                return relative_l2(self.eulerian(points)[0], reference)

        return rel_l2

    # ----- solve --------------------------------------------------------------------
    def enforcement(self) -> list[dict[str, str]]:
        out = []
        for c in self.problem.conditions:
            if isinstance(c, Periodic):
                out.append({"condition": repr(c), "enforced": "ansatz", "term": ""})
            elif self.options.initial == "hard":
                out.append({"condition": repr(c), "enforced": "ansatz", "term": ""})
            else:
                out.append({"condition": repr(c), "enforced": "penalty", "term": "initial"})
        return out

    def optimizer_options(self, name: str, steps: int) -> dict:
        return OPTIMIZERS.get(name).arguments(self, self.options, steps)

    def solve(self, callbacks=(), checkpoint_path=None, checkpoint: dict | None = None) -> LagrangianSolution:
        o = self.options
        state = TrainingState(self.model, parse_schedule(o.optimizer, o.steps))
        if checkpoint is not None:
            state.load(checkpoint)
            if "numpy_rng" in checkpoint:  # redraw the points the checkpointed run was training on
                self.rng.bit_generator.state = _decode_rng(checkpoint["numpy_rng"])
                self.sample()
        cbs = [NaNGuard(), *callbacks]
        if o.target_error > 0:
            cbs.append(TargetError(o.target_error))
        if checkpoint_path is not None:
            cbs.append(Checkpointer(checkpoint_path, o.checkpoint_every, extra=lambda: {"numpy_rng": self._rng_before_batch}))

        def before_step(step):
            if o.resample_every and step > 0 and step % o.resample_every == 0:
                self.sample()

        train(state, self.loss, self.optimizer_options, cbs, self._error_fn(), o.error_every, before_step,
              StallRule(o.stall_rtol, o.stall_window))
        info = {"steps": state.step, "stop_reason": state.stop_reason, "train_time_s": state.elapsed,
                "final_loss": float(self.loss()[0].detach())}
        return LagrangianSolution(self.problem, self.model, self, info)

