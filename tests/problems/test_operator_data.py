"""Problem families and their datasets: grids, physics residuals, the HDF5 cache and its refusals."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

h5py = pytest.importorskip("h5py")  # noqa: E402 - the datasets are HDF5

from physopt import ConfigurationError, ProblemDefinitionError
from problems import (FAMILIES, generate_operator_data, operator_data, operator_data_path, read_operator_data,
                      registered_families, write_operator_data)

pytestmark = pytest.mark.cpu_only("NumPy/SciPy generators and HDF5 files")


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("PHYSOPT_DATA_DIR", str(tmp_path))
    return tmp_path


def test_the_library_registers_the_four_families():
    assert {"antiderivative", "diffusion_reaction", "burgers1d_operator", "darcy2d"} <= set(registered_families())


@pytest.mark.parametrize("name,resolution", [("antiderivative", 16), ("diffusion_reaction", 12),
                                             ("burgers1d_operator", 32), ("darcy2d", 12)])
def test_generated_arrays_have_the_grids_shapes(name, resolution):
    family = FAMILIES[name]()
    data = generate_operator_data(family, resolution, 3, 2, seed=1)
    assert data.inputs.shape == (5, *family.input_shape(resolution))
    assert data.outputs.shape == (5, *family.output_shape(resolution))
    assert np.isfinite(data.outputs).all() and np.abs(data.outputs).max() > 0
    assert family.output_points(resolution).shape == (math.prod(family.output_shape(resolution)), len(family.coordinates))


def test_darcy_coefficient_takes_its_two_values_and_burgers_grid_is_periodic():
    darcy = FAMILIES["darcy2d"]()
    a = darcy.draw_inputs(4, 16, np.random.default_rng(0))
    assert set(np.unique(a)) == {3.0, 12.0}
    burgers = FAMILIES["burgers1d_operator"]()
    assert burgers.input_axes(8)[0].tolist() == [j / 8 for j in range(8)]
    with pytest.raises(ProblemDefinitionError, match="even"):
        burgers.check_resolution(33)


@pytest.mark.parametrize("periodic", [False, True])
def test_input_interpolation_is_a_cubic_spline_of_the_grid(periodic):
    family = FAMILIES["burgers1d_operator" if periodic else "antiderivative"]()
    x = family.input_axes(64)[0]
    u = np.sin(2 * np.pi * x) + 0.3 * np.cos(4 * np.pi * x)
    points = np.random.default_rng(0).random((50, 1))
    exact = np.sin(2 * np.pi * points[:, 0]) + 0.3 * np.cos(4 * np.pi * points[:, 0])
    weights = family.input_interpolation(points, 64)
    assert weights.shape == (50, 64)
    assert np.abs(weights @ u - exact).max() < (2e-5 if periodic else 2e-4)


def _field(fn):
    """A field of one point returning B values (as PI-DeepONet builds it)."""
    return lambda y: fn(y)


def test_the_families_residuals_vanish_on_exact_solutions():
    anti = FAMILIES["antiderivative"]()
    k = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    s = _field(lambda y: torch.sin(k * y[0]) / k)  # s' = cos(kx) = u
    for x in (0.1, 0.7):
        y = torch.tensor([x], dtype=torch.float64)
        assert torch.allclose(anti.residual(s, y, torch.cos(k * x)), torch.zeros(3, dtype=torch.float64), atol=1e-14)
    dr = FAMILIES["diffusion_reaction"]()
    c = torch.tensor([1.0, -2.0], dtype=torch.float64)
    s = _field(lambda y: c * y[0] * (1 - y[0]) * y[1])  # manufactured: u = s_t - D s_xx - k s^2
    y = torch.tensor([0.3, 0.6], dtype=torch.float64)
    sv = c * 0.3 * 0.7 * 0.6
    u = c * 0.3 * 0.7 + dr.diffusion * 2 * c * 0.6 - dr.reaction * sv**2
    assert torch.allclose(dr.residual(s, y, u), torch.zeros(2, dtype=torch.float64), atol=1e-14)
    points = dr.constraint_points(np.random.default_rng(0), 10)
    assert set(points) == {"initial", "boundary"}
    assert np.all(points["initial"][:, 1] == 0) and set(np.unique(points["boundary"][:, 0])) == {0.0, 1.0}


def test_a_dataset_is_generated_once_then_reused(data_dir):
    family = FAMILIES["antiderivative"]()
    first = operator_data(family, 16, 4, 2)
    path = operator_data_path(family, 16, 4, 2, 0)
    assert path.is_file() and path.parent == data_dir
    stamp = path.stat().st_mtime_ns
    again = operator_data(family, 16, 4, 2)
    assert path.stat().st_mtime_ns == stamp and np.array_equal(first.inputs, again.inputs)
    assert again.train_inputs.shape == (4, 16) and again.test_outputs.shape == (2, 16)


def test_changed_parameters_make_a_new_dataset(data_dir):
    a = operator_data(FAMILIES["antiderivative"](), 16, 4, 2)
    b = operator_data(FAMILIES["antiderivative"](length_scale=0.5), 16, 4, 2)
    c = operator_data(FAMILIES["antiderivative"](), 16, 4, 2, seed=3)
    assert len(list(data_dir.glob("*.h5"))) == 3
    assert not np.array_equal(a.inputs, b.inputs) and not np.array_equal(a.inputs, c.inputs)


def test_damaged_foreign_and_other_resolution_files_are_one_line_errors(data_dir):
    family = FAMILIES["antiderivative"]()
    data = generate_operator_data(family, 16, 4, 2)
    path = write_operator_data(data, data_dir / "anti.h5")
    with pytest.raises(ConfigurationError, match="already exists") as info:
        write_operator_data(data, path)  # never overwritten
    with pytest.raises(ConfigurationError, match="resolution 16, not 32") as info:
        read_operator_data(path, family, 32)
    assert "\n" not in str(info.value)
    with pytest.raises(ConfigurationError, match="of problem 'antiderivative', not 'burgers1d_operator'"):
        read_operator_data(path, FAMILIES["burgers1d_operator"]())
    with pytest.raises(ConfigurationError, match="parameters"):
        read_operator_data(path, FAMILIES["antiderivative"](length_scale=0.3))
    with h5py.File(path, "r+") as f:  # one value changed: the hash no longer matches
        f["outputs"][0, 3] += 1.0
    with pytest.raises(ConfigurationError, match="damaged"):
        read_operator_data(path, family)
    junk = data_dir / "junk.h5"
    junk.write_bytes(b"not an hdf5 file")
    with pytest.raises(ConfigurationError, match="cannot be read") as info:
        read_operator_data(junk, family)
    assert "\n" not in str(info.value) and junk.read_bytes() == b"not an hdf5 file"


def test_a_given_dataset_file_is_cut_to_the_sizes_asked_for(data_dir):
    family = FAMILIES["antiderivative"]()
    data = generate_operator_data(family, 16, 6, 3)
    path = write_operator_data(data, data_dir / "given.h5")
    cut = operator_data(family, 16, 4, 2, path=path)
    assert cut.train == 4 and np.array_equal(cut.train_inputs, data.inputs[:4]) and np.array_equal(cut.test_inputs, data.inputs[6:8])
    with pytest.raises(ConfigurationError, match="holds 6 train"):
        operator_data(family, 16, 10, 2, path=path)


def test_the_test_set_does_not_depend_on_the_training_set_size():
    family = FAMILIES["antiderivative"]()
    small, large = generate_operator_data(family, 16, 3, 4, seed=2), generate_operator_data(family, 16, 9, 4, seed=2)
    assert np.array_equal(small.test_inputs, large.test_inputs) and np.array_equal(small.test_outputs, large.test_outputs)
    assert np.array_equal(small.train_inputs, large.train_inputs[:3])  # nested training sets
    only_test = generate_operator_data(family, 16, 0, 4, seed=2)
    assert np.array_equal(only_test.test_inputs, small.test_inputs)
