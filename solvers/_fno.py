r"""FNO: the Fourier neural operator as a solver of a problem family (Li et al., ICLR 2021).

The network (:mod:`solvers._fno_network`) maps the input function on a uniform
grid to the solution on the same grid, at any resolution: its weights act on
Fourier modes, not on grid points. Inputs are standardised by the training draws'
mean and standard deviation (scalars, so any resolution sees the same map),
outputs scaled back by the training solutions' mean and standard deviation; the
loss is the batch's mean relative L2 error in physical units.

``train_resolution`` trains on every k-th point of the dataset's grid (the FNO
paper's subsampling: Burgers generated at 1024, trained at 256) while the test
error is measured at the dataset's full resolution — zero-shot super-resolution —
and, as the metric ``rel_l2_train_resolution``, at the training resolution.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from physopt import OPTIMIZERS, ConfigurationError
from problems import AbstractProblemFamily

from ._base import AbstractSolver, register_solver
from ._fno_network import FNO as FNONetwork
from ._operator import (DTYPES, AbstractOperatorOptions, EpochBatches, OperatorSolution, data_loss, load_data,
                        relative_l2_loss, train_operator)
from ._options import option
from ._solution import Metric

__all__ = ["FNO", "FNOOptions", "subsample"]


@dataclasses.dataclass
class FNOOptions(AbstractOperatorOptions):
    """Options of the Fourier neural operator (every one is also a CLI flag or ``--set key=value``)."""

    modes: int = option(16, "Fourier modes kept per axis")
    width: int = option(64, "channels of the Fourier layers")
    layers: int = option(4, "Fourier layers")
    projection: int = option(128, "hidden channels of the projection to the output")
    train_resolution: int = option(0, "train on the dataset subsampled to this many points per axis (0: the dataset's)")
    epochs: int = option(500, "passes over the training draws")

    def validate(self):
        super().validate()
        for name in ("modes", "width", "layers", "projection"):
            self.check_range(name, 1)
        for name in ("train_resolution", "epochs"):
            self.check_range(name, 0)
        self.check_training(steps=self.epochs)


def subsample(array: np.ndarray, resolution: int, target: int, periodic: bool, axes: int) -> np.ndarray:
    """Every k-th point of the last ``axes`` grid axes, from ``resolution`` to ``target`` points per axis."""
    if target == resolution:
        return array
    stride, fits = (resolution // target, resolution % target == 0) if periodic else \
        ((resolution - 1) // max(target - 1, 1), (resolution - 1) % max(target - 1, 1) == 0)
    if target > resolution or not fits:
        need = f"divide {resolution}" if periodic else f"have (target - 1) divide {resolution - 1}"
        raise ConfigurationError(f"train_resolution {target} cannot subsample the grid of {resolution} points (it must {need})")
    return array[(Ellipsis,) + (slice(None, None, stride),) * axes]


class _Normalized(torch.nn.Module):
    """The FNO between scalar standardisations of its input and output (buffers: saved with the weights)."""

    def __init__(self, network: FNONetwork):
        super().__init__()
        self.network = network
        for name in ("in_mean", "out_mean"):
            self.register_buffer(name, torch.zeros(()))
        for name in ("in_std", "out_std"):
            self.register_buffer(name, torch.ones(()))

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        """Input functions ``(n, *grid)`` → solutions ``(n, *grid)``."""
        v = self.network(((a - self.in_mean) / self.in_std)[:, None])
        return v[:, 0] * self.out_std + self.out_mean


@register_solver("fno")
class FNO(AbstractSolver):
    """Fourier neural operator: spectral convolutions on the grid, evaluated at any resolution."""

    Options = FNOOptions
    accepts = AbstractProblemFamily
    single_process_reason = ""  # data-parallel: each rank its share of every minibatch
    tiny_options = {"modes": 4, "width": 8, "layers": 2, "projection": 8, "epochs": 2, "train": 20, "test": 5,
                    "batch_size": 10, "resolution": 16}

    def __init__(self, problem, options=None, **overrides):
        super().__init__(problem, options, **overrides)
        o, f = self.options, self.problem
        if not f.same_grid:
            raise ConfigurationError(f"fno maps a function to one on the same grid; problem family '{f.problem_name}' maps "
                                     f"functions of ({', '.join(f.input_coordinates)}) to ({', '.join(f.coordinates)}): "
                                     "use --solver deeponet or pi_deeponet")
        self.dtype, self.device = DTYPES[o.dtype], torch.device(o.device)
        self.resolution = f.check_resolution(o.resolution or f.resolution)
        self.train_resolution = o.train_resolution or self.resolution
        torch.manual_seed(o.seed)
        with torch.device("cpu"):
            network = FNONetwork(len(f.coordinates), 1, 1, o.modes, o.width, o.layers, o.projection, periodic=f.periodic)
        self.model = _Normalized(network).to(dtype=self.dtype, device=self.device)
        self.data = None

    def tensor(self, array) -> torch.Tensor:
        return torch.as_tensor(np.asarray(array), dtype=self.dtype, device=self.device)

    def predict(self, inputs: torch.Tensor, resolution: int) -> torch.Tensor:
        return self.model(inputs)

    def enforcement(self) -> list[dict[str, str]]:
        return []

    def optimizer_options(self, name: str, steps: int) -> dict:
        return OPTIMIZERS.get(name).arguments(self, self.options, steps)

    def _coarse(self, array: np.ndarray) -> np.ndarray:
        return subsample(array, self.resolution, self.train_resolution, self.problem.periodic, len(self.problem.coordinates))

    def _error(self, inputs: torch.Tensor, truth: torch.Tensor):
        def error() -> float:
            with torch.no_grad():
                predicted = torch.cat([self.model(chunk) for chunk in inputs.split(50)])
            return float(relative_l2_loss(predicted.double(), truth.double()))
        return error

    def solve(self, callbacks=(), checkpoint_path=None, checkpoint: dict | None = None) -> OperatorSolution:
        o = self.options
        self.data = data = load_data(self.problem, o)
        a, s = self.tensor(self._coarse(data.train_inputs)), self.tensor(self._coarse(data.train_outputs))
        if checkpoint is None:  # the standardisation of the training draws (a resumed run loads it with the weights)
            with torch.no_grad():
                for name, values in (("in", a), ("out", s)):
                    getattr(self.model, f"{name}_mean").fill_(values.mean())
                    getattr(self.model, f"{name}_std").fill_(values.std().clamp_min(1e-12))
        test_a, test_s = self.tensor(self._coarse(data.test_inputs)), self.tensor(self._coarse(data.test_outputs))
        monitor = self._error(test_a, test_s) if data.test else None
        batches = EpochBatches(data.train, o.batch_size, o.seed, self.device, self.ranks)
        current = {}

        def before_step(step):
            current["index"] = batches(step)

        def loss():
            index = current["index"]
            value = data_loss(o.loss, self.model(a[index]), s[index], batches)
            return value, {"data": value}

        info = train_operator(self, o.epochs * batches.per_epoch, loss, before_step, monitor, callbacks, checkpoint_path,
                              checkpoint)
        info["train_resolution"] = self.train_resolution
        metrics = [Metric("rel_l2_train_resolution", monitor() if monitor else None,
                          f"mean test relative L2 error at the training resolution {self.train_resolution}", "error")]
        return OperatorSolution(self.problem, self.model, self.predict, data, info, metrics)
