"""Atomic file writes: a finished file or the old one, never half of one.

Every writer in physopt (run directories, checkpoints, studies, cached
references) goes through :func:`atomic_write`: the content is written to a
temporary file beside the target, then renamed over it with ``os.replace``
(atomic on POSIX and Windows for files on one file system).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

__all__ = ["atomic_write", "atomic_write_text", "atomic_torch_save"]


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` to fill a temporary file beside ``path``, then rename it to ``path``."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():  # the write failed: leave the old file as it was
            tmp.unlink()
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def atomic_torch_save(path: str | Path, payload) -> Path:
    """``torch.save(payload, path)`` atomically (a crash never leaves a half-written checkpoint)."""
    import torch

    return atomic_write(path, lambda tmp: torch.save(payload, tmp))
