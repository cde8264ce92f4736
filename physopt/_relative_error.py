r"""The relative L2 error every solver, benchmark and test reports: :math:`\|\hat u - u\|_2 / \|u\|_2`."""

from __future__ import annotations

__all__ = ["relative_l2"]


def relative_l2(predicted, reference) -> float:
    r"""Discrete relative L2 error :math:`\|\hat u - u\|_2/\|u\|_2` of ``predicted`` against ``reference``.

    Tensors (computed in their dtype and on their device: cast first for float64) or NumPy
    arrays of one shape; a zero reference divides by 1e-300 instead of 0.
    """
    import torch

    if isinstance(predicted, torch.Tensor) or isinstance(reference, torch.Tensor):
        return float((predicted - reference).norm() / reference.norm().clamp_min(1e-300))
    import numpy as np

    return float(np.linalg.norm(np.asarray(predicted) - np.asarray(reference)) / max(np.linalg.norm(reference), 1e-300))
