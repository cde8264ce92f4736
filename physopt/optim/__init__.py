"""physopt.optim: optimizers on the shared curvature layer, selectable by name."""

from .._optimizers import LBFGS as LBFGS
from .._optimizers import OPTIMIZERS as OPTIMIZERS
from .._optimizers import AbstractOptimizer as AbstractOptimizer
from .._optimizers import Adam as Adam
from .._optimizers import parse_schedule as parse_schedule
from ._engd import ENGD as ENGD
from ._engd import conjugate_gradient as conjugate_gradient
from ._levenberg_marquardt import LevenbergMarquardt as LevenbergMarquardt
from ._line_search import grid_line_search as grid_line_search
from ._multiadam import MultiAdam as MultiAdam
from ._objective import LeastSquaresObjective as LeastSquaresObjective

OPTIMIZERS.setdefault("engd", ENGD)
OPTIMIZERS.setdefault("lm", LevenbergMarquardt)
OPTIMIZERS.setdefault("multiadam", MultiAdam)
