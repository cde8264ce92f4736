"""A trained solution: evaluate it anywhere, measure its error, save its weights."""

from __future__ import annotations

import abc
import dataclasses
from typing import Callable, final

import numpy as np
import torch
from torch.func import vmap

from physopt import relative_l2
from physopt._atomic import atomic_torch_save

__all__ = ["AbstractSolution", "Solution", "Metric", "relative_errors", "SOLUTION_KINDS"]

#: a solution's kinds: one field over space(-time), weights stored at time steps and interpolated, or an operator
SOLUTION_KINDS = ("pointwise", "time_series", "operator")


@dataclasses.dataclass(frozen=True)
class Metric:
    """A named extra result of a solve (a stepper's error floor, a conservation residual, ...).

    ``name`` is its key in the summary's ``metrics``; ``kind`` says how a convergence study
    treats it: ``"error"`` (fitted for an order like the relative L2 error) or ``"info"``
    (tabulated only).
    """

    name: str
    value: float | None
    description: str
    kind: str = "info"


def relative_errors(predicted: torch.Tensor, reference: torch.Tensor, names) -> dict[str, float]:
    r"""Discrete relative L2 :math:`\|u-\hat u\|_2/\|u\|_2` (:func:`physopt.relative_l2`) and max-abs errors,
    overall and per unknown (float64). An unknown whose reference is NaN everywhere has none (the lid-driven
    cavity's pressure) and is left out."""
    predicted, reference = predicted.double(), reference.double()
    several = len(names) > 1
    known = ~torch.isnan(reference).all(0)
    if not known.all():
        predicted, reference, names = predicted[:, known], reference[:, known], [n for n, k in zip(names, known) if k]
    out = {"rel_l2": relative_l2(predicted, reference), "max_abs": float((predicted - reference).abs().max())}
    if several:
        for i, name in enumerate(names):
            out[f"rel_l2_{name}"] = relative_l2(predicted[:, i], reference[:, i])
            out[f"max_abs_{name}"] = float((predicted[:, i] - reference[:, i]).abs().max())
    return out


class AbstractSolution(abc.ABC):
    """What a solve returns: values anywhere, errors against the reference, named metrics, saved weights.

    Two final kinds: :class:`Solution` (one pointwise field over space or space-time) and a
    time series (network weights stored at time steps, interpolated in time: ``TENGSolution``).

    Args:
        problem: the Problem it solves.
        model: the trained network (its dtype and device are the solution's).
        info: at least ``steps``, ``stop_reason``, ``train_time_s``, ``final_loss``.
    """

    kind: str  # one of SOLUTION_KINDS

    def __init__(self, problem, model: torch.nn.Module, info: dict | None = None):
        self.problem, self.model = problem, model
        self.info = dict(info or {})
        p = next(model.parameters())
        self.dtype, self.device = p.dtype, p.device

    @abc.abstractmethod
    def __call__(self, points) -> torch.Tensor:
        """Values ``(N, n_unknowns)`` at ``points`` ``(N, n_coordinates)``."""

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
        errors = relative_errors(predicted, reference.cpu(), self.problem.unknowns)
        extra = getattr(self.problem, "extra_errors", None)  # a problem's own measures (the STDE balls' floor)
        return {**errors, **(extra(torch.as_tensor(points, dtype=torch.float64).cpu(), predicted, reference.cpu()) if extra else {})}

    def metrics(self) -> list[Metric]:
        """Extra named results beyond ``errors()`` (none unless a solution kind declares some)."""
        return []

    def save(self, path) -> None:
        """Save the network weights (``state_dict``, atomically; loads with ``weights_only=True``)."""
        atomic_torch_save(path, self.model.state_dict())

@final
class Solution(AbstractSolution):
    """A field ``u`` learned for ``problem``: ``solution(points)`` gives ``(N, n_unknowns)``.

    Args:
        problem: the Problem it solves.
        model: the trained network.
        field: the pointwise map ``x -> u(x)`` (network plus any hard-constraint ansatz).
        info: the run's ``info`` (see :class:`AbstractSolution`).
    """

    kind = "pointwise"

    def __init__(self, problem, model: torch.nn.Module, field: Callable[[torch.Tensor], torch.Tensor], info: dict | None = None):
        super().__init__(problem, model, info)
        self.field = field

    def _points(self, points) -> torch.Tensor:
        points = torch.as_tensor(points, dtype=self.dtype, device=self.device)
        if points.ndim != 2 or points.shape[1] != self.problem.n_coordinates:
            raise ValueError(
                f"points must have shape (N, {self.problem.n_coordinates}) for problem "
                f"'{self.problem.problem_name}', got {tuple(points.shape)}"
            )
        return points

    def apply(self, operator: Callable, points, batch_size: int = 4096) -> torch.Tensor:
        """``operator(u)(x)`` at every point, ``(N, ...)``: any pointwise operator of the learned field, e.g.
        ``solution.apply(laplacian, x)``, ``solution.apply(grad, x)``, or a flux
        ``solution.apply(lambda u: lambda y: -k * grad(u)(y), x)``. Derivatives by autodiff of the field,
        spatial operators on the spatial coordinates (the problem's layout)."""
        points = self._points(points)
        outs = []
        with torch.no_grad(), self.problem.layout():  # torch.func's transforms differentiate inside no_grad
            for chunk in points.split(batch_size):
                outs.append(vmap(operator(self.field))(chunk))
        return torch.cat(outs)

    def derivative(self, points, *dims: int) -> torch.Tensor:
        r"""The partial derivative :math:`\partial^k u / \partial x_{d_1} \cdots \partial x_{d_k}` at ``points``
        (raw coordinate indices, time included), ``(N, n_unknowns)``; no ``dims``: the values."""
        from physopt import partial

        return self.apply(lambda u: partial(u, *dims) if dims else u, points).reshape(len(points), -1)

    def __call__(self, points, batch_size: int = 16384) -> torch.Tensor:
        points = self._points(points)
        outs = []
        with torch.no_grad(), self.problem.layout():
            for chunk in points.split(batch_size):
                outs.append(vmap(self.field)(chunk).reshape(chunk.shape[0], -1))
        return torch.cat(outs) if outs else torch.zeros(0, self.problem.n_unknowns, dtype=self.dtype, device=self.device)



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

    def rel_l2() -> float:
        with torch.no_grad(), problem.layout():
            values = vmap(field)(points).reshape(reference.shape)
        return relative_l2(values, reference)

    return rel_l2
