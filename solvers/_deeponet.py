r"""DeepONet: the operator as branch × trunk (Lu et al., Nat. Mach. Intell. 2021), trained on solved draws.

For an input function u sampled at the m sensors of the family's grid and a point
y of the solution's domain,

.. math:: \hat s(u)(y) = \sum_{k=1}^{p} b_k(u(x_1), \dots, u(x_m))\, t_k(y) + b_0 ,

with the branch network b: R^m → R^p and the trunk network t: R^k → R^p (its
output activated, as in DeepXDE). *Unstacked* (one branch network), in the
*Cartesian-product* form: the branch runs once per function, the trunk once per
query point, and one matmul gives every function at every point —
``einsum("bp,np->bn")``, no per-pair evaluation. Several outputs split the p
features into groups (one group per output).

New inputs at another resolution are interpolated onto the training sensors
(cubic spline) and answered on the output grid of their resolution.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from physopt import ACTIVATIONS, MLP, OPTIMIZERS, parse_embedding
from problems import AbstractProblemFamily

from ._base import AbstractSolver, register_solver
from ._operator import (
    DTYPES,
    AbstractOperatorOptions,
    EpochBatches,
    OperatorSolution,
    data_loss,
    load_data,
    relative_l2_loss,
    train_operator,
)
from ._options import option

__all__ = ["DeepONet", "DeepONetOptions", "AbstractDeepONetOptions", "DeepONetNetwork"]


class DeepONetNetwork(torch.nn.Module):
    """Branch R^m → R^{p·outputs}, trunk R^k → R^{p·outputs}; ``forward(u (B, m), y (N, k)) -> (B, N, outputs)``."""

    def __init__(self, sensors: int, coordinates: int, latent: int = 40, outputs: int = 1, branch_width: int = 40,
                 branch_depth: int = 2, trunk_width: int = 40, trunk_depth: int = 2, activation: str = "tanh",
                 trunk_embedding=None):
        super().__init__()
        self.latent, self.outputs = latent, outputs
        self.branch = MLP(sensors, latent * outputs, width=branch_width, depth=branch_depth, activation=activation)
        self.trunk = MLP(coordinates, latent * outputs, width=trunk_width, depth=trunk_depth, activation=activation,
                         embedding=trunk_embedding)
        self.trunk_activation = ACTIVATIONS[activation]()
        self.bias = torch.nn.Parameter(torch.zeros(outputs))

    def branch_features(self, u: torch.Tensor) -> torch.Tensor:
        """``(B, outputs, p)``."""
        return self.branch(u).reshape(u.shape[0], self.outputs, self.latent)

    def trunk_features(self, y: torch.Tensor) -> torch.Tensor:
        """``(..., outputs, p)`` at one point ``(k,)`` or a batch ``(N, k)``."""
        return self.trunk_activation(self.trunk(y)).reshape(*y.shape[:-1], self.outputs, self.latent)

    def combine(self, branch: torch.Tensor, trunk: torch.Tensor) -> torch.Tensor:
        """``(B, o, p)`` × ``(N, o, p)`` → ``(B, N, o)``: every function at every point, one matmul per output."""
        return torch.einsum("bop,nop->bno", branch, trunk) + self.bias

    def forward(self, u: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.combine(self.branch_features(u), self.trunk_features(y))


@dataclasses.dataclass
class AbstractDeepONetOptions(AbstractOperatorOptions):
    """The network options DeepONet and PI-DeepONet share."""

    latent: int = option(50, "p, the number of branch/trunk features (per output)")
    branch_width: int = option(50, "hidden width of the branch network")
    branch_depth: int = option(4, "hidden layers of the branch network")
    trunk_width: int = option(50, "hidden width of the trunk network")
    trunk_depth: int = option(4, "hidden layers of the trunk network")
    activation: str = option("gelu", "activation of both networks (tanh, sin, gelu, silu, ...); gelu measured better than "
                                     "tanh: antiderivative test error 7.7e-3 vs 1.3e-2 after 12k steps")
    trunk_embedding: str = option("", "input embedding of the trunk network (the coordinates), untrained: fourier:M:S "
                                      "(random Fourier features) or fourier_axes:M:S; empty: none")

    def validate(self):
        super().validate()
        self.check_choice("activation", tuple(ACTIVATIONS))
        for name in ("latent", "branch_width", "branch_depth", "trunk_width", "trunk_depth"):
            self.check_range(name, 1)


@dataclasses.dataclass
class DeepONetOptions(AbstractDeepONetOptions):
    """Options of the DeepONet (every one is also a CLI flag or ``--set key=value``)."""

    epochs: int = option(500, "passes over the training draws")

    def validate(self):
        super().validate()
        self.check_range("epochs", 0)
        self.check_training(steps=self.epochs)


class AbstractDeepONetSolver(AbstractSolver):
    """The parts of DeepONet and PI-DeepONet beyond the loss: network, data, prediction, solution."""

    accepts = AbstractProblemFamily

    def __init__(self, problem, options=None, **overrides):
        super().__init__(problem, options, **overrides)
        o, f = self.options, self.problem
        self.dtype, self.device = DTYPES[o.dtype], torch.device(o.device)
        self.resolution = f.check_resolution(o.resolution or f.resolution)
        self.sensors = np.prod(f.input_shape(self.resolution))
        torch.manual_seed(o.seed)
        embedding = parse_embedding(o.trunk_embedding, len(f.coordinates), None, torch.Generator().manual_seed(o.seed))
        with torch.device("cpu"):
            model = DeepONetNetwork(int(self.sensors), len(f.coordinates), o.latent, 1, o.branch_width, o.branch_depth,
                                    o.trunk_width, o.trunk_depth, o.activation, embedding)
        self.model = model.to(dtype=self.dtype, device=self.device)
        self.data = None

    def tensor(self, array) -> torch.Tensor:
        return torch.as_tensor(np.asarray(array), dtype=self.dtype, device=self.device)

    def predict(self, inputs: torch.Tensor, resolution: int) -> torch.Tensor:
        """Solutions ``(n, *output_shape(resolution))`` of inputs ``(n, *input_shape(resolution))``."""
        f = self.problem
        u = inputs.reshape(len(inputs), -1)
        if resolution != self.resolution:  # onto the training sensors
            sensors = np.stack(np.meshgrid(*f.input_axes(self.resolution), indexing="ij"), -1).reshape(-1, len(f.input_coordinates))
            u = u @ self.tensor(f.input_interpolation(sensors, resolution)).T
        y = self.tensor(f.output_points(resolution))
        return self.model(u, y)[..., 0].reshape(len(inputs), *f.output_shape(resolution))

    def solution(self, info: dict | None = None) -> OperatorSolution:
        return OperatorSolution(self.problem, self.model, self.predict, self.data, info)

    def optimizer_options(self, name: str, steps: int) -> dict:
        return OPTIMIZERS.get(name).arguments(self, self.options, steps)

    def enforcement(self) -> list[dict[str, str]]:
        return []

    def test_error_function(self):
        """The mean relative L2 error on the test draws (the training monitor)."""
        if self.data is None or self.data.test == 0:
            return None
        inputs, truth = self.tensor(self.data.test_inputs), self.tensor(self.data.test_outputs)

        def error() -> float:
            with torch.no_grad():
                predicted = torch.cat([self.predict(chunk, self.resolution) for chunk in inputs.split(100)])
            return float(relative_l2_loss(predicted.double(), truth.double()))

        return error

    def run(self, steps: int, loss, before_step, callbacks, checkpoint_path, checkpoint) -> OperatorSolution:
        info = train_operator(self, steps, loss, before_step, self.test_error_function(), callbacks, checkpoint_path,
                              checkpoint)
        return self.solution(info)


@register_solver("deeponet")
class DeepONet(AbstractDeepONetSolver):
    """DeepONet: branch x trunk in the Cartesian-product form, trained on solved draws of a problem family."""

    Options = DeepONetOptions
    single_process_reason = ""  # data-parallel: each rank its share of every minibatch
    tiny_options = {"latent": 8, "branch_width": 8, "trunk_width": 8, "epochs": 2, "train": 20, "test": 5,
                    "batch_size": 10, "resolution": 16}

    def solve(self, callbacks=(), checkpoint_path=None, checkpoint: dict | None = None) -> OperatorSolution:
        o = self.options
        self.data = load_data(self.problem, o)
        u = self.tensor(self.data.train_inputs).reshape(self.data.train, -1)
        s = self.tensor(self.data.train_outputs).reshape(self.data.train, -1)
        y = self.tensor(self.problem.output_points(self.resolution))
        batches = EpochBatches(self.data.train, o.batch_size, o.seed, self.device, self.ranks)
        current = {}

        def before_step(step):
            current["index"] = batches(step)

        def loss():
            index = current["index"]
            value = data_loss(o.loss, self.model(u[index], y)[..., 0], s[index], batches)
            return value, {"data": value}

        return self.run(o.epochs * batches.per_epoch, loss, before_step, callbacks, checkpoint_path, checkpoint)
