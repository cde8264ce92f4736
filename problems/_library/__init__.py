"""The problem library: importing this package registers every named problem."""

from . import burgers, cavity, convection, density, heat, high_dim, high_dim_parabolic, inverse, lshape, periodic2d, poisson, transport  # noqa: F401
