"""The problem library: importing this package registers every named problem."""

from . import burgers, convection, heat, lshape, periodic2d, poisson  # noqa: F401
