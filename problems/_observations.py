r"""Observations: measured values of some unknowns at given space(-time) points, as a data-misfit condition.

:math:`b_i = u_c(x_i) - y_i` for the observed components c, at every observation
(all of them each time the solver samples: the data are fixed). A PINN adds it
as a penalty like any condition; solvers that fit data (``solvers.lflow``) read
``points`` and ``values`` directly.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from physopt import ProblemDefinitionError

from ._condition_base import AbstractCondition, PointSampler, _check_weight

__all__ = ["Observations"]


class Observations(AbstractCondition):
    """Values ``values`` ``(N, k)`` of the unknowns ``components`` (k names) at ``points`` ``(N, n_coordinates)``."""

    kind = "observations"
    derivative_order = 0

    def __init__(self, points, values, components: Sequence[str], weight: float = 1.0):
        self.points = np.asarray(points, dtype=float)
        values = np.asarray(values, dtype=float)
        self.values = values.reshape(len(values), -1) if values.ndim <= 1 else values
        self.components = tuple(components)
        self.weight = _check_weight(weight, "Observations")
        if self.points.ndim != 2 or len(self.points) != len(self.values) or len(self.points) == 0:
            raise ProblemDefinitionError(f"Observations: points must be (N, n_coordinates) and values (N, k) with the "
                                         f"same N >= 1, got {self.points.shape} and {self.values.shape}")
        if self.values.shape[1] != len(self.components):
            raise ProblemDefinitionError(f"Observations: {self.values.shape[1]} value column(s) for "
                                         f"{len(self.components)} component(s) {self.components}")
        if not (np.isfinite(self.points).all() and np.isfinite(self.values).all()):
            raise ProblemDefinitionError("Observations: points and values must be finite (drop or fill missing data)")

    def validate(self, problem) -> None:
        unknown = [c for c in self.components if c not in problem.unknowns]
        if unknown:
            raise ProblemDefinitionError(f"problem '{problem.problem_name}': Observations of {unknown}, which are not "
                                         f"among its unknowns {tuple(problem.unknowns)}")
        if self.points.shape[1] != problem.n_coordinates:
            raise ProblemDefinitionError(f"problem '{problem.problem_name}': Observations points have "
                                         f"{self.points.shape[1]} coordinates, the problem {problem.n_coordinates}")
        self._index = [problem.unknowns.index(c) for c in self.components]

    def sample(self, problem, sampler: PointSampler) -> dict[str, np.ndarray]:
        return {"points": self.points, "values": self.values}

    def residual(self, u, x: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        out = u(x).reshape(-1)
        return out[self._index] - values

    def __repr__(self):
        return f"Observations({len(self.points)} points of {', '.join(self.components)})"
