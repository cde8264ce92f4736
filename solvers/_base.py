"""The solver contract: what every solver provides, and what its solution offers.

A solver is one class, registered by name::

    @register_solver("my_solver")
    class MySolver(AbstractSolver):
        \"\"\"One line for `physopt list`.\"\"\"

        Options = MyOptions            # an AbstractOptions dataclass; every field is a CLI flag

        def solve(self, callbacks=(), checkpoint_path=None, checkpoint=None) -> AbstractSolution: ...

The command line, run directories and convergence studies use only this
contract: ``Solver(problem, options)`` (or keyword overrides), ``solve``,
``enforcement``, and the solution's ``info``, ``errors``, ``metrics``,
``save`` and pointwise evaluation.
"""

from __future__ import annotations

import abc
import dataclasses
from typing import ClassVar

from physopt import ConfigurationError, ProblemDefinitionError
from physopt._registry import Registry
from physopt.distributed import current, rank_device
from problems import AbstractProblemFamily, Problem

from ._options import AbstractOptions
from ._solution import AbstractSolution, Metric

__all__ = ["AbstractSolver", "AbstractSolution", "Metric", "SOLVERS", "register_solver", "INFO_KEYS"]

#: keys every solution's ``info`` holds (the summary and the end-of-run line read them)
INFO_KEYS = ("steps", "stop_reason", "train_time_s", "final_loss")

class AbstractSolver(abc.ABC):
    """Base of every solver: a registered name, an ``Options`` dataclass and ``solve``.

    Args:
        problem: a :class:`problems.Problem` instance.
        options: an instance of the solver's ``Options``, or ``None`` for the defaults.
        **overrides: option values replacing those of ``options``.
    """

    name: ClassVar[str] = ""
    Options: ClassVar[type[AbstractOptions]] = AbstractOptions
    #: options for a run of a few seconds on a small problem (the conformance tests and smoke runs use them)
    tiny_options: ClassVar[dict] = {}
    #: what it solves: one PDE (a Problem) or, for operator learning, a problems.AbstractProblemFamily
    accepts: ClassVar[type] = Problem
    #: data-parallel runs (``--nproc N``): "" when the solver shards its samples over the ranks
    #: (docs/distributed.md), else the one-line reason it runs in one process only
    single_process_reason: ClassVar[str] = "it has no data-parallel form yet"

    def __init__(self, problem: Problem, options: AbstractOptions | None = None, **overrides):
        if not isinstance(problem, self.accepts):
            if isinstance(problem, (Problem, AbstractProblemFamily)):  # the other kind: say which solvers fit
                kind = "solves one PDE (a Problem)" if self.accepts is Problem else "learns an operator from a problem family"
                fits = "deeponet, pi_deeponet or fno" if self.accepts is Problem else "pinn, teng, lpinn or lflow"
                raise ConfigurationError(f"{type(self).__name__} {kind}; '{problem.problem_name}' is "
                                         f"{'a problem family' if self.accepts is Problem else 'one PDE'}: use {fits}")
            raise ProblemDefinitionError(f"{type(self).__name__} needs a {self.accepts.__name__} instance, got {problem!r}")
        if options is not None and not isinstance(options, self.Options):
            raise ConfigurationError(f"{type(self).__name__} takes {self.Options.__name__}, got {type(options).__name__}")
        problem.validate()
        self.problem = problem
        if options is None:  # the problem's suggested start (Problem.solver_defaults), below the overrides
            options = self.Options(**problem.solver_defaults.get(self.name, {}))
        self.options = dataclasses.replace(options, **overrides)
        self.options.validate()
        self.ranks = current()  # the processes of a data-parallel run (one: physopt.distributed.SINGLE)
        if self.ranks.sharded and self.single_process_reason:
            raise ConfigurationError(f"{self.name or type(self).__name__} runs in one process only: "
                                     f"{self.single_process_reason}; drop --nproc (or use --nproc 1)")
        if hasattr(self.options, "device"):  # "cuda" on several processes: this rank's GPU
            self.options = dataclasses.replace(self.options, device=rank_device(self.options.device, self.ranks))

    @classmethod
    def summary(cls) -> str:
        """One line for ``physopt list``: the first line of the class docstring."""
        return (cls.__doc__ or cls.__name__).strip().splitlines()[0]

    @abc.abstractmethod
    def solve(self, callbacks=(), checkpoint_path=None, checkpoint: dict | None = None) -> AbstractSolution:
        """Train or march; write checkpoints to ``checkpoint_path``; continue from ``checkpoint`` when given.

        Returns a solution whose ``info`` holds at least :data:`INFO_KEYS`.
        """

    def enforcement(self) -> list[dict[str, str]]:
        """How each condition of the problem is honoured: ``{"condition", "enforced", "term"}`` per condition."""
        return [{"condition": repr(c), "enforced": "penalty", "term": ""} for c in self.problem.conditions]


def _load_builtin_solvers() -> None:
    from . import _deeponet, _fno, _lflow, _lpinn, _pi_deeponet, _pinn, _teng  # noqa: F401  (their decorators register them)


SOLVERS = Registry("solver", AbstractSolver, _load_builtin_solvers)
register_solver = SOLVERS.register
