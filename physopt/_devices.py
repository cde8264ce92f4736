"""The devices this torch can compute on, and a one-line description of each for logs and summaries."""

from __future__ import annotations

import os
import platform

import torch

from ._errors import ConfigurationError

__all__ = ["available_devices", "check_device", "default_device", "describe_device"]


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "CPU"


def _details(device: torch.device) -> str:
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return f"{props.name}, {props.total_memory / 2**30:.1f} GiB"
    if device.type == "cpu":
        n = torch.get_num_threads()
        return f"{_cpu_name()}, {n} thread{'s' * (n != 1)}"
    return device.type


def describe_device(device: str | torch.device) -> str:
    """``"cuda:0 (NVIDIA H200, 139.8 GiB)"``, ``"cpu (AMD EPYC 7B13, 1 thread)"``."""
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    return f"{device} ({_details(device)})"


def available_devices() -> dict[str, str]:
    """``{name: description}`` of every device this torch can use; CUDA's absence is said, not hidden."""
    out = {"cpu": _details(torch.device("cpu"))}
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            out[f"cuda:{i}"] = _details(torch.device("cuda", i))
    else:
        build = "a CPU-only build" if torch.version.cuda is None else f"built for CUDA {torch.version.cuda}, but no GPU is visible"
        out["cuda"] = f"not available (torch {torch.__version__}: {build})"
    return out


def default_device() -> str:
    """The solvers' default device: ``$PHYSOPT_DEVICE`` if set (e.g. ``cuda``; the test suite's ``--device``), else ``cpu``."""
    return os.environ.get("PHYSOPT_DEVICE", "").strip() or "cpu"


def check_device(device: str) -> None:
    """A clear error for a device string torch cannot parse or this machine does not have."""
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError):
        raise ConfigurationError(f"unknown device '{device}'; use cpu, cuda or cuda:N") from None
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigurationError(
                f"device '{device}' requested but this torch has no CUDA; use --device cpu or install a CUDA build of torch (see README)"
            )
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise ConfigurationError(f"device '{device}' does not exist: this machine has {torch.cuda.device_count()} CUDA device(s)")
    elif parsed.type != "cpu":
        raise ConfigurationError(f"device '{device}' is not supported; use cpu, cuda or cuda:N")
