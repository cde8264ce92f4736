"""physopt.optim: optimizers on the shared curvature layer, selectable by name.

Each optimizer registers itself with ``@register_optimizer("name")`` (:data:`OPTIMIZERS`, a
:class:`physopt._registry.Registry`) and declares what it needs from a solver
(:class:`AbstractOptimizer`): importing this package is not needed for them to be found.
"""

from .._optimizers import LBFGS as LBFGS
from .._optimizers import OPTIMIZERS as OPTIMIZERS
from .._optimizers import AbstractOptimizer as AbstractOptimizer
from .._optimizers import Adam as Adam
from .._optimizers import parse_schedule as parse_schedule
from .._optimizers import register_optimizer as register_optimizer
from ._adahessian import AdaHessian as AdaHessian
from ._engd import ENGD as ENGD
from ._gauss_newton import AbstractGaussNewton as AbstractGaussNewton
from ._gauss_newton import conjugate_gradient as conjugate_gradient
from ._kfac import KFAC as KFAC
from ._kfac import kronecker_sum_solve as kronecker_sum_solve
from ._lazy_newton import LazyNewton as LazyNewton
from ._levenberg_marquardt import LevenbergMarquardt as LevenbergMarquardt
from ._line_search import grid_line_search as grid_line_search
from ._multiadam import MultiAdam as MultiAdam
from ._newton_cg import NewtonCG as NewtonCG
from ._newton_cg import steihaug_cg as steihaug_cg
from ._objective import LeastSquaresObjective as LeastSquaresObjective
from ._sophia import Sophia as Sophia
