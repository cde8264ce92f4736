"""The problem library: importing this package registers every named problem."""

from . import burgers, convection, heat, lshape, poisson  # noqa: F401
