"""What a convergence study varies: ``--vary NAME=v1,v2,...`` and ``--fit-range LO:HI``, parsed and checked."""

from __future__ import annotations

import math

from .._errors import ConfigurationError

__all__ = ["parse_vary", "parse_fit_range", "resolve_name", "numbers"]

_PREFIXES = {"option.": "option", "param.": "param"}


def parse_vary(text: str) -> tuple[str, list[str]]:
    """``"NAME=v1,v2,..."`` -> ``(NAME, ["v1", "v2", ...])``."""
    name, sep, values = text.partition("=")
    if not sep or not name.strip():
        raise ConfigurationError(f"--vary '{text}' must look like NAME=v1,v2,... (e.g. points=256,512,1024)")
    return name.strip(), [v.strip() for v in values.split(",") if v.strip()]


def parse_fit_range(text: str | None) -> tuple[float, float] | None:
    """``"lo:hi"`` (either side may be empty) -> ``(lo, hi)``."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return None
    if not isinstance(text, str):
        lo, hi = text
        lo, hi = (-math.inf if lo is None else float(lo)), (math.inf if hi is None else float(hi))
    else:
        lo_text, sep, hi_text = text.partition(":")
        try:
            if not sep:
                raise ValueError
            lo = float(lo_text) if lo_text.strip() else -math.inf
            hi = float(hi_text) if hi_text.strip() else math.inf
        except ValueError:
            raise ConfigurationError(f"--fit-range '{text}' must look like LO:HI, e.g. 0.001:0.01 (either side may be empty)") from None
    if math.isnan(lo) or math.isnan(hi) or lo > hi:
        raise ConfigurationError(f"--fit-range {text!r}: need LO <= HI")
    return lo, hi


def _prefixed(name: str, option_types: dict, parameters: dict, solver: str, problem: str) -> tuple[str, str] | None:
    for prefix, kind in _PREFIXES.items():
        if not name.startswith(prefix):
            continue
        bare = name[len(prefix):]
        if kind == "option":
            bare = bare.replace("-", "_")
            if bare not in option_types:
                raise ConfigurationError(
                    f"--vary {name}: solver '{solver}' has no option '{bare}'; its options are: {', '.join(option_types)}"
                )
        elif bare not in parameters:
            raise ConfigurationError(
                f"--vary {name}: problem '{problem}' has no parameter '{bare}'; "
                f"its parameters are: {', '.join(sorted(parameters)) or 'none'}"
            )
        return kind, bare
    return None


def resolve_name(name: str, option_types: dict, parameters: dict, solver: str, problem: str) -> tuple[str, str]:
    """The varied NAME -> (kind, bare name); kind is 'option' or 'param'."""
    prefixed = _prefixed(name, option_types, parameters, solver, problem)
    if prefixed is not None:
        return prefixed
    as_option = name.replace("-", "_")
    is_option, is_param = as_option in option_types, name in parameters
    if is_option and is_param:
        raise ConfigurationError(
            f"--vary {name}: '{name}' is both a solver option and a parameter of problem '{problem}'; "
            f"write option.{name} or param.{name}"
        )
    if is_option:
        return "option", as_option
    if is_param:
        return "param", name
    raise ConfigurationError(
        f"--vary: unknown name '{name}'; solver '{solver}' options are: {', '.join(option_types)}; "
        f"problem '{problem}' parameters are: {', '.join(sorted(parameters)) or 'none'}"
    )


def numbers(name: str, values) -> list[tuple[str, float]]:
    """Value texts and their numbers; at least two, all numeric, no repeats."""
    if isinstance(values, str):
        values = [v.strip() for v in values.split(",") if v.strip()]
    texts = [v if isinstance(v, str) else repr(v) if isinstance(v, float) else str(v) for v in values]
    out = []
    for text in texts:
        try:
            number = float(text)
        except ValueError:
            raise ConfigurationError(f"--vary {name}: value '{text}' is not a number; give numbers like {name}=0.02,0.01,0.005") from None
        if not math.isfinite(number):
            raise ConfigurationError(f"--vary {name}: value '{text}' is not a finite number")
        if any(number == seen for _, seen in out):
            raise ConfigurationError(f"--vary {name}: value '{text}' is given twice")
        out.append((text, number))
    if len(out) < 2:
        raise ConfigurationError(f"--vary {name} needs at least 2 distinct values, got {len(out)}; e.g. {name}=256,512,1024")
    return out
