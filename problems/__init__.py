"""problems: what to solve — the Problem API, domains, conditions and the problem library."""

from ._conditions import AbstractCondition as AbstractCondition
from ._conditions import Dirichlet as Dirichlet
from ._conditions import HardConstraint as HardConstraint
from ._conditions import Initial as Initial
from ._conditions import Neumann as Neumann
from ._conditions import Periodic as Periodic
from ._conditions import PointSampler as PointSampler
from ._conditions import Robin as Robin
from ._conditions import automatic_ansatz as automatic_ansatz
from ._conditions import term_names as term_names
from ._domain import AbstractDomain as AbstractDomain
from ._domain import Ball as Ball
from ._domain import Box as Box
from ._domain import Disk as Disk
from ._domain import Interval as Interval
from ._domain import TimeInterval as TimeInterval
from ._library.burgers import cole_hopf_burgers as cole_hopf_burgers
from ._library.transport import TransportProblem as TransportProblem
from ._mesh_domain import MeshDomain as MeshDomain
from ._problem import Problem as Problem
from ._registry import PROBLEMS as PROBLEMS
from ._registry import load_problem_file as load_problem_file
from ._registry import register as register
from ._registry import registered_problems as registered_problems
from ._registry import resolve_problem as resolve_problem
