r"""Line search over a geometric grid of step lengths, which may reject the step.

Evaluates :math:`L(\theta + \eta\,\delta)` for :math:`\eta \in \{1, \tfrac12, \dots, 2^{-K}\}`
and keeps the lowest; if no trial beats the current loss the step is rejected
(:math:`\eta = 0`). Taking the best of a grid whose values all rise would
push the iterate uphill and, repeated, diverge.
"""

from __future__ import annotations

from typing import Callable

import torch

__all__ = ["grid_line_search"]


@torch.no_grad()
def grid_line_search(loss: Callable[[torch.Tensor], torch.Tensor], theta: torch.Tensor, direction: torch.Tensor,
                     current: float, max_halvings: int = 30) -> tuple[float, float]:
    """Best step length on the grid and the loss there; ``(0.0, current)`` if none decreases it."""
    best_eta, best = 0.0, current
    eta = 1.0
    for _ in range(max_halvings + 1):
        value = float(loss(theta + eta * direction))
        if value < best:
            best_eta, best = eta, value
        elif best_eta > 0:  # the grid passed its minimum
            break
        eta *= 0.5
    return best_eta, best
