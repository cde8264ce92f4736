"""The one loop that every solver runs (its callbacks: :mod:`._callbacks`, re-exported here).

:func:`run_loop` drives a *step source*: a callable that takes one step of a
solver (an optimizer step, a time step) and returns its :class:`StepRecord`,
or ``None`` when the run is complete. The loop hands each record to the
callbacks, which report progress, write metrics, save checkpoints
(:class:`Checkpointer`, with the solver's own state from its ``extra()``),
guard against NaN and stop at a target error; a callback or the step source
ends the run early by raising :class:`StopTraining`, and on any exit (Ctrl-C
too) every callback's ``on_end`` runs. A run resumes from a checkpoint by
:meth:`TrainingState.load` plus the solver's own state.

Two step sources exist: :class:`OptimizerSteps` (phases of optimizer steps on a
loss closure; :func:`train` runs it, for the PINN) and TENG's time march
(``solvers/_teng_march.py``).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Callable, Protocol

import torch

from physopt import OPTIMIZERS, ConfigurationError, StallRule
from physopt.distributed import interrupt_requested

from ._callbacks import (
    Callback,
    Checkpointer,
    CurvatureMonitor,
    MetricsWriter,
    NaNGuard,
    ProgressBar,
    StepRecord,
    StopTraining,
    TargetError,
    TimeBudget,
    TrainingState,
)

__all__ = [
    "StepRecord",
    "StopTraining",
    "Callback",
    "ProgressBar",
    "MetricsWriter",
    "Checkpointer",
    "CurvatureMonitor",
    "NaNGuard",
    "TargetError",
    "TimeBudget",
    "TrainingState",
    "StepSource",
    "OptimizerSteps",
    "run_loop",
    "train",
    "load_checkpoint",
    "check_data_parallel",
]


def load_checkpoint(path: str | Path) -> dict:
    """Load a checkpoint safely (``weights_only=True``); a damaged file is a clear error."""
    try:
        return torch.load(Path(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ConfigurationError(f"checkpoint '{path}' does not exist") from None
    except Exception as exc:  # noqa: BLE001 - unpickling errors come in many types
        raise ConfigurationError(f"checkpoint '{path}' cannot be read ({type(exc).__name__}); it is damaged or not a physopt checkpoint") from None


class StepSource(Protocol):
    """One step of a solver for :func:`run_loop`."""

    def __call__(self, state: TrainingState) -> StepRecord | None:
        """Take one step (advancing ``state.step`` and calling ``state.tick()`` when its work is done) and
        return its record; or set ``state.stop_reason`` and return ``None`` when the run is complete."""


def check_data_parallel(phases, ranks) -> None:
    """A one-line error, before any work, for an optimizer of the schedule that cannot run on several ranks."""
    if not ranks.sharded:
        return
    serial = [name for name, _ in phases if not OPTIMIZERS.get(name).data_parallel]
    if serial:
        able = ", ".join(name for name, cls in OPTIMIZERS.items() if cls.data_parallel)
        raise ConfigurationError(f"optimizer {', '.join(serial)} does not run on several processes (its sums over "
                                 f"samples are not reduced over the ranks); use one of: {able}")


def _agree_on_stop(state: TrainingState, stop: StopTraining | None) -> StopTraining | None:
    """On several ranks: stop all when one stops (a time budget is measured per rank), with the first one's reason;
    a deferred Ctrl-C/SIGTERM (:func:`physopt.distributed.defer_interrupts`) interrupts all after this step."""
    if not state.ranks.active or not state.ranks.any(stop is not None or interrupt_requested()):
        return stop
    reasons = state.ranks.gather("\0interrupt" if interrupt_requested() else None if stop is None else str(stop))
    if "\0interrupt" in reasons:
        raise KeyboardInterrupt
    return StopTraining(next(r for r in reasons if r is not None))


def run_loop(state: TrainingState, step: StepSource, callbacks: list[Callback] = ()) -> TrainingState:
    """Run ``step`` until it returns ``None``, a callback raises :class:`StopTraining` or an error ends the run.

    Handled here once for every solver: the wall clock (continued over resumes), the best
    measured error, the callbacks (progress, metrics, checkpoints, NaN guard, targets), the
    stop reason, and ``on_end`` on every exit, Ctrl-C included. On several ranks
    (``state.ranks``): rank 0's parameters to all at the start, the stop decided together,
    and a check at the end that every rank holds the same parameters.
    """
    for cb in callbacks:
        cb.on_start(state)
    state.ranks.broadcast_parameters(state.model)
    state.clock_start = time.perf_counter() - state.elapsed
    finished = False
    try:
        while True:
            state.mid_step = True
            record = step(state)
            state.mid_step = False
            if record is None:
                break
            if record.error is not None:
                state.best_error = record.error if state.best_error is None else min(state.best_error, record.error)
            state.last = record
            stop = None
            try:
                for cb in callbacks:
                    cb.on_step(state, record)
            except StopTraining as raised:
                stop = raised
            stop = _agree_on_stop(state, stop)
            if stop is not None:
                raise stop
        finished = True
    except StopTraining as stop:
        state.stop_reason = str(stop)
        finished = True
    finally:
        state.tick()
        for cb in callbacks:
            cb.on_end(state)
    if finished:
        state.ranks.check_in_sync(torch.cat([p.detach().reshape(-1) for p in state.model.parameters()]))
    return state


class OptimizerSteps:
    """The step source of an optimizer schedule: the phases of ``state``, one optimizer step at a time.

    Args: as :func:`train`.
    """

    def __init__(self, loss_fn, optimizer_options, error_fn=None, error_every=100, before_step=None, stall=None):
        self.loss_fn, self.optimizer_options = loss_fn, optimizer_options
        self.error_fn, self.error_every, self.before_step, self.stall = error_fn, error_every, before_step, stall
        self.terms: dict[str, torch.Tensor] = {}
        self.phase_stopped = False  # the last step ended its phase early (the optimizer's stop_reason)

    def __call__(self, state: TrainingState) -> StepRecord | None:
        if self.phase_stopped:
            state.notes.append(f"{state.optimizer.stop_reason} (step {state.step})")
            self._next_phase(state)
            self.phase_stopped = False
        while state.phase_index < len(state.phases):
            name, n_steps = state.phases[state.phase_index]
            if state.optimizer is None:
                state.optimizer = OPTIMIZERS[name](state.model.parameters(), **self.optimizer_options(name, n_steps))
                if state.optimizer_state is not None:
                    state.optimizer.load_state_dict(state.optimizer_state)
                    state.optimizer_state = None
                if self.stall is not None:
                    self.stall.restart()
            if state.step < state.phase_start + n_steps:
                return self._step(state, name, n_steps)
            self._next_phase(state)
        state.stop_reason = "; ".join(state.notes + [f"finished the schedule after {state.step} steps"])
        return None

    @staticmethod
    def _next_phase(state: TrainingState) -> None:
        state.phase_index += 1
        state.phase_start = state.step
        state.optimizer = None

    def _closure(self, state: TrainingState):
        for p in state.model.parameters():
            p.grad = None
        if state.optimizer.closure_needs_gradient:
            loss, terms = self.loss_fn()
            loss.backward()
            state.ranks.sum_gradients(state.model.parameters())  # one all_reduce of the flat gradient
        else:  # the optimizer differentiates its own objective: the loss is for the metrics only
            with torch.no_grad():
                loss, terms = self.loss_fn()
        if state.ranks.active:  # this rank's part: the loss and its terms over all ranks, in one all_reduce
            names = list(terms)
            summed = state.ranks.sum(torch.stack([loss.detach().reshape(())] + [terms[k].detach().reshape(()) for k in names]))
            loss, terms = summed[0], dict(zip(names, summed[1:]))
        if not self.terms:  # keep the terms of the first evaluation: they add up to the step's loss
            self.terms.update(terms)
        return loss

    def _step(self, state: TrainingState, name: str, n_steps: int) -> StepRecord:
        if self.before_step is not None:
            self.before_step(state.step)
        self.terms.clear()
        optimizer = state.optimizer
        loss = optimizer.step(lambda: self._closure(state))
        state.step += 1
        state.tick()
        if self.stall is not None and optimizer.second_order and not optimizer.stop_reason:
            optimizer.stop_reason = self.stall.update(name, loss)
        phase_end = state.step == state.phase_start + n_steps or optimizer.stop_reason
        due = self.error_every > 0 and state.step % self.error_every == 0
        error = None
        if self.error_fn is not None and (due or phase_end) and math.isfinite(loss):
            error = float(self.error_fn())
        self.phase_stopped = bool(optimizer.stop_reason)
        terms = {k: float(v.detach()) for k, v in self.terms.items()}
        return StepRecord(state.step, name, loss, terms, state.elapsed, error)


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
    """Run the phases of ``state`` from where it stands (:class:`OptimizerSteps` in :func:`run_loop`).

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
    steps = OptimizerSteps(loss_fn, optimizer_options, error_fn, error_every, before_step, stall)
    return run_loop(state, steps, callbacks)
