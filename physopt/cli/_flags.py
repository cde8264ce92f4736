"""Solver option flags, generated from the registered solvers' ``Options`` dataclasses.

Every field of every registered solver's options is a flag (``points`` ->
``--points``) with the field's help text, in an argument group per solver
(``pinn options``); an option several solvers take appears once, in the group
``options of several solvers``, naming them. The values stay strings: they
reach the chosen solver through ``Options.from_strings``, which converts and
validates them. Options of a solver loaded from a file are not known when the
parser is built; they are given with ``--set NAME=VALUE``.
"""

from __future__ import annotations

import dataclasses
import re

from physopt._errors import ConfigurationError

__all__ = ["OptionFlag", "option_flags", "add_option_flags", "given_options", "check_flags_fit", "with_flag"]


@dataclasses.dataclass
class OptionFlag:
    """One generated flag: the option's name, its type, and per solver its help text and default."""

    name: str
    kind: type
    helps: dict[str, str]  # solver name -> help text
    defaults: dict[str, object]  # solver name -> default (or None: decided at run time)

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def solvers(self) -> list[str]:
        return list(self.helps)

    def help(self) -> str:
        texts = {text for text in self.helps.values() if text}
        if len(texts) <= 1:
            text = next(iter(texts), "")
        else:
            text = "; ".join(f"{solver}: {t}" for solver, t in self.helps.items() if t)
        if len(self.helps) > 1:
            text += f" [{', '.join(self.helps)}]"
        return text.replace("%", "%%")  # argparse formats help with %


def _default(field: dataclasses.Field):
    return field.default if field.default is not dataclasses.MISSING else None


def option_flags(solver_classes: dict[str, type]) -> dict[str, OptionFlag]:
    """Every option of every solver in ``solver_classes`` (``{name: class}``) as one flag each, by option name."""
    flags: dict[str, OptionFlag] = {}
    for solver, cls in solver_classes.items():
        options = cls.Options
        types, helps = options.field_types(), options.help_texts()
        for field in dataclasses.fields(options):
            entry = flags.get(field.name)
            if entry is None:
                entry = flags[field.name] = OptionFlag(field.name, types[field.name], {}, {})
            elif entry.kind is not types[field.name]:
                entry.kind = str  # the solvers disagree on its type: each one's from_strings converts it
            entry.helps[solver] = helps[field.name]
            entry.defaults[solver] = _default(field)
    return flags


def _checked(kind: type):
    """An argparse ``type`` that checks the text converts to ``kind`` but keeps the text (from_strings converts)."""
    if kind not in (int, float):
        return None

    def check(text: str) -> str:
        kind(text)
        return text

    check.__name__ = kind.__name__  # argparse says "invalid int value: 'abc'"
    return check


def add_option_flags(parser, flags: dict[str, OptionFlag]) -> None:
    """Add ``flags`` to ``parser``: one argument group per solver, one for options several solvers share."""
    taken = {s for action in parser._actions for s in action.option_strings}
    groups = {}
    for entry in flags.values():
        if entry.flag in taken:  # a general flag has that name: the option stays reachable through --set
            continue
        title = f"{entry.solvers[0]} options" if len(entry.solvers) == 1 else "options of several solvers"
        if title not in groups:
            description = None if len(entry.solvers) == 1 else "each flag names the solvers that take it"
            groups[title] = parser.add_argument_group(title, description)
        metavar = {int: "INT", float: "FLOAT", bool: "BOOL"}.get(entry.kind, "TEXT")
        groups[title].add_argument(entry.flag, dest=f"option:{entry.name}", type=_checked(entry.kind), default=None,
                                   metavar=metavar, help=entry.help())


def given_options(args) -> dict[str, str]:
    """The option flags given on the command line: ``{option name: text}``."""
    prefix = "option:"
    return {k[len(prefix):]: str(v) for k, v in vars(args).items() if k.startswith(prefix) and v is not None}


def check_flags_fit(given: dict[str, str], solver: str, solver_cls: type, flags: dict[str, OptionFlag]) -> None:
    """A flag the chosen solver has no option for is an error naming the option and the solvers that take it."""
    own = solver_cls.Options.field_types()
    for name in given:
        if name not in own:
            takers = flags[name].solvers if name in flags else []
            by = ", ".join(takers)
            raise ConfigurationError(
                f"{flags[name].flag if name in flags else '--' + name}: solver '{solver}' has no option {name}"
                + (f"; it is an option of {by} (--solver {takers[0]})" if takers else "")
            )


_OPTION_MESSAGE = re.compile(r"option (\w+)\b")


def with_flag(exc: ConfigurationError, given: dict[str, str], set_pairs: dict[str, str]) -> ConfigurationError:
    """The library speaks of options (``option steps must be >= 0``); add how it was given (``--steps: ...``)."""
    match = _OPTION_MESSAGE.match(str(exc))
    if not match:
        return exc
    name = match.group(1)
    if name in {k.replace("-", "_") for k in set_pairs}:  # --set wins over a flag
        where = f"--set {name}"
    elif name in given:
        where = "--" + name.replace("_", "-")
    else:
        return exc
    try:
        return type(exc)(f"{where}: {exc}")
    except TypeError:  # an error class with another signature: keep it as it is
        return exc
