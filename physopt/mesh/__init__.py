"""physopt.mesh: Numba kernels for simplex meshes (point location, interpolation), each with a NumPy reference."""

from ._locate import PointLocator as PointLocator
from ._locate import interpolate as interpolate
from ._locate import interpolate_reference as interpolate_reference
from ._locate import inverse_edge_matrices as inverse_edge_matrices
from ._locate import locate_reference as locate_reference
