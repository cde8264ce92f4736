"""Pictures of fields, rendered off-screen: PyVista for meshes, matplotlib for lines.

- :func:`render_field`: a scalar field as a coloured surface with contours (2-D),
  orthogonal slices or translucent, labelled iso-surfaces (3-D); a vector field as
  arrows over its magnitude; error maps with a colour range symmetric about zero.
  Maps and slices are unlit, so each colour is the colour bar's for its value.
- :func:`render_panels`: time slices as a grid of panels with one colour range.
- :func:`render_components`: a system's fields, a panel each with its own colour range; a 2-D vector
  field (a velocity) as streamlines over its magnitude.
- :func:`render_animation`: a GIF of a time series (fixed colour range/axes).
- :func:`plot_lines`: matplotlib line plots of 1-D fields.
- :func:`loss_figure`, :func:`plot_loss`: the training curves of a ``metrics.jsonl``
  (loss, its terms, the relative L2 error, phase hand-overs) by step and by time.
- :func:`render_run`: the pictures of a run directory from its field files
  alone, so ``physopt plot RUN_DIR`` works long after training.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from pathlib import Path

import numpy as np

from ._errors import ConfigurationError
from ._loss_plot import loss_figure, plot_loss

__all__ = ["render_field", "render_panels", "render_components", "render_animation", "plot_lines", "plot_loss", "loss_figure", "render_run",
           "PLOT_KINDS", "pyvista_installed"]

PLOT_KINDS = ("all", "solution", "error", "components", "panels", "animation", "iso", "loss")
_WINDOW = (900, 760)
_ISO_OPACITY = 0.4


def pyvista_installed() -> bool:
    """Whether PyVista can be imported (solving never needs it; drawing fields does)."""
    try:
        return importlib.util.find_spec("pyvista") is not None
    except (ImportError, ValueError):  # a broken or blocked installation
        return False


def _pyvista():
    if sys.platform.startswith("linux") and not os.environ.get("DISPLAY"):
        # headless Linux: ask VTK for EGL directly instead of failing over from X with a warning
        os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
    try:
        import pyvista
    except ImportError:
        raise ConfigurationError("drawing fields needs pyvista, which is not installed: `pip install pyvista` "
                                 "(or open the run's .vtu/.xdmf files in ParaView); --kind loss needs only matplotlib") from None

    pyvista.OFF_SCREEN = True
    return pyvista


def _matplotlib():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _as_pyvista(mesh):
    """A PyVista dataset from a PyVista dataset or a :class:`meshio.Mesh`."""
    pv = _pyvista()
    return mesh if isinstance(mesh, pv.DataSet) else pv.from_meshio(mesh)


def _scalars(mesh, field: str) -> tuple[str, np.ndarray]:
    """The name and values of what is coloured: the field, or ``|field|`` for a vector field."""
    if field not in mesh.point_data:
        raise ConfigurationError(f"unknown field '{field}'; this mesh has: {', '.join(mesh.point_data.keys())}")
    values = np.asarray(mesh.point_data[field])
    if values.ndim == 2 and values.shape[1] > 1:
        name = f"|{field}|"
        mesh.point_data[name] = np.linalg.norm(values, axis=1)
        return name, mesh.point_data[name]
    return field, values


def _colour_range(values, symmetric: bool):
    lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
    if symmetric:
        bound = max(abs(lo), abs(hi)) or 1.0
        return -bound, bound
    return (lo, hi) if hi > lo else (lo - 0.5, hi + 0.5)


# the colour bar: vertical at the right, its title drawn by us above it (VTK would centre it on the
# bar, where a long title runs off the window and a short one sits on the top tick label)
_BAR = {"x": 0.86, "y": 0.10, "height": 0.72}


def _bar(key: str = "") -> dict:
    """The colour bar's settings; ``key`` tells apart the bars of panels with their own ranges (PyVista keeps one bar
    per title, so each panel's is a different number of blanks: nothing shows, our own title is drawn above it)."""
    return {"title": key, "vertical": True, "fmt": "%.3g", "position_x": _BAR["x"], "position_y": _BAR["y"],
            "width": 0.05, "height": _BAR["height"], "label_font_size": 13, "unconstrained_font_size": True, "color": "black",
            "n_labels": 5}


def _bar_title(plotter, title: str, name: str) -> None:
    """``title`` above the colour bar: centred on it where it fits, else right-aligned inside the
    window and wrapped at spaces into lines that keep to the bar's side of the picture."""
    width = plotter.window_size[0] / plotter.shape[1]  # of this renderer, in pixels
    font = 12
    char = 0.9 * font  # about how wide a character is, in pixels
    room = (1.0 - _BAR["x"] - 0.025) * width  # from the bar's centre to the window's right edge
    centred = 0.5 * char * len(title) < room
    if not centred:  # wrap after spaces and underscores
        lines, most = [""], max(1, int((0.985 - _BAR["x"] + 0.04) * width / char))
        for word in re.split(r"(?<=[ _])", title):
            if lines[-1] and len(lines[-1].rstrip()) + len(word.rstrip()) > most:
                lines.append("")
            lines[-1] += word
        title = "\n".join(line.rstrip() for line in lines)
    text = plotter.add_text(title, position=(_BAR["x"] + 0.025 if centred else 0.985, _BAR["y"] + _BAR["height"] + 0.035),
                            viewport=True, font_size=font, color="black", name=f"{name}-bar-title")
    text.prop.justification_horizontal = "center" if centred else "right"
    text.prop.justification_vertical = "bottom"  # more lines grow upwards, away from the bar


def _camera(plotter, dim: int):
    if dim <= 2:
        plotter.view_xy()
        plotter.camera.zoom(1.1)
    else:
        plotter.view_isometric()
        plotter.camera.zoom(0.88)  # room for the axes' outer tick labels


def _add_streamlines(plotter, mesh, vectors: np.ndarray, name: str) -> None:
    """Streamlines of a 2-D vector point field, seeded on the two centre lines of the mesh's bounding box (every
    closed streamline around a centre crosses one of them), integrated both ways."""
    pv = _pyvista()
    lo, hi = np.asarray(mesh.bounds[::2])[:2], np.asarray(mesh.bounds[1::2])[:2]
    mid, t = (lo + hi) / 2, np.linspace(0.04, 0.96, 14)
    seeds = np.vstack([np.column_stack([lo[0] + t * (hi[0] - lo[0]), np.full_like(t, mid[1])]),
                       np.column_stack([np.full_like(t, mid[0]), lo[1] + t * (hi[1] - lo[1])])])
    flow = mesh.copy()
    flow.point_data["_flow"] = np.column_stack([vectors[:, :2], np.zeros(len(vectors))])
    lines = flow.streamlines_from_source(pv.PolyData(np.column_stack([seeds, np.zeros(len(seeds))])), vectors="_flow",
                                         surface_streamlines=True, integration_direction="both",
                                         max_length=8.0 * float(np.max(hi - lo)))
    if lines.n_points:
        plotter.add_mesh(lines, color="white", line_width=1.5, name=f"{name}-streamlines")


def _add_field(plotter, mesh, field, labels, cmap, clim=None, style="auto", bar_title=None,
               show_bar=True, name="field", axes=True, arrows=None, streamlines=False, bar_key=""):
    """Draw ``field`` of ``mesh`` into ``plotter`` (with ``arrows``, a vector point field drawn over it; a 2-D vector
    as ``streamlines`` instead of arrows if asked); return the colour range used."""
    dim = len(labels)
    mesh = mesh.copy()
    scalars, values = _scalars(mesh, field)
    symmetric = cmap == "coolwarm"
    clim = clim or _colour_range(values, symmetric)
    # unlit: a lit surface is shaded by its angle to the light, so its colours leave the colour bar's
    common = {"scalars": scalars, "cmap": cmap, "clim": clim, "show_scalar_bar": show_bar, "scalar_bar_args": _bar(bar_key),
              "lighting": False}
    if dim == 3 and style == "iso":
        plotter.add_mesh(mesh.outline(), color="black", line_width=1, name=f"{name}-outline")
        _add_iso_surfaces(plotter, mesh, scalars, clim, cmap, common, name)
    elif dim == 3:  # (the outline after the slices: adding `name` removes the actors named `name-*`)
        plotter.add_mesh(mesh.slice_orthogonal(), name=name, **common)
        plotter.add_mesh(mesh.outline(), color="black", line_width=1, name=f"{name}-outline")
    else:
        plotter.add_mesh(mesh, name=name, **common)
        if np.ptp(values) > 0 and scalars == field:  # contour lines of scalar fields (decoration: skipped if VTK declines)
            try:
                lines = mesh.contour(np.linspace(clim[0], clim[1], 12)[1:-1], scalars=scalars)
                if lines.n_points:
                    plotter.add_mesh(lines, color="black", line_width=1, opacity=0.5, name=f"{name}-contours")
            except Exception:  # noqa: BLE001
                pass
    if show_bar:
        _bar_title(plotter, bar_title or scalars, name)
    vectors = np.asarray(mesh.point_data[arrows if arrows in mesh.point_data else field])
    if streamlines and dim == 2 and vectors.ndim == 2 and vectors.shape[1] == 2:
        _add_streamlines(plotter, mesh, vectors, name)
    elif vectors.ndim == 2 and vectors.shape[1] > 1:  # arrows on a subset of the nodes
        step = max(1, mesh.n_points // 400)
        padded = np.zeros((mesh.n_points, 3))
        padded[:, : vectors.shape[1]] = vectors
        picked = np.sort(np.random.default_rng(0).choice(mesh.n_points, mesh.n_points // step, replace=False))  # spread
        sample = _pyvista().PolyData(np.asarray(mesh.points)[picked])  # a point cloud: any mesh type (triangles too)
        sample.point_data["_arrows"] = padded[picked]
        size = float(np.max(mesh.bounds[1::2]) - np.min(mesh.bounds[::2])) / 25
        # arrows of one length (scale=False: the colour shows the magnitude), so a few huge vectors hide none
        plotter.add_mesh(sample.glyph(orient="_arrows", scale=False, factor=size), color="black", name=f"{name}-arrows")
    if axes:
        plotter.show_bounds(**dict(zip(("xtitle", "ytitle", "ztitle"), labels)), location="outer",
                            font_size=12, fmt="%.2g", color="black")
    return clim


def _add_iso_surfaces(plotter, mesh, scalars: str, clim, cmap: str, common: dict, name: str) -> None:
    r"""Five translucent iso-surfaces :math:`\{u = c_k\}`, :math:`c_k` evenly inside the colour range,
    each one colour (its value's on the colour bar), and a key listing the values with their colours.

    Lit softly (mostly ambient), so the surfaces show their shape yet keep the colour of their value.
    """
    import matplotlib

    levels = np.linspace(clim[0], clim[1], 7)[1:-1]
    colours = matplotlib.colormaps[cmap]((levels - clim[0]) / (clim[1] - clim[0]))[:, :3]
    key = []
    for k, (level, colour) in enumerate(zip(levels, colours)):
        surface = mesh.contour([level], scalars=scalars)
        if surface.n_points:  # a level the field never reaches has no surface (and no key entry)
            plotter.add_mesh(surface, opacity=_ISO_OPACITY, name=f"{name}-iso{k}",
                             **{**common, "show_scalar_bar": common["show_scalar_bar"] and not key,
                                "lighting": True, "ambient": 0.6, "diffuse": 0.4, "specular": 0.0})
            key.append((f"{scalars} = {level:.3g}", colour))
    for row, (label, colour) in enumerate(key[::-1]):  # highest value on top, like the colour bar
        y = 0.03 + 0.04 * (len(key) - 1 - row)
        plotter.add_actor(_swatch((0.02, y, 0.025, 0.028), colour), name=f"{name}-swatch{row}")
        plotter.add_text(label, position=(0.052, y + 0.002), viewport=True, font_size=11, color="black",
                         name=f"{name}-label{row}")


def _swatch(box, colour):
    """A filled rectangle ``(x, y, width, height)`` in normalised viewport coordinates (a key's colour patch)."""
    import vtk

    x, y, w, h = box
    points = vtk.vtkPoints()
    for px, py in ((x, y), (x + w, y), (x + w, y + h), (x, y + h)):
        points.InsertNextPoint(px, py, 0.0)
    quad = vtk.vtkCellArray()
    quad.InsertNextCell(4, [0, 1, 2, 3])
    poly = vtk.vtkPolyData()
    poly.SetPoints(points)
    poly.SetPolys(quad)
    coordinate = vtk.vtkCoordinate()
    coordinate.SetCoordinateSystemToNormalizedViewport()
    mapper = vtk.vtkPolyDataMapper2D()
    mapper.SetInputData(poly)
    mapper.SetTransformCoordinate(coordinate)
    actor = vtk.vtkActor2D()
    actor.SetMapper(mapper)
    actor.GetProperty().SetColor(*map(float, colour))
    return actor


def _field_plotter(mesh, field: str, title: str = "", labels=("x", "y"), cmap: str = "viridis", style: str = "auto",
                   bar_title: str | None = None, clim=None, arrows: str | None = None, streamlines: bool = False):
    """The off-screen PyVista plotter :func:`render_field` screenshots (the caller closes it)."""
    pv = _pyvista()
    plotter = pv.Plotter(off_screen=True, window_size=_WINDOW)
    plotter.set_background("white")
    _add_field(plotter, _as_pyvista(mesh), field, labels, cmap, clim=clim, style=style, bar_title=bar_title, arrows=arrows,
               streamlines=streamlines)
    plotter.add_text(title or field, font_size=12, color="black")
    _camera(plotter, len(labels))
    return plotter


def render_field(mesh, field: str, path: str | Path, title: str = "", labels=("x", "y"), cmap: str = "viridis",
                 style: str = "auto", bar_title: str | None = None, clim=None, arrows: str | None = None,
                 streamlines: bool = False) -> Path:
    """Render ``field`` of a mesh (PyVista or meshio) to a PNG.

    2-D: coloured surface with contour lines; 3-D: orthogonal slices
    (``style="slices"``, the default) or five translucent iso-surfaces with a key
    of their values (``style="iso"``); a vector field (``(N, 2|3)`` point data) as
    arrows over its magnitude; ``arrows``: a vector point field drawn as arrows over ``field`` (a density and its
    velocity); ``streamlines``: a 2-D vector field's streamlines instead of arrows. ``cmap="coolwarm"`` centres the
    colour range on zero (error maps). Maps and slices are unlit, so their colours are the colour bar's.
    """
    plotter = _field_plotter(mesh, field, title, labels, cmap, style, bar_title, clim, arrows, streamlines)
    plotter.screenshot(str(path))
    plotter.close()
    return Path(path)


def _grid(k: int) -> tuple[int, int]:
    cols = min(k, 3)
    return -(-k // cols), cols


def render_components(mesh, fields: list[str], path: str | Path, title: str = "", labels=("x", "y"),
                      cmap: str = "viridis", references: dict[str, str] | None = None) -> Path:
    """The fields of a system side by side, a panel each (at most 3 per row), each with its own colour range and
    axes; a 2-D vector field (``(N, 2)`` point data: a velocity) as streamlines over its magnitude.

    1-D meshes are drawn as line plots, with ``references[field]`` (a point-data name) dashed.
    """
    rows, cols = _grid(len(fields))
    if len(labels) == 1:
        plt = _matplotlib()
        fig, axes = plt.subplots(rows, cols, figsize=(4.4 * cols, 3.4 * rows), dpi=110, squeeze=False)
        x = np.asarray(mesh.points[:, 0])
        order = np.argsort(x)
        for ax, field in zip(axes.flat, fields):
            ax.plot(x[order], np.asarray(mesh.point_data[field])[order], lw=1.8, label=field)
            reference = (references or {}).get(field)
            if reference in mesh.point_data:
                ax.plot(x[order], np.asarray(mesh.point_data[reference])[order], "--", color="black", lw=1,
                        label="reference")
                ax.legend(fontsize=8)
            ax.set_title(field, fontsize=10)
            ax.set_xlabel(labels[0])
            ax.grid(alpha=0.3)
        for ax in axes.flat[len(fields):]:
            ax.axis("off")
        if title:
            fig.suptitle(title)
        fig.tight_layout()
        fig.savefig(path)
        plt.close(fig)
        return Path(path)
    pv = _pyvista()
    mesh = _as_pyvista(mesh)
    plotter = pv.Plotter(off_screen=True, shape=(rows, cols), window_size=(560 * cols, 500 * rows), border=False)
    plotter.set_background("white")
    for i, field in enumerate(fields):
        plotter.subplot(i // cols, i % cols)
        _add_field(plotter, mesh, field, labels, cmap, name=f"panel{i}", streamlines=True, bar_key=" " * (i + 1))
        vector = np.ndim(mesh.point_data[field]) == 2 and len(labels) == 2
        what = f"{field}: magnitude and streamlines" if vector else field
        plotter.add_text(f"{title}: {what}" if title else what, font_size=10, color="black")
        _camera(plotter, len(labels))
        plotter.camera.zoom(0.72)  # room for the outer tick labels and axis titles
    plotter.screenshot(str(path))
    plotter.close()
    return Path(path)


def render_panels(meshes, times, field: str, path: str | Path, title: str = "", labels=("x", "y"),
                  cmap: str = "viridis", reference: str | None = None, arrows: str | None = None) -> Path:
    """Time slices of ``field`` as a grid of panels (at most 3 per row), one shared colour range.

    1-D meshes are drawn as line plots (with ``reference``, a point-data name, dashed).
    """
    rows, cols = _grid(len(meshes))
    if len(labels) == 1:
        plt = _matplotlib()
        fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), dpi=110, squeeze=False, sharey=True)
        values = [np.asarray(m.point_data[field]) for m in meshes]
        for ax, mesh, t, v in zip(axes.flat, meshes, times, values):
            x = np.asarray(mesh.points[:, 0])
            order = np.argsort(x)
            ax.plot(x[order], v[order], lw=1.8, label=field)
            if reference and reference in mesh.point_data:
                ax.plot(x[order], np.asarray(mesh.point_data[reference])[order], "--", color="black", lw=1, label="reference")
            ax.set_title(f"t = {t:.3g}", fontsize=10)
            ax.set_xlabel(labels[0])
            ax.grid(alpha=0.3)
        for ax in axes.flat[len(meshes):]:
            ax.axis("off")
        axes[0, 0].set_ylabel(field)
        axes[0, 0].legend(fontsize=8)
        fig.suptitle(title or field)
        fig.tight_layout()
        fig.savefig(path)
        plt.close(fig)
        return Path(path)
    pv = _pyvista()
    meshes = [_as_pyvista(m) for m in meshes]
    plotter = pv.Plotter(off_screen=True, shape=(rows, cols), window_size=(430 * cols, 400 * rows), border=False)
    plotter.set_background("white")
    values = np.concatenate([_scalars(m.copy(), field)[1] for m in meshes])
    clim = _colour_range(values, cmap == "coolwarm")
    for i, (mesh, t) in enumerate(zip(meshes, times)):
        plotter.subplot(i // cols, i % cols)
        _add_field(plotter, mesh, field, labels, cmap, clim=clim, show_bar=(i == len(meshes) - 1), axes=False,
                   arrows=arrows)
        plotter.add_text(f"{title or field}, t = {t:.3g}", font_size=9, color="black")
        _camera(plotter, len(labels))
        plotter.camera.zoom(0.88)  # every panel alike, so the last one's colour bar stays clear of its field
    plotter.screenshot(str(path))
    plotter.close()
    return Path(path)


def _save_gif(images, path: Path, fps: float) -> Path:
    from PIL import Image

    frames = [Image.fromarray(np.asarray(im)[..., :3]).convert("P", palette=Image.Palette.ADAPTIVE, colors=255)
              for im in images]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=int(round(1000 / fps)), loop=0)
    return Path(path)


def render_animation(meshes, times, field: str, path: str | Path, title: str = "", labels=("x", "y"),
                     cmap: str = "viridis", reference: str | None = None, fps: float = 6.0, arrows: str | None = None) -> Path:
    """A GIF of a time series: one frame per mesh, fixed colour range (or y-range in 1-D)."""
    if len(labels) == 1:
        plt = _matplotlib()
        values = [np.asarray(m.point_data[field]) for m in meshes]
        lo, hi = _colour_range(np.concatenate(values), False)
        pad = 0.05 * (hi - lo)
        fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=90)
        images = []
        for mesh, t, v in zip(meshes, times, values):
            ax.clear()
            x = np.asarray(mesh.points[:, 0])
            order = np.argsort(x)
            ax.plot(x[order], v[order], lw=2, label=field)
            if reference and reference in mesh.point_data:
                ax.plot(x[order], np.asarray(mesh.point_data[reference])[order], "--", color="black", lw=1, label="reference")
            ax.set_ylim(lo - pad, hi + pad)
            ax.set_xlabel(labels[0])
            ax.set_ylabel(field)
            ax.set_title(f"{title or field}, t = {t:.3g}")
            ax.grid(alpha=0.3)
            ax.legend(loc="upper right", fontsize=8)
            fig.canvas.draw()
            images.append(np.asarray(fig.canvas.buffer_rgba()).copy())
        plt.close(fig)
        return _save_gif(images, Path(path), fps)
    pv = _pyvista()
    meshes = [_as_pyvista(m) for m in meshes]
    clim = _colour_range(np.concatenate([_scalars(m.copy(), field)[1] for m in meshes]), cmap == "coolwarm")
    plotter = pv.Plotter(off_screen=True, window_size=(720, 600))
    plotter.set_background("white")
    images = []
    for k, (mesh, t) in enumerate(zip(meshes, times)):
        _add_field(plotter, mesh, field, labels, cmap, clim=clim, axes=(k == 0), arrows=arrows)
        plotter.add_text(f"{title or field}, t = {t:.3g}", font_size=11, color="black", name="title")
        if k == 0:
            _camera(plotter, len(labels))
        images.append(plotter.screenshot(None, return_img=True))
    plotter.close()
    return _save_gif(images, Path(path), fps)


def plot_lines(x, series: dict[str, np.ndarray], path: str | Path, title: str, xlabel: str, ylabel: str,
               logy: bool = False) -> Path:
    """Curves ``series`` (label -> y) against ``x``; labels containing "reference" are dashed black."""
    plt = _matplotlib()
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    shown_reference = False
    for label, y in series.items():
        if "reference" in label:  # reference curves: thin dashed black, one legend entry
            ax.plot(x, y, "--", color="black", lw=1.0, label=None if shown_reference else "reference")
            shown_reference = True
        else:
            ax.plot(x, y, "-", label=label, lw=1.8)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    if len(series) > 1:
        ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


# the pictures of a run directory, built from the renderers above (imported last: it uses them)
from ._render_run import render_run as render_run  # noqa: E402
