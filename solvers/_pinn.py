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
from torch.func import vmap

from physopt import (
    MLP,
    OPTIMIZERS,
    NetworkField,
    ConfigurationError,
    EnrichedNetwork,
    StallRule,
    derivative_mode,
    get_derivative_mode,
    parse_embedding,
    parse_schedule,
)
from physopt.curvature import FlatParameters, MLPStructure, per_point_jacobian
from physopt.optim import LeastSquaresObjective
from problems._corners import corner_enrichment
from problems import HardConstraint, Problem, UnknownParameters, automatic_ansatz, term_names

from ._base import AbstractSolver, register_solver
from ._best_model import KeepBest
from ._pinn_collocation import CollocationSampling, _decode_rng, _encode_rng
from ._pinn_options import PINNOptions
from ._pinn_jets import jets_for
from ._solution import Solution, error_function
from ._uncertainty import identified_unknowns
from ._training import (
    Callback,
    Checkpointer,
    CurvatureMonitor,
    NaNGuard,
    TargetError,
    TrainingState,
    check_data_parallel,
    train,
)

__all__ = ["PINN", "PINNOptions"]

DTYPES = {"float32": torch.float32, "float64": torch.float64}


@register_solver("pinn")
class PINN(CollocationSampling, AbstractSolver):
    """Physics-informed neural network solver.

    Args:
        problem: a :class:`problems.Problem` instance.
        options: :class:`PINNOptions` or keyword overrides of them.
    """

    Options = PINNOptions
    single_process_reason = ""  # data-parallel: each rank its shard of every term's points
    tiny_options = {"points": 64, "boundary_points": 16, "width": 8, "depth": 1, "steps": 10, "optimizer": "adam"}

    def __init__(self, problem: Problem, options: PINNOptions | None = None, **overrides):
        super().__init__(problem, options, **overrides)
        o = self.options
        self.dtype, self.device = DTYPES[o.dtype], torch.device(o.device)
        self.mode = get_derivative_mode(o.derivatives, o)  # one instance: a stochastic mode keeps its samples here
        torch.manual_seed(o.seed)
        with torch.device("cpu"):  # the same initial weights on every device (drawn from the CPU generator)
            embedding = parse_embedding(o.embedding, problem.n_coordinates, problem.periods(),
                                        torch.Generator().manual_seed(o.seed))
            model = MLP(problem.n_coordinates, problem.n_unknowns, activation=o.activation, hidden=o.hidden_widths(),
                        embedding=embedding)
        enrichment = corner_enrichment(o.enrichment, problem.domain, problem.n_coordinates)
        if enrichment is not None:  # u = N + Σ γ_k S_k: the corners' singular functions, their factors trained
            model = EnrichedNetwork(model, enrichment, problem.n_unknowns)
        self.unknown_specs = problem.unknown_specs()
        if self.unknown_specs:  # an inverse problem: its unknown scalars train with the network (model.unknowns)
            model.unknowns = UnknownParameters(self.unknown_specs, problem.n_coordinates)
        self.model = model.to(dtype=self.dtype, device=self.device)
        # the layer chain Taylor/STDE modes push collapsed jets through (None: an enriched network, generic paths)
        self._structure = MLPStructure(self.model) if enrichment is None else None
        # soft: every condition a penalty (a problem's own HardConstraint is set aside);
        # hard/auto: the problem's HardConstraint, else one built from its conditions
        # (an enrichment's functions are not zero on the boundary: penalties only, bc=hard is refused by the options)
        bc = "soft" if enrichment is not None else o.bc
        self.hard = problem.hard_constraint() if bc != "soft" else None
        if self.hard is None and bc == "hard":
            self.hard = automatic_ansatz(problem)
        elif self.hard is None and bc == "auto":
            try:  # exact boundary/initial values where an ansatz can be built, penalties otherwise
                self.hard = automatic_ansatz(problem)
            except ConfigurationError:
                self.hard = None
        self.soft = problem.soft_conditions(self.hard)
        self.term_names = term_names(self.soft)
        check_data_parallel(parse_schedule(o.optimizer, o.steps), self.ranks)
        if self.ranks.sharded and o.diagnostics_every:
            raise ConfigurationError("diagnostics_every is not available on several processes (its spectra are not "
                                     "reduced over the ranks); drop it, or run with --nproc 1")
        self.rng = np.random.default_rng(o.seed)
        self.generator = torch.Generator(self.device).manual_seed(o.seed)  # domains that draw points on the device
        self.batch = self.sample()
        self._compiled_loss = None

    # ----- the field ----------------------------------------------------------------
    @property
    def field(self) -> NetworkField:
        """The solution at one point: the network, through the hard-constraint ansatz if any.

        A :class:`physopt.NetworkField`, so Taylor and STDE modes take the MLP's collapsed jets.
        """
        return self._network_field(self.model, dict(self.model.named_parameters()))

    def _network_field(self, call, params) -> NetworkField:
        # squeeze: no scatter in the backward
        return NetworkField(call, self._structure, params, None if self.hard is None else self.hard.ansatz,
                            squeeze=self.problem.n_unknowns == 1, scale=self.options.output_scale)

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

    # ----- loss ---------------------------------------------------------------------
    def _pointwise_terms(self) -> list[tuple[str, Callable, tuple[torch.Tensor, ...], float, int | None]]:
        """Every loss term as ``(name, fn(field, *point_args), point_args, scale, order)``.

        ``fn`` is the term's residual at one point (for periodicity: one pair of
        points); the term contributes ``scale**2 * sum_i |fn(field, *args_i)|**2``.
        ``order``: the highest derivative of the field the term takes, at its
        first point only (None: it looks elsewhere too) — what MLP jets must carry.
        """
        p = self.problem
        keys, data = tuple(self.batch.interior_data), tuple(self.batch.interior_data.values())

        def residual(u, x, *values):  # the problem's point_data, row by row, as keyword arguments
            return p.residual(u, x, **dict(zip(keys, values)))

        # scaled by the term's point count over all ranks: the ranks' losses add up to one process's
        terms = [("residual", residual, (self.batch.interior, *data),
                  math.sqrt(self.options.residual_weight / self.batch.interior_count), 2)]
        for entry, key, count in zip(self.batch.conditions, self.term_names, self.batch.condition_counts):
            c = entry["condition"]
            args = tuple(v for k, v in entry.items() if k != "condition")  # the sampled arrays, in their order
            terms.append((key, c.residual, args, math.sqrt(c.weight / count), c.derivative_order))
        if self.unknown_specs:  # every term sees the unknowns of the parameters it is evaluated at
            terms = [(name, self._with_unknowns(fn), args, scale, order) for name, fn, args, scale, order in terms]
        return terms

    def unknown_values(self, field=None) -> dict[str, torch.Tensor]:
        """The problem's unknown scalars at the field's parameters (default: the model's), ``{name: value}``."""
        params = getattr(field, "params", None)
        if params is None:
            return self.model.unknowns.values()
        return self.model.unknowns.values(params, prefix="unknowns.")

    def _with_unknowns(self, fn):
        def term(field, *args):
            with self.problem.bound_unknowns(self.unknown_values(field)):
                return fn(field, *args)
        return term

    def residual_terms(self, field=None) -> dict[str, torch.Tensor]:
        r"""Scaled residuals :math:`\sqrt{w_t/N_t}\, b_t` of every term, flattened; the loss is their squared norm."""
        field = field or self.field
        with self.problem.layout(), derivative_mode(self.mode):
            return {
                name: vmap(lambda *a, fn=fn: fn(field, *a), randomness=self.mode.randomness)(*args).reshape(-1) * scale
                for name, fn, args, scale, _ in self._pointwise_terms()
            }

    def loss(self) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Total loss and its terms on the current collocation points (``compile``: through ``torch.compile``).

        On several ranks: this rank's part of them (the training loop sums the ranks' values and gradients).
        """
        if self.options.compile == "off":
            return self._loss()
        if self._compiled_loss is None:  # one graph: the batch and the STDE directions are its inputs, not constants
            self._compiled_loss = torch.compile(self._loss, mode=self.options.compile)
        return self._compiled_loss()

    def _loss(self) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        residuals = second = self.residual_terms()
        if self.mode.stochastic and self.options.stde_loss == "unbiased":  # E[r1 r2] = r^2 for independent estimates
            with self.mode.independent():
                second = self.residual_terms()
        terms = {k: r @ second[k] for k, r in residuals.items()}
        # remembered for Gauss-Newton methods, which need r at these parameters right after this call
        theta = torch.cat([p.detach().reshape(-1) for p in self.model.parameters()])
        self._residual_value = (theta, self.batch, torch.cat(list(residuals.values())).detach())
        return sum(terms.values()), terms

    def field_at(self, flat: FlatParameters, theta: torch.Tensor) -> NetworkField:
        """The pointwise field with the network's parameters set to the flat vector ``theta``."""
        return self._network_field(lambda x: flat.call(theta, x), flat.unflatten(theta))

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
            with self.problem.layout(), derivative_mode(self.mode):
                return torch.cat([
                    per_point_jacobian(lambda th, *a, fn=fn: fn(self.field_at(flat, th), *a), theta, *args, scale=scale)
                    .reshape(-1, theta.numel()) for _, fn, args, scale, _ in self._pointwise_terms()
                ])

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
            jets.jacobian if deep else jacobian, jets.kronecker if jets is not None else None, value, self.ranks,
        )

    # ----- solve --------------------------------------------------------------------
    def optimizer_options(self, name: str, steps: int) -> dict:
        """Constructor arguments of optimizer ``name`` for a phase of ``steps`` steps: the options it declares,
        and :meth:`least_squares` if it needs more than the loss closure (:meth:`AbstractOptimizer.arguments`)."""
        return OPTIMIZERS.get(name).arguments(self, self.options, steps)

    def make_state(self, checkpoint: dict | None = None) -> TrainingState:
        phases = parse_schedule(self.options.optimizer, self.options.steps)
        state = TrainingState(self.model, phases, ranks=self.ranks)
        if checkpoint is not None:
            saved = [tuple(x) for x in checkpoint["phases"]]
            if saved != [tuple(x) for x in phases]:
                raise ConfigurationError(
                    f"cannot resume: the checkpoint's optimizer schedule {saved} differs from the requested {phases}"
                )
            state.load(checkpoint)
            rng_state = checkpoint.get("numpy_rng")
            if rng_state is not None:  # redraw the batch the checkpointed run was training on
                if "numpy" not in rng_state:  # saved before points were also drawn on the device
                    rng_state = {"numpy": rng_state}
                self.rng.bit_generator.state = _decode_rng(rng_state["numpy"])
                if "torch" in rng_state:
                    self.generator.set_state(rng_state["torch"].cpu())
                self.batch = self.sample()
            if self.mode.stochastic and "stde_rng" in checkpoint:  # the directions continue as they would have
                self.mode.rng.bit_generator.state = _decode_rng(checkpoint["stde_rng"])
        return state

    def _checkpoint_extra(self) -> dict:
        extra = {"numpy_rng": self._rng_before_batch}
        if self.mode.stochastic:
            extra["stde_rng"] = _encode_rng(self.mode.rng)
        return extra

    def solve(self, callbacks: list[Callback] = (), checkpoint_path=None, checkpoint: dict | None = None) -> Solution:
        """Train and return the :class:`Solution`.

        Args:
            callbacks: extra callbacks (progress bar, metrics writer, ...).
            checkpoint_path: where to save checkpoints (none if ``None``).
            checkpoint: a loaded checkpoint to resume from.
        """
        o = self.options
        if checkpoint is None and o.curriculum_stages() is not None:
            self.warm_start()
        state = self.make_state(checkpoint)
        cbs = [NaNGuard()]
        if o.diagnostics_every:  # before the metrics writer, which then records the values
            cbs.append(CurvatureMonitor(self.least_squares, o.diagnostics_every))
        cbs += list(callbacks)
        if o.target_error > 0:
            cbs.append(TargetError(o.target_error))
        if checkpoint_path is not None:
            cbs.append(Checkpointer(checkpoint_path, o.checkpoint_every, extra=self._checkpoint_extra))
        best = None
        if o.test_points or o.keep_best != "off":  # before the metrics writer, which then records test_loss
            best = KeepBest(self.model, o.keep_best, o.error_every, self.test_loss if o.test_points else None)
            cbs.insert(1, best)

        def before_step(step):
            self.mode.resample()  # a stochastic mode's fresh directions for this step
            if o.resample_every and step > 0 and step % o.resample_every == 0:
                self.batch = self.sample()

        error_fn = error_function(self.problem, self.field, self.dtype, self.device)
        train(state, self.loss, self.optimizer_options, cbs, error_fn, o.error_every, before_step,
              StallRule(o.stall_rtol, o.stall_window))
        restored = best.restore() if best is not None else ""
        info = {"steps": state.step, "train_time_s": state.elapsed,
                "stop_reason": f"{state.stop_reason}; {restored}" if restored else state.stop_reason}
        if getattr(self, "curriculum_results", None):
            info["curriculum"] = self.curriculum_results
        info["final_loss"] = float(self.ranks.sum(self.loss()[0].detach()))  # at the final parameters, all ranks
        if self.unknown_specs:
            info["unknowns"] = self.identified_unknowns()
        return Solution(self.problem, self.model, self.field, info)


    def test_loss(self) -> float:
        """The loss on the held-out points (``test_points``, drawn once with seed + 1), summed over the ranks."""
        if getattr(self, "_test_batch", None) is None:
            saved = (self.options, self.rng, self.generator, self._rng_before_batch, self.batch)
            try:
                self.options = dataclasses.replace(self.options, points=self.options.test_points)
                self.rng = np.random.default_rng(self.options.seed + 1)
                self.generator = torch.Generator(self.device).manual_seed(self.options.seed + 1)
                self._test_batch = self.sample()
            finally:
                self.options, self.rng, self.generator, self._rng_before_batch, self.batch = saved
        training, self.batch = self.batch, self._test_batch
        try:
            with torch.no_grad():  # derivatives in x still work: torch.func transforms ignore an outer no_grad
                return float(self.ranks.sum(self.loss()[0].detach()))
        finally:
            self.batch = training

    def identified_unknowns(self) -> dict[str, dict[str, float]]:
        """Each unknown's value, standard error and 95 % interval (:func:`solvers._uncertainty.identified_unknowns`)."""
        return identified_unknowns(self)

    def warm_start(self) -> list[dict]:
        """The curriculum: train on the problem with the easier parameter values first, each stage starting from
        the last one's weights (checkpoints and resuming cover the final run only). Returns each stage's errors."""
        name, values = self.options.curriculum_stages()
        p = self.problem
        if name not in p.parameters:
            raise ConfigurationError(f"curriculum: problem '{p.problem_name}' has no parameter {name!r}; its parameters "
                                     f"are: {', '.join(p.parameters) or 'none'}")
        stages = []
        for value in values:
            stage = PINN(type(p)(**{**p.params, name: value}), self.options, curriculum="",
                         steps=self.options.curriculum_steps, checkpoint_every=0)
            stage.model.load_state_dict(self.model.state_dict())
            solution = stage.solve()  # the run's callbacks (metrics, progress) see the final run only
            self.model.load_state_dict(stage.model.state_dict())
            stages.append({name: value, "steps": solution.info["steps"], **(solution.errors() or {})})
        self.curriculum_results = stages
        return stages

