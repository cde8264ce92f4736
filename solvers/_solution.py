"""A trained solution: evaluate it anywhere, measure its error, save its weights."""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch.func import vmap

__all__ = ["Solution", "relative_errors"]


def relative_errors(predicted: torch.Tensor, reference: torch.Tensor, names) -> dict[str, float]:
    r"""Discrete relative L2 :math:`\|u-\hat u\|_2/\|u\|_2` and max-abs errors, overall and per unknown."""
    diff = (predicted - reference).double()
    ref = reference.double()
    out = {
        "rel_l2": float(diff.norm() / ref.norm().clamp_min(1e-300)),
        "max_abs": float(diff.abs().max()),
    }
    if len(names) > 1:
        for i, name in enumerate(names):
            out[f"rel_l2_{name}"] = float(diff[:, i].norm() / ref[:, i].norm().clamp_min(1e-300))
            out[f"max_abs_{name}"] = float(diff[:, i].abs().max())
    return out


class Solution:
    """A field ``u`` learned for ``problem``: ``solution(points)`` gives ``(N, n_unknowns)``.

    Args:
        problem: the Problem it solves.
        model: the trained network.
        field: the pointwise map ``x -> u(x)`` (network plus any hard-constraint ansatz).
    """

    def __init__(self, problem, model: torch.nn.Module, field: Callable[[torch.Tensor], torch.Tensor], info: dict | None = None):
        self.problem, self.model, self.field = problem, model, field
        self.info = dict(info or {})
        p = next(model.parameters())
        self.dtype, self.device = p.dtype, p.device

    def __call__(self, points, batch_size: int = 16384) -> torch.Tensor:
        points = torch.as_tensor(points, dtype=self.dtype, device=self.device)
        if points.ndim != 2 or points.shape[1] != self.problem.n_coordinates:
            raise ValueError(
                f"points must have shape (N, {self.problem.n_coordinates}) for problem "
                f"'{self.problem.problem_name}', got {tuple(points.shape)}"
            )
        outs = []
        with torch.no_grad(), self.problem.layout():
            for chunk in points.split(batch_size):
                outs.append(vmap(self.field)(chunk).reshape(chunk.shape[0], -1))
        return torch.cat(outs) if outs else torch.zeros(0, self.problem.n_unknowns, dtype=self.dtype, device=self.device)

    def numpy(self, points) -> np.ndarray:
        """Values at ``points`` as a float64 NumPy array ``(N, n_unknowns)``."""
        return self(points).double().cpu().numpy()

    def errors(self, points: torch.Tensor | None = None) -> dict[str, float] | None:
        """Errors against the problem's exact/reference solution (``None`` if it has none)."""
        if not self.problem.has_reference:
            return None
        points = self.problem.error_points() if points is None else points
        reference = self.problem.solution_at(torch.as_tensor(points, dtype=torch.float64))
        predicted = self(points).double().cpu()
        return relative_errors(predicted, reference.cpu(), self.problem.unknowns)

    def save(self, path) -> None:
        """Save the network weights (``state_dict``; loads with ``weights_only=True``)."""
        torch.save(self.model.state_dict(), path)


def error_function(problem, field, dtype, device, max_points: int = 4096) -> Callable[[], float] | None:
    """A cheap relative-L2 monitor for training: a fixed subset of the error points."""
    if not problem.has_reference:
        return None
    points = problem.error_points()
    if len(points) > max_points:
        keep = np.random.default_rng(0).choice(len(points), max_points, replace=False)
        points = points[np.sort(keep)]
    reference = problem.solution_at(points).to(dtype=dtype, device=device)
    points = points.to(dtype=dtype, device=device)
    norm = reference.norm()

    def rel_l2() -> float:
        with torch.no_grad(), problem.layout():
            values = vmap(field)(points).reshape(reference.shape)
        return float((values - reference).norm() / norm)

    return rel_l2
