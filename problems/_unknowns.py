r"""Unknown scalars of an inverse problem: coefficients identified together with the solution.

A problem declares them as ``unknown_parameters = {"D": 0.5, "k": Unknown(1.0, positive=True)}``
and uses them in ``residual`` like any parameter (``self.D``). A solver trains each
through an unconstrained raw value :math:`\rho`:

- plain: :math:`v = \rho`;
- ``positive``: :math:`v = e^{\rho}`;
- ``bounds=(a, b)``: :math:`v = a + (b - a)\,\sigma(\rho)` (:math:`\sigma` the logistic function).

A spatially varying coefficient is an :class:`UnknownField`, a second (small) network :math:`N(x)`
trained with the solution: :math:`k(x) = k_0 + N(x)`, or :math:`k_0\,e^{N(x)}` with ``positive=True``;
its last layer starts at zero, so :math:`k \equiv k_0` at first. In ``residual``, ``self.k`` is then a
field like ``u``: ``self.k(x)``, ``grad(self.k)(x)``.
"""

from __future__ import annotations

import math

import torch

from physopt import ProblemDefinitionError

__all__ = ["Unknown", "UnknownField", "UnknownParameters"]


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
    def of(cls, spec) -> "Unknown | UnknownField":
        """An ``Unknown`` from a declaration: itself (or an :class:`UnknownField`), or a number (its initial value)."""
        if isinstance(spec, (Unknown, UnknownField)):
            return spec
        if isinstance(spec, (int, float)) and not isinstance(spec, bool):
            return cls(spec)
        raise ProblemDefinitionError(f"unknown_parameters: each value must be a number, Unknown(...) or UnknownField(...), "
                                     f"got {spec!r}")

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


class UnknownField:
    """An unknown coefficient field :math:`k(x)`: a network of ``depth`` hidden layers of ``width`` (tanh) around
    ``initial``, positive if asked (:math:`k_0 e^{N(x)}`)."""

    def __init__(self, initial: float = 1.0, positive: bool = False, width: int = 20, depth: int = 2):
        self.initial, self.positive, self.width, self.depth = float(initial), bool(positive), width, depth
        if not math.isfinite(self.initial) or (positive and not self.initial > 0):
            raise ProblemDefinitionError(f"UnknownField: the initial value must be finite{' and > 0' if positive else ''}, "
                                         f"got {initial!r}")
        for label, value in (("width", width), ("depth", depth)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ProblemDefinitionError(f"UnknownField: {label} must be an integer >= 1, got {value!r}")

    def network(self, n_coordinates: int) -> torch.nn.Module:
        """The field's network :math:`N`, its last layer zero (so :math:`k = k_0` at first)."""
        from physopt import MLP

        net = MLP(n_coordinates, 1, width=self.width, depth=self.depth)
        last = net.layers[-1]
        torch.nn.init.zeros_(last.weight)
        torch.nn.init.zeros_(last.bias)
        return net

    def value(self, out: torch.Tensor) -> torch.Tensor:
        """:math:`k` from the network's output :math:`N(x)`."""
        return self.initial * out.exp() if self.positive else self.initial + out

    def __repr__(self):
        return f"UnknownField({self.initial:g}{', positive=True' if self.positive else ''}, width={self.width}, depth={self.depth})"


class UnknownParameters(torch.nn.Module):
    """The raw values of a problem's unknowns as parameters (``raw_<name>``, scalars) and the networks of its
    unknown fields (``field_<name>``); :meth:`values` maps them to values (scalars, or fields of one point)."""

    PREFIX = "raw_"
    FIELD_PREFIX = "field_"

    def __init__(self, specs: dict[str, "Unknown | UnknownField"], n_coordinates: int | None = None):
        super().__init__()
        self.specs = {name: Unknown.of(spec) for name, spec in specs.items()}
        for name, spec in self.specs.items():
            if isinstance(spec, UnknownField):
                if n_coordinates is None:
                    raise ValueError("UnknownParameters: unknown fields need n_coordinates")
                self.add_module(self.FIELD_PREFIX + name, spec.network(n_coordinates))
            else:
                self.register_parameter(self.PREFIX + name, torch.nn.Parameter(torch.tensor(spec.raw(spec.initial))))

    @property
    def scalars(self) -> list[str]:
        """The names of the unknown scalars (not fields)."""
        return [name for name, spec in self.specs.items() if not isinstance(spec, UnknownField)]

    def values(self, params: dict[str, torch.Tensor] | None = None, prefix: str = "") -> dict[str, object]:
        """``{name: value}`` from this module's parameters, or from ``params`` (``prefix`` + ``raw_<name>``, ...).

        A scalar's value is a tensor; a field's, a function of one point ``x`` (like ``u``) returning :math:`k(x)`.
        """
        out = {}
        for name, spec in self.specs.items():
            if isinstance(spec, UnknownField):
                out[name] = self._field(name, spec, params, prefix)
                continue
            raw = getattr(self, self.PREFIX + name) if params is None else params[prefix + self.PREFIX + name]
            out[name] = spec.value(raw)
        return out

    def _field(self, name: str, spec: UnknownField, params, prefix: str):
        net = getattr(self, self.FIELD_PREFIX + name)
        if params is None:
            return lambda x: spec.value(net(x)[..., 0])
        start = f"{prefix}{self.FIELD_PREFIX}{name}."
        own = {k[len(start):]: v for k, v in params.items() if k.startswith(start)}
        return lambda x: spec.value(torch.func.functional_call(net, own, (x,))[..., 0])
