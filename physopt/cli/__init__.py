"""The application layer: the ``physopt`` command and convergence studies.

This is the one place that looks up problems and solvers (through their
registries, entry points and ``path/to/file.py[:Class]``): the numerical core
(the rest of :mod:`physopt`) knows no particular problem or solver, and does not
import this package. Run it as ``physopt ...`` or ``python -m physopt ...``.
"""

from ._main import build_parser as build_parser
from ._main import main as main
from ._run import solve_to_directory as solve_to_directory
from ._run import write_solution_fields as write_solution_fields
from .convergence import convergence_study as convergence_study
from .convergence import format_table as format_table
from .convergence import observed_order as observed_order
from .convergence import parse_fit_range as parse_fit_range
from .convergence import parse_vary as parse_vary
from .convergence import plot_convergence as plot_convergence

__all__ = [
    "main", "build_parser", "solve_to_directory", "write_solution_fields",
    "convergence_study", "observed_order", "parse_vary", "parse_fit_range", "format_table", "plot_convergence",
]
