"""The shared loop (solvers._training.run_loop) with a step source of its own: what every solver gets from it."""

from __future__ import annotations

import math

import pytest
import torch

from physopt import TrainingDiverged
from solvers import Callback, Checkpointer, NaNGuard, StepRecord, StopTraining, TrainingState, load_checkpoint
from solvers._training import run_loop


class Counter:
    """A step source: ``n`` steps that add one to a parameter; ``loss`` per step from ``losses``."""

    def __init__(self, n, losses=None, interrupt_in=None):
        self.n, self.losses, self.interrupt_in = n, losses or {}, interrupt_in
        self.extra_state = {"note": "mine"}

    def __call__(self, state):
        if state.step >= self.n:
            state.stop_reason = f"counted to {self.n}"
            return None
        if state.step + 1 == self.interrupt_in:
            with torch.no_grad():
                state.model.weight += 0.5  # half a step done
            raise KeyboardInterrupt
        with torch.no_grad():
            state.model.weight += 1.0
        state.step += 1
        return StepRecord(state.step, "count", self.losses.get(state.step, 1.0), {}, state.tick(),
                          error=1.0 / state.step)

    def extra(self):
        return dict(self.extra_state)


class Recorder(Callback):
    def __init__(self, stop_at=None):
        self.steps, self.ended, self.stop_at = [], False, stop_at

    def on_step(self, state, record):
        self.steps.append(record.step)
        if record.step == self.stop_at:
            raise StopTraining("enough")

    def on_end(self, state):
        self.ended = True


def _state():
    model = torch.nn.Linear(1, 1, bias=False).double()
    torch.nn.init.zeros_(model.weight)
    return TrainingState(model, [("count", 5)])


def test_records_best_error_stop_reason_and_checkpoint_extra(tmp_path):
    state, rec = _state(), Recorder()
    path = tmp_path / "c.pt"
    source = Counter(5)
    run_loop(state, source, [NaNGuard(), Checkpointer(path, 2, extra=source.extra), rec])
    assert rec.steps == [1, 2, 3, 4, 5] and rec.ended and state.stop_reason == "counted to 5"
    assert state.best_error == pytest.approx(0.2) and state.elapsed > 0
    saved = load_checkpoint(path)
    assert saved["step"] == 5 and saved["note"] == "mine" and float(saved["model"]["weight"]) == 5.0
    resumed = _state()
    resumed.load(saved)
    assert resumed.step == 5 and resumed.best_error == pytest.approx(0.2) and float(resumed.model.weight.detach()) == 5.0


def test_stop_training_and_nan_end_the_run_with_on_end(tmp_path):
    state, rec = _state(), Recorder(stop_at=3)
    run_loop(state, Counter(5), [rec])
    assert state.step == 3 and state.stop_reason == "enough" and rec.ended
    path = tmp_path / "c.pt"
    state, rec = _state(), Recorder()
    with pytest.raises(TrainingDiverged):
        run_loop(state, Counter(5, losses={3: math.nan}), [NaNGuard(), Checkpointer(path, 1), rec])
    assert rec.ended and load_checkpoint(path)["step"] == 2  # the diverged step is never saved


@pytest.mark.parametrize("partial", [True, False])
def test_ctrl_c_within_a_step_saves_only_where_partial_steps_are_allowed(tmp_path, partial):
    path = tmp_path / "c.pt"
    state = _state()
    with pytest.raises(KeyboardInterrupt):
        run_loop(state, Counter(5, interrupt_in=4), [Checkpointer(path, 2, partial_steps=partial)])
    saved = load_checkpoint(path)
    # partial steps (the PINN's optimizer steps): the state on the way out; else the last whole step's (step 2)
    assert (saved["step"], float(saved["model"]["weight"])) == ((3, 3.5) if partial else (2, 2.0))
