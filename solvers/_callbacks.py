"""What the loop of :mod:`._training` hands on and keeps: step records, the run's state, and the callbacks.

Callbacks report progress, write metrics, save checkpoints, guard against NaN and
stop at a target error; a callback stops the run by raising :class:`StopTraining`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path
from typing import Callable

import torch

from physopt import AbstractOptimizer, TrainingDiverged
from physopt._atomic import atomic_torch_save
from physopt.distributed import SINGLE, Ranks

__all__ = [
    "StepRecord",
    "StopTraining",
    "Callback",
    "TrainingState",
    "ProgressBar",
    "MetricsWriter",
    "Checkpointer",
    "CurvatureMonitor",
    "NaNGuard",
    "TargetError",
    "TimeBudget",
]


@dataclasses.dataclass
class StepRecord:
    """What happened in one step."""

    step: int  # 1-based count of steps taken so far, over all phases
    phase: str
    loss: float
    terms: dict[str, float]
    wall_time: float
    error: float | None = None  # relative L2 error, on the steps where it is measured
    extra: dict[str, float] = dataclasses.field(default_factory=dict)  # diagnostics added by callbacks

    def as_json(self) -> dict:
        out = {"step": self.step, "phase": self.phase, "loss": self.loss, "time": round(self.wall_time, 4)}
        out.update({f"loss_{k}": v for k, v in self.terms.items()})
        if self.error is not None:
            out["rel_l2"] = self.error
        out.update(self.extra)
        return out


class StopTraining(Exception):
    """Raised by a callback to end training early; the message says why."""


class Callback:
    """Hooks into :func:`run_loop` (and :func:`train`). Override what you need."""

    def on_start(self, state: "TrainingState") -> None: ...

    def on_step(self, state: "TrainingState", record: StepRecord) -> None: ...

    def on_end(self, state: "TrainingState") -> None: ...


@dataclasses.dataclass
class TrainingState:
    """Mutable state of a run; checkpoints save and restore it."""

    model: torch.nn.Module
    phases: list[tuple[str, int]]
    step: int = 0
    phase_index: int = 0
    phase_start: int = 0  # the step at which the current phase began
    notes: list[str] = dataclasses.field(default_factory=list)  # why earlier phases ended early
    optimizer: AbstractOptimizer | None = None
    stop_reason: str | None = None
    last: StepRecord | None = None
    best_error: float | None = None
    elapsed: float = 0.0
    optimizer_state: dict | None = None  # restored from a checkpoint, applied on (re)creation
    mid_step: bool = False  # True while a step runs: an exit now leaves a step half done
    clock_start: float = dataclasses.field(default=0.0, repr=False)  # perf_counter() at elapsed = 0
    ranks: Ranks = dataclasses.field(default=SINGLE, repr=False)  # the processes of a data-parallel run

    @property
    def total_steps(self) -> int:
        """Steps the remaining schedule may take (phases that end early take fewer)."""
        return self.phase_start + sum(n for _, n in self.phases[self.phase_index :])

    def tick(self) -> float:
        """Set and return ``elapsed``: the run's wall time, over all its resumed parts."""
        self.elapsed = time.perf_counter() - self.clock_start
        return self.elapsed

    def load(self, checkpoint: dict) -> None:
        """Restore the model and the loop's position from a :class:`Checkpointer` file."""
        self.model.load_state_dict(checkpoint["model"])
        self.step = int(checkpoint["step"])
        self.phase_index = int(checkpoint.get("phase_index", 0))
        self.phase_start = int(checkpoint.get("phase_start", 0))
        self.notes = list(checkpoint.get("notes", []))
        self.optimizer_state = checkpoint.get("optimizer")
        self.elapsed = float(checkpoint.get("elapsed", 0.0))
        self.best_error = checkpoint.get("best_error")


class ProgressBar(Callback):
    """A tqdm bar with the loss and the latest error."""

    def __init__(self, enabled: bool = True, every: int = 10):
        self.enabled, self.every, self.bar = enabled, every, None

    def on_start(self, state):
        if self.enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=state.total_steps, initial=state.step, unit="step", dynamic_ncols=True)

    def on_step(self, state, record):
        if self.bar is None:
            return
        self.bar.update(1)
        if record.step % self.every == 0 or record.error is not None:
            post = {"phase": record.phase, "loss": f"{record.loss:.3e}"}
            if state.best_error is not None:
                post["rel_l2"] = f"{(record.error if record.error is not None else state.best_error):.3e}"
            self.bar.set_postfix(post, refresh=False)

    def on_end(self, state):
        if self.bar is not None:
            self.bar.close()


class MetricsWriter(Callback):
    """Appends one JSON object per step to ``path`` (JSON lines)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.handle = None

    def on_start(self, state):
        self.handle = open(self.path, "a", encoding="utf-8")

    def on_step(self, state, record):
        self.handle.write(json.dumps(record.as_json()) + "\n")
        if record.step % 50 == 0:
            self.handle.flush()

    def on_end(self, state):
        if self.handle is not None:
            if state.stop_reason:
                self.handle.write(json.dumps({"step": state.step, "event": "stop", "reason": state.stop_reason}) + "\n")
            self.handle.close()


class Checkpointer(Callback):
    """Saves model, optimizer and loop state, plus the solver's ``extra()``, every ``every`` steps and at the end.

    The one checkpoint writer of every solver: ``extra`` returns the solver's own state (a
    PINN's sampling RNG; TENG's stored weights, grid values, RNG states, ...), merged into the
    file, which is written atomically and holds tensors and plain containers only, so it loads
    with ``torch.load(..., weights_only=True)``. ``partial_steps=False``: a run that ends in the
    middle of a step (Ctrl-C during a time step) keeps the checkpoint of the last whole step,
    since its state is neither the old step's nor the new one's.
    """

    def __init__(self, path: str | Path, every: int = 500, extra: Callable[[], dict] | None = None,
                 partial_steps: bool = True):
        self.path, self.every, self.extra, self.partial_steps = Path(path), every, extra, partial_steps

    def save(self, state):
        payload = {
            "model": state.model.state_dict(),
            "step": state.step,
            "phase_index": state.phase_index,
            "phase_start": state.phase_start,
            "notes": list(state.notes),
            "phases": [[name, n] for name, n in state.phases],
            "optimizer": state.optimizer.state_dict() if state.optimizer is not None else None,
            "elapsed": state.elapsed,
            "best_error": state.best_error,
        }
        if self.extra is not None:
            payload.update(self.extra())
        atomic_torch_save(self.path, payload)  # a crash never leaves a half-written checkpoint

    def on_step(self, state, record):
        if self.every and record.step % self.every == 0:
            self.save(state)

    def on_end(self, state):
        if state.last is not None and not math.isfinite(state.last.loss):
            return  # never replace a good checkpoint with a diverged model
        if state.mid_step and not self.partial_steps:
            return  # keep the last whole step's checkpoint
        self.save(state)


class CurvatureMonitor(Callback):
    r"""Every ``every`` steps, add curvature diagnostics to the step's metrics.

    - ``gram_top_eig``: largest eigenvalue of :math:`J^\top J` (power iteration on Gram-vector products);
    - ``gram_cond``: :math:`\sigma_{\max}^2/\sigma_{\min}^2` of :math:`J` (dense SVD, up to ``dense_limit`` parameters);
    - ``hessian_top_eig``: the loss Hessian's eigenvalue of largest magnitude (power iteration on HVPs).
    Place it before :class:`MetricsWriter` so the values are written with the step.
    """

    def __init__(self, objective_fn: Callable[[], object], every: int = 100, iterations: int = 20, dense_limit: int = 4096):
        self.objective_fn, self.every, self.iterations, self.dense_limit = objective_fn, every, iterations, dense_limit

    def on_step(self, state, record):
        if not self.every or record.step % self.every:
            return
        from physopt.curvature import gram_vector_product, hessian_vector_product, power_iteration

        obj = self.objective_fn()
        theta = obj.flat.vector()
        gen = torch.Generator(device=theta.device).manual_seed(record.step)
        kw = dict(iterations=self.iterations, generator=gen, dtype=theta.dtype, device=theta.device)
        record.extra["gram_top_eig"], _ = power_iteration(lambda V: gram_vector_product(obj.residual, theta, V), theta.numel(), **kw)
        record.extra["hessian_top_eig"], _ = power_iteration(lambda V: hessian_vector_product(obj.loss, theta, V), theta.numel(), **kw)
        if theta.numel() <= self.dense_limit:
            s = torch.linalg.svdvals(obj.jacobian(theta))
            record.extra["gram_cond"] = float((s[0] / s[-1]) ** 2) if s[-1] > 0 else float("inf")


class NaNGuard(Callback):
    """Stops with :class:`TrainingDiverged` when the loss is NaN or infinite."""

    def on_step(self, state, record):
        if not math.isfinite(record.loss):
            raise TrainingDiverged(
                f"the loss became {record.loss} at step {record.step} ({record.phase}); "
                "lower the learning rate (--lr), use --dtype float64, or check the problem's terms for division by zero"
            )


class TargetError(Callback):
    """Stops once the measured relative L2 error is at most ``target``."""

    def __init__(self, target: float):
        self.target = target

    def on_step(self, state, record):
        if record.error is not None and record.error <= self.target:
            raise StopTraining(f"reached the target relative L2 error {self.target:g} at step {record.step}")


class TimeBudget(Callback):
    """Stops once the training wall time reaches ``seconds`` (resumed runs count their earlier time)."""

    def __init__(self, seconds: float):
        self.seconds = seconds

    def on_step(self, state, record):
        if record.wall_time >= self.seconds:
            raise StopTraining(f"used the wall-time budget of {self.seconds:g} s at step {record.step}")
