"""The Problem API: a PDE, its domain, conditions and (optionally) its solution.

Subclass :class:`Problem`, set ``domain`` (and ``time`` for an evolution
problem), list ``conditions``, and write ``residual(u, x)`` pointwise with the
operators of :mod:`physopt`. The engine evaluates it on many points with
``vmap``. A point is ``x = (x_1, ..., x_d)``, or ``(x_1, ..., x_d, t)`` when
the problem has time. ``u(x)`` is a scalar for one unknown and a vector of
``len(unknowns)`` entries otherwise.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any, ClassVar

import numpy as np
import torch
from torch.func import vmap

from physopt import (ProblemDefinitionError, STDEMode, coordinate_layout, current_derivative_mode, derivative_mode,
                     structured_mesh)

from ._conditions import AbstractCondition, HardConstraint
from ._domain import AbstractDomain, TimeInterval
from ._unknowns import Unknown

__all__ = ["Problem", "resolve_parameters"]


def resolve_parameters(owner: str, declared: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """The declared parameters with ``given`` values (strings from the command line are converted to the
    default's type); an unknown name or a value of the wrong type is a :class:`ProblemDefinitionError`."""
    unknown = sorted(set(given) - set(declared))
    if unknown:
        known = ", ".join(sorted(declared)) or "none"
        raise ProblemDefinitionError(f"problem '{owner}' has no parameter(s) {', '.join(unknown)}; its parameters are: {known}")
    values = dict(declared)
    for key, value in given.items():
        default = declared[key]
        if isinstance(default, bool):
            text = str(value).strip().lower()
            if text not in ("true", "false", "1", "0", "yes", "no"):
                raise ProblemDefinitionError(f"parameter {key}={value!r} of problem '{owner}' must be true or false")
            values[key] = text in ("true", "1", "yes")
            continue
        if not isinstance(default, (int, float)):
            values[key] = value
            continue
        try:
            if isinstance(default, int) and isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            values[key] = type(default)(value)
        except (TypeError, ValueError):
            raise ProblemDefinitionError(
                f"parameter {key}={value!r} of problem '{owner}' must be a {type(default).__name__}") from None
    return values


def _constant_field(value: float):
    """A field of one point that is ``value`` everywhere (an unknown field's initial guess)."""
    return lambda x: x[0] * 0 + value


class Problem:
    r"""Base class of every PDE problem.

    Class attributes (plain attributes or properties):
        domain: the spatial domain (:class:`Box`, :class:`Ball`, ...).
        time: a :class:`TimeInterval` for time-dependent problems, else ``None``.
        conditions: list of :class:`Dirichlet`, :class:`Neumann`, :class:`Robin`,
            :class:`Periodic`, :class:`Initial`, :class:`HardConstraint` (or your own
            :class:`AbstractCondition`).
        unknowns: names of the unknown fields, e.g. ``("u",)`` or ``("u", "v")``.
        vectors: unknowns that together are one vector field, e.g. ``{"velocity": ("u", "v")}``
            (one component per spatial coordinate): written as one field and drawn as
            streamlines over its magnitude.
        equations: how many equations the residual returns per point; default one per
            unknown (declare it for, e.g., an over-determined first-order system).
        parameters: defaults of the problem's parameters, e.g. ``{"beta": 30.0}``;
            ``Problem(beta=40)`` overrides them, each becoming an attribute.
        unknown_parameters: scalars of an inverse problem, identified with the solution,
            e.g. ``{"D": 0.5, "k": Unknown(1.0, positive=True)}`` (initial guesses); used in
            ``residual`` as attributes (``self.D``) like parameters. An ``UnknownField(1.0,
            positive=True)`` is a coefficient field (a second network): ``self.k(x)``,
            ``grad(self.k)(x)``; a problem that knows it gives ``reference_unknown(name, points)``.
        name: registry name (defaults to the class name).

    Methods:
        residual(u, x): the PDE residual at one point (scalar, or a vector of equations).
        rhs(u, x): for an evolution equation u_t = L[u], the right-hand side L[u] at
            one point (spatial operators only). Time-marching solvers (TENG) need
            it; with it, ``residual`` defaults to u_t − L[u].
        exact(x): the exact solution at one point (optional, pointwise torch).
        reference_solution(points): a numerical reference on a batch ``(N, n)``
            when no closed form exists (optional).
    """

    domain: ClassVar[AbstractDomain]
    time: ClassVar[TimeInterval | None] = None
    conditions: ClassVar[list] = []
    unknowns: ClassVar[tuple[str, ...]] = ("u",)
    vectors: ClassVar[dict[str, tuple[str, ...]]] = {}
    parameters: ClassVar[dict[str, Any]] = {}
    unknown_parameters: ClassVar[dict[str, Any]] = {}
    equations: ClassVar[int | None] = None
    name: ClassVar[str | None] = None

    #: options a solver starts from for this problem, below anything the user sets (docs/problems.md)
    solver_defaults: dict[str, dict[str, object]] = {}

    def __init__(self, **params):
        values = resolve_parameters(self.problem_name, self.parameters, params)
        self.params = values
        for key, value in values.items():
            setattr(self, key, value)
        for name, spec in self.unknown_specs().items():  # the initial guesses, until a solver binds trained values
            setattr(self, name, spec.initial if isinstance(spec, Unknown) else _constant_field(spec.initial))

    # ----- unknown scalars (inverse problems) ------------------------------------------
    def unknown_specs(self) -> dict[str, Unknown]:
        """``{name: Unknown}`` of the declared ``unknown_parameters``."""
        if not self.unknown_parameters:
            return {}
        specs = {name: Unknown.of(spec) for name, spec in self.unknown_parameters.items()}
        clash = sorted(set(specs) & (set(self.parameters) | set(self.unknowns)))
        if clash or not all(isinstance(n, str) and n.isidentifier() for n in specs):
            raise ProblemDefinitionError(f"problem '{self.problem_name}': unknown_parameters must be names that are not "
                                         f"also parameters or unknowns (clash: {', '.join(clash) or 'a non-name'})")
        return specs

    @contextlib.contextmanager
    def bound_unknowns(self, values: dict[str, Any]):
        """Inside the block, ``self.<name>`` is the given value of each unknown (a tensor the solver trains)."""
        previous = {name: getattr(self, name) for name in values}
        try:
            for name, value in values.items():
                setattr(self, name, value)
            yield
        finally:
            for name, value in previous.items():
                setattr(self, name, value)

    # ----- description -------------------------------------------------------------
    @classmethod
    def _class_name(cls) -> str:
        return cls.name or cls.__name__

    @property
    def problem_name(self) -> str:
        return self._class_name()

    @classmethod
    def summary(cls) -> str:
        """First line of the docstring."""
        return (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""

    @property
    def n_space(self) -> int:
        return self.domain.dim

    @property
    def has_time(self) -> bool:
        return self.time is not None

    @property
    def n_coordinates(self) -> int:
        return self.n_space + int(self.has_time)

    def periods(self) -> dict[int, float]:
        """``{coordinate: period}`` of the ``Periodic`` conditions (the box's length along that coordinate)."""
        from ._conditions import Periodic

        lo, hi = self.domain.bounds
        return {c.dim: float(hi[c.dim] - lo[c.dim]) for c in self.conditions if isinstance(c, Periodic)}

    @property
    def n_unknowns(self) -> int:
        return len(self.unknowns)

    @property
    def has_exact(self) -> bool:
        return type(self).exact is not Problem.exact

    @property
    def has_reference(self) -> bool:
        return self.has_exact or type(self).reference_solution is not Problem.reference_solution

    def layout(self):
        """Context in which operators know which coordinate is time."""
        return coordinate_layout(self.n_space, self.has_time)

    @property
    def has_rhs(self) -> bool:
        """Whether the problem is written as u_t = L[u] (it defines :meth:`rhs`)."""
        return type(self).rhs is not Problem.rhs

    # ----- the user's part ---------------------------------------------------------
    def residual(self, u, x):
        if self.has_rhs and self.has_time:
            from physopt import time_derivative

            return time_derivative(u)(x) - self.rhs(u, x)
        raise NotImplementedError(
            f"problem '{self.problem_name}' must define residual(self, u, x) returning the PDE residual at x"
        )

    def rhs(self, u, x):
        r"""L[u] at the point ``x`` for u_t = L[u] (optional; write it with spatial operators).

        A space-time solver calls it on points ``(x, t)`` of a field u(x, t); a
        time-marching solver on spatial points ``x`` of a field u(x) at one time.
        """
        raise NotImplementedError(f"problem '{self.problem_name}' defines no rhs(self, u, x) = L[u] for u_t = L[u]")

    def point_data(self, points: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-point data for ``residual(u, x_i, key=row_i)``, computed once per batch of interior points, without
        gradients (an O(d) forcing); ``residual(u, x)`` must still work without it. Default: none."""
        return {}

    def exact(self, x):  # pragma: no cover - marker, overridden by subclasses
        raise NotImplementedError

    def reference_solution(self, points: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    # ----- engine helpers ----------------------------------------------------------
    def solution_at(self, points: torch.Tensor) -> torch.Tensor | None:
        """Exact or reference solution on a batch of points, shape ``(N, n_unknowns)``; ``None`` if absent."""
        if self.has_exact:
            with self.layout():
                values = vmap(self.exact)(points)
        elif self.has_reference:
            values = torch.as_tensor(self.reference_solution(points), dtype=points.dtype, device=points.device)
        else:
            return None
        return values.reshape(points.shape[0], self.n_unknowns)

    def hard_constraint(self) -> HardConstraint | None:
        hard = [c for c in self.conditions if isinstance(c, HardConstraint)]
        return hard[0] if hard else None

    def soft_conditions(self, hard: HardConstraint | None = None) -> list[AbstractCondition]:
        """Conditions that need loss terms: all but those the ansatz ``hard`` satisfies exactly."""
        return [c for c in self.conditions if not isinstance(c, HardConstraint) and not (hard is not None and hard.covers(c))]

    def validate(self) -> None:
        """Check that the pieces fit together; raise :class:`ProblemDefinitionError` naming the fix."""
        name = self.problem_name
        if not isinstance(getattr(self, "domain", None), AbstractDomain):
            raise ProblemDefinitionError(
                f"problem '{name}' needs a `domain` (e.g. Box([0, 0], [1, 1])), got {getattr(self, 'domain', None)!r}"
            )
        if self.time is not None and not isinstance(self.time, TimeInterval):
            raise ProblemDefinitionError(f"problem '{name}': `time` must be a TimeInterval or None, got {self.time!r}")
        if not isinstance(self.unknowns, (tuple, list)) or not self.unknowns or not all(
            isinstance(s, str) and s.isidentifier() for s in self.unknowns
        ):
            raise ProblemDefinitionError(f"problem '{name}': `unknowns` must be a tuple of names, got {self.unknowns!r}")
        for vector, parts in dict(self.vectors).items():
            if vector in self.unknowns or not isinstance(parts, (tuple, list)) or len(parts) != self.n_space \
                    or not set(parts) <= set(self.unknowns):
                raise ProblemDefinitionError(
                    f"problem '{name}': vectors[{vector!r}] must be {self.n_space} of the unknowns {tuple(self.unknowns)} "
                    f"(one per spatial coordinate) under a name that is not an unknown, got {parts!r}")
        if type(self).residual is Problem.residual and not (self.has_rhs and self.has_time):
            raise ProblemDefinitionError(
                f"problem '{name}' must define residual(self, u, x) (or, for u_t = L[u] with a `time`, rhs(self, u, x))"
            )
        for c in self.conditions:
            if not isinstance(c, AbstractCondition):
                raise ProblemDefinitionError(
                    f"problem '{name}': {c!r} in `conditions` is not a condition "
                    "(use Dirichlet, Neumann, Robin, Periodic, Initial or HardConstraint)"
                )
            c.validate(self)
        if len([c for c in self.conditions if isinstance(c, HardConstraint)]) > 1:
            raise ProblemDefinitionError(f"problem '{name}' lists more than one HardConstraint; combine them into one")
        self._check_shapes()

    @property
    def n_equations(self) -> int:
        """Equations the residual returns per point: ``equations`` if declared, else one per unknown."""
        return self.equations if self.equations is not None else self.n_unknowns

    def _check_shapes(self) -> None:
        """Evaluate the residual, ``exact``, condition values and the ansatz at one point; check their sizes."""
        name, n, m = self.problem_name, self.n_coordinates, self.n_unknowns
        where = f"a point of its {self.n_space}-D domain" + (" plus time" if self.has_time else "")
        x = torch.as_tensor(self.domain.sample_interior(1, "uniform", 0)[0], dtype=torch.float64)
        if self.has_time:
            x = torch.cat([x, torch.tensor([0.5 * (self.time.t0 + self.time.t1)], dtype=torch.float64)])
        probe = torch.nn.Sequential(torch.nn.Linear(n, 4), torch.nn.Tanh(), torch.nn.Linear(4, m)).double()

        def u(y):
            out = probe(y)
            return out[0] if m == 1 else out

        if self.equations is not None and (isinstance(self.equations, bool) or not isinstance(self.equations, int) or self.equations < 1):
            raise ProblemDefinitionError(f"problem '{name}': `equations` must be a whole number >= 1, got {self.equations!r}")
        unknowns = f"{m} unknown(s) {tuple(self.unknowns)}"
        # a shape probe, not a measurement: above 64 coordinates an exact Hessian (n² entries) would dominate
        # start-up (80 GB at n = 10⁵), so the operators are sparse STDE estimates with two coordinates there
        mode = STDEMode(samples=2) if n > 64 else current_derivative_mode()
        with self.layout(), derivative_mode(mode):
            for label, fn in [("residual(u, x)", lambda y: self.residual(u, y))] + (
                [("exact(x)", self.exact)] if self.has_exact else []
            ):
                value = self._probe(label, fn, x, where)
                size = math.prod(value.shape[1:])
                if label == "exact(x)" and size != m:
                    raise ProblemDefinitionError(
                        f"problem '{name}': exact(x) returns {size} value(s) per point but the problem has {unknowns}"
                    )
                if label == "residual(u, x)" and size != self.n_equations:
                    if self.equations is not None:
                        raise ProblemDefinitionError(
                            f"problem '{name}': residual(u, x) returns {size} value(s) per point but the problem declares "
                            f"equations = {self.equations}; return that many (torch.stack) or change `equations`"
                        )
                    hint = (
                        "a function of the whole point such as torch.sin(x) gives one value per coordinate: "
                        "use x[0], x[1], … (e.g. torch.sin(torch.pi * x[0]))"
                        if m == 1 and size == n else "return one equation per unknown (torch.stack([...]))"
                    )
                    raise ProblemDefinitionError(
                        f"problem '{name}': residual(u, x) returns {size} value(s) per point but the problem has {unknowns}; "
                        f"{hint}, or declare `equations = {size}` if the system really has {size} equations"
                    )
            for c in self.conditions:
                self._check_condition(c, x, u)

    def _probe(self, label: str, fn, x: torch.Tensor, where: str) -> torch.Tensor:
        """``vmap(fn)`` at the one point ``x``; errors name the problem and the likely fix."""
        name, n = self.problem_name, self.n_coordinates
        try:
            value = vmap(fn)(x[None])
        except ProblemDefinitionError as exc:  # operator misuse: its message names the fix already
            raise ProblemDefinitionError(f"problem '{name}': {label}: {exc}") from exc
        except Exception as exc:  # noqa: BLE001 - reported with context
            raise ProblemDefinitionError(
                f"problem '{name}': {label} failed on {where} (x has {n} coordinate(s)): "
                f"{type(exc).__name__}: {exc}. Check that it only uses x[0]..x[{n - 1}]"
                + (" (time is the last one)" if self.has_time else "")
            ) from exc
        if not torch.is_tensor(value):
            raise ProblemDefinitionError(f"problem '{name}': {label} must return a torch tensor, got {type(value).__name__}")
        return value

    def _check_condition(self, c: AbstractCondition, x: torch.Tensor, u) -> None:
        """A condition's values have one entry, or one per unknown; an ansatz returns one per unknown."""
        if isinstance(c, HardConstraint):
            label = f"{c!r}: ansatz(x, n)"
            value = self._probe(label, lambda y: c.ansatz(y, u(y)), x, "a point")
            self._check_size(c, label, value, (self.n_unknowns,), None, False)
            return
        components = getattr(c, "components", None)  # a condition on some of the unknowns
        for what, fn, raw, spatial in c.pointwise_values():  # functions of the full point
            label = f"{c!r}: {what}"
            value = self._probe(label, lambda y, fn=fn: torch.as_tensor(fn(y), dtype=y.dtype), x, "a point")
            if components is None:
                self._check_size(c, label, value, (1, self.n_unknowns), raw, spatial)
            elif math.prod(value.shape[1:]) not in (1, len(components)):
                raise ProblemDefinitionError(f"problem '{self.problem_name}': {label} has {math.prod(value.shape[1:])} "
                                             f"values per point for the {len(components)} components {components}; "
                                             f"give one value or {len(components)} (in that order)")

    def _check_size(self, c, label: str, value: torch.Tensor, allowed: tuple, raw, spatial: bool) -> None:
        name, m = self.problem_name, self.n_unknowns
        size = math.prod(value.shape[1:])
        if size in allowed:
            return
        if m > 1:
            raise ProblemDefinitionError(
                f"problem '{name}': {label} has {size} values per point but the problem has {m} unknowns "
                f"{tuple(self.unknowns)}; give one value (for every component) or {m} (one per unknown, in that order)"
            )
        if not isinstance(c, HardConstraint) and not callable(raw):
            fix = "give one number: a list gives one value per unknown of a system"
        elif size == (self.n_space if spatial else self.n_coordinates):
            fix = "a function of the whole point such as torch.sin(x) gives one value per coordinate: use x[0], x[1], …"
        else:
            fix = "return one value per point"
        raise ProblemDefinitionError(
            f"problem '{name}': {label} has {size} values per point but the problem has one unknown; {fix}"
        )

    def __repr__(self):
        params = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{self.problem_name}({params})"

    def error_points(self) -> torch.Tensor:
        """Points where errors are measured, float64, shape ``(N, n_coordinates)``.

        Stationary: the domain's evaluation mesh (a Halton set above 3-D).
        Time-dependent: those points at 51 equally spaced times. Override to use
        a benchmark's own grid.
        """
        space = self.domain.error_points()
        if not self.has_time:
            return torch.as_tensor(space, dtype=torch.float64)
        times = self.time.slices(51)
        grid = np.concatenate([np.column_stack([space, np.full(len(space), t)]) for t in times])
        return torch.as_tensor(grid, dtype=torch.float64)

    def evaluation_meshes(self, n_times: int = 21) -> list[dict]:
        """Meshes on which solutions are written and drawn.

        Each entry holds ``mesh`` (a :class:`physopt.Mesh` in display coordinates,
        at most 3-D), ``points`` (the same nodes in the problem's coordinates,
        ``(N, n_coordinates)``), ``time`` (``None``: not one instant) and ``axis_labels``:

        - stationary, up to 3-D: the domain's mesh;
        - stationary, above 3-D: the 2-D slice through the centre in ``x0, x1``;
        - 1-D in space with time: one structured ``(x, t)`` mesh, and the line
          mesh at ``n_times`` equally spaced times (a time series);
        - 2-D/3-D in space with time: the spatial mesh at ``n_times`` times.
        """
        d = self.domain
        n = self.n_space
        labels = ("x", "y", "z")[:n] if n <= 3 else ("x0", "x1")
        if not self.has_time:
            if n <= 3:
                mesh = d.evaluation_mesh()
                return [{"mesh": mesh, "points": mesh.points, "time": None, "axis_labels": labels}]
            return [self._slice_mesh(None)]
        out = []
        if n == 1:
            lo, hi = d.bounds
            plane = structured_mesh([lo[0], self.time.t0], [hi[0], self.time.t1], [401, 201])
            out.append({"mesh": plane, "points": plane.points, "time": None, "axis_labels": ("x", "t")})
        for t in self.time.slices(n_times):
            if n <= 3:
                mesh = d.evaluation_mesh()
                pts = np.column_stack([mesh.points, np.full(len(mesh.points), t)])
                out.append({"mesh": mesh, "points": pts, "time": float(t), "axis_labels": labels})
            else:
                out.append(self._slice_mesh(float(t)))
        return out

    @property
    def slice_resolution(self) -> int:
        """Nodes per side of the centre slice drawn above 3-D: 81, fewer from d ≈ 6000 on so that the slice's
        points stay within 4·10⁷ numbers (20 × 20 at d = 10⁵, 11 × 11 from d ≈ 3·10⁵ on)."""
        return int(min(81, max(11, math.isqrt(40_000_000 // self.n_coordinates))))

    def _slice_mesh(self, t: float | None) -> dict:
        lo, hi = self.domain.bounds
        centre = (lo + hi) / 2
        mesh = structured_mesh(lo[:2], hi[:2], self.slice_resolution)
        full = np.tile(centre, (len(mesh.points), 1))
        full[:, :2] = mesh.points
        inside = self.domain.contains(full)
        mesh.cells = mesh.cells[inside[mesh.cells].all(axis=1)]
        mesh.shape = None
        if t is not None:
            full = np.column_stack([full, np.full(len(full), t)])
        return {"mesh": mesh, "points": full, "time": t, "axis_labels": ("x0", "x1")}
