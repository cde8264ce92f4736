"""solvers: how to solve — PINN, TENG (and later LPINN, LFlow, STDE-PINN, DeepONet)."""

from ._options import AbstractOptions as AbstractOptions
from ._pinn import PINN as PINN
from ._pinn import PINNOptions as PINNOptions
from ._registry import registered_solvers as registered_solvers
from ._registry import resolve_solver as resolve_solver
from ._solution import Solution as Solution
from ._teng import TENG as TENG
from ._teng import TENGOptions as TENGOptions
from ._teng import TENGSolution as TENGSolution
from ._teng import STEP_FITS as STEP_FITS
from ._solution import relative_errors as relative_errors
from ._training import Callback as Callback
from ._training import Checkpointer as Checkpointer
from ._training import CurvatureMonitor as CurvatureMonitor
from ._training import MetricsWriter as MetricsWriter
from ._training import NaNGuard as NaNGuard
from ._training import ProgressBar as ProgressBar
from ._training import StepRecord as StepRecord
from ._training import StopTraining as StopTraining
from ._training import TargetError as TargetError
from ._training import TrainingState as TrainingState
from ._training import load_checkpoint as load_checkpoint
from ._training import train as train
