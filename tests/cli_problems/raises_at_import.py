"""A problem file that fails while it is imported (for the CLI tests)."""

import torch  # noqa: F401

from problems import Box, Dirichlet, Problem  # noqa: F401

SCALE = 2.0
raise RuntimeError("deliberate failure while importing this problem file")
