"""The one training loop that every solver shares, and its callbacks.

``train`` runs a schedule of optimizer phases on a loss closure and hands a
:class:`StepRecord` to each callback after every step. Callbacks report
progress, write metrics, save checkpoints, guard against NaN and stop at a
target error; a callback stops training by raising :class:`StopTraining`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path
from typing import Callable

import torch

from physopt import OPTIMIZERS, AbstractOptimizer, ConfigurationError, StallRule, TrainingDiverged

__all__ = [
    "StepRecord",
    "StopTraining",
    "Callback",
    "ProgressBar",
    "MetricsWriter",
    "Checkpointer",
    "NaNGuard",
    "TargetError",
    "TrainingState",
    "train",
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
    """Hooks into :func:`train`. Override what you need."""

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

    @property
    def total_steps(self) -> int:
        """Steps the remaining schedule may take (phases that end early take fewer)."""
        return self.phase_start + sum(n for _, n in self.phases[self.phase_index :])


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
    """Saves model, optimizer and loop state every ``every`` steps and at the end.

    The file holds tensors and plain containers only, so it loads with
    ``torch.load(..., weights_only=True)``.
    """

    def __init__(self, path: str | Path, every: int = 500, extra: Callable[[], dict] | None = None):
        self.path, self.every, self.extra = Path(path), every, extra

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
        }
        if self.extra is not None:
            payload.update(self.extra())
        tmp = self.path.with_suffix(".tmp")
        torch.save(payload, tmp)
        tmp.replace(self.path)  # atomic: a crash never leaves a half-written checkpoint

    def on_step(self, state, record):
        if self.every and record.step % self.every == 0:
            self.save(state)

    def on_end(self, state):
        if state.last is not None and not math.isfinite(state.last.loss):
            return  # never replace a good checkpoint with a diverged model
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


def load_checkpoint(path: str | Path) -> dict:
    """Load a checkpoint safely (``weights_only=True``); a damaged file is a clear error."""
    try:
        return torch.load(Path(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ConfigurationError(f"checkpoint '{path}' does not exist") from None
    except Exception as exc:  # noqa: BLE001 - unpickling errors come in many types
        raise ConfigurationError(f"checkpoint '{path}' cannot be read ({type(exc).__name__}); it is damaged or not a physopt checkpoint") from None


def train(
    state: TrainingState,
    loss_fn: Callable[[], tuple[torch.Tensor, dict[str, torch.Tensor]]],
    optimizer_options: Callable[[str, int], dict],
    callbacks: list[Callback] = (),
    error_fn: Callable[[], float] | None = None,
    error_every: int = 100,
    before_step: Callable[[int], None] | None = None,
    stall: StallRule | None = None,
) -> TrainingState:
    """Run the phases of ``state`` from where it stands.

    Args:
        state: model, phases and position (fresh, or restored from a checkpoint).
        loss_fn: returns the total loss and its named terms.
        optimizer_options: ``(name, phase_steps) -> kwargs`` for each optimizer.
        callbacks: called after every step, in order.
        error_fn: relative L2 error against the reference; measured every
            ``error_every`` steps and at the end of each phase.
        before_step: called with the step index before each step (e.g. resampling).
        stall: ends a second-order phase (``optimizer.second_order``) whose loss has stalled.
    Returns:
        ``state``, with ``stop_reason`` saying why training ended.
    """
    for cb in callbacks:
        cb.on_start(state)
    start = time.perf_counter() - state.elapsed
    terms_box: dict[str, torch.Tensor] = {}

    def closure():
        for p in state.model.parameters():
            p.grad = None
        if state.optimizer.closure_needs_gradient:
            loss, terms = loss_fn()
            loss.backward()
        else:  # the optimizer differentiates its own objective: the loss is for the metrics only
            with torch.no_grad():
                loss, terms = loss_fn()
        if not terms_box:  # keep the terms of the first evaluation: they add up to the step's loss
            terms_box.update(terms)
        return loss

    try:
        while state.phase_index < len(state.phases):
            name, n_steps = state.phases[state.phase_index]
            if state.optimizer is None:
                state.optimizer = OPTIMIZERS[name](state.model.parameters(), **optimizer_options(name, n_steps))
                if state.optimizer_state is not None:
                    state.optimizer.load_state_dict(state.optimizer_state)
                    state.optimizer_state = None
                if stall is not None:
                    stall.restart()
            while state.step < state.phase_start + n_steps:
                if before_step is not None:
                    before_step(state.step)
                terms_box.clear()
                loss = state.optimizer.step(closure)
                state.step += 1
                state.elapsed = time.perf_counter() - start
                if stall is not None and state.optimizer.second_order and not state.optimizer.stop_reason:
                    state.optimizer.stop_reason = stall.update(name, loss)
                phase_end = state.step == state.phase_start + n_steps or state.optimizer.stop_reason
                due = error_every > 0 and state.step % error_every == 0
                error = None
                if error_fn is not None and (due or phase_end) and math.isfinite(loss):
                    error = float(error_fn())
                    state.best_error = error if state.best_error is None else min(state.best_error, error)
                record = StepRecord(
                    state.step, name, loss, {k: float(v.detach()) for k, v in terms_box.items()}, state.elapsed, error
                )
                state.last = record
                for cb in callbacks:
                    cb.on_step(state, record)
                if state.optimizer.stop_reason:
                    state.notes.append(f"{state.optimizer.stop_reason} (step {state.step})")
                    break
            state.phase_index += 1
            state.phase_start = state.step
            state.optimizer = None
        state.stop_reason = "; ".join(state.notes + [f"finished the schedule after {state.step} steps"])
    except StopTraining as stop:
        state.stop_reason = str(stop)
    finally:
        state.elapsed = time.perf_counter() - start
        for cb in callbacks:
            cb.on_end(state)
    return state
