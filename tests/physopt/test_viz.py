"""Results I/O (VTU, XDMF time series) and pictures (physopt.viz), on synthetic fields: no training.

Pictures are checked by pixel statistics (not blank, many colours, enough ink),
GIFs frame by frame (one frame per time, frames that change); what a picture
claims to show is checked on the figure or the scene before it is saved (the
loss plot's lines, the actors' lighting and opacity, the iso-surfaces' key) and
on the rendered colours against the colour map.
"""

from __future__ import annotations

import json

import matplotlib
import meshio
import numpy as np
import pytest
from image_checks import assert_real_image, image_frames

from physopt import ConfigurationError, FieldSet, structured_mesh, write_field_sets
from physopt._fields import read_frames
from physopt.viz import PLOT_KINDS, _field_plotter, loss_figure, plot_loss, render_field, render_run

pytestmark = pytest.mark.cpu_only(reason="results I/O and pictures: NumPy, meshio, matplotlib and PyVista, no tensors")


def _series(tmp_path, dim=2, times=(0.0, 0.25, 0.5, 0.75, 1.0), n=21):
    """u = exp(-t) prod sin(pi x_i) on the unit box, with a reference and the error, at ``times``."""
    mesh = structured_mesh(np.zeros(dim), np.ones(dim), n)
    shape = np.prod(np.sin(np.pi * mesh.points), axis=1)
    sets = []
    for t in times:
        ref = np.exp(-t) * shape
        u = ref + 0.01 * np.cos(3 * mesh.points[:, 0]) * t
        sets.append(FieldSet(mesh, {"u": u, "u_reference": ref, "error_u": u - ref}, t, ("x", "y", "z")[:dim]))
    write_field_sets(tmp_path, sets, primary="u")
    return mesh, sets


def test_time_series_is_one_xdmf_file_that_round_trips(tmp_path):
    mesh, sets = _series(tmp_path)
    manifest = json.loads((tmp_path / "fields.json").read_text())
    assert manifest["files"] == [] and manifest["series"]["file"] == "solution.xdmf"
    assert manifest["series"]["times"] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert (tmp_path / "solution.h5").is_file() and not list(tmp_path.glob("*.vtu"))
    with meshio.xdmf.TimeSeriesReader(tmp_path / "solution.xdmf") as reader:  # as ParaView/meshio users read it
        points, cells = reader.read_points_cells()
        assert reader.num_steps == 5
        np.testing.assert_array_equal(points[:, :2], mesh.points)
        np.testing.assert_array_equal(cells[0].data, mesh.cells)
        for k, fs in enumerate(sets):
            t, data, _ = reader.read_data(k)
            assert t == fs.time and set(data) == {"u", "u_reference", "error_u"}
            np.testing.assert_array_equal(data["u"], fs.data["u"])
    still, series = read_frames(tmp_path)
    assert still == [] and [f.time for f in series] == manifest["series"]["times"]


def test_xdmf_is_written_into_the_run_directory_not_the_working_directory(tmp_path, monkeypatch):
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    (tmp_path / "run").mkdir()
    _series(tmp_path / "run")
    assert (tmp_path / "run" / "solution.h5").is_file() and not list(elsewhere.iterdir())


@pytest.mark.pyvista
def test_run_pictures_of_a_2d_time_series(tmp_path):
    _series(tmp_path)
    written = render_run(tmp_path)
    assert [p.name for p in written] == ["solution.png", "error.png", "panels.png", "animation.gif"]
    for path in written:
        assert_real_image(path)
    frames = image_frames(tmp_path / "animation.gif")
    assert len(frames) == 5
    assert np.abs(frames[0] - frames[-1]).mean() > 1.0, "the animation's frames do not change"


@pytest.mark.pyvista
def test_run_pictures_of_a_3d_field_slices_and_iso_surfaces(tmp_path):
    mesh = structured_mesh([0, 0, 0], [1, 1, 1], 15)
    u = np.prod(np.sin(np.pi * mesh.points), axis=1)
    write_field_sets(tmp_path, [FieldSet(mesh, {"u": u})], primary="u")
    written = render_run(tmp_path, kind="all")
    assert [p.name for p in written] == ["solution.png", "iso.png"]
    for path in written:
        assert_real_image(path)
    slices, iso = (image_frames(tmp_path / name)[0] for name in ("solution.png", "iso.png"))
    assert np.abs(slices - iso).mean() > 1.0  # two different pictures


@pytest.mark.pyvista
def test_vector_field_is_drawn_as_arrows_over_its_magnitude(tmp_path):
    mesh = structured_mesh([-1, -1], [1, 1], 25)
    x, y = mesh.points.T
    import pyvista

    grid = pyvista.from_meshio(meshio.Mesh(mesh.points3d(), [("triangle", mesh.cells)]))
    grid.point_data["velocity"] = np.stack([-y, x], 1)
    grid.point_data["speed"] = np.hypot(x, y)
    arrows = render_field(grid, "velocity", tmp_path / "v.png", "rotation", ("x", "y"))
    plain = render_field(grid, "speed", tmp_path / "s.png", "rotation", ("x", "y"))
    assert_real_image(arrows)
    assert np.abs(image_frames(arrows)[0] - image_frames(plain)[0]).mean() > 0.5  # the arrows show


def test_run_pictures_of_a_1d_field_and_the_loss_curve(tmp_path):
    mesh = structured_mesh([0.0], [1.0], [101])
    u = np.sin(np.pi * mesh.points[:, 0])
    write_field_sets(tmp_path, [FieldSet(mesh, {"u": u, "u_reference": u * 1.01, "error_u": -0.01 * u}, None, ("x",))], "u")
    (tmp_path / "metrics.jsonl").write_text(
        "\n".join(json.dumps({"step": k, "loss": 10.0 ** (-k / 10), **({"error": 0.1 / k} if k % 10 == 0 else {})})
                  for k in range(1, 101)) + "\n{\"step\": 100, \"event\": \"stop\"}\n{\"step\": 1"  # a cut-short last line
    )
    written = render_run(tmp_path)
    assert [p.name for p in written] == ["solution.png", "error.png", "loss.png"]
    for path in written:
        assert_real_image(path, min_colours=10)


@pytest.mark.pyvista
def test_time_and_field_choices(tmp_path):
    _series(tmp_path)
    (first,) = render_run(tmp_path, time=0.0, kind="solution", out=tmp_path / "t0")
    (last,) = render_run(tmp_path, time=1.0, kind="solution", out=tmp_path / "t1")
    assert np.abs(image_frames(first)[0] - image_frames(last)[0]).mean() > 1.0
    (err,) = render_run(tmp_path, field="error_u", kind="solution", out=tmp_path / "e")
    assert_real_image(err)


@pytest.mark.parametrize(
    "kind, needle",
    [("panels", "needs a time-dependent run"), ("animation", "needs a time-dependent run"),
     ("iso", "need a 3-D field"), ("loss", "no metrics.jsonl")],
)
def test_pictures_that_do_not_apply_are_refused_clearly(tmp_path, kind, needle):
    mesh = structured_mesh([0, 0], [1, 1], 5)
    write_field_sets(tmp_path, [FieldSet(mesh, {"u": mesh.points[:, 0]})], primary="u")
    with pytest.raises(ConfigurationError, match=needle):
        render_run(tmp_path, kind=kind)


def test_bad_plot_requests(tmp_path):
    mesh = structured_mesh([0, 0], [1, 1], 5)
    write_field_sets(tmp_path, [FieldSet(mesh, {"u": mesh.points[:, 0]})], primary="u")
    with pytest.raises(ConfigurationError, match="unknown plot kind 'movie'.*animation"):
        render_run(tmp_path, kind="movie")
    with pytest.raises(ConfigurationError, match="unknown field 'v'; this run has: u"):
        render_run(tmp_path, field="v")
    with pytest.raises(ConfigurationError, match="no error field"):
        render_run(tmp_path, kind="error")
    with pytest.raises(ConfigurationError, match="not time-dependent"):
        render_run(tmp_path, time=0.5)
    (tmp_path / "metrics.jsonl").write_text("")
    with pytest.raises(ConfigurationError, match="no loss values"):
        plot_loss(tmp_path / "metrics.jsonl", tmp_path / "loss.png")
    assert set(PLOT_KINDS) >= {"solution", "error", "panels", "animation", "iso", "loss"}


def test_damaged_time_series_is_a_clear_error(tmp_path):
    _series(tmp_path)
    (tmp_path / "solution.h5").write_bytes(b"not hdf5")
    with pytest.raises(ConfigurationError, match="cannot read the time series"):
        render_run(tmp_path)
    (tmp_path / "solution.h5").unlink()
    with pytest.raises(ConfigurationError, match="lacks the field file.*solution.h5"):
        render_run(tmp_path)


# ----- the loss plot: what is drawn, not only that a file exists ---------------------------------


def _pinn_run(tmp_path):
    """A run directory's config.json and metrics.jsonl: 40 Adam steps then 20 LM steps, two loss terms,
    the relative L2 error every 10 steps; a stop event and a line cut short at the end."""
    (tmp_path / "config.json").write_text(json.dumps({"problem": "heat1d", "parameters": {"kappa": 0.25}, "solver": "pinn"}))
    records = []
    for k in range(1, 61):
        r = {"step": k, "phase": "adam" if k <= 40 else "lm", "loss": 3.0 / k, "time": 0.05 * k + (0.5 if k > 40 else 0.0),
             "loss_residual": 2.0 / k, "loss_dirichlet": 1.0 / k}
        if k % 10 == 0:
            r["rel_l2"] = 0.5 / k
        records.append(r)
    lines = [json.dumps(r) for r in records] + ['{"step": 60, "event": "stop", "reason": "done"}', '{"step": 6']
    (tmp_path / "metrics.jsonl").write_text("\n".join(lines))
    return records


def _lines(ax) -> dict:
    return {line.get_label(): line for line in ax.get_lines() if not line.get_label().startswith("_")}


def test_loss_plot_draws_the_error_the_terms_and_the_phase_boundaries_by_step_and_by_time(tmp_path):
    records = _pinn_run(tmp_path)
    fig = loss_figure(tmp_path / "metrics.jsonl")
    try:
        assert "heat1d" in fig._suptitle.get_text() and "kappa = 0.25" in fig._suptitle.get_text()
        by_step, by_time = fig.axes[:2]
        assert by_step.get_xlabel() == "step" and "wall-clock" in by_time.get_xlabel()
        measured = [r for r in records if "rel_l2" in r]
        for ax, key in ((by_step, "step"), (by_time, "time")):
            assert ax.get_yscale() == "log"
            lines = _lines(ax)
            assert {"loss (total)", "loss_residual", "loss_dirichlet", "relative L2 error"} <= set(lines)
            error = lines["relative L2 error"]
            np.testing.assert_allclose(error.get_xdata(), [r[key] for r in measured])
            np.testing.assert_allclose(error.get_ydata(), [r["rel_l2"] for r in measured])
            for term in ("loss_residual", "loss_dirichlet"):
                np.testing.assert_allclose(lines[term].get_ydata(), [r[term] for r in records])
                assert lines[term].get_linewidth() < lines["loss (total)"].get_linewidth()
            boundaries = [line for line in ax.get_lines() if line.get_gid() == "phase-boundary"]
            assert [line.get_xdata()[0] for line in boundaries] == [records[39][key]]  # after Adam's last step
            assert [t.get_text() for t in ax.texts if t.get_gid() == "phase-boundary"] == ["adam → lm"]
        labels = [t.get_text() for t in by_step.get_legend().get_texts()]
        assert "relative L2 error" in labels and "loss_residual" in labels
    finally:
        matplotlib.pyplot.close(fig)
    assert_real_image(plot_loss(tmp_path / "metrics.jsonl", tmp_path / "loss.png"), min_colours=10)


def test_loss_plot_of_a_time_marching_run_and_of_legacy_metrics(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"problem": "heat2d", "parameters": {}, "solver": "teng"}))
    (tmp_path / "summary.json").write_text(json.dumps({"errors": {"rel_l2_final": 2e-4, "floor_rel_l2": 1.5e-4}}))
    records = [{"step": 0, "phase": "initial fit", "loss": 1e-7, "time": 3.0, "loss_fit": 1e-7, "rel_l2": 1e-7, "t": 0.0}]
    records += [{"step": n, "phase": "teng-heun", "loss": 1e-6, "time": 3.0 + n, "loss_fit": 1e-6, "rel_l2": 2e-5 * n,
                 "t": 0.05 * n} for n in range(1, 11)]
    (tmp_path / "metrics.jsonl").write_text("\n".join(map(json.dumps, records)))
    fig = loss_figure(tmp_path / "metrics.jsonl")
    try:
        assert fig._suptitle.get_text() == "heat2d · teng"
        by_step = fig.axes[0]
        lines = _lines(by_step)
        assert "loss (= loss_fit)" in lines and "loss_fit" not in lines  # one term is the total: drawn once
        np.testing.assert_allclose(lines["relative L2 error"].get_ydata(), [r["rel_l2"] for r in records])
        np.testing.assert_allclose(lines["ideal stepper's error at the end (floor)"].get_ydata(), [1.5e-4])
        assert [line.get_xdata()[0] for line in by_step.get_lines() if line.get_gid() == "phase-boundary"] == [0]
        top = [child for child in by_step.get_children() if type(child).__name__ == "SecondaryAxis"]
        assert len(top) == 1 and top[0].get_xlabel() == "physical time t"
    finally:
        matplotlib.pyplot.close(fig)

    # an older run: the error under "error", no time, no phase, no config: still drawn, titled by the folder
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    (legacy / "metrics.jsonl").write_text("\n".join(json.dumps({"step": k, "loss": 1.0 / k, **({"error": 0.1 / k} if k % 5 == 0 else {})})
                                                    for k in range(1, 21)))
    fig = loss_figure(legacy / "metrics.jsonl")
    try:
        assert len(fig.axes) == 1 and fig._suptitle.get_text() == "legacy"
        np.testing.assert_allclose(_lines(fig.axes[0])["relative L2 error"].get_ydata(), [0.02, 0.01, 0.1 / 15, 0.005])
    finally:
        matplotlib.pyplot.close(fig)


def test_run_pictures_title_the_loss_plot_by_the_problem(tmp_path):
    mesh = structured_mesh([0.0], [1.0], [21])
    write_field_sets(tmp_path, [FieldSet(mesh, {"u": mesh.points[:, 0]}, None, ("x",))], "u")
    _pinn_run(tmp_path)
    (loss,) = render_run(tmp_path, kind="loss")
    assert_real_image(loss, min_colours=10)


# ----- 3-D pictures: colours that match the bar, translucent labelled iso-surfaces --------------------------


def _cube_field(n=15):
    mesh = structured_mesh([0, 0, 0], [1, 1, 1], n)
    grid = _pyvista_grid(mesh)
    grid.point_data["u"] = np.prod(np.sin(np.pi * grid.points), axis=1)
    return grid


def _pyvista_grid(mesh):
    import pyvista

    return pyvista.from_meshio(meshio.Mesh(mesh.points3d(), [(mesh.cell_type, mesh.cells)]))


def _share_of_colour_map_pixels(png, cmap: str) -> float:
    """Of the coloured pixels (not white, black or grey), the share that is a colour of ``cmap``."""
    pixels = image_frames(png)[0].reshape(-1, 3)
    coloured = pixels[pixels.max(1) - pixels.min(1) > 30]
    table = matplotlib.colormaps[cmap](np.linspace(0, 1, 256))[:, :3] * 255
    nearest = np.sqrt(((coloured[:, None, :] - table[None]) ** 2).sum(-1)).min(1)
    assert len(coloured) > 20_000, "too few coloured pixels to judge"
    return float(np.mean(nearest < 12))


@pytest.mark.pyvista
@pytest.mark.parametrize("cmap", ["viridis", "coolwarm"])
def test_slices_are_unlit_so_their_colours_are_the_colour_bars(tmp_path, cmap):
    grid = _cube_field()
    plotter = _field_plotter(grid, "u", "u", ("x", "y", "z"), cmap=cmap)
    try:
        assert plotter.actors["field"].prop.lighting is False
    finally:
        plotter.close()
    png = render_field(grid, "u", tmp_path / "slices.png", "u", ("x", "y", "z"), cmap=cmap)
    # lit, the vertical planes are shaded (grey in the error view): ~10 % of the pixels would match
    assert _share_of_colour_map_pixels(png, cmap) > 0.97


@pytest.mark.pyvista
def test_2d_surfaces_are_unlit_too(tmp_path):
    mesh = structured_mesh([0, 0], [1, 1], 31)
    grid = _pyvista_grid(mesh)
    grid.point_data["u"] = np.sin(np.pi * grid.points[:, 0]) * np.sin(np.pi * grid.points[:, 1])
    png = render_field(grid, "u", tmp_path / "u.png", "u", ("x", "y"))
    assert _share_of_colour_map_pixels(png, "viridis") > 0.9  # the black contour lines blend into some pixels


@pytest.mark.pyvista
def test_iso_surfaces_are_translucent_and_each_value_is_labelled(tmp_path):
    grid = _cube_field()
    plotter = _field_plotter(grid, "u", "iso", ("x", "y", "z"), style="iso")
    try:
        actors = plotter.actors
        surfaces = sorted(name for name in actors if name.startswith("field-iso"))
        assert len(surfaces) == 5
        table = matplotlib.colormaps["viridis"]
        lo, hi = float(grid.point_data["u"].min()), float(grid.point_data["u"].max())
        keyed = {actors[name].input: name for name in actors if name.startswith("field-label")}  # "u = 0.5" -> actor name
        assert len(keyed) == 5
        for name in surfaces:
            actor = actors[name]
            assert 0.3 <= actor.prop.opacity <= 0.5
            level = float(np.unique(np.round(actor.mapper.dataset.point_data["u"], 9))[0])
            label = f"u = {level:.3g}"
            assert label in keyed, f"surface u = {level} has no key entry; the key lists {sorted(keyed)}"
            row = keyed[label].removeprefix("field-label")
            swatch = actors[f"field-swatch{row}"].GetProperty().GetColor()
            np.testing.assert_allclose(swatch, table((level - lo) / (hi - lo))[:3], atol=1e-6)  # the bar's colour
    finally:
        plotter.close()
    png = render_field(grid, "u", tmp_path / "iso.png", "iso", ("x", "y", "z"), style="iso")
    assert_real_image(png)


@pytest.mark.pyvista
@pytest.mark.parametrize("title", ["error_u (solution − reference)", "u"])
def test_colour_bar_title_is_neither_clipped_nor_on_a_tick_label(tmp_path, title):
    grid = _cube_field()
    grid.point_data["error_u"] = 1e-4 * (grid.points[:, 0] - 0.5)
    png = render_field(grid, "error_u", tmp_path / "e.png", "error", ("x", "y", "z"), cmap="coolwarm", bar_title=title)
    pixels = image_frames(png)[0]
    height, width, _ = pixels.shape
    assert (pixels[:, -3:] > 250).all(), "something (the colour-bar title) runs off the right edge"
    # above the bar, right of the scene: the title's ink rows, a blank gap, then the top tick label's
    bar = pixels[:, int(0.865 * width) : int(0.875 * width)]
    coloured = np.flatnonzero((bar.max(-1) - bar.min(-1) > 30).mean(1) > 0.5)
    top = int(coloured.min())
    region = pixels[:top, int(0.8 * width) :]
    ink = (region < 128).all(-1).any(1)
    runs = np.flatnonzero(np.diff(ink.astype(int)) == 1)  # blank -> ink transitions
    assert ink.any() and len(runs) + int(ink[0]) >= 2, "the bar's title touches its top tick label"


def test_loss_png_of_a_poisson2d_run_shows_its_error_curve(tmp_path, monkeypatch):
    """The acceptance check: a real ``physopt solve poisson2d`` run's loss plot holds the errors it measured."""
    from physopt.cli import main

    monkeypatch.chdir(tmp_path)
    argv = ["solve", "poisson2d", "--optimizer", "adam:6,lm:4", "--points", "64", "--boundary-points", "16",
            "--width", "8", "--depth", "2", "--set", "error_every=2", "--no-progress", "--out", "run"]
    assert main(argv) == 0
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    measured = [(r["step"], r["rel_l2"]) for r in records if "rel_l2" in r]
    assert len(measured) >= 5
    assert (tmp_path / "run" / "loss.png").is_file()
    fig = loss_figure(tmp_path / "run" / "metrics.jsonl")
    try:
        assert "poisson2d" in fig._suptitle.get_text()
        error = _lines(fig.axes[0])["relative L2 error"]
        np.testing.assert_allclose(np.column_stack([error.get_xdata(), error.get_ydata()]), measured)
        assert [line.get_xdata()[0] for line in fig.axes[0].get_lines() if line.get_gid() == "phase-boundary"] == [6]
    finally:
        matplotlib.pyplot.close(fig)


@pytest.mark.pyvista
def test_a_vector_field_drawn_over_a_scalar_one(tmp_path):
    """``arrows=``: a density coloured, its velocity as arrows on top (triangle meshes too)."""
    mesh = structured_mesh([-1, -1], [1, 1], 25)
    x, y = mesh.points.T
    import pyvista

    grid = pyvista.from_meshio(meshio.Mesh(mesh.points3d(), [("triangle", mesh.cells)]))
    grid.point_data["velocity"] = np.stack([-y, x], 1)
    grid.point_data["rho"] = np.exp(-(x**2 + y**2))
    over = render_field(grid, "rho", tmp_path / "over.png", "density", ("x", "y"), arrows="velocity")
    plain = render_field(grid, "rho", tmp_path / "plain.png", "density", ("x", "y"))
    assert_real_image(over)
    assert np.abs(image_frames(over)[0] - image_frames(plain)[0]).mean() > 0.5  # the arrows show


def _cavity_like_grid():
    """A rotating flow (u, v) = (-(y - ½), x - ½) with a pressure, on the unit square's triangles."""
    import pyvista

    mesh = structured_mesh([0, 0], [1, 1], 31)
    x, y = mesh.points.T
    grid = pyvista.from_meshio(meshio.Mesh(mesh.points3d(), [("triangle", mesh.cells)]))
    u, v = -(y - 0.5), x - 0.5
    grid.point_data.update({"velocity": np.stack([u, v], 1), "u": u, "v": v, "p": 0.5 * (u**2 + v**2)})
    return grid


@pytest.mark.pyvista
def test_a_velocity_is_drawn_as_streamlines_over_its_magnitude(tmp_path):
    grid = _cavity_like_grid()
    plotter = _field_plotter(grid, "velocity", "flow", ("x", "y"), streamlines=True)
    try:
        lines = plotter.actors["field-streamlines"].mapper.dataset
        assert "field-arrows" not in plotter.actors and lines.n_lines >= 14
        radii = np.hypot(lines.points[:, 0] - 0.5, lines.points[:, 1] - 0.5)
        assert np.ptp(radii) > 0.3  # closed circles around the centre at many radii
    finally:
        plotter.close()
    streamlines = render_field(grid, "velocity", tmp_path / "s.png", "flow", ("x", "y"), streamlines=True)
    arrows = render_field(grid, "velocity", tmp_path / "a.png", "flow", ("x", "y"))
    assert_real_image(streamlines)
    assert np.abs(image_frames(streamlines)[0] - image_frames(arrows)[0]).mean() > 0.5


@pytest.mark.pyvista
def test_a_system_is_drawn_a_panel_each_with_its_own_colour_bar_and_uncut_axes(tmp_path):
    from physopt.viz import render_components

    grid = _cavity_like_grid()
    png = render_components(grid, ["velocity", "u", "v", "p"], tmp_path / "c.png", labels=("x", "y"))
    pixels = image_frames(png)[0]
    height, width, _ = pixels.shape
    assert (height, width) == (1000, 1680)  # 2 rows of 3 panels
    for k in range(4):  # each panel's own colour bar: a tall coloured column at 86-88 % of its width
        row, col = divmod(k, 3)
        panel = pixels[row * 500:(row + 1) * 500, col * 560:(col + 1) * 560]
        bar = panel[:, int(0.865 * 560):int(0.875 * 560)]
        assert ((bar.max(-1) - bar.min(-1)) > 30).mean(1).sum() > 150, f"panel {k} has no colour bar"
        assert (panel[-3:] > 250).all() and (panel[:, :3] > 250).all(), f"panel {k}: something is cut at its edge"
    assert (pixels[500:, 560:] > 250).all()  # the unused panels stay blank


def test_run_pictures_of_a_system_show_every_component(tmp_path):
    """write_field_sets(components=...) lists a system's fields; render_run draws components.png and, in 1-D, a line
    plot per component with its reference dashed."""
    import matplotlib.pyplot as plt

    mesh = structured_mesh([0.0], [3.0], 41)
    t = mesh.points[:, 0]
    data = {name: np.sin(t * (k + 1)) for k, name in enumerate(("x", "y", "z"))}
    data.update({f"{n}_reference": v + 0.01 for n, v in list(data.items())})
    data.update({f"error_{n}": -0.01 + 0 * t for n in ("x", "y", "z")})
    write_field_sets(tmp_path, [FieldSet(mesh, data, None, ("t",))], primary="x", components=["x", "y", "z"])
    closed = []
    original = plt.close
    try:
        plt.close = lambda fig=None: closed.append(fig) or original(fig)
        written = render_run(tmp_path, kind="components")
    finally:
        plt.close = original
    assert [p.name for p in written] == ["components.png"]
    (fig,) = closed
    assert [ax.get_title() for ax in fig.axes[:3]] == ["x", "y", "z"]
    assert all(len(ax.get_lines()) == 2 for ax in fig.axes[:3])  # the field and its reference
    assert (tmp_path / "components.png").stat().st_size > 10_000
    assert "components" in PLOT_KINDS
    single = tmp_path / "single"
    single.mkdir()
    write_field_sets(single, [FieldSet(mesh, {"x": data["x"]}, None, ("t",))], primary="x")
    with pytest.raises(ConfigurationError, match="--kind components needs a system of several unknowns"):
        render_run(single, kind="components")
