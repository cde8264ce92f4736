"""Operator runs: the results of a problem family's solve, ``physopt predict`` and ``physopt data generate``."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

import problems
import solvers

from .._atomic import atomic_write
from .._errors import ConfigurationError
from .._operator_plots import OPERATOR_FILE
from .._run_directory import RunDirectory

__all__ = ["write_operator_results", "load_operator", "predict_to_file", "generate_data_file", "read_inputs"]

EXAMPLES = 3  # test draws shown in operator_examples.png


def _save_npz(path: Path, arrays: dict) -> Path:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)

    return atomic_write(path, write)


def write_operator_results(directory: Path, family, solution) -> Path:
    """``operator.npz``: a few test draws (inputs, predictions, truths), every test draw's error and the grids."""
    data = solution.data
    arrays = {"names": np.array([family.input_name, family.output_name]), "errors": solution.test_errors()}
    for i, axis in enumerate(family.input_axes(data.resolution)):
        arrays[f"input_axes_{i}"] = axis
    for i, axis in enumerate(family.output_axes(data.resolution)):
        arrays[f"output_axes_{i}"] = axis
    shown = min(EXAMPLES, data.test)
    arrays["inputs"] = data.test_inputs[:shown]
    arrays["truths"] = data.test_outputs[:shown]
    arrays["predictions"] = solution(data.test_inputs[:shown]).double().cpu().numpy()
    return _save_npz(Path(directory) / OPERATOR_FILE, arrays)


def load_operator(run_dir: str | Path):
    """The trained operator of a finished run directory (its family, options and weights, ``weights_only``)."""
    from ._run import load_problem

    run = Path(run_dir)
    if not (run / RunDirectory.CONFIG).is_file() or not (run / RunDirectory.MODEL).is_file():
        raise ConfigurationError(f"'{run}' is not a finished run directory (no {RunDirectory.CONFIG} or {RunDirectory.MODEL})")
    config = json.loads((run / RunDirectory.CONFIG).read_text(encoding="utf-8"))
    family = load_problem(config["problem"], {k: str(v) for k, v in config["parameters"].items()})
    if not isinstance(family, problems.AbstractProblemFamily):
        raise ConfigurationError(f"'{run}' is a run of the PDE '{config['problem']}', not of a problem family; "
                                 "`physopt predict` answers trained operators (deeponet, pi_deeponet, fno)")
    solver_cls = solvers.resolve_solver(config["solver"])
    options = solver_cls.Options.from_strings({k: str(v) for k, v in config["options"].items()})
    solver = solver_cls(family, options)
    state = solvers.load_checkpoint(run / RunDirectory.MODEL)
    solver.model.load_state_dict(state)
    return solvers.OperatorSolution(family, solver.model, solver.predict, None, {})


def read_inputs(path: str | Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Input functions (and, from a physopt dataset, their solutions) from ``.npz`` (array ``inputs``, or its only
    array) or ``.h5``/``.hdf5`` (dataset ``inputs``)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigurationError(f"input file '{path}' does not exist")
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as f:
                names = f.files
                if "inputs" not in names and len(names) != 1:
                    raise ConfigurationError(f"'{path}' holds arrays {', '.join(names)}; name the input functions 'inputs'")
                inputs = np.array(f["inputs" if "inputs" in names else names[0]], dtype=np.float64)
                outputs = np.array(f["outputs"], dtype=np.float64) if "outputs" in names else None
        elif path.suffix in (".h5", ".hdf5"):
            import h5py

            with h5py.File(path, "r") as f:
                if "inputs" not in f:
                    raise ConfigurationError(f"'{path}' has no dataset 'inputs' (it holds {', '.join(f) or 'nothing'})")
                inputs = np.asarray(f["inputs"][...], dtype=np.float64)
                outputs = np.asarray(f["outputs"][...], dtype=np.float64) if "outputs" in f else None
        else:
            raise ConfigurationError(f"input file '{path}' must be .npz or .h5 (array 'inputs' of shape (n, *grid))")
    except ConfigurationError:
        raise
    except Exception as exc:  # noqa: BLE001 - damaged files raise many kinds
        raise ConfigurationError(f"input file '{path}' cannot be read ({type(exc).__name__}): damaged or not NumPy/HDF5") from None
    return inputs, outputs


def predict_to_file(run_dir: str | Path, input_path: str | Path, out: str | Path | None = None) -> dict:
    """Answer the input functions of ``input_path`` with the operator of ``run_dir``; write ``inputs``/``predictions``
    (and ``outputs`` with the relative L2 errors when the file holds solutions) to ``out``, never over a file."""
    input_path = Path(input_path)
    out = Path(out) if out is not None else input_path.with_name(f"{input_path.stem}-predictions.npz")
    if out.exists():
        raise ConfigurationError(f"'{out}' already exists; it is not overwritten (choose another --out)")
    solution = load_operator(run_dir)
    inputs, outputs = read_inputs(input_path)
    t0 = time.perf_counter()
    predictions = solution(inputs).double().cpu().numpy()
    seconds = time.perf_counter() - t0
    arrays = {"inputs": inputs, "predictions": predictions}
    report = {"out": str(out), "functions": len(inputs), "resolution": int(inputs.shape[1]), "seconds": seconds}
    if outputs is not None and outputs.shape == predictions.shape:
        n = len(outputs)
        per = np.linalg.norm((predictions - outputs).reshape(n, -1), axis=1) / np.linalg.norm(outputs.reshape(n, -1), axis=1)
        arrays.update(outputs=outputs, errors=per)
        report.update(rel_l2=float(per.mean()), rel_l2_median=float(np.median(per)), rel_l2_worst=float(per.max()))
    _save_npz(out, arrays)
    return report


def generate_data_file(name: str, params: dict, train: int | None, test: int | None, resolution: int | None,
                       seed: int, out: str | Path | None) -> dict:
    """``physopt data generate``: solve the draws and write the dataset (default: where the cache looks for it)."""
    from ._run import load_problem

    family = load_problem(name, params)
    if not isinstance(family, problems.AbstractProblemFamily):
        raise ConfigurationError(f"'{name}' is a PDE, not a problem family; families: "
                                 f"{', '.join(problems.registered_families())}")
    resolution = family.resolution if resolution is None else resolution
    train = family.samples[0] if train is None else train
    test = family.samples[1] if test is None else test
    path = Path(out) if out is not None else problems.operator_data_path(family, resolution, train, test, seed)
    if path.exists():
        raise ConfigurationError(f"'{path}' already exists; it is not overwritten (it is reused as it is, or choose --out)")
    t0 = time.perf_counter()
    data = problems.generate_operator_data(family, resolution, train, test, seed)
    seconds = time.perf_counter() - t0
    problems.write_operator_data(data, path)
    return {"path": str(path), "train": train, "test": test, "resolution": data.resolution, "seconds": seconds,
            "inputs": list(data.inputs.shape), "outputs": list(data.outputs.shape)}
