"""Derived quantities written with a run (``physopt solve ... --derived grad,laplacian``).

Built in, for every unknown ``u``: ``grad`` (the spatial gradient, a vector field ``grad_u``) and
``laplacian`` (``laplacian_u``). A problem adds its own as ``derived_quantities = {"flux": lambda u:
lambda x: -grad(u)(x)}`` (operators of the whole field ``u``, any shape per point).
"""

from __future__ import annotations

import numpy as np

from .. import ConfigurationError, grad, laplacian

BUILT_IN = {"grad": grad, "laplacian": laplacian}


def check_derived(problem, names: list[str]) -> None:
    """Every name is built in or the problem's own; else a one-line error listing the choices."""
    own = dict(getattr(problem, "derived_quantities", {}) or {})
    unknown = [n for n in names if n not in BUILT_IN and n not in own]
    if unknown:
        choices = ", ".join([*BUILT_IN, *own])
        raise ConfigurationError(f"--derived: unknown quantity {', '.join(map(repr, unknown))}; choose from {choices}")


def derived_fields(problem, solution, points, names: list[str]) -> dict[str, np.ndarray]:
    """The derived quantities ``names`` of ``solution`` at ``points``, as point fields (float64 NumPy arrays)."""
    if not names:
        return {}
    if not hasattr(solution, "apply"):
        raise ConfigurationError(f"--derived needs a pointwise solution; this solver's is {type(solution).__name__}")
    own = dict(getattr(problem, "derived_quantities", {}) or {})
    out = {}
    for name in names:
        if name in own:
            out[name] = _point_field(solution.apply(own[name], points), len(points))
            continue
        for i, unknown in enumerate(problem.unknowns):
            component = (lambda k: lambda u: BUILT_IN[name](lambda y: u(y).reshape(-1)[k]))(i)
            out[f"{name}_{unknown}"] = _point_field(solution.apply(component, points), len(points))
    return out


def _point_field(values, n: int) -> np.ndarray:
    """``(n,)`` for one value per point, else ``(n, k)``."""
    values = values.double().cpu().numpy().reshape(n, -1)
    return values[:, 0] if values.shape[1] == 1 else values
