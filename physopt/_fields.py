"""Fields on meshes, written with meshio: VTU for one state, XDMF for a time series.

A :class:`FieldSet` is one mesh with named point data, optionally at one time.
Sets without a time are written as VTU files (``solution.vtu``, the stationary
solution or a space-time plane); sets with times form one XDMF time series
(``solution.xdmf`` + ``solution.h5``: the mesh once, the point data per time),
which ParaView opens as an animation. ``fields.json`` lists the files, the
field names and the axis labels so that pictures can be drawn again later from
the files alone (:func:`read_frames`).
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import meshio
import numpy as np

from ._errors import ConfigurationError
from ._mesh import Mesh
from ._run_directory import write_json_atomic

__all__ = ["FieldSet", "write_field_sets", "read_manifest", "read_frames", "Frame"]


@dataclasses.dataclass
class FieldSet:
    """Point data ``data`` (name -> ``(N,)`` array) on ``mesh``, at ``time`` if given."""

    mesh: Mesh
    data: dict[str, np.ndarray]
    time: float | None = None
    axis_labels: tuple[str, ...] = ("x", "y", "z")


def _point_data(fs: FieldSet) -> dict[str, np.ndarray]:
    return {k: np.ascontiguousarray(v, dtype=np.float64) for k, v in fs.data.items()}


def _write_vtu(path: Path, fs: FieldSet) -> None:
    meshio.Mesh(fs.mesh.points3d(), [(fs.mesh.cell_type, fs.mesh.cells)], point_data=_point_data(fs)).write(path)


def _write_xdmf_series(path: Path, sets: list[FieldSet]) -> None:
    """One mesh, point data at every time; meshio puts the arrays into ``path.with_suffix('.h5')``."""
    mesh = sets[0].mesh
    for fs in sets[1:]:
        if fs.mesh.points.shape != mesh.points.shape or not np.array_equal(fs.mesh.cells, mesh.cells):
            raise ValueError("the sets of a time series must share one mesh")
    # meshio writes the HDF5 file into the working directory (its ``filename.stem + ".h5"``): write from there
    cwd = os.getcwd()
    os.chdir(path.parent)
    try:
        with meshio.xdmf.TimeSeriesWriter(path.name) as writer:
            writer.write_points_cells(mesh.points3d(), [(mesh.cell_type, mesh.cells)])
            for fs in sets:
                writer.write_data(float(fs.time), point_data=_point_data(fs))
    finally:
        os.chdir(cwd)


def _grid_shape(mesh: Mesh):
    return list(mesh.shape) if mesh.shape else None


def write_field_sets(directory: str | Path, sets: list[FieldSet], primary: str, stem: str = "solution",
                     overlay: str | None = None, components: list[str] | None = None) -> dict:
    """Write ``sets`` into ``directory`` and return the manifest (also saved as ``fields.json``).

    ``components``: the fields of a system (its vectors, then its unknowns), drawn a panel each.

    Sets without a time: ``{stem}.vtu`` (``{stem}_1.vtu``, ... for more than one).
    Sets with a time: one XDMF time series ``{stem}.xdmf`` (+ ``{stem}.h5``).
    """
    directory = Path(directory)
    still = [fs for fs in sets if fs.time is None]
    timed = sorted((fs for fs in sets if fs.time is not None), key=lambda fs: fs.time)
    if not sets:
        raise ValueError("no field sets to write")
    files = []
    for k, fs in enumerate(still):
        name = f"{stem}.vtu" if k == 0 else f"{stem}_{k}.vtu"
        _write_vtu(directory / name, fs)
        files.append({"file": name, "time": None, "axis_labels": list(fs.axis_labels[: fs.mesh.dim]),
                      "grid_shape": _grid_shape(fs.mesh)})
    series = None
    if timed:
        name = f"{stem}.xdmf"
        _write_xdmf_series(directory / name, timed)
        series = {"file": name, "data_file": f"{stem}.h5", "times": [float(fs.time) for fs in timed],
                  "axis_labels": list(timed[0].axis_labels[: timed[0].mesh.dim])}
    manifest = {"files": files, "series": series, "fields": sorted(sets[0].data), "primary": primary}
    if overlay is not None:  # a vector field drawn as arrows over the pictures of the scalar fields
        manifest["overlay"] = overlay
    if components:
        manifest["components"] = list(components)
    write_json_atomic(directory / "fields.json", manifest)
    return manifest


def read_manifest(directory: str | Path) -> dict:
    """The ``fields.json`` of a run directory, checked for the keys plots need."""
    path = Path(directory) / "fields.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        files, fields, primary = manifest["files"], manifest["fields"], manifest["primary"]
        manifest.setdefault("series", None)
        if not (files or manifest["series"]) or not isinstance(fields, list) or primary not in fields:
            raise ValueError("no files or fields listed")
    except FileNotFoundError:
        raise ConfigurationError(f"'{directory}' holds no fields.json; is it a finished physopt run directory?") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigurationError(f"'{path}' is damaged ({exc}); run `physopt solve ... --force` to write it again") from None
    return manifest


@dataclasses.dataclass
class Frame:
    """A mesh (meshio) with its point data, the time (``None``: stationary) and the axis labels."""

    mesh: meshio.Mesh
    time: float | None
    axis_labels: list[str]
    grid_shape: list[int] | None = None


def read_frames(directory: str | Path, manifest: dict | None = None) -> tuple[list[Frame], list[Frame]]:
    """The run's stationary frames (VTU files) and its time series (XDMF), read back with meshio."""
    directory = Path(directory)
    manifest = manifest or read_manifest(directory)
    needed = [f["file"] for f in manifest["files"]]
    if manifest["series"]:
        needed += [manifest["series"]["file"], manifest["series"]["data_file"]]
    missing = [name for name in needed if not (directory / name).is_file()]
    if missing:
        raise ConfigurationError(f"'{directory}' lacks the field file(s) {', '.join(missing)} listed in fields.json")
    still = [Frame(meshio.read(directory / f["file"]), None, f["axis_labels"], f.get("grid_shape")) for f in manifest["files"]]
    series = []
    if manifest["series"]:
        info = manifest["series"]
        try:
            with meshio.xdmf.TimeSeriesReader(directory / info["file"]) as reader:
                points, cells = reader.read_points_cells()
                for k in range(reader.num_steps):
                    t, point_data, _ = reader.read_data(k)
                    series.append(Frame(meshio.Mesh(points, cells, point_data=point_data), float(t), info["axis_labels"]))
        except Exception as exc:  # noqa: BLE001 - damaged XDMF/HDF5 files
            raise ConfigurationError(f"cannot read the time series '{directory / info['file']}': {exc}") from None
    return still, series
