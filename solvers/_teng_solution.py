"""TENG's solution: network weights at stored time steps, interpolated linearly in time."""

from __future__ import annotations

from typing import final

import numpy as np
import torch

from physopt._atomic import atomic_torch_save
from physopt.curvature import FlatParameters

from ._solution import AbstractSolution, Metric, relative_errors

__all__ = ["TENGSolution"]


@final
class TENGSolution(AbstractSolution):
    """A time series: network weights at stored time steps, values between them interpolated linearly in time."""

    kind = "time_series"

    def __init__(self, problem, model, times: list[float], weights: list[torch.Tensor], info=None, floor=None):
        super().__init__(problem, model, info)
        order = np.argsort(times)
        self.times = np.asarray(times, dtype=float)[order]
        self.weights = [weights[i] for i in order]
        self._floor = floor  # (method, dt) of the ideal stepper to compare with, if the problem offers it
        self._flat = FlatParameters(model)

    def _values_at(self, theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return self._flat.call(theta, x)

    def __call__(self, points, batch_size: int = 65536) -> torch.Tensor:
        points = torch.as_tensor(points, dtype=self.dtype, device=self.device)
        d = self.problem.n_space
        if points.ndim != 2 or points.shape[1] != d + 1:
            raise ValueError(f"points must have shape (N, {d + 1}) = (x, t), got {tuple(points.shape)}")
        t = points[:, -1].double().cpu().numpy()
        lo, hi = self.times[0], self.times[-1]
        tol = 1e-9 * max(1.0, abs(hi))
        if t.min() < lo - tol or t.max() > hi + tol:
            raise ValueError(f"TENG solution covers t in [{lo:g}, {hi:g}]; points reach [{t.min():g}, {t.max():g}]")
        out = torch.empty(points.shape[0], dtype=self.dtype, device=self.device)
        right = np.clip(np.searchsorted(self.times, t - tol), 0, len(self.times) - 1)
        with torch.no_grad():
            for k in np.unique(right):
                rows = np.nonzero(right == k)[0]
                x = points[rows, :d]
                value = self._values_at(self.weights[k], x)
                if k > 0 and np.any(np.abs(t[rows] - self.times[k]) > tol):  # between two stored steps
                    w = torch.as_tensor((self.times[k] - t[rows]) / (self.times[k] - self.times[k - 1]), dtype=value.dtype,
                                        device=value.device)
                    value = (1 - w) * value + w * self._values_at(self.weights[k - 1], x)
                out[rows] = value
        return out[:, None]

    def _final_errors(self, points=None) -> dict[str, float]:
        """At the last time of ``points`` (default: the error points): ``rel_l2_final`` and, where the problem
        offers its ideal stepper, ``floor_rel_l2``: that stepper's error with the same method and dt."""
        points = torch.as_tensor(self.problem.error_points() if points is None else points, dtype=torch.float64)
        final = points[(points[:, -1] - points[:, -1].max()).abs() <= 1e-12 * max(1.0, float(points[:, -1].max()))]
        reference = self.problem.solution_at(final).cpu()
        names = self.problem.unknowns
        out = {"rel_l2_final": relative_errors(self(final).double().cpu(), reference, names)["rel_l2"]}
        if self._floor is not None:
            floor = torch.as_tensor(self.problem.stepper_floor(*self._floor, final), dtype=torch.float64).cpu()
            out["floor_rel_l2"] = relative_errors(floor.reshape(reference.shape), reference, names)["rel_l2"]
        return out

    def errors(self, points=None):
        """Errors over the error points, plus the final time's of :meth:`metrics` (``rel_l2_final``, ``floor_rel_l2``)."""
        errors = super().errors(points)
        if errors is None:
            return None
        errors.update(self._final_errors(points))
        return errors

    def metrics(self) -> list[Metric]:
        """The relative L2 error at the final time and, where the problem has an ideal stepper, that stepper's
        (the floor no TENG run with the same method and dt can beat); none without a reference."""
        if not self.problem.has_reference:
            return []
        values = self._final_errors()
        about = {"rel_l2_final": "relative L2 at the final time", "floor_rel_l2": "stepper floor (final time)"}
        return [Metric(name, values[name], about[name], "error") for name in about if name in values]

    def save(self, path) -> None:
        """The weights at every stored time (``{"times", "weights"}``; loads with ``weights_only=True``)."""
        atomic_torch_save(path, {"times": torch.as_tensor(self.times), "weights": torch.stack(self.weights)})
