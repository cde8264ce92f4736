"""physopt.optim: optimizers on the shared curvature layer, selectable by name."""

from .._optimizers import LBFGS as LBFGS
from .._optimizers import OPTIMIZERS as OPTIMIZERS
from .._optimizers import AbstractOptimizer as AbstractOptimizer
from .._optimizers import Adam as Adam
from .._optimizers import parse_schedule as parse_schedule
from ._adahessian import AdaHessian as AdaHessian
from ._engd import ENGD as ENGD
from ._engd import conjugate_gradient as conjugate_gradient
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

OPTIMIZERS.setdefault("engd", ENGD)
OPTIMIZERS.setdefault("lm", LevenbergMarquardt)
OPTIMIZERS.setdefault("kfac", KFAC)
OPTIMIZERS.setdefault("multiadam", MultiAdam)
OPTIMIZERS.setdefault("newton_cg", NewtonCG)
OPTIMIZERS.setdefault("lazy_newton", LazyNewton)
OPTIMIZERS.setdefault("adahessian", AdaHessian)
OPTIMIZERS.setdefault("sophia", Sophia)
