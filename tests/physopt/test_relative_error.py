"""physopt.relative_l2: the one relative L2 error of solvers, benchmarks and tests."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from physopt import relative_l2


def test_relative_l2_of_tensors_and_arrays():
    reference = torch.tensor([3.0, 4.0], dtype=torch.float64)
    predicted = torch.tensor([3.0, 4.5], dtype=torch.float64)
    assert relative_l2(predicted, reference) == pytest.approx(0.1, rel=1e-15)
    assert relative_l2(predicted.numpy(), reference.numpy()) == pytest.approx(0.1, rel=1e-15)
    assert relative_l2(reference, reference) == 0.0
    assert relative_l2(np.ones(3), np.zeros(3)) == pytest.approx(np.sqrt(3) / 1e-300)  # a zero reference: no 0/0
    assert isinstance(relative_l2(predicted, reference), float)
