r"""Unknown scalars of an inverse problem: coefficients identified together with the solution.

A problem declares them as ``unknown_parameters = {"D": 0.5, "k": Unknown(1.0, positive=True)}``
and uses them in ``residual`` like any parameter (``self.D``). A solver trains each
through an unconstrained raw value :math:`\rho`:

- plain: :math:`v = \rho`;
- ``positive``: :math:`v = e^{\rho}`;
- ``bounds=(a, b)``: :math:`v = a + (b - a)\,\sigma(\rho)` (:math:`\sigma` the logistic function).
"""

from __future__ import annotations

import math

import torch

from physopt import ProblemDefinitionError

__all__ = ["Unknown", "UnknownParameters"]


class Unknown:
    """An unknown scalar: its initial guess, and whether it is positive or bounded."""

    def __init__(self, initial: float, positive: bool = False, bounds: tuple[float, float] | None = None):
        self.initial, self.positive, self.bounds = float(initial), bool(positive), bounds
        if not math.isfinite(self.initial):
            raise ProblemDefinitionError(f"Unknown: the initial value must be finite, got {initial!r}")
        if positive and bounds is not None:
            raise ProblemDefinitionError("Unknown: give positive=True or bounds=(a, b), not both")
        if positive and not self.initial > 0:
            raise ProblemDefinitionError(f"Unknown(positive=True): the initial value must be > 0, got {initial!r}")
        if bounds is not None:
            a, b = (float(v) for v in bounds)
            if not a < self.initial < b:
                raise ProblemDefinitionError(f"Unknown(bounds=({a:g}, {b:g})): the initial value {initial!r} must lie "
                                             "strictly inside the bounds")
            self.bounds = (a, b)

    @classmethod
    def of(cls, spec) -> "Unknown":
        """An ``Unknown`` from a declaration: itself, or a number (its initial value)."""
        if isinstance(spec, Unknown):
            return spec
        if isinstance(spec, (int, float)) and not isinstance(spec, bool):
            return cls(spec)
        raise ProblemDefinitionError(f"unknown_parameters: each value must be a number or Unknown(...), got {spec!r}")

    def raw(self, value: float) -> float:
        """The raw value :math:`\\rho` of ``value``."""
        if self.positive:
            return math.log(value)
        if self.bounds is not None:
            a, b = self.bounds
            p = (value - a) / (b - a)
            return math.log(p / (1 - p))
        return value

    def value(self, raw: torch.Tensor) -> torch.Tensor:
        """The value :math:`v(\\rho)` (differentiable)."""
        if self.positive:
            return raw.exp()
        if self.bounds is not None:
            a, b = self.bounds
            return a + (b - a) * torch.sigmoid(raw)
        return raw

    def __repr__(self):
        extra = ", positive=True" if self.positive else (f", bounds={self.bounds}" if self.bounds else "")
        return f"Unknown({self.initial:g}{extra})"


class UnknownParameters(torch.nn.Module):
    """The raw values of a problem's unknowns as parameters (``raw_<name>``, scalars); :meth:`values` maps them."""

    PREFIX = "raw_"

    def __init__(self, specs: dict[str, Unknown]):
        super().__init__()
        self.specs = dict(specs)
        for name, spec in self.specs.items():
            self.register_parameter(self.PREFIX + name, torch.nn.Parameter(torch.tensor(spec.raw(spec.initial))))

    def values(self, params: dict[str, torch.Tensor] | None = None, prefix: str = "") -> dict[str, torch.Tensor]:
        """``{name: value}`` from this module's raw parameters, or from ``params`` (``prefix`` + ``raw_<name>``)."""
        out = {}
        for name, spec in self.specs.items():
            raw = getattr(self, self.PREFIX + name) if params is None else params[prefix + self.PREFIX + name]
            out[name] = spec.value(raw)
        return out
