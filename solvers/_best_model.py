"""A held-out test loss, and the best parameters kept and restored at the end of training.

Every ``every`` steps (and at the end of each phase, when the error is measured), :class:`KeepBest`
records ``test_loss`` — the solver's loss on a fixed held-out set of points — in the step's metrics,
and, with ``by`` = ``"test_loss"`` or ``"error"`` (the relative L2 error against the reference), copies
the parameters whenever that measure is the lowest so far. :meth:`KeepBest.restore` puts the best ones
back and says which step they are from. On several ranks the measures are sums over all ranks, so every
rank keeps the same step. A resumed run starts the search again.
"""

from __future__ import annotations

from typing import Callable

import torch

from ._callbacks import Callback

__all__ = ["KeepBest", "BEST_BY"]

BEST_BY = ("off", "test_loss", "error")


class KeepBest(Callback):
    """Measures ``test_loss()`` (if given) and keeps the parameters with the lowest ``by`` measure."""

    def __init__(self, model: torch.nn.Module, by: str, every: int, test_loss: Callable[[], float] | None):
        self.model, self.by, self.every, self.test_loss = model, by, every, test_loss
        self.best: float | None = None
        self.best_step: int | None = None
        self.saved: dict[str, torch.Tensor] | None = None

    def on_step(self, state, record):
        due = record.error is not None or (self.every > 0 and record.step % self.every == 0)
        if not due:
            return
        if self.test_loss is not None:
            record.extra["test_loss"] = self.test_loss()
        measure = record.extra.get("test_loss") if self.by == "test_loss" else record.error if self.by == "error" else None
        if measure is not None and (self.best is None or measure < self.best):
            self.best, self.best_step = float(measure), record.step
            self.saved = {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    def restore(self) -> str:
        """Put the best parameters back; the sentence for the stop reason ("" if nothing was kept)."""
        if self.saved is None:
            return ""
        self.model.load_state_dict(self.saved)
        what = "test loss" if self.by == "test_loss" else "relative L2 error"
        return f"restored the parameters of step {self.best_step} (lowest {what}, {self.best:.3e})"
