"""Pictures of fields, rendered off-screen: PyVista for meshes, matplotlib for lines.

:func:`render_run` draws the standard pictures of a run directory from its
field files alone (so ``physopt plot RUN_DIR`` works long after training):
``solution.png`` (the main field), ``error.png`` (where a reference exists)
and, for time-dependent runs, ``slices.png`` (the field at a few times).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

from ._errors import ConfigurationError
from ._fields import read_manifest

__all__ = ["render_field", "render_panels", "render_run"]


def _pyvista():
    if sys.platform.startswith("linux") and not os.environ.get("DISPLAY"):
        # headless Linux: ask VTK for EGL directly instead of failing over from X with a warning
        os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
    import pyvista

    pyvista.OFF_SCREEN = True
    return pyvista


def _add_field(plotter, mesh, field: str, title: str, labels, cmap: str):
    pv = _pyvista()
    values = np.asarray(mesh.point_data[field])
    dim = len(labels)
    if dim == 3:
        mesh = mesh.slice_orthogonal()
    symmetric = cmap == "coolwarm"  # error maps: zero in the middle of the colour bar
    bound = float(np.max(np.abs(values))) if values.size else 1.0
    plotter.add_mesh(
        mesh,
        scalars=field,
        cmap=cmap,
        clim=(-bound, bound) if symmetric and bound > 0 else None,
        scalar_bar_args={"title": field, "vertical": True, "fmt": "%.3g", "position_x": 0.85, "position_y": 0.15},
    )
    if dim == 2 and np.ptp(values) > 0:
        levels = np.linspace(values.min(), values.max(), 12)[1:-1]
        try:
            lines = mesh.contour(levels, scalars=field)
            if lines.n_points:
                plotter.add_mesh(lines, color="black", line_width=1, opacity=0.6)
        except Exception:  # noqa: BLE001 - contours are decoration
            pass
    plotter.add_text(title, font_size=11)
    names = dict(zip(("xtitle", "ytitle", "ztitle"), labels))
    plotter.show_bounds(**names, location="outer", font_size=10, fmt="%.2g")
    if dim <= 2:
        plotter.view_xy()
        plotter.camera.zoom(1.15)
    else:
        plotter.view_isometric()
    return pv


def render_field(mesh, field: str, path: str | Path, title: str = "", labels=("x", "y"), cmap: str = "viridis") -> Path:
    """Render ``field`` on a PyVista mesh (2D surface with contours, 3D orthogonal slices) to a PNG."""
    pv = _pyvista()
    plotter = pv.Plotter(off_screen=True, window_size=(900, 760))
    plotter.set_background("white")
    _add_field(plotter, mesh, field, title or field, labels, cmap)
    plotter.screenshot(str(path))
    plotter.close()
    return Path(path)


def render_panels(meshes, times, field: str, path: str | Path, title: str = "", labels=("x", "y"), cmap="viridis") -> Path:
    """Render ``field`` on several meshes (time slices) side by side, one shared colour range."""
    pv = _pyvista()
    k = len(meshes)
    plotter = pv.Plotter(off_screen=True, shape=(1, k), window_size=(420 * k, 440), border=False)
    plotter.set_background("white")
    lo = min(float(np.min(m.point_data[field])) for m in meshes)
    hi = max(float(np.max(m.point_data[field])) for m in meshes)
    for i, (mesh, t) in enumerate(zip(meshes, times)):
        plotter.subplot(0, i)
        plotter.add_mesh(mesh, scalars=field, cmap=cmap, clim=(lo, hi), show_scalar_bar=(i == k - 1),
                         scalar_bar_args={"title": field, "fmt": "%.3g"})
        plotter.add_text(f"{title} at t = {t:.3g}", font_size=9)
        plotter.view_xy()
    plotter.screenshot(str(path))
    plotter.close()
    return Path(path)


def _line_plot(x, series: dict[str, np.ndarray], path, title, xlabel, ylabel):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    shown_reference = False
    for label, y in series.items():
        if "reference" in label:  # reference curves: thin dashed black, one legend entry
            ax.plot(x, y, "--", color="black", lw=1.0, label=None if shown_reference else "reference")
            shown_reference = True
        else:
            ax.plot(x, y, "-", label=label, lw=1.8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if len(series) > 1:
        ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def _pick_field(manifest, field):
    fields = manifest["fields"]
    if field is None:
        return manifest["primary"]
    if field not in fields:
        raise ConfigurationError(f"unknown field '{field}'; this run has: {', '.join(fields)}")
    return field


def render_run(run_dir: str | Path, field: str | None = None, time: float | None = None, out: str | Path | None = None) -> list[Path]:
    """Render the standard pictures of a run directory from its field files; return their paths.

    Args:
        run_dir: the run directory (must hold ``fields.json`` and the VTU files).
        field: which point field to draw (default: the first unknown).
        time: for time-dependent runs, draw only the slice nearest to this time.
        out: folder for the PNGs (default: the run directory).
    """
    pv = _pyvista()
    run_dir = Path(run_dir)
    if not (run_dir / "fields.json").is_file():
        raise ConfigurationError(f"'{run_dir}' holds no fields.json; is it a finished physopt run directory?")
    manifest = read_manifest(run_dir)
    out = Path(out) if out is not None else run_dir
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigurationError(f"cannot write pictures to '{out}': {exc.strerror or exc}; choose another --out") from None
    field = _pick_field(manifest, field)
    files = manifest["files"]
    error_field = f"error_{field}" if f"error_{field}" in manifest["fields"] else None
    written = []
    missing = [f["file"] for f in files if not (run_dir / f["file"]).is_file()]
    if missing:
        raise ConfigurationError(f"'{run_dir}' lacks the field file(s) {', '.join(missing)} listed in fields.json")
    meshes = [pv.read(str(run_dir / f["file"])) for f in files]
    labels = files[0]["axis_labels"]
    dim = len(labels)

    if dim == 1:  # a line: matplotlib
        m = meshes[0]
        x = np.asarray(m.points[:, 0])
        order = np.argsort(x)
        series = {field: np.asarray(m.point_data[field])[order]}
        if f"{field}_reference" in m.point_data:
            series[f"{field}_reference"] = np.asarray(m.point_data[f"{field}_reference"])[order]
        written.append(_line_plot(x[order], series, out / "solution.png", field, labels[0], field))
        if error_field:
            written.append(_line_plot(x[order], {error_field: np.asarray(m.point_data[error_field])[order]},
                                      out / "error.png", f"pointwise error {field} − reference", labels[0], "error"))
        return written

    times = [f["time"] for f in files]
    if len(files) > 1:  # time slices of a 2-D/3-D field
        if time is not None:
            k = int(np.argmin([abs(t - time) for t in times]))
            written.append(render_field(meshes[k], field, out / "solution.png", f"{field} at t = {times[k]:.4g}", labels))
            if error_field:
                written.append(render_field(meshes[k], error_field, out / "error.png", f"error at t = {times[k]:.4g}", labels, cmap="coolwarm"))
            return written
        written.append(render_field(meshes[-1], field, out / "solution.png", f"{field} at t = {times[-1]:.4g}", labels))
        pick = np.unique(np.linspace(0, len(meshes) - 1, min(4, len(meshes))).round().astype(int))
        written.append(render_panels([meshes[i] for i in pick], [times[i] for i in pick], field, out / "slices.png", field, labels))
        if error_field:
            written.append(render_field(meshes[-1], error_field, out / "error.png", f"error at t = {times[-1]:.4g}", labels, cmap="coolwarm"))
        return written

    mesh = meshes[0]
    space_time = labels[-1] == "t"
    if space_time and time is not None:  # one time of a (x, t) field: a line
        written.append(_space_time_slices(mesh, files[0], field, out / "solution.png", [time]))
        return written
    title = f"{field}({', '.join(labels)})"
    written.append(render_field(mesh, field, out / "solution.png", title, labels))
    if error_field:
        written.append(render_field(mesh, error_field, out / "error.png", f"pointwise error of {field}", labels, cmap="coolwarm"))
    if space_time:
        written.append(_space_time_slices(mesh, files[0], field, out / "slices.png", None))
    return written


def _space_time_slices(mesh, info, field, path, times):
    """Line plots u(x, t_k) from a structured (x, t) mesh, with the reference dashed."""
    nx, nt = info["grid_shape"]
    pts = np.asarray(mesh.points[:, :2]).reshape(nx, nt, 2)
    x, t = pts[:, 0, 0], pts[0, :, 1]
    values = np.asarray(mesh.point_data[field]).reshape(nx, nt)
    ref = mesh.point_data.get(f"{field}_reference")
    ref = None if ref is None else np.asarray(ref).reshape(nx, nt)
    columns = [int(np.argmin(abs(t - s))) for s in times] if times else list(np.linspace(0, nt - 1, 5).round().astype(int))
    series = {}
    for j in columns:
        series[f"{field}, t = {t[j]:.3g}"] = values[:, j]
        if ref is not None:
            series[f"reference, t = {t[j]:.3g}"] = ref[:, j]
    return _line_plot(x, series, path, f"{field} at fixed times", "x", field)

