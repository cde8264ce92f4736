"""Solver options: typed dataclasses that validate themselves and parse CLI strings."""

from __future__ import annotations

import dataclasses
import typing

from physopt import ConfigurationError, check_device, parse_schedule

__all__ = ["AbstractOptions", "option"]


def option(default, help: str, **field_kwargs):
    """A field of an options dataclass with its help text (shown by ``physopt solve --help``).

    ``default`` may be a zero-argument callable for values decided at run time
    (``option(default_device, "cpu, cuda, ...")``); it is then a ``default_factory``.
    """
    metadata = {"help": help}
    if callable(default):
        return dataclasses.field(default_factory=default, metadata=metadata, **field_kwargs)
    return dataclasses.field(default=default, metadata=metadata, **field_kwargs)


def _a(kind: type) -> str:
    name = kind.__name__
    return f"an {name}" if name[0] in "aeiou" else f"a {name}"


@dataclasses.dataclass
class AbstractOptions:
    """Base of every solver's options dataclass."""

    @classmethod
    def field_types(cls) -> dict[str, type]:
        hints = typing.get_type_hints(cls)
        return {f.name: hints[f.name] for f in dataclasses.fields(cls)}

    @classmethod
    def help_texts(cls) -> dict[str, str]:
        """Each option's help text (declared with :func:`option`; empty where none was given)."""
        return {f.name: f.metadata.get("help", "") for f in dataclasses.fields(cls)}

    @classmethod
    def from_strings(cls, values: dict[str, str], base: "AbstractOptions | None" = None) -> "AbstractOptions":
        """Options from ``{name: text}`` (as given on the command line), converted to each field's type."""
        types = cls.field_types()
        parsed = {}
        for key, text in values.items():
            name = key.replace("-", "_")
            if name not in types:
                raise ConfigurationError(
                    f"unknown option '{key}' for this solver; options are: {', '.join(types)}"
                )
            kind = types[name]
            try:
                if kind is bool:
                    low = str(text).lower()
                    if low not in ("1", "0", "true", "false", "yes", "no"):
                        raise ValueError
                    parsed[name] = low in ("1", "true", "yes")
                elif kind is int:
                    parsed[name] = int(text)
                else:
                    parsed[name] = kind(text)
            except (TypeError, ValueError):
                raise ConfigurationError(f"option {key}={text!r} must be {_a(kind)}") from None
        out = dataclasses.replace(base or cls(), **parsed)
        out.validate()
        return out

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    def validate(self) -> None:
        for name, kind in self.field_types().items():
            value = getattr(self, name)
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
                setattr(self, name, value)
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                raise ConfigurationError(f"option {name}={value!r} must be {_a(kind)}")

    def check_choice(self, name: str, choices) -> None:
        value = getattr(self, name)
        if value not in choices:
            raise ConfigurationError(f"unknown {name} '{value}'; choose one of: {', '.join(choices)}")

    def check_training(self, steps: int | None = None) -> None:
        """The options every optimizing solver shares: ``lr``, ``lr_final`` > 0, ``stall_rtol`` in [0, 1),
        an ``optimizer`` schedule over ``steps`` (the option, unless given), a ``device``."""
        if not self.lr > 0 or not self.lr_final > 0:
            raise ConfigurationError(f"lr and lr_final must be positive, got lr={self.lr}, lr_final={self.lr_final}")
        if not 0 <= self.stall_rtol < 1:
            raise ConfigurationError(f"stall_rtol must be in [0, 1) (a fraction of the loss), got {self.stall_rtol}")
        parse_schedule(self.optimizer, self.steps if steps is None else steps)
        check_device(self.device)

    def check_range(self, name: str, low) -> None:
        value = getattr(self, name)
        if value < low:
            raise ConfigurationError(f"option {name} must be >= {low}, got {value}")
