"""Results I/O (VTU, XDMF time series) and pictures (physopt.viz), on synthetic fields: no training.

Pictures are checked by pixel statistics (not blank, many colours, enough ink),
GIFs frame by frame (one frame per time, frames that change).
"""

from __future__ import annotations

import json

import meshio
import numpy as np
import pytest
from image_checks import assert_real_image, image_frames

from physopt import ConfigurationError, FieldSet, structured_mesh, write_field_sets
from physopt._fields import read_frames
from physopt.viz import PLOT_KINDS, plot_loss, render_field, render_run


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


def test_run_pictures_of_a_2d_time_series(tmp_path):
    _series(tmp_path)
    written = render_run(tmp_path)
    assert [p.name for p in written] == ["solution.png", "error.png", "panels.png", "animation.gif"]
    for path in written:
        assert_real_image(path)
    frames = image_frames(tmp_path / "animation.gif")
    assert len(frames) == 5
    assert np.abs(frames[0] - frames[-1]).mean() > 1.0, "the animation's frames do not change"


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
