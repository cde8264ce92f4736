"""Named problems, and loading a problem class from a user's Python file.

Library problems register with :func:`register`. Other packages add theirs
through the entry-point group ``physopt.problems`` (each entry a Problem
subclass or a ``{name: class}`` mapping).
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
from importlib.metadata import entry_points
from pathlib import Path

from physopt import ConfigurationError, ProblemDefinitionError

from ._problem import Problem

__all__ = ["register", "registered_problems", "resolve_problem", "load_problem_file"]

_REGISTRY: dict[str, type[Problem]] = {}


def register(name: str):
    """Class decorator: make a Problem subclass available as ``name``."""

    def deco(cls):
        if not (isinstance(cls, type) and issubclass(cls, Problem)):
            raise TypeError(f"register('{name}') decorates Problem subclasses, got {cls!r}")
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"a problem named '{name}' is already registered ({_REGISTRY[name].__name__})")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return deco


def registered_problems() -> dict[str, type[Problem]]:
    """All named problems: the library's and those of installed plug-ins."""
    from . import _library  # noqa: F401  (registers the library)

    found = dict(_REGISTRY)
    for ep in entry_points(group="physopt.problems"):
        try:
            obj = ep.load()
        except Exception:  # noqa: BLE001 - a broken plug-in must not break the CLI
            continue
        items = obj.items() if isinstance(obj, dict) else [(ep.name, obj)]
        for name, cls in items:
            if isinstance(cls, type) and issubclass(cls, Problem):
                found.setdefault(name, cls)
    return dict(sorted(found.items()))


def load_problem_file(path: str | Path, class_name: str | None = None) -> type[Problem]:
    """Import ``path`` and return its Problem subclass (``class_name`` picks one of several)."""
    path = Path(path)
    if not path.is_file():
        raise ProblemDefinitionError(f"problem file '{path}' does not exist")
    if path.suffix != ".py":
        raise ProblemDefinitionError(f"problem file '{path}' must be a Python file ending in .py")
    module_name = f"_physopt_user_problem_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # noqa: BLE001 - any import failure is the user's to fix
        del sys.modules[module_name]
        line = ""
        tb = exc.__traceback__
        while tb is not None:
            if Path(tb.tb_frame.f_code.co_filename).resolve() == path.resolve():
                line = f" (line {tb.tb_lineno})"
            tb = tb.tb_next
        raise ProblemDefinitionError(
            f"problem file '{path}' failed to import{line}: {type(exc).__name__}: {exc}"
        ) from exc
    classes = {
        name: obj
        for name, obj in vars(module).items()
        if inspect.isclass(obj) and issubclass(obj, Problem) and obj is not Problem and obj.__module__ == module_name
    }
    if class_name is not None:
        if class_name not in classes:
            have = ", ".join(sorted(classes)) or "none"
            raise ProblemDefinitionError(
                f"problem file '{path}' defines no Problem subclass '{class_name}'; it defines: {have}"
            )
        return classes[class_name]
    if not classes:
        raise ProblemDefinitionError(
            f"problem file '{path}' defines no Problem subclass; write `class MyProblem(Problem): ...`"
        )
    if len(classes) > 1:
        raise ProblemDefinitionError(
            f"problem file '{path}' defines several problems ({', '.join(sorted(classes))}); "
            f"pick one with '{path}:ClassName'"
        )
    return next(iter(classes.values()))


def resolve_problem(spec: str) -> type[Problem]:
    """A registered name, ``path/to/file.py`` or ``path/to/file.py:ClassName`` -> Problem class."""
    file_part, _, class_name = spec.partition(":") if ".py:" in spec else (spec, "", "")
    if file_part.endswith(".py") or "/" in file_part or Path(file_part).suffix:
        return load_problem_file(file_part, class_name or None)
    problems = registered_problems()
    if spec not in problems:
        raise ConfigurationError(
            f"unknown problem '{spec}'; choose one of: {', '.join(problems)} (or give a path to a .py file)"
        )
    return problems[spec]
