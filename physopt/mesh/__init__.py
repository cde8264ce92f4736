"""physopt.mesh: Numba kernels for simplex meshes (structured meshes, boundary, point location, interpolation, measures, quadrature, errors), each with a NumPy reference."""

import os

import torch

# Numba's parallel kernels start an OpenMP pool of NUMBA_NUM_THREADS threads (default: every core) when
# they are defined, and as torch shares that OpenMP runtime, torch's own thread count changes with it
# (OMP_NUM_THREADS=1 silently became 2 on two cores). Numba gets torch's count unless it is set, and
# torch's count is put back after the kernels are defined.
_torch_threads = torch.get_num_threads()
os.environ.setdefault("NUMBA_NUM_THREADS", str(_torch_threads))

from .._mesh import structured_mesh as structured_mesh
from .._mesh import structured_mesh_reference as structured_mesh_reference
from ._boundary import boundary_facets as boundary_facets
from ._boundary import boundary_facets_reference as boundary_facets_reference
from ._boundary import boundary_nodes as boundary_nodes
from ._boundary import facet_normals as facet_normals

from ._fem import p1_poisson as p1_poisson
from ._locate import PointLocator as PointLocator
from ._locate import interpolate as interpolate
from ._locate import interpolate_gradient as interpolate_gradient
from ._locate import interpolate_gradient_reference as interpolate_gradient_reference
from ._locate import interpolate_reference as interpolate_reference
from ._locate import inverse_edge_matrices as inverse_edge_matrices
from ._locate import locate_reference as locate_reference
from ._quadrature import cell_measures as cell_measures
from ._quadrature import cell_measures_reference as cell_measures_reference
from ._quadrature import h1_error as h1_error
from ._quadrature import l2_error as l2_error
from ._quadrature import l2_error_reference as l2_error_reference
from ._quadrature import p1_gradients as p1_gradients
from ._quadrature import simplex_quadrature as simplex_quadrature
from ._structured import structured_cells as structured_cells
from ._structured import structured_points as structured_points

if torch.get_num_threads() != _torch_threads:
    torch.set_num_threads(_torch_threads)
