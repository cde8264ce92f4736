"""Seeded test data that is the same on every device.

``torch.Generator()`` lives on the CPU, and under ``pytest --device cuda`` torch's factories make
tensors on the GPU, which refuses a CPU generator. These draw on the generator's own device (the
CPU for ``torch.Generator()``) and return the numbers on torch's default device (``--device``):
the same data everywhere, so thresholds chosen on the CPU still hold on the GPU.
"""

import torch


def _here(t: torch.Tensor) -> torch.Tensor:
    return t.to(torch.get_default_device())


def randn(*size: int, generator: torch.Generator, dtype: torch.dtype | None = None) -> torch.Tensor:
    return _here(torch.randn(*size, generator=generator, dtype=dtype, device=generator.device))


def rand(*size: int, generator: torch.Generator, dtype: torch.dtype | None = None) -> torch.Tensor:
    return _here(torch.rand(*size, generator=generator, dtype=dtype, device=generator.device))


def randint(low: int, high: int, size: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    return _here(torch.randint(low, high, size, generator=generator, device=generator.device))
