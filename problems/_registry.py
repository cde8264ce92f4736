"""Named problems, and loading a problem class from a user's Python file.

Library problems register with :func:`register`. Other packages add theirs
through the entry-point group ``physopt.problems`` (each entry a Problem
subclass or a ``{name: class}`` mapping). A plug-in that fails to import is
kept in ``PROBLEMS.broken`` with its error; asking for it names that error.
"""

from __future__ import annotations

from pathlib import Path

from physopt import ConfigurationError, ProblemDefinitionError
from physopt._registry import Registry
from physopt._user_files import load_class_from_file, split_file_spec

from ._family import FAMILIES, AbstractProblemFamily
from ._problem import Problem

__all__ = ["PROBLEMS", "register", "registered_problems", "resolve_problem", "load_problem_file"]


def _load_library() -> None:
    from . import _library  # noqa: F401  (its decorators register the library)


PROBLEMS = Registry("problem", Problem, _load_library)


def register(name: str):
    """Class decorator: make a Problem subclass available as ``name``."""
    return PROBLEMS.register(name)


def registered_problems() -> dict[str, type[Problem]]:
    """All named problems: the library's and those of installed plug-ins (broken ones are in ``PROBLEMS.broken``)."""
    return PROBLEMS.all()


def load_problem_file(path: str | Path, class_name: str | None = None) -> type[Problem]:
    """Import ``path`` and return its Problem subclass (``class_name`` picks one of several)."""
    return load_class_from_file(path, Problem, "problem", ProblemDefinitionError, class_name,
                                example="class MyProblem(Problem): ...")


def resolve_problem(spec: str) -> type[Problem] | type[AbstractProblemFamily]:
    """A registered name (a problem or a problem family), ``path/to/file.py`` or ``path/to/file.py:ClassName`` -> class."""
    file_spec = split_file_spec(spec)
    if file_spec is not None:
        return load_problem_file(*file_spec)
    problems = PROBLEMS.all()
    if spec in problems:
        return problems[spec]
    if spec in PROBLEMS.broken:
        return PROBLEMS.get(spec)  # raises: the plug-in's import error
    families = FAMILIES.all()
    if spec in families:
        return families[spec]
    if spec in FAMILIES.broken:
        return FAMILIES.get(spec)
    raise ConfigurationError(
        f"unknown problem '{spec}'; choose one of: {', '.join(problems)}, or a problem family: {', '.join(families)} "
        "(or give a path to a .py file)"
    )
