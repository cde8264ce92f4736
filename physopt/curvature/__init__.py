"""physopt.curvature: matrix-free curvature products and estimators on flat parameter vectors."""

from ._estimators import hutchinson_diagonal as hutchinson_diagonal
from ._estimators import hutchinson_trace as hutchinson_trace
from ._estimators import random_probes as random_probes
from ._matrices import gram_matrix as gram_matrix
from ._matrices import kernel_matrix as kernel_matrix
from ._matrices import per_point_jacobian as per_point_jacobian
from ._matrices import residual_jacobian as residual_jacobian
from ._mlp_jets import Jets as Jets
from ._mlp_jets import KroneckerBlock as KroneckerBlock
from ._mlp_jets import KroneckerCurvature as KroneckerCurvature
from ._mlp_jets import LayerRecord as LayerRecord
from ._mlp_jets import MLPStructure as MLPStructure
from ._mlp_jets import kronecker_factors as kronecker_factors
from ._mlp_jets import forward_laplacian as forward_laplacian
from ._mlp_jets import layer_jacobians as layer_jacobians
from ._mlp_jets import taylor_coefficients as taylor_coefficients
from ._parameters import FlatParameters as FlatParameters
from ._products import gram_vector_product as gram_vector_product
from ._products import hessian_vector_product as hessian_vector_product
from ._products import jacobian_vector_product as jacobian_vector_product
from ._products import vector_jacobian_product as vector_jacobian_product
from ._spectrum import lanczos as lanczos
from ._spectrum import lanczos_eigenvalues as lanczos_eigenvalues
from ._spectrum import power_iteration as power_iteration
from ._spectrum import spectral_density as spectral_density
