"""The pictures of a run directory, from its field files alone (``physopt plot RUN_DIR``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._errors import ConfigurationError
from ._fields import Frame, read_frames, read_manifest
from ._loss_plot import plot_loss
from ._operator_plots import OPERATOR_FILE, render_operator_run
from .viz import PLOT_KINDS, plot_lines, render_animation, render_components, render_field, render_panels

__all__ = ["render_run"]


def _pick_field(manifest, field):
    if field is None:
        return manifest["primary"]
    if field not in manifest["fields"]:
        raise ConfigurationError(f"unknown field '{field}'; this run has: {', '.join(manifest['fields'])}")
    return field


def _nearest(series: list[Frame], time: float) -> Frame:
    return series[int(np.argmin([abs(f.time - time) for f in series]))]


def _line(frame: Frame, field: str, error: str | None, path: Path, title: str) -> Path:
    x = np.asarray(frame.mesh.points[:, 0])
    order = np.argsort(x)
    data = frame.mesh.point_data
    if error:
        return plot_lines(x[order], {error: np.asarray(data[error])[order]}, path, title, frame.axis_labels[0], "error")
    series = {field: np.asarray(data[field])[order]}
    if f"{field}_reference" in data:
        series[f"{field}_reference"] = np.asarray(data[f"{field}_reference"])[order]
    return plot_lines(x[order], series, path, title, frame.axis_labels[0], field)


def _draw(frame: Frame, field: str, path: Path, title: str, error: bool = False, style: str = "auto",
          arrows: str | None = None) -> Path:
    if len(frame.axis_labels) == 1:
        return _line(frame, field, field if error else None, path, title)
    return render_field(frame.mesh, field, path, title, frame.axis_labels, "coolwarm" if error else "viridis", style=style,
                        arrows=None if error else arrows, streamlines=not arrows)  # a velocity: streamlines


def _draw_components(frame: Frame, fields: list[str], path: Path, title: str, error: bool = False) -> Path:
    references = {f: f"{f}_reference" for f in fields}
    return render_components(frame.mesh, fields, path, title, frame.axis_labels, "coolwarm" if error else "viridis",
                             references=references)


def render_run(run_dir: str | Path, field: str | None = None, time: float | None = None, out: str | Path | None = None,
               kind: str = "all") -> list[Path]:
    """Render pictures of a run directory from its field files; return their paths.

    Args:
        run_dir: the run directory (``fields.json`` and the VTU/XDMF files it lists).
        field: which point field to draw (default: the first unknown).
        time: for time-dependent runs, draw the state nearest to this time.
        out: folder for the pictures (default: the run directory).
        kind: ``solution``, ``error``, ``components`` (a system's fields, a panel each), ``panels`` (time slices),
            ``animation``
            (GIF), ``iso`` (3-D iso-surfaces), ``loss``, or ``all`` (what applies).

    Files: ``solution.png``, ``error.png``, ``components.png``, ``panels.png``, ``animation.gif``,
    ``iso.png``, ``loss.png``.
    """
    if kind not in PLOT_KINDS:
        raise ConfigurationError(f"unknown plot kind '{kind}'; choose one of {', '.join(PLOT_KINDS)}")
    run_dir = Path(run_dir)
    out = Path(out) if out is not None else run_dir
    operator = (run_dir / OPERATOR_FILE).is_file()  # a trained operator (a problem family's run): no fields
    manifest = None if operator else read_manifest(run_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigurationError(f"cannot write pictures to '{out}': {exc.strerror or exc}; choose another --out") from None
    if operator:
        return render_operator_run(run_dir, out, kind) + (_loss(run_dir, out, kind != "all") if kind in ("all", "loss") else [])
    field = _pick_field(manifest, field)
    error = f"error_{field}" if f"error_{field}" in manifest["fields"] else None
    components = manifest.get("components") or []  # a system's fields, a panel each
    errors = [f"error_{c}" for c in components if f"error_{c}" in manifest["fields"]]
    reference = f"{field}_reference" if f"{field}_reference" in manifest["fields"] else None
    still, series = read_frames(run_dir, manifest)
    arrows = manifest.get("overlay")  # e.g. a density's velocity, drawn over its pictures
    want = set(PLOT_KINDS[1:]) if kind == "all" else {kind}
    strict = kind != "all"  # an explicitly asked-for picture that cannot be drawn is an error
    written: list[Path] = []

    # the main picture: a time series' state at `time` (default: the end), else the stationary/space-time field
    if series and (time is not None or not still):
        main = _nearest(series, series[-1].time if time is None else time)
        when = f" at t = {main.time:.4g}"
    elif still:
        main, when = still[0], ""
        if time is not None and not series:
            raise ConfigurationError(f"--time: '{run_dir}' is not time-dependent")
    variables = f"({', '.join(main.axis_labels)})" if not when else ""
    if "solution" in want:
        written.append(_draw(main, field, out / "solution.png", f"{field}{variables}{when}", arrows=arrows))
    if "components" in want:
        if components:
            written.append(_draw_components(main, components, out / "components.png", when.strip(" ,")))
        elif strict:
            raise ConfigurationError(f"--kind components needs a system of several unknowns; '{run_dir}' has one: "
                                     "use --kind solution")
    if "error" in want:
        if len(errors) > 1 and field in components:  # a system: every component's error
            written.append(_draw_components(main, errors, out / "error.png", f"solution − reference{when}", error=True))
        elif error:
            written.append(_draw(main, error, out / "error.png", f"pointwise error of {field} (solution − reference){when}",
                                 error=True))
        elif strict:
            raise ConfigurationError(f"'{run_dir}' has no error field for '{field}' (the problem has no reference solution)")
    if "iso" in want:
        if len(main.axis_labels) == 3:
            written.append(_draw(main, field, out / "iso.png", f"iso-surfaces of {field}{when}", style="iso"))
        elif strict:
            raise ConfigurationError(f"iso-surfaces need a 3-D field; '{run_dir}' is {len(main.axis_labels)}-D: use --kind solution")
    for what in ("panels", "animation"):
        if what not in want:
            continue
        if not series:
            if strict:
                raise ConfigurationError(f"--kind {what} needs a time-dependent run; '{run_dir}' has no time series")
            continue
        if what == "panels":
            pick = np.unique(np.linspace(0, len(series) - 1, min(6, len(series))).round().astype(int))
            chosen = [series[i] for i in pick]
            written.append(render_panels([f.mesh for f in chosen], [f.time for f in chosen], field, out / "panels.png",
                                         field, series[0].axis_labels, reference=reference, arrows=arrows))
        else:
            written.append(render_animation([f.mesh for f in series], [f.time for f in series], field,
                                            out / "animation.gif", field, series[0].axis_labels, reference=reference,
                                            arrows=arrows))
    if "loss" in want:
        written += _loss(run_dir, out, strict)
    return written


def _loss(run_dir: Path, out: Path, strict: bool) -> list[Path]:
    metrics = run_dir / "metrics.jsonl"
    if metrics.is_file() and metrics.stat().st_size:
        return [plot_loss(metrics, out / "loss.png")]
    if strict:
        raise ConfigurationError(f"'{run_dir}' has no metrics.jsonl to plot")
    return []
