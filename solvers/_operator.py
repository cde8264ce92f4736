r"""What the operator-learning solvers share: options, minibatch training, the trained operator.

A solver of a :class:`problems.AbstractProblemFamily` learns the map
:math:`\mathcal{G}: a \mapsto s` from the family's dataset
(:func:`problems.operator_data`). Training runs through the shared loop
(:func:`solvers.train`): one optimizer step per minibatch of draws, the draws
shuffled afresh every epoch (a permutation seeded by ``seed`` and the epoch, so a
resumed run continues the same sequence), the learning-rate schedule of the
optimizer, and the monitored error is the mean relative L2 error on the test set.

The data loss is the mean relative L2 error of the batch,

.. math:: \mathcal{L} = \frac{1}{B}\sum_{i=1}^{B} \frac{\|\hat s_i - s_i\|_2}{\|s_i\|_2},

the loss of the FNO reference scripts (scale-free across draws).
"""

from __future__ import annotations

import dataclasses
import math
import sys

import numpy as np
import torch

from physopt import ConfigurationError, StallRule, default_device, parse_schedule
from physopt.distributed import SINGLE, Ranks, current
from problems import AbstractProblemFamily, OperatorData, operator_data

from ._options import AbstractOptions, option
from ._solution import AbstractSolution
from ._training import Checkpointer, NaNGuard, TargetError, TimeBudget, TrainingState, check_data_parallel, train

__all__ = ["AbstractOperatorOptions", "OperatorSolution", "relative_l2_loss", "data_loss", "EpochBatches", "DTYPES"]

DTYPES = {"float32": torch.float32, "float64": torch.float64}


def data_loss(kind: str, predicted: torch.Tensor, target: torch.Tensor, batches: "EpochBatches | None" = None) -> torch.Tensor:
    """``relative``: :func:`relative_l2_loss`; ``mse``: the mean squared error divided by the mean square of the target.

    With ``batches`` of a data-parallel run (this rank's draws of the step's minibatch): this rank's part of the
    minibatch's loss — the relative errors summed over its draws and divided by the whole batch's size, or its
    squared errors over the whole batch's squared target (one ``all_reduce``, no gradient) — so the ranks' parts
    add up to the loss one process takes.
    """
    if batches is not None and batches.ranks.sharded:
        if kind == "mse":
            scale = batches.ranks.sum(target.detach().square().sum()).clamp_min(torch.finfo(target.dtype).tiny)
            return (predicted - target).square().sum() / scale
        diff = (predicted - target).flatten(1).norm(dim=1)
        return (diff / target.flatten(1).norm(dim=1).clamp_min(torch.finfo(target.dtype).tiny)).sum() / batches.size
    if kind == "mse":
        return (predicted - target).square().mean() / target.square().mean().clamp_min(torch.finfo(target.dtype).tiny)
    return relative_l2_loss(predicted, target)


def relative_l2_loss(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of :math:`\\|\\hat s_i - s_i\\|_2 / \\|s_i\\|_2` (all dimensions after the first)."""
    diff = (predicted - target).flatten(1).norm(dim=1)
    return (diff / target.flatten(1).norm(dim=1).clamp_min(torch.finfo(target.dtype).tiny)).mean()


@dataclasses.dataclass
class AbstractOperatorOptions(AbstractOptions):
    """Options every operator-learning solver shares: the dataset, minibatches, optimizer, precision."""

    train: int = option(0, "training draws (0: the problem family's default)")
    test: int = option(0, "test draws (0: the problem family's default)")
    resolution: int = option(0, "dataset resolution in points per axis (0: the problem family's default)")
    dataset: str = option("", "a dataset file from `physopt data generate` (default: generated on first use, then cached)")
    data_seed: int = option(0, "seed of the dataset's random draws")
    batch_size: int = option(20, "draws per minibatch")
    loss: str = option("relative", "data loss: relative (mean relative L2 error of the draws) or mse (squared error over "
                                    "the batch's mean square)")
    optimizer: str = option("adam", "optimizer or schedule (physopt list optimizers)")
    lr: float = option(1e-3, "Adam learning rate")
    lr_final: float = option(1e-5, "learning rate at the end of the phase (exponential decay from lr)")
    stall_rtol: float = option(0.6, "a second-order phase ends once its loss fell by less than this fraction over stall_window steps")
    stall_window: int = option(100, "the stall rule's window in steps (0: never stop a phase early)")
    dtype: str = option("float32", "float32 or float64 (operator learning is measured in float32)")
    device: str = option(default_device, "cpu, cuda, cuda:1, ... (default: $PHYSOPT_DEVICE, else cpu)")
    seed: int = option(0, "random seed (networks, minibatch order)")
    error_every: int = option(0, "measure the test error every N steps (0: once per tenth of the run)")
    target_error: float = option(0.0, "stop once the mean test relative L2 error is at most this")
    max_time: float = option(0.0, "stop after this many seconds of training (0: no limit)")
    checkpoint_every: int = option(1000, "steps between checkpoints (0: only at the end)")

    def validate(self):
        super().validate()
        self.check_choice("dtype", tuple(DTYPES))
        self.check_choice("loss", ("relative", "mse"))
        self.check_range("batch_size", 1)
        for name in ("train", "test", "resolution", "data_seed", "seed", "error_every", "checkpoint_every", "stall_window"):
            self.check_range(name, 0)
        if not self.max_time >= 0:
            raise ConfigurationError(f"max_time must be >= 0 seconds (0: no limit), got {self.max_time}")
        if self.resolution and self.resolution < 4:
            raise ConfigurationError(f"resolution must be >= 4 points per axis (or 0: the family's default), got {self.resolution}")


class EpochBatches:
    """Minibatch indices of step k: epoch ``k // per_epoch``, a fresh permutation of the draws every epoch.

    On several ranks each takes its contiguous share of every minibatch (``size`` is the whole batch's):
    the ranks together take the step one process takes, for any number of ranks. (A
    ``DistributedSampler`` would give each rank a batch of its own: W times the batch, another run.)
    """

    def __init__(self, n: int, batch_size: int, seed: int, device, ranks: Ranks = SINGLE):
        self.n, self.batch_size, self.seed, self.device, self.ranks = n, min(batch_size, n), seed, device, ranks
        if ranks.sharded and self.batch_size < ranks.world_size:
            raise ConfigurationError(f"batch_size {self.batch_size} cannot be split over {ranks.world_size} processes; "
                                     f"use a batch of at least {ranks.world_size} draws (or fewer processes)")
        self.per_epoch = math.ceil(n / self.batch_size)
        self._epoch, self._order = None, None
        self.size = self.batch_size  # draws in the last minibatch over all ranks

    def __call__(self, step: int) -> torch.Tensor:
        epoch, k = divmod(step, self.per_epoch)
        if epoch != self._epoch:
            g = torch.Generator().manual_seed(1_000_003 * self.seed + epoch)
            self._epoch, self._order = epoch, torch.randperm(self.n, generator=g).to(self.device)
        batch = self._order[k * self.batch_size:(k + 1) * self.batch_size]
        self.size = len(batch)
        return batch[self.ranks.shard(len(batch))] if self.ranks.sharded else batch


def training_callbacks(o: AbstractOperatorOptions, callbacks, checkpoint_path) -> list:
    """The run's callbacks: NaN guard, the caller's, target error, time budget, checkpoints."""
    cbs = [NaNGuard(), *callbacks]
    if o.target_error > 0:
        cbs.append(TargetError(o.target_error))
    if o.max_time > 0:
        cbs.append(TimeBudget(o.max_time))
    if checkpoint_path is not None:
        cbs.append(Checkpointer(checkpoint_path, o.checkpoint_every))
    return cbs


def train_operator(solver, steps: int, loss, before_step, monitor, callbacks, checkpoint_path, checkpoint) -> dict:
    """Train ``solver.model`` for ``steps`` minibatch steps through the shared loop; return the run's ``info``.

    ``monitor`` is the test error (or ``None``), measured every ``error_every`` steps (default: ten times a run).
    """
    o = solver.options
    state = TrainingState(solver.model, parse_schedule(o.optimizer, steps), ranks=solver.ranks)
    check_data_parallel(state.phases, solver.ranks)
    if checkpoint is not None:
        state.load(checkpoint)
    train(state, loss, solver.optimizer_options, training_callbacks(o, callbacks, checkpoint_path), monitor,
          o.error_every or max(1, steps // 10), before_step, StallRule(o.stall_rtol, o.stall_window))
    return {"steps": state.step, "stop_reason": state.stop_reason, "train_time_s": state.elapsed,
            "final_loss": float(state.last.loss) if state.last is not None else float("nan")}


def load_data(family: AbstractProblemFamily, o: AbstractOperatorOptions, progress=None) -> OperatorData:
    """The dataset the options ask for (cached, generated, or the file ``o.dataset``); a line on stderr before generating."""
    if progress is None:
        def progress(line):
            if current().is_main:  # every rank of a data-parallel run loads the data; one says so
                print(f"physopt: {line}", file=sys.stderr)
    return operator_data(family, o.resolution or None, o.train or None, o.test or None, o.data_seed, o.dataset or None,
                         progress=progress)


def infer_resolution(family: AbstractProblemFamily, inputs: torch.Tensor) -> int:
    """The resolution of input functions ``(n, *input_shape)``; a shape that fits no resolution is a clear error."""
    if inputs.ndim >= 2:
        resolution = int(inputs.shape[1])
        if resolution >= 4 and tuple(inputs.shape[1:]) == family.input_shape(resolution):
            return resolution
    example = family.input_shape(family.resolution)
    raise ConfigurationError(f"inputs of shape {tuple(inputs.shape)} do not fit problem family '{family.problem_name}': "
                             f"expected (n, {', '.join(['S'] * len(example))}) values of {family.input_name} on its grid, "
                             f"e.g. (n, {', '.join(map(str, example))})")


class OperatorSolution(AbstractSolution):
    """A trained operator: ``solution(inputs)`` maps input functions ``(n, *input_shape)`` on the family's grid at any
    resolution to solutions ``(n, *output_shape)`` at that resolution.

    Args:
        family: the problem family.
        model: the trained network.
        predict: ``(inputs, resolution) -> outputs`` in the model's dtype and device.
        data: the dataset (its test split measures the errors); ``None`` for a reloaded operator.
        info: the run's ``info``.
        metrics: extra :class:`Metric` results.
    """

    kind = "operator"

    def __init__(self, family, model: torch.nn.Module, predict, data: OperatorData | None = None, info: dict | None = None,
                 metrics: list | None = None):
        super().__init__(family, model, info)
        self.predict, self.data, self._metrics = predict, data, list(metrics or [])

    def metrics(self) -> list:
        """The solver's extra results (the FNO's error at its training resolution)."""
        return self._metrics

    def __call__(self, inputs, batch_size: int = 100) -> torch.Tensor:
        inputs = torch.as_tensor(np.asarray(inputs) if not torch.is_tensor(inputs) else inputs, dtype=self.dtype,
                                 device=self.device)
        resolution = infer_resolution(self.problem, inputs)
        with torch.no_grad():
            return torch.cat([self.predict(chunk, resolution) for chunk in inputs.split(batch_size)])

    def test_errors(self) -> np.ndarray:
        """Relative L2 error of each test draw (float64)."""
        if self.data is None or self.data.test == 0:
            return np.zeros(0)
        predicted = self(self.data.test_inputs).double().cpu().numpy()
        truth = self.data.test_outputs
        n = len(truth)
        return np.linalg.norm((predicted - truth).reshape(n, -1), axis=1) / np.linalg.norm(truth.reshape(n, -1), axis=1)

    def errors(self, points=None) -> dict[str, float] | None:
        """On the test set: mean (``rel_l2``), median and worst relative L2 error, and the largest absolute error."""
        if self.data is None or self.data.test == 0:
            return None
        per = self.test_errors()
        predicted = self(self.data.test_inputs).double().cpu().numpy()
        return {"rel_l2": float(per.mean()), "rel_l2_median": float(np.median(per)), "rel_l2_worst": float(per.max()),
                "max_abs": float(np.abs(predicted - self.data.test_outputs).max()), "test_draws": int(self.data.test)}
