"""Run directories: one folder that holds everything a finished run leaves behind.

Layout::

    config.json      the resolved configuration (problem, parameters, solver options)
    metrics.jsonl    one JSON object per training step
    checkpoint.pt    model + optimizer + loop state (``torch.load(weights_only=True)``)
    model.pt         the final network weights (``state_dict``)
    summary.json     final errors, loss, steps, wall time, why training stopped
    fields.json      the field files and what they hold
    solution*.vtu    the solution on an evaluation mesh (ParaView, meshio, PyVista)
    *.png            rendered pictures

A run never overwrites another: an existing non-empty directory is refused
unless the caller resumes it or forces a fresh start, and a forced start moves
the old run aside instead of deleting it.
"""

from __future__ import annotations

import datetime
import json
import math
from pathlib import Path

from ._atomic import atomic_write_text
from ._errors import ConfigurationError

__all__ = ["RunDirectory", "write_json_atomic"]


def _json_default(obj):
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    return repr(obj)


def _finite(obj):
    """JSON has no NaN/Infinity: write them as strings."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def write_json_atomic(path: Path, obj) -> None:
    """Write JSON atomically (:func:`physopt._atomic.atomic_write_text`)."""
    atomic_write_text(path, json.dumps(_finite(obj), indent=2, default=_json_default) + "\n")


class RunDirectory:
    """A run's folder and the names of the files in it."""

    CONFIG, METRICS, CHECKPOINT, MODEL = "config.json", "metrics.jsonl", "checkpoint.pt", "model.pt"
    SUMMARY, FIELDS = "summary.json", "fields.json"

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    @classmethod
    def prepare(cls, path: str | Path, force: bool = False, resume: bool = False) -> "RunDirectory":
        """Create (or reopen, when resuming) the run directory ``path``.

        Raises:
            ConfigurationError: the directory holds files and neither ``resume`` nor
                ``force`` was given; or ``resume`` was given but there is no checkpoint.
        """
        path = Path(path)
        if force and resume:
            raise ConfigurationError("--force and --resume exclude each other: resume the run, or start it over")
        if path.exists() and not path.is_dir():
            raise ConfigurationError(f"output path '{path}' is a file, not a directory; choose another --out")
        busy = path.is_dir() and any(path.iterdir())
        if resume:
            if not (path / cls.CHECKPOINT).is_file():
                raise ConfigurationError(f"cannot resume: '{path}' holds no {cls.CHECKPOINT}; start a new run without --resume")
            return cls(path)
        if busy and not force:
            raise ConfigurationError(
                f"output directory '{path}' already holds files; pass --resume to continue that run, "
                f"--force to start over (the old run is moved aside, not deleted), or choose another --out"
            )
        if busy and force:
            stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
            backup = path.with_name(f"{path.name}.old-{stamp}")
            k = 1
            while backup.exists():
                backup = path.with_name(f"{path.name}.old-{stamp}-{k}")
                k += 1
            path.rename(backup)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigurationError(f"cannot create output directory '{path}': {exc.strerror or exc}; choose another --out") from None
        return cls(path)

    def write_json(self, name: str, obj) -> Path:
        write_json_atomic(self.path / name, obj)
        return self.path / name

    def read_json(self, name: str):
        file = self.path / name
        if not file.is_file():
            raise ConfigurationError(f"'{self.path}' has no {name}; is it a physopt run directory?")
        try:
            return json.loads(file.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ConfigurationError(f"'{file}' is damaged (not valid JSON: {exc}); the run cannot be read") from None
