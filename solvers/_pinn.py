r"""Physics-informed neural networks.

Minimises the mean squared PDE residual at collocation points plus one mean
squared term per condition,

.. math::
    L(\theta) = \frac{1}{N}\sum_i |r(u_\theta, x_i)|^2
              + \sum_c \frac{w_c}{N_c}\sum_j |b_c(u_\theta, y_j)|^2 ,

with conditions either as such penalties (``bc="soft"``) or built into the
network (``bc="hard"``: :math:`u = g + B\,N_\theta`, :math:`B = 0` on the boundary;
``bc="auto"``, the default, does that where the conditions allow it).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable

import numpy as np
import torch
from torch.func import jacrev, vmap

from physopt import (
    ACTIVATIONS,
    MLP,
    SAMPLING_METHODS,
    ConfigurationError,
    ProblemDefinitionError,
    StallRule,
    check_device,
    default_device,
    derivative_mode,
    get_derivative_mode,
    parse_schedule,
    partial,
    time_derivative,
    unit_cube_samples,
)
from physopt.curvature import FlatParameters
from physopt.optim import LeastSquaresObjective
from physopt.optim._engd import SOLVERS as ENGD_SOLVERS
from problems import Box, HardConstraint, Problem

from ._options import AbstractOptions
from ._pinn_jets import jets_for
from ._solution import Solution, error_function
from ._training import (
    Callback,
    Checkpointer,
    CurvatureMonitor,
    NaNGuard,
    TargetError,
    TrainingState,
    train,
)

__all__ = ["PINN", "PINNOptions"]

DTYPES = {"float32": torch.float32, "float64": torch.float64}
# initial relative damping μ (λ = μ·σ²_max) when the option damping is 0; lm adapts μ from the gain ratio,
# and starting at 1e-3 (not 1e-10) keeps its first steps after Adam safe (benchmarks/results/optimizers_lm_*.json)
DEFAULT_DAMPING = {"engd": 1e-10, "lm": 1e-3, "newton_cg": 1e-10, "lazy_newton": 1e-10}


@dataclasses.dataclass
class PINNOptions(AbstractOptions):
    """Options of the PINN solver (every one is also a CLI flag or ``--set key=value``)."""

    width: int = 32
    depth: int = 3
    hidden: str = ""  # hidden widths, e.g. "64,64,48,48" (overrides width and depth)
    activation: str = "tanh"
    points: int = 1024
    boundary_points: int = 256
    sampling: str = "sobol"
    resample_every: int = 20  # new points every 20 steps (0: never); measured in docs/solvers/pinn.md
    bc: str = "auto"
    optimizer: str = "adam+lm"
    steps: int = 2000
    lr: float = 1e-3
    lr_final: float = 1e-4
    engd_solver: str = "auto"
    engd_rcond: float = 1e-8  # pseudo-inverse cut-off of engd_solver=pinv
    damping: float = 0.0  # initial damping of engd/lm/newton_cg/lazy_newton; 0: each one's default (DEFAULT_DAMPING)
    kfac_damping: float = 1e-3
    stall_rtol: float = 0.6  # a second-order phase ends once its loss fell by less than this fraction ...
    stall_window: int = 100  # ... over this many steps (0: never); chosen in docs/solvers/pinn.md#the-stall-rule
    dtype: str = "float64"
    device: str = dataclasses.field(default_factory=default_device)  # cpu, cuda, cuda:N ($PHYSOPT_DEVICE, else cpu)
    seed: int = 0
    derivatives: str = "exact"
    error_every: int = 100
    target_error: float = 0.0
    checkpoint_every: int = 500
    diagnostics_every: int = 0
    jets: bool = True  # MLP jets for Gauss-Newton Jacobians and K-FAC (checked against the exact path)

    def hidden_widths(self) -> list[int]:
        """The hidden layer widths: ``hidden`` parsed, else ``depth`` times ``width``."""
        if not self.hidden.strip():
            return [self.width] * self.depth
        try:
            widths = [int(w) for w in self.hidden.replace(" ", "").split(",")]
        except ValueError:
            raise ConfigurationError(f"hidden={self.hidden!r}: give comma-separated layer widths, e.g. 64,64,48,48") from None
        if not widths or min(widths) < 1:
            raise ConfigurationError(f"hidden={self.hidden!r}: every layer width must be >= 1")
        return widths

    def validate(self):
        super().validate()
        self.check_choice("sampling", SAMPLING_METHODS)
        self.check_choice("bc", ("auto", "soft", "hard"))
        self.check_choice("dtype", tuple(DTYPES))
        self.check_choice("activation", tuple(ACTIVATIONS))
        self.check_choice("engd_solver", ENGD_SOLVERS)
        if not 0 < self.engd_rcond < 1:
            raise ConfigurationError(f"engd_rcond must be in (0, 1), got {self.engd_rcond}")
        if not self.damping >= 0 or not self.kfac_damping > 0:
            raise ConfigurationError(f"damping must be >= 0 (0: each optimizer's default) and kfac_damping positive, "
                                     f"got {self.damping}, {self.kfac_damping}")
        if not 0 <= self.stall_rtol < 1:
            raise ConfigurationError(f"stall_rtol must be in [0, 1) (a fraction of the loss), got {self.stall_rtol}")
        for name in ("points", "boundary_points"):
            self.check_range(name, 1)
        for name in ("width", "depth"):
            self.check_range(name, 1)
        self.hidden_widths()
        for name in ("steps", "resample_every", "error_every", "checkpoint_every", "seed", "diagnostics_every", "stall_window"):
            self.check_range(name, 0)
        if not self.lr > 0 or not self.lr_final > 0:
            raise ConfigurationError(f"lr and lr_final must be positive, got lr={self.lr}, lr_final={self.lr_final}")
        parse_schedule(self.optimizer, self.steps)
        get_derivative_mode(self.derivatives)
        check_device(self.device)


class _Batch:
    """Collocation points of one sampling round, as tensors."""

    def __init__(self):
        self.interior: torch.Tensor | None = None
        self.conditions: list[dict] = []


class PINN:
    """Physics-informed neural network solver.

    Args:
        problem: a :class:`problems.Problem` instance.
        options: :class:`PINNOptions` or keyword overrides of them.
    """

    name = "pinn"
    Options = PINNOptions

    def __init__(self, problem: Problem, options: PINNOptions | None = None, **overrides):
        if not isinstance(problem, Problem):
            raise ProblemDefinitionError(f"PINN needs a Problem instance, got {problem!r}")
        problem.validate()
        self.problem = problem
        self.options = dataclasses.replace(options or PINNOptions(), **overrides)
        self.options.validate()
        o = self.options
        self.dtype, self.device = DTYPES[o.dtype], torch.device(o.device)
        torch.manual_seed(o.seed)
        with torch.device("cpu"):  # the same initial weights on every device (drawn from the CPU generator)
            model = MLP(problem.n_coordinates, problem.n_unknowns, activation=o.activation, hidden=o.hidden_widths())
        self.model = model.to(dtype=self.dtype, device=self.device)
        # soft: every condition a penalty (a problem's own HardConstraint is set aside);
        # hard/auto: the problem's HardConstraint, else one built from its conditions
        self.hard = problem.hard_constraint() if o.bc != "soft" else None
        if self.hard is None and o.bc == "hard":
            self.hard = self._automatic_ansatz()
        elif self.hard is None and o.bc == "auto":
            try:  # exact boundary/initial values where an ansatz can be built, penalties otherwise
                self.hard = self._automatic_ansatz()
            except ConfigurationError:
                self.hard = None
        self.soft = problem.soft_conditions(self.hard)
        self.term_names = _term_names(self.soft)
        self.rng = np.random.default_rng(o.seed)
        self.batch = self.sample()

    # ----- the field ----------------------------------------------------------------
    def network_field(self, x):
        out = self.model(x)
        return out.squeeze(-1) if self.problem.n_unknowns == 1 else out  # squeeze: no scatter in the backward

    def field(self, x):
        """The solution at one point: the network, through the hard-constraint ansatz if any."""
        if self.hard is None:
            return self.network_field(x)
        return self.hard.ansatz(x, self.network_field(x))

    def _automatic_ansatz(self) -> HardConstraint:
        p = self.problem
        dirichlet = [c for c in p.conditions if c.kind == "dirichlet"]
        initial = [c for c in p.conditions if c.kind == "initial" and c.order == 0]
        if any(c.where is not None for c in dirichlet) or len(dirichlet) > 1:
            raise ConfigurationError(
                "--bc hard builds an ansatz for one Dirichlet condition on the whole boundary; this problem "
                "restricts it with `where`. Use --bc soft, or add a HardConstraint to the problem"
            )
        if not dirichlet and not initial:
            raise ConfigurationError(
                "--bc hard needs a Dirichlet condition on the whole boundary or an Initial condition; use --bc soft"
            )
        if dirichlet and not getattr(p.domain, "has_boundary_factor", True):
            raise ConfigurationError(
                f"--bc hard needs a boundary factor, which {type(p.domain).__name__} does not have; use --bc soft, "
                "or add a HardConstraint to the problem"
            )
        g = dirichlet[0].value if dirichlet else None
        u0 = initial[0].value if initial else None
        domain, time_interval = p.domain, p.time
        n = p.n_space

        def ansatz(x, net):
            space = x[:n]
            if u0 is None:
                return g(x) + domain.boundary_factor(space) * net
            t0 = time_interval.t0
            lag = (x[n] - t0) / time_interval.length
            if g is None:
                return u0(space) + lag * net
            x_at_t0 = torch.cat([space, torch.full_like(x[n:], t0)])
            return g(x) + u0(space) - g(x_at_t0) + lag * domain.boundary_factor(space) * net

        return HardConstraint(ansatz, replaces=tuple(dirichlet) + tuple(initial[:1]))

    def enforcement(self) -> list[dict[str, str]]:
        """How each of the problem's conditions is honoured: built into the ansatz, or a penalty term.

        One entry per condition: ``{"condition": repr, "enforced": how, "term": loss term or ""}``,
        ``how`` being ``"ansatz"`` (exact by construction), ``"penalty"`` (the loss term ``term``),
        or, for a problem's own ``HardConstraint``, ``"in use"`` / ``"set aside (bc=soft)"``.
        """
        terms = dict(zip(map(id, self.soft), self.term_names))
        out = []
        for c in self.problem.conditions:
            if isinstance(c, HardConstraint):
                enforced = "in use" if c is self.hard else "set aside (bc=soft)"
            else:
                enforced = "penalty" if id(c) in terms else "ansatz"
            out.append({"condition": repr(c), "enforced": enforced, "term": terms.get(id(c), "")})
        return out

    # ----- sampling -----------------------------------------------------------------
    def _tensor(self, array) -> torch.Tensor:
        return torch.as_tensor(np.asarray(array), dtype=self.dtype, device=self.device)

    def _space_time(self, n: int, n_unit_space: int, mapper) -> tuple[np.ndarray, ...]:
        p, o = self.problem, self.options
        unit = unit_cube_samples(n, n_unit_space + int(p.has_time), o.sampling, self.rng)
        mapped = mapper(unit[:, :n_unit_space])
        if not isinstance(mapped, tuple):
            mapped = (mapped,)
        if p.has_time:
            t = p.time.map(unit[:, n_unit_space:])
            mapped = (np.column_stack([mapped[0], t]),) + mapped[1:]
        return mapped

    def sample(self) -> _Batch:
        """Draw collocation points for the residual and each soft condition."""
        self._rng_before_batch = _encode_rng(self.rng)  # a checkpoint redraws this very batch
        p, o = self.problem, self.options
        d = p.domain
        batch = _Batch()
        batch.interior = self._tensor(self._space_time(o.points, d.n_unit_interior, d.map_interior)[0])
        for c in self.soft:
            entry = {"condition": c}
            if c.kind in ("dirichlet", "neumann"):
                points, normals = self._boundary_points(c)
                entry["points"], entry["normals"] = self._tensor(points), self._tensor(normals)
            elif c.kind == "initial":
                space = d.map_interior(unit_cube_samples(o.boundary_points, d.n_unit_interior, o.sampling, self.rng))
                entry["points"] = self._tensor(np.column_stack([space, np.full(len(space), p.time.t0)]))
            elif c.kind == "periodic":
                if not isinstance(d, Box):
                    raise ProblemDefinitionError(f"Periodic needs a Box domain, problem '{p.problem_name}' has {d!r}")
                others = [j for j in range(d.dim) if j != c.dim]

                def face(unit, c=c, others=others):
                    pts = np.empty((len(unit), d.dim))
                    pts[:, c.dim] = d.lo[c.dim]
                    for k, j in enumerate(others):
                        pts[:, j] = d.lo[j] + unit[:, k] * d.lengths[j]
                    return pts

                low = self._space_time(o.boundary_points, len(others), face)[0]
                high = low.copy()
                high[:, c.dim] = d.hi[c.dim]
                entry["points"], entry["partner"] = self._tensor(low), self._tensor(high)
            batch.conditions.append(entry)
        return batch

    def _boundary_points(self, c):
        p, o = self.problem, self.options
        d = p.domain
        want = o.boundary_points
        if c.where is None:
            return self._space_time(want, d.n_unit_boundary, d.map_boundary)
        where = c.where
        if isinstance(where, str):  # a tagged part of a MeshDomain's boundary
            if not getattr(d, "boundary_parts", None):
                raise ProblemDefinitionError(
                    f"{c!r}: where={where!r} names a tagged boundary part, but the domain {d!r} has no boundary tags; "
                    "tags come from a MeshDomain's boundary_tags or a gmsh file's physical groups; "
                    "otherwise give `where` a predicate"
                )
            try:
                where = d.boundary_part(where)
            except ConfigurationError as e:
                raise ProblemDefinitionError(f"{c!r}: {e}") from None
        points, normals = self._space_time(8 * want, d.n_unit_boundary, d.map_boundary)
        mask = np.asarray(where(points), dtype=bool).reshape(-1)
        if mask.shape[0] != points.shape[0]:
            raise ProblemDefinitionError(f"{c!r}: `where` must return one boolean per point, got shape {mask.shape}")
        if not mask.any():
            raise ProblemDefinitionError(
                f"{c!r}: `where` selects none of the boundary points; check the predicate "
                "(compare coordinates with np.isclose, not ==, when in doubt)"
            )
        return points[mask][:want], normals[mask][:want]

    # ----- loss ---------------------------------------------------------------------
    def _pointwise_terms(self) -> list[tuple[str, Callable, tuple[torch.Tensor, ...], float, int | None]]:
        """Every loss term as ``(name, fn(field, *point_args), point_args, scale, order)``.

        ``fn`` is the term's residual at one point (for periodicity: one pair of
        points); the term contributes ``scale**2 * sum_i |fn(field, *args_i)|**2``.
        ``order``: the highest derivative of the field the term takes, at its
        first point only (None: it looks elsewhere too) — what MLP jets must carry.
        """
        p = self.problem
        n = p.n_space
        terms = [("residual", lambda u, x: p.residual(u, x), (self.batch.interior,), 1 / math.sqrt(len(self.batch.interior)), 2)]
        for entry, key in zip(self.batch.conditions, self.term_names):
            c, x = entry["condition"], entry["points"]
            scale = math.sqrt(c.weight / len(x))
            if c.kind == "dirichlet":
                terms.append((key, lambda u, y, c=c: u(y) - c.value(y), (x,), scale, 0))
            elif c.kind == "neumann":
                def flux(u, y, normal, c=c):
                    grad_u = torch.stack([partial(u, i)(y) for i in range(n)], -1)
                    return (grad_u * normal).sum(-1) - c.value(y)

                terms.append((key, flux, (x, entry["normals"]), scale, 1))
            elif c.kind == "initial":
                def initial(u, y, c=c):
                    f = u if c.order == 0 else time_derivative(u, c.order)
                    return f(y) - c.value(y[:n])

                terms.append((key, initial, (x,), scale, c.order if c.order <= 2 else None))
            elif c.kind == "periodic":
                def jump(u, y, z, c=c):
                    d = (u(y) - u(z)).reshape(-1)
                    if c.derivative:
                        du = partial(u, c.dim)
                        d = torch.cat([d, (du(y) - du(z)).reshape(-1)])
                    return d

                terms.append((key, jump, (x, entry["partner"]), scale, None))
            else:
                raise ProblemDefinitionError(f"no loss for condition kind '{c.kind}'")
        return terms

    def residual_terms(self, field=None) -> dict[str, torch.Tensor]:
        r"""Scaled residuals :math:`\sqrt{w_t/N_t}\, b_t` of every term, flattened; the loss is their squared norm."""
        field = field or self.field
        with self.problem.layout(), derivative_mode(self.options.derivatives):
            return {
                name: vmap(lambda *a, fn=fn: fn(field, *a))(*args).reshape(-1) * scale
                for name, fn, args, scale, _ in self._pointwise_terms()
            }

    def loss(self) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Total loss and its terms on the current collocation points."""
        residuals = self.residual_terms()
        terms = {k: r @ r for k, r in residuals.items()}
        # remembered for Gauss-Newton methods, which need r at these parameters right after this call
        theta = torch.cat([p.detach().reshape(-1) for p in self.model.parameters()])
        self._residual_value = (theta, self.batch, torch.cat(list(residuals.values())).detach())
        return sum(terms.values()), terms

    def field_at(self, flat: FlatParameters, theta: torch.Tensor):
        """The pointwise field with the network's parameters set to the flat vector ``theta``."""
        single = self.problem.n_unknowns == 1

        def net(x):
            out = flat.call(theta, x)
            return out.squeeze(-1) if single else out

        return net if self.hard is None else (lambda x: self.hard.ansatz(x, net(x)))

    def least_squares(self) -> LeastSquaresObjective:
        r"""The loss as :math:`\|r(\theta)\|^2` over the flat parameter vector (for Gauss–Newton methods).

        For an MLP with two or more hidden layers, the Jacobian comes from the
        network's jets, one backward pass through the layer copies
        (:mod:`solvers._pinn_jets`; K-FAC factors too, for any MLP). Otherwise, or for terms
        without a jet form, the Jacobian is formed term by term from per-point
        parameter gradients (``vmap`` over points of ``jacrev`` in θ): linear in
        the number of points, where ``jacrev`` of the whole vmapped residual
        would be quadratic.
        """
        flat = FlatParameters(self.model)
        jets = jets_for(self, flat, flat.vector()) if self.options.jets else None

        def residual(theta):
            return torch.cat(list(self.residual_terms(self.field_at(flat, theta)).values()))

        def jacobian(theta):
            blocks = []
            with self.problem.layout(), derivative_mode(self.options.derivatives):
                for _, fn, args, scale, _ in self._pointwise_terms():
                    point_grad = jacrev(lambda th, *a, fn=fn: fn(self.field_at(flat, th), *a))
                    J = vmap(point_grad, in_dims=(None,) + (0,) * len(args))(theta, *args)
                    blocks.append(J.reshape(-1, theta.numel()) * scale)
            return torch.cat(blocks)

        # measured (benchmarks/curvature.py, PINN Jacobian): the jet Jacobian is 1.9-2.9x faster from two
        # hidden layers on, 0.64x for one; residual values are cheaper on the exact path
        deep = len(jets.structure.linear) >= 3 if jets is not None else False
        def value(theta):
            theta_seen, batch, r = getattr(self, "_residual_value", (None, None, None))
            if batch is self.batch and theta_seen is not None and torch.equal(theta_seen, theta):
                return r
            return residual(theta)

        return LeastSquaresObjective(
            flat, residual, lambda theta: self.residual_terms(self.field_at(flat, theta)),
            jets.jacobian if deep else jacobian, jets.kronecker if jets is not None else None, value,
        )

    # ----- solve --------------------------------------------------------------------
    def optimizer_options(self, name: str, steps: int) -> dict:
        o = self.options
        damping = o.damping or DEFAULT_DAMPING.get(name)
        if name == "adam":
            return {"lr": o.lr, "lr_final": o.lr_final, "steps": steps}
        if name == "engd":
            return {"objective": self.least_squares(), "solver": o.engd_solver, "damping": damping, "rcond": o.engd_rcond}
        if name == "lm":
            return {"objective": self.least_squares(), "solver": o.engd_solver, "damping": damping}
        if name == "kfac":
            return {"objective": self.least_squares(), "damping": o.kfac_damping}
        if name in ("newton_cg", "lazy_newton"):
            return {"objective": self.least_squares(), "damping": damping}
        if name in ("multiadam", "adahessian", "sophia"):
            return {"objective": self.least_squares(), "lr": o.lr, "lr_final": o.lr_final, "steps": steps}
        return {}

    def make_state(self, checkpoint: dict | None = None) -> TrainingState:
        phases = parse_schedule(self.options.optimizer, self.options.steps)
        state = TrainingState(self.model, phases)
        if checkpoint is not None:
            self.model.load_state_dict(checkpoint["model"])
            saved = [tuple(x) for x in checkpoint["phases"]]
            if saved != [tuple(x) for x in phases]:
                raise ConfigurationError(
                    f"cannot resume: the checkpoint's optimizer schedule {saved} differs from the requested {phases}"
                )
            state.step, state.phase_index = int(checkpoint["step"]), int(checkpoint["phase_index"])
            state.phase_start = int(checkpoint.get("phase_start", state.step))
            state.notes = list(checkpoint.get("notes", []))
            state.optimizer_state, state.elapsed = checkpoint["optimizer"], float(checkpoint["elapsed"])
            rng_state = checkpoint.get("numpy_rng")
            if rng_state is not None:  # redraw the batch the checkpointed run was training on
                self.rng.bit_generator.state = _decode_rng(rng_state)
                self.batch = self.sample()
        return state

    def solve(self, callbacks: list[Callback] = (), checkpoint_path=None, checkpoint: dict | None = None) -> Solution:
        """Train and return the :class:`Solution`.

        Args:
            callbacks: extra callbacks (progress bar, metrics writer, ...).
            checkpoint_path: where to save checkpoints (none if ``None``).
            checkpoint: a loaded checkpoint to resume from.
        """
        o = self.options
        state = self.make_state(checkpoint)
        cbs = [NaNGuard()]
        if o.diagnostics_every:  # before the metrics writer, which then records the values
            cbs.append(CurvatureMonitor(self.least_squares, o.diagnostics_every))
        cbs += list(callbacks)
        if o.target_error > 0:
            cbs.append(TargetError(o.target_error))
        if checkpoint_path is not None:
            cbs.append(Checkpointer(checkpoint_path, o.checkpoint_every, extra=lambda: {"numpy_rng": self._rng_before_batch}))

        def before_step(step):
            if o.resample_every and step > 0 and step % o.resample_every == 0:
                self.batch = self.sample()

        error_fn = error_function(self.problem, self.field, self.dtype, self.device)
        train(state, self.loss, self.optimizer_options, cbs, error_fn, o.error_every, before_step,
              StallRule(o.stall_rtol, o.stall_window))
        info = {"steps": state.step, "stop_reason": state.stop_reason, "train_time_s": state.elapsed}
        info["final_loss"] = float(self.loss()[0].detach())  # at the final parameters
        return Solution(self.problem, self.model, self.field, info)


def _term_names(conditions) -> list[str]:
    """Loss-term names of penalty conditions: the kind (``initial_dt``/``initial_dt2`` for a rate), then ``_2``, ``_3``, …."""
    names, counts = [], {}
    for c in conditions:
        base = c.kind if c.kind != "initial" or c.order == 0 else "initial_dt" + ("" if c.order == 1 else str(c.order))
        counts[base] = counts.get(base, 0) + 1
        names.append(base if counts[base] == 1 else f"{base}_{counts[base]}")
    return names


def _encode_rng(rng: np.random.Generator) -> dict:
    s = rng.bit_generator.state
    return {"bit_generator": s["bit_generator"], "state": str(s["state"]["state"]), "inc": str(s["state"]["inc"]),
            "has_uint32": s["has_uint32"], "uinteger": s["uinteger"]}


def _decode_rng(d: dict) -> dict:
    return {"bit_generator": d["bit_generator"], "state": {"state": int(d["state"]), "inc": int(d["inc"])},
            "has_uint32": d["has_uint32"], "uinteger": d["uinteger"]}
