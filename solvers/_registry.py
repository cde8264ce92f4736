"""Named solvers, and loading a solver class from a user's Python file.

The package's own solvers register with ``@register_solver``; plug-ins add theirs
through the entry-point group ``physopt.solvers``; ``path/to/file.py[:Class]``
loads an :class:`AbstractSolver` subclass from a file, as problems load from theirs.
"""

from __future__ import annotations

from pathlib import Path

from physopt import ConfigurationError
from physopt._user_files import load_class_from_file, split_file_spec

from ._base import SOLVERS, AbstractSolver

__all__ = ["registered_solvers", "resolve_solver", "load_solver_file"]


def registered_solvers() -> dict[str, type]:
    """All solvers by name: the built-in ones and those of installed plug-ins (broken ones are in ``SOLVERS.broken``)."""
    return SOLVERS.all()


def load_solver_file(path: str | Path, class_name: str | None = None) -> type[AbstractSolver]:
    """Import ``path`` and return its AbstractSolver subclass (``class_name`` picks one of several)."""
    return load_class_from_file(path, AbstractSolver, "solver", ConfigurationError, class_name,
                                example="class MySolver(AbstractSolver): ...")


def resolve_solver(spec: str) -> type[AbstractSolver]:
    """A registered name, ``path/to/file.py`` or ``path/to/file.py:ClassName`` -> solver class.

    An unknown name lists the choices; a plug-in that failed to import gives its error.
    """
    file_spec = split_file_spec(spec)
    if file_spec is not None:
        return load_solver_file(*file_spec)
    return SOLVERS.get(spec)
