"""Devices: what this torch offers, clear errors for what it does not, and solves whose tensors stay on the device.

Every test here runs on ``--device`` (``pytest --device cuda`` on a GPU machine);
``scripts/gpu-check.sh --quick`` runs this file on the CPU.
"""

import json

import pytest
import torch

from physopt import ConfigurationError, available_devices, check_device, default_device, describe_device
from problems import registered_problems
from solvers import PINN, TENG, TENGOptions

from cli_helpers import cli, error_line


def test_the_devices_listed_include_the_cpu_and_say_whether_cuda_is_there():
    devices = available_devices()
    assert "threads" in devices["cpu"] or "thread" in devices["cpu"]
    if torch.cuda.is_available():
        assert "cuda:0" in devices and "GiB" in devices["cuda:0"]
    else:
        assert devices["cuda"].startswith("not available") and torch.__version__ in devices["cuda"]
    assert describe_device("cpu").startswith("cpu (")


@pytest.mark.parametrize("name, message", [
    ("tpu", "unknown device 'tpu'; use cpu, cuda or cuda:N"),
    ("meta", "device 'meta' is not supported"),
])
def test_a_device_torch_cannot_use_is_a_clear_error(name, message):
    with pytest.raises(ConfigurationError, match=message):
        check_device(name)


def test_cuda_without_cuda_names_the_fix():
    if torch.cuda.is_available():
        with pytest.raises(ConfigurationError, match="does not exist"):
            check_device(f"cuda:{torch.cuda.device_count()}")
    else:
        with pytest.raises(ConfigurationError, match="install a CUDA build of torch"):
            check_device("cuda")


def test_the_solvers_default_device_is_the_test_device(device, monkeypatch):
    assert torch.device(default_device()).type == device.type  # conftest sets $PHYSOPT_DEVICE from --device
    monkeypatch.setenv("PHYSOPT_DEVICE", "")
    assert default_device() == "cpu"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_pinn_solve_keeps_its_tensors_on_the_device(device, dtype):
    solver = PINN(registered_problems()["heat1d"](), width=8, depth=2, points=64, boundary_points=16, steps=12,
                  optimizer="adam:8,lm:4", dtype=dtype, error_every=4)
    assert {p.device.type for p in solver.model.parameters()} == {device.type}
    solution = solver.solve()
    assert {p.dtype for p in solution.model.parameters()} == {getattr(torch, dtype)}
    points = torch.rand(5, 2, dtype=torch.float64)
    assert solution(points).device.type == device.type
    errors = solution.errors()
    assert 0 < errors["rel_l2"] < 1


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_teng_solve_measures_its_error_on_the_device(device, dtype):
    # the reference is evaluated on the CPU in float64 and moved: this crashed on CUDA (torch.cat of two devices)
    problem = registered_problems()["heat2d"](t_end=0.01)
    options = TENGOptions(dt=0.005, grid=8, width=8, features=4, init_iterations=30, iterations=2, corrector_iterations=2,
                          error_every=1, dtype=dtype)
    solution = TENG(problem, options).solve()
    assert {p.device.type for p in solution.model.parameters()} == {device.type}
    assert 0 < solution.errors()["rel_l2"] < 1


def test_the_run_summary_and_end_line_name_device_and_dtype(tmp_path, capsys, device):
    code, out, _ = cli(capsys, "solve", "poisson2d", "--out", tmp_path / "run", "--steps", "3", "--width", "4",
                       "--depth", "1", "--points", "16", "--boundary-points", "4", "--no-render", "--no-progress",
                       "--dtype", "float32")
    assert code == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["dtype"] == "float32" and summary["device"].startswith(device.type)
    assert f"float32 on {summary['device']}" in out


def test_physopt_list_devices(capsys):
    code, out, _ = cli(capsys, "list", "devices")
    assert code == 0 and out.splitlines()[0] == "devices:" and "  cpu " in out


def test_an_unusable_device_on_the_command_line_is_one_line(tmp_path, capsys):
    code, _, err = cli(capsys, "solve", "poisson2d", "--out", tmp_path / "run", "--device", "tpu")
    assert code == 2
    assert "unknown device 'tpu'" in error_line(err)
    assert not (tmp_path / "run").exists()
