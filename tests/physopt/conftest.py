"""Fixtures shared by test modules of physopt: the curvature tests' network, points and residuals."""

import pytest
import torch

from curvature_setup import Setup


@pytest.fixture(scope="module")
def setup(request) -> Setup:
    # a module fixture is built before the per-test default device is set: build it on --device explicitly
    with torch.device(request.config.getoption("--device")):
        return Setup()
