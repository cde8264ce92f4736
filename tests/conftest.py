"""Shared test configuration: one thread, off-screen rendering, the `slow` marker, and `--device`.

``--device cuda`` runs every test that builds models or tensors on that device:
torch's default device is set for each test and ``$PHYSOPT_DEVICE`` makes it the
solvers' default (also in the CLI runs the tests start). Tests marked
``cpu_only`` (Numba kernels, NumPy/SciPy references) keep the CPU and say why.
Tests marked ``pyvista`` draw pictures and are skipped where PyVista is not
installed (solving never needs it).
"""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
# operator datasets made by the tests live in a fresh folder, not in the user's cache (the CLI runs inherit it)
if "PHYSOPT_DATA_DIR" not in os.environ:
    import tempfile

    os.environ["PHYSOPT_DATA_DIR"] = tempfile.mkdtemp(prefix="physopt-test-data-")

import pytest  # noqa: E402
import torch  # noqa: E402

from physopt.viz import pyvista_installed  # noqa: E402

torch.set_num_threads(1)

HAVE_PYVISTA = pyvista_installed()


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", default=False, help="run tests marked slow")
    parser.addoption("--device", default="cpu",
                     help="device for every test that builds tensors: cpu (default), cuda, cuda:N; "
                          "without CUDA, --device cuda runs nothing and says so in one line")


def _device(config) -> str:
    return config.getoption("--device")


def pytest_configure(config):
    device = _device(config)
    os.environ["PHYSOPT_DEVICE"] = device  # the solvers' default device, here and in the CLI runs tests start
    if device != "cpu":
        if device.startswith("cuda") and not torch.cuda.is_available():
            pytest.exit(f"--device {device}: this torch ({torch.__version__}) has no CUDA device; nothing was run", returncode=0)
        torch.device(device)  # a malformed name fails here, before any test
        # accuracy work: full float32 matmuls (no TF32), as the solvers expect
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False


def pytest_report_header(config):
    return f"physopt test device: {_device(config)}"


def pytest_collection_modifyitems(config, items):
    run_slow = config.getoption("--run-slow") or os.environ.get("PHYSOPT_RUN_SLOW") == "1"
    skip_slow = pytest.mark.skip(reason="slow: run with --run-slow or PHYSOPT_RUN_SLOW=1")
    skip_pyvista = pytest.mark.skip(reason="draws pictures: needs pyvista, which is not installed")
    for item in items:
        if "slow" in item.keywords and not run_slow:
            item.add_marker(skip_slow)
        if "pyvista" in item.keywords and not HAVE_PYVISTA:
            item.add_marker(skip_pyvista)


@pytest.fixture(autouse=True)
def _test_device(request, monkeypatch):
    """Every tensor a test creates without a device lands on --device (except in cpu_only tests)."""
    device = _device(request.config)
    if device == "cpu" or request.node.get_closest_marker("cpu_only"):
        monkeypatch.setenv("PHYSOPT_DEVICE", "cpu")
        yield
        return
    torch.set_default_device(device)
    try:
        yield
    finally:
        torch.set_default_device(None)


@pytest.fixture(autouse=True)
def _default_dtype_kept():
    """A test that leaves torch's default dtype changed fails (and it is put back): every later test would
    otherwise run in it (DeepXDE's ``set_default_float`` once made seven later tests fail)."""
    dtype = torch.get_default_dtype()
    yield
    leaked = torch.get_default_dtype()
    if leaked != dtype:
        torch.set_default_dtype(dtype)
        pytest.fail(f"the test left torch's default dtype at {leaked} (was {dtype}); restore it when done")


@pytest.fixture
def device(request) -> torch.device:
    """The device under test (``--device``; CPU for ``cpu_only`` tests)."""
    if request.node.get_closest_marker("cpu_only"):
        return torch.device("cpu")
    return torch.device(_device(request.config))


@pytest.fixture
def in_tmp_path(tmp_path, monkeypatch):
    """The test runs with the current directory at its ``tmp_path`` (the CLI tests: ``pytest.mark.usefixtures``)."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(autouse=True)
def _offscreen():
    if HAVE_PYVISTA:
        import pyvista

        pyvista.OFF_SCREEN = True
    yield
