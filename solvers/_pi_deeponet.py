r"""Physics-informed DeepONet (Wang, Wang & Perdikaris, Sci. Adv. 2021): trained by the family's own residual.

The network is the DeepONet's (:mod:`solvers._deeponet`). For a minibatch of B input
functions and P fresh points :math:`y_j` of the solution's domain, the loss is

.. math::
    \frac{1}{BP}\sum_{i,j} \mathcal{R}[\hat s_i, u_i](y_j)^2
    + \sum_{c} \frac{1}{BQ_c}\sum_{i,q} \big(\hat s_i(y_q) - g_c\big)^2
    + w_d\, \mathcal{L}_{\text{data}},

with :math:`\mathcal{R}` the family's :meth:`residual` — written pointwise with
``physopt`` operators — and :math:`g_c` its initial/boundary values; the data term
(relative L2 against solved draws) is off by default (:math:`w_d = 0`: no paired data).

**Batched over functions without a loop.** Derivatives in y act on the trunk only,
and :math:`\hat s_i(y) = b_i\cdot t(y)` is linear in the branch features, so the
residual is evaluated on *one* field of the point, :math:`y \mapsto (\hat s_1(y),
\dots, \hat s_B(y))`, vmapped over the P points: the trunk's derivatives are
taken once per point for all B functions (DeepXDE loops over functions in Python).
The inputs' values at the points come from cubic-spline interpolation of the
sensors (:meth:`problems.AbstractProblemFamily.input_interpolation`).

The loss is also a least-squares objective :math:`\|r(\theta)\|^2`
(:meth:`PIDeepONet.least_squares`), so the core's Gauss–Newton methods (``lm``,
``engd``, ...) train it too.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch
from torch.func import functional_call, vmap

from physopt import ConfigurationError
from physopt.curvature import FlatParameters, per_point_jacobian
from physopt.optim import LeastSquaresObjective

from ._base import register_solver
from ._deeponet import AbstractDeepONetOptions, AbstractDeepONetSolver
from ._operator import EpochBatches, OperatorSolution, load_data, relative_l2_loss
from ._options import option

__all__ = ["PIDeepONet", "PIDeepONetOptions"]


@dataclasses.dataclass
class PIDeepONetOptions(AbstractDeepONetOptions):
    """Options of the physics-informed DeepONet (every one is also a CLI flag or ``--set key=value``)."""

    steps: int = option(20000, "optimizer steps (one minibatch of functions and fresh points each)")
    points: int = option(100, "residual points per step (shared by the batch's functions, drawn afresh every step)")
    constraint_points: int = option(100, "points per initial/boundary condition per step")
    data_weight: float = option(0.0, "weight of the relative-L2 data term on solved draws (0: no paired data)")

    def validate(self):
        super().validate()
        for name in ("steps", "points", "constraint_points"):
            self.check_range(name, 1 if name != "steps" else 0)
        if not self.data_weight >= 0:
            raise ConfigurationError(f"data_weight must be >= 0, got {self.data_weight}")
        self.check_training(steps=self.steps)


@register_solver("pi_deeponet")
class PIDeepONet(AbstractDeepONetSolver):
    """Physics-informed DeepONet: trained by the family's PDE residual, with no (or optional) paired data."""

    Options = PIDeepONetOptions
    single_process_reason = ("its residual terms are normalised by the batch's function and point counts, and sharding "
                             "them is not done yet")
    tiny_options = {"latent": 8, "branch_width": 8, "trunk_width": 8, "steps": 4, "train": 20, "test": 5,
                    "batch_size": 10, "resolution": 16, "points": 16, "constraint_points": 8}

    def __init__(self, problem, options=None, **overrides):
        super().__init__(problem, options, **overrides)
        if not self.problem.has_physics:
            raise ConfigurationError(f"pi_deeponet needs a residual: problem family '{self.problem.problem_name}' has none "
                                     "(train it from data with --solver deeponet or fno)")
        self.batch = None

    # ----- one step's batch ----------------------------------------------------------------
    def draw_batch(self, step: int) -> None:
        """The functions of this step and fresh residual/constraint points (seeded by ``seed`` and ``step``)."""
        f, o = self.problem, self.options
        rng = np.random.default_rng([o.seed, step])
        index = self.batches(step)
        u = self.inputs[index]
        y = f.residual_points(rng, o.points)
        batch = {"index": index, "u": u, "y": self.tensor(y),
                 "u_y": u @ self.tensor(f.input_interpolation(y, self.resolution)).T}
        batch["constraints"] = {name: (self.tensor(pts), u @ self.tensor(f.input_interpolation(pts, self.resolution)).T)
                                for name, pts in f.constraint_points(rng, o.constraint_points).items()}
        self.batch = batch

    # ----- the loss, as named residual vectors --------------------------------------------------
    def residuals(self, params: dict | None = None) -> dict[str, torch.Tensor]:
        """Scaled residual vectors ``{term: r}`` with ``loss = Σ ||r||²`` (``params``: a functional parameter set)."""
        f, b = self.problem, self.batch

        def part(name, *args):
            module = getattr(self.model, name)
            if params is None:
                return module(*args)
            prefix = name + "."
            return functional_call(module, {k[len(prefix):]: v for k, v in params.items() if k.startswith(prefix)}, args)

        bias = self.model.bias if params is None else params["bias"]
        latent = self.model.latent
        branch = part("branch", b["u"]).reshape(len(b["u"]), latent)

        def trunk(y):
            return self.model.trunk_activation(part("trunk", y))

        def s(y):  # all B functions at one point
            return branch @ trunk(y) + bias[0]

        r = vmap(lambda y, u_y: f.residual(s, y, u_y), in_dims=(0, 1))(b["y"], b["u_y"])
        out = {"residual": r.reshape(-1) / math.sqrt(r.numel())}
        for name, (points, u_at) in b["constraints"].items():
            values = trunk(points) @ branch.T + bias[0]  # (Q, B)
            c = values.T - f.constraint_values(name, points, u_at)
            out[name] = c.reshape(-1) / math.sqrt(c.numel())
        return out

    def loss(self) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        terms = {name: r.square().sum() for name, r in self.residuals().items()}
        if self.options.data_weight > 0:
            index = self.batch["index"]
            terms["data"] = self.options.data_weight * relative_l2_loss(
                self.model(self.batch["u"], self.points_out)[..., 0], self.outputs[index])
        return sum(terms.values()), terms

    def least_squares(self) -> LeastSquaresObjective:
        r"""The physics loss as :math:`\|r(\theta)\|^2` over the flat parameters (Gauss–Newton methods).

        The Jacobian is formed per (function, point) pair (``vmap`` of ``jacrev`` over the pairs: linear in
        their number; ``jacrev`` of the whole batched residual would redo the batch for every row).
        """
        if self.options.data_weight > 0:
            raise ConfigurationError("pi_deeponet: second-order optimizers take the physics terms only; set data_weight=0")
        flat, f, model = FlatParameters(self.model), self.problem, self.model

        def residual(theta):
            return torch.cat(list(self.residuals(flat.unflatten(theta)).values()))

        def sub(params, name):
            return {k[len(name) + 1:]: v for k, v in params.items() if k.startswith(name + ".")}

        def one_function(theta, u):  # the field of one function u (m,), a scalar of a point
            params = flat.unflatten(theta)
            branch = functional_call(model.branch, sub(params, "branch"), (u,))
            trunk = sub(params, "trunk")
            return lambda y: (branch * model.trunk_activation(functional_call(model.trunk, trunk, (y,)))).sum()[None] \
                + params["bias"]

        def pair_residual(theta, u, y, u_y):
            return f.residual(one_function(theta, u), y, u_y[None])[0]

        def pair_value(theta, u, y):
            return one_function(theta, u)(y)[0]

        def jacobian(theta):
            b = self.batch
            n_f, n_p = len(b["u"]), len(b["y"])  # residual order: point-major (vmap over points of B functions)
            u, y = b["u"].repeat(n_p, 1), b["y"].repeat_interleave(n_f, 0)
            rows = [per_point_jacobian(pair_residual, theta, u, y, b["u_y"].T.reshape(-1), scale=(n_f * n_p) ** -0.5)]
            for points, _ in b["constraints"].values():  # function-major
                q = len(points)
                rows.append(per_point_jacobian(pair_value, theta, b["u"].repeat_interleave(q, 0), points.repeat(n_f, 1),
                                               scale=(n_f * q) ** -0.5))
            return torch.cat(rows)

        return LeastSquaresObjective(flat, residual, lambda theta: self.residuals(flat.unflatten(theta)),
                                     jacobian_fn=jacobian)

    def solve(self, callbacks=(), checkpoint_path=None, checkpoint: dict | None = None) -> OperatorSolution:
        o = self.options
        self.data = load_data(self.problem, o)
        self.inputs = self.tensor(self.data.train_inputs).reshape(self.data.train, -1)
        if o.data_weight > 0:
            self.outputs = self.tensor(self.data.train_outputs).reshape(self.data.train, -1)
            self.points_out = self.tensor(self.problem.output_points(self.resolution))
        self.batches = EpochBatches(self.data.train, o.batch_size, o.seed, self.device)
        return self.run(o.steps, self.loss, self.draw_batch, callbacks, checkpoint_path, checkpoint)
