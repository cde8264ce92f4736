"""Fields on meshes, written as VTU files (one per time slice, tied by a ParaView ``.pvd``).

A :class:`FieldSet` is one mesh with named point data, optionally at one time.
``fields.json`` lists the files, the field names and the axis labels so that
plots can be rendered again later from the files alone.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import meshio
import numpy as np

from ._mesh import Mesh
from ._run_directory import write_json_atomic

__all__ = ["FieldSet", "write_field_sets", "read_manifest"]


@dataclasses.dataclass
class FieldSet:
    """Point data ``data`` (name -> ``(N,)`` array) on ``mesh``, at ``time`` if given."""

    mesh: Mesh
    data: dict[str, np.ndarray]
    time: float | None = None
    axis_labels: tuple[str, ...] = ("x", "y", "z")


def _write_vtu(path: Path, fs: FieldSet) -> None:
    data = {k: np.ascontiguousarray(v, dtype=np.float64) for k, v in fs.data.items()}
    meshio.Mesh(fs.mesh.points3d(), [(fs.mesh.cell_type, fs.mesh.cells)], point_data=data).write(path)


def _write_pvd(path: Path, entries: list[tuple[float, str]]) -> None:
    lines = ['<?xml version="1.0"?>', '<VTKFile type="Collection" version="0.1">', "  <Collection>"]
    lines += [f'    <DataSet timestep="{t!r}" part="0" file="{name}"/>' for t, name in entries]
    lines += ["  </Collection>", "</VTKFile>", ""]
    path.write_text("\n".join(lines), encoding="utf-8")


def write_field_sets(directory: str | Path, sets: list[FieldSet], primary: str, stem: str = "solution") -> dict:
    """Write ``sets`` into ``directory`` and return the manifest (also saved as ``fields.json``).

    One set is written as ``{stem}.vtu``; several (time slices) as
    ``{stem}_000.vtu``, ... plus ``{stem}.pvd`` for ParaView.
    """
    directory = Path(directory)
    files = []
    if len(sets) == 1:
        names = [f"{stem}.vtu"]
    else:
        names = [f"{stem}_{k:03d}.vtu" for k in range(len(sets))]
    for name, fs in zip(names, sets):
        _write_vtu(directory / name, fs)
        files.append(
            {
                "file": name,
                "time": fs.time,
                "axis_labels": list(fs.axis_labels[: fs.mesh.dim]),
                "grid_shape": list(fs.mesh.shape) if fs.mesh.shape else None,
            }
        )
    if len(sets) > 1:
        _write_pvd(directory / f"{stem}.pvd", [(fs.time if fs.time is not None else k, n) for k, (n, fs) in enumerate(zip(names, sets))])
    manifest = {"files": files, "fields": sorted(sets[0].data), "primary": primary}
    write_json_atomic(directory / "fields.json", manifest)
    return manifest


def read_manifest(directory: str | Path) -> dict:
    """The ``fields.json`` of a run directory, checked for the keys plots need."""
    import json

    from ._errors import ConfigurationError

    path = Path(directory) / "fields.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        files, fields, primary = manifest["files"], manifest["fields"], manifest["primary"]
        if not files or not isinstance(fields, list) or primary not in fields:
            raise ValueError("no files or fields listed")
    except FileNotFoundError:
        raise ConfigurationError(f"'{directory}' holds no fields.json; is it a finished physopt run directory?") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigurationError(f"'{path}' is damaged ({exc}); run `physopt solve ... --force` to write it again") from None
    return manifest
