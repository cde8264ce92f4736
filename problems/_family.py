r"""Problem families: a PDE whose input function is random, for operator learning (issue 21).

A family maps an *input function* :math:`a` (an initial condition, a coefficient,
a source), drawn from a distribution — a Gaussian random field
(:mod:`problems._random_fields`) — to the *solution* :math:`s = \mathcal{G}(a)`,
which a trustworthy classical method computes for every draw
(:mod:`problems._operator_generators`). Both live on uniform grids of the unit
interval or square at a *resolution* :math:`S` (points per axis):

- ``input_axes(S)``: the axes of the input's grid (the DeepONet's sensors, the FNO's grid),
- ``output_axes(S)``: the axes of the solution's grid, the coordinates ``coordinates``,

periodic axes as :math:`x_j = j/S`, others as :math:`x_j = j/(S-1)` (both ends
included). Datasets of many draws are generated on first use and cached
(:mod:`problems._operator_data`). A family whose :meth:`residual` is written
pointwise with ``physopt`` operators can train a physics-informed operator with no
solved draws at all (PI-DeepONet).

A family is a class, registered by name::

    @register_family("antiderivative")
    class Antiderivative(AbstractProblemFamily):
        coordinates = ("x",)
        def draw_inputs(self, n, resolution, rng): ...
        def solve_inputs(self, inputs, resolution): ...
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar

import numpy as np
import scipy.interpolate
import torch

from physopt import ConfigurationError, ProblemDefinitionError
from physopt._registry import Registry

from ._problem import resolve_parameters

__all__ = ["AbstractProblemFamily", "FAMILIES", "register_family", "registered_families", "uniform_axis"]


def uniform_axis(resolution: int, periodic: bool) -> np.ndarray:
    """Points of the unit interval: ``j/S`` (periodic) or ``j/(S-1)`` (both ends), ``j = 0 … S-1``."""
    return np.arange(resolution) / resolution if periodic else np.linspace(0.0, 1.0, resolution)


class AbstractProblemFamily(abc.ABC):
    """Base of every problem family: parameters, grids, draws of the input and their classical solutions.

    Class attributes:
        coordinates: names of the solution's coordinates (the DeepONet trunk's input), e.g. ``("x", "t")``.
        input_coordinates: names of the input function's coordinates (a prefix of ``coordinates`` or equal).
        periodic: the grids are periodic (``j/S``), else they include both ends.
        input_name / output_name: what the input function and the solution are called.
        parameters: defaults of the family's parameters (``--param NAME=VALUE``).
        resolution: the default resolution ``S`` of datasets; ``samples``: the default (train, test) sizes.
        solver_defaults: options each solver starts from for this family, below the user's.
    """

    name: ClassVar[str | None] = None
    coordinates: ClassVar[tuple[str, ...]] = ("x",)
    input_coordinates: ClassVar[tuple[str, ...]] = ("x",)
    periodic: ClassVar[bool] = False
    input_name: ClassVar[str] = "u"
    output_name: ClassVar[str] = "s"
    parameters: ClassVar[dict[str, Any]] = {}
    resolution: ClassVar[int] = 100
    samples: ClassVar[tuple[int, int]] = (1000, 200)
    solver_defaults: ClassVar[dict[str, dict[str, object]]] = {}
    #: bumped when the distribution or the generator changes: cached datasets of other versions are not reused
    version: ClassVar[int] = 1

    def __init__(self, **params):
        self.params = resolve_parameters(self.problem_name, self.parameters, params)
        for key, value in self.params.items():
            setattr(self, key, value)

    @property
    def problem_name(self) -> str:
        return self.name or type(self).__name__

    @classmethod
    def summary(cls) -> str:
        """First line of the docstring (``physopt list``)."""
        return (cls.__doc__ or cls.__name__).strip().splitlines()[0]

    def __repr__(self):
        return f"{self.problem_name}({', '.join(f'{k}={v!r}' for k, v in self.params.items())})"

    def validate(self) -> None:
        """Check the parameters (a family with constraints overrides it); raise ProblemDefinitionError."""

    # ----- grids ----------------------------------------------------------------------
    def input_axes(self, resolution: int) -> tuple[np.ndarray, ...]:
        """The input grid's axes at ``resolution``: one per input coordinate."""
        return tuple(uniform_axis(resolution, self.periodic) for _ in self.input_coordinates)

    def output_axes(self, resolution: int) -> tuple[np.ndarray, ...]:
        """The solution grid's axes at ``resolution``: one per coordinate."""
        return tuple(uniform_axis(resolution, self.periodic) for _ in self.coordinates)

    def output_points(self, resolution: int) -> np.ndarray:
        """All points of the solution grid, ``(prod(shape), len(coordinates))``, C order."""
        grids = np.meshgrid(*self.output_axes(resolution), indexing="ij")
        return np.stack([g.ravel() for g in grids], axis=-1)

    def input_shape(self, resolution: int) -> tuple[int, ...]:
        return tuple(len(a) for a in self.input_axes(resolution))

    def output_shape(self, resolution: int) -> tuple[int, ...]:
        return tuple(len(a) for a in self.output_axes(resolution))

    @property
    def same_grid(self) -> bool:
        """Input and solution share one grid (what an FNO maps between)."""
        return self.input_coordinates == self.coordinates

    def check_resolution(self, resolution: int) -> int:
        """``resolution`` as an int >= 4, or a ProblemDefinitionError naming the fix."""
        if isinstance(resolution, bool) or int(resolution) != resolution or resolution < 4:
            raise ProblemDefinitionError(f"{self.problem_name}: resolution must be a whole number >= 4 (points per axis), "
                                         f"got {resolution!r}")
        return int(resolution)

    # ----- the distribution and the classical solver ---------------------------------------
    @abc.abstractmethod
    def draw_inputs(self, n: int, resolution: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` input functions on the input grid, ``(n, *input_shape)`` float64."""

    @abc.abstractmethod
    def solve_inputs(self, inputs: np.ndarray, resolution: int) -> np.ndarray:
        """The classical solutions on the output grid, ``(n, *output_shape)`` float64."""

    # ----- physics (optional: PI-DeepONet) ----------------------------------------------------
    @property
    def has_physics(self) -> bool:
        return type(self).residual is not AbstractProblemFamily.residual

    def residual(self, s, y: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """The PDE residual at one point ``y`` of the solution's domain.

        Args:
            s: the solution, a field of one point returning the values ``(B,)`` of B functions at once
                (differentiate it with ``physopt`` operators: ``partial(s, 0)(y)``).
            y: the point ``(len(coordinates),)``.
            u: the B input functions' values at ``y`` ``(B,)``.
        Returns:
            the residuals ``(B,)``.
        """
        raise ConfigurationError(f"problem family '{self.problem_name}' has no residual: it trains from data only")

    def constraint_points(self, rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
        """Points where the solution is prescribed (initial and boundary values), ``{name: (P, k)}``; zero values
        (:meth:`constraint_values` says otherwise)."""
        return {}

    def constraint_values(self, name: str, points: torch.Tensor, inputs_at_points: torch.Tensor) -> torch.Tensor:
        """The prescribed values ``(B, P)`` at ``points``: zero unless a family says otherwise."""
        return torch.zeros_like(inputs_at_points)

    def residual_points(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` uniform points of the solution's domain (the unit interval or square), ``(n, k)``."""
        return rng.random((n, len(self.coordinates)))

    def input_interpolation(self, points: np.ndarray, resolution: int) -> np.ndarray:
        """``W`` ``(P, prod(input_shape))`` with ``u(points) = W u_grid``: cubic-spline interpolation of the input
        grid at the input coordinates of ``points`` (periodic splines on periodic grids)."""
        axes = self.input_axes(resolution)
        k = len(axes)
        if k != 1:
            raise ConfigurationError(f"{self.problem_name}: interpolating a {k}-D input is not supported")
        x = axes[0]
        eye = np.eye(len(x))
        if self.periodic:
            spline = scipy.interpolate.CubicSpline(np.append(x, 1.0), np.vstack([eye, eye[:1]]), bc_type="periodic")
            return spline(np.mod(points[:, 0], 1.0))
        return scipy.interpolate.CubicSpline(x, eye)(points[:, 0])


def _load_builtin_families() -> None:
    from ._library import operator_families  # noqa: F401  (its decorators register them)


FAMILIES = Registry("family", AbstractProblemFamily, _load_builtin_families)
FAMILIES.group = "physopt.families"
register_family = FAMILIES.register


def registered_families() -> dict[str, type[AbstractProblemFamily]]:
    """All named problem families: the library's and those of installed plug-ins (entry points ``physopt.families``)."""
    return FAMILIES.all()
