"""physopt: curvature-aware scientific machine learning for PDEs on PyTorch.

The public surface of the core. Implementation modules are private.
"""

from ._coordinates import CoordinateLayout as CoordinateLayout
from ._coordinates import coordinate_layout as coordinate_layout
from ._derivative_mode import AbstractDerivativeMode as AbstractDerivativeMode
from ._derivative_mode import ExactMode as ExactMode
from ._derivative_mode import STDEMode as STDEMode
from ._derivative_mode import TaylorMode as TaylorMode
from ._network_field import NetworkField as NetworkField
from ._derivative_mode import available_derivative_modes as available_derivative_modes
from ._derivative_mode import current_derivative_mode as current_derivative_mode
from ._derivative_mode import derivative_mode as derivative_mode
from ._derivative_mode import get_derivative_mode as get_derivative_mode
from ._mesh import Mesh as Mesh
from ._mesh import delaunay_mesh as delaunay_mesh
from ._mesh import structured_mesh as structured_mesh
from ._operators import biharmonic as biharmonic
from ._operators import diagonal_derivative as diagonal_derivative
from ._operators import directional_derivative as directional_derivative
from ._operators import divergence as divergence
from ._operators import grad as grad
from ._operators import hessian as hessian
from ._operators import jacobian as jacobian
from ._operators import laplacian as laplacian
from ._operators import partial as partial
from ._operators import time_derivative as time_derivative
from ._operators import trace_hessian as trace_hessian
from ._sampling import SAMPLING_METHODS as SAMPLING_METHODS
from ._sampling import unit_cube_samples as unit_cube_samples

__version__ = "0.1.0"
from ._errors import ConfigurationError as ConfigurationError
from ._devices import available_devices as available_devices
from ._devices import check_device as check_device
from ._devices import default_device as default_device
from ._devices import describe_device as describe_device
from ._errors import PhysoptError as PhysoptError
from ._errors import ProblemDefinitionError as ProblemDefinitionError
from ._errors import TrainingDiverged as TrainingDiverged
from ._nn import ACTIVATIONS as ACTIVATIONS
from ._nn import MLP as MLP
from ._embeddings import InputEmbedding as InputEmbedding
from ._embeddings import parse_embedding as parse_embedding
from ._enrichment import EnrichedNetwork as EnrichedNetwork
from ._optimizers import LBFGS as LBFGS
from ._optimizers import OPTIMIZERS as OPTIMIZERS
from ._optimizers import SCHEDULES as SCHEDULES
from ._optimizers import AbstractOptimizer as AbstractOptimizer
from ._optimizers import StallRule as StallRule
from ._optimizers import Adam as Adam
from ._optimizers import parse_schedule as parse_schedule
from ._optimizers import register_optimizer as register_optimizer
from ._fields import FieldSet as FieldSet
from ._fields import read_manifest as read_manifest
from ._fields import write_field_sets as write_field_sets
from ._run_directory import RunDirectory as RunDirectory
from ._run_directory import write_json_atomic as write_json_atomic
from ._relative_error import relative_l2 as relative_l2
from .viz import render_field as render_field
from .viz import render_panels as render_panels
from .viz import render_run as render_run
from ._errors import Interrupted as Interrupted
from ._errors import NotImplementedYet as NotImplementedYet
from . import optim as optim  # the optimizers register themselves (OPTIMIZERS loads them on first use)
from . import curvature as curvature
