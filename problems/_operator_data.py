r"""Datasets of a problem family: draws of the input, their classical solutions, a train/test split — cached as HDF5.

A dataset is generated locally on first use (never downloaded) and cached in
``$PHYSOPT_DATA_DIR`` (default ``~/.cache/physopt/datasets``) under a name made of
the family, the resolution, the sizes, the seed and a hash of the family's
parameters — so changing any of them generates a new file, and asking again
reuses it. Each file holds::

    inputs    (n, *input_shape)   float64   the input functions on the input grid
    outputs   (n, *output_shape)  float64   their solutions on the output grid
    attrs     family, parameters (JSON), resolution, train, test, seed, format, sha256 (of the two arrays)

The first ``train`` draws are the training set, the last ``test`` the test set; they come from
separate random streams of the seed, so the test set of a seed is the same for any training-set size
and the training sets are nested.
A file that is damaged, of another family, parameters or resolution is refused
with one line naming the mismatch; an existing file is never overwritten.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path

import numpy as np

from physopt import ConfigurationError
from physopt._atomic import atomic_write

from ._family import AbstractProblemFamily

__all__ = ["OperatorData", "operator_data", "generate_operator_data", "read_operator_data", "data_dir"]

FORMAT = "physopt-operator-data-2"


def data_dir() -> Path:
    """``$PHYSOPT_DATA_DIR``, default ``~/.cache/physopt/datasets``."""
    env = os.environ.get("PHYSOPT_DATA_DIR", "").strip()
    return Path(env).expanduser() if env else Path.home() / ".cache" / "physopt" / "datasets"


@dataclasses.dataclass
class OperatorData:
    """Inputs and solutions of ``train + test`` draws of a family at one resolution."""

    family: str
    parameters: dict
    resolution: int
    inputs: np.ndarray
    outputs: np.ndarray
    train: int
    test: int
    seed: int
    path: Path | None = None

    @property
    def train_inputs(self) -> np.ndarray:
        return self.inputs[:self.train]

    @property
    def train_outputs(self) -> np.ndarray:
        return self.outputs[:self.train]

    @property
    def test_inputs(self) -> np.ndarray:
        return self.inputs[self.train:self.train + self.test]

    @property
    def test_outputs(self) -> np.ndarray:
        return self.outputs[self.train:self.train + self.test]

    def digest(self) -> str:
        """sha256 of the inputs and outputs (their bytes, float64, C order)."""
        h = hashlib.sha256()
        for a in (self.inputs, self.outputs):
            h.update(np.ascontiguousarray(a, dtype=np.float64).tobytes())
        return h.hexdigest()


def _parameters_hash(family: AbstractProblemFamily) -> str:
    key = {"parameters": family.params, "version": family.version, "format": FORMAT}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:10]


def cache_path(family: AbstractProblemFamily, resolution: int, train: int, test: int, seed: int) -> Path:
    """Where :func:`operator_data` keeps this dataset."""
    return data_dir() / (f"{family.problem_name}-s{resolution}-n{train}+{test}-seed{seed}-"
                         f"{_parameters_hash(family)}.h5")


def generate_operator_data(family: AbstractProblemFamily, resolution: int, train: int, test: int,
                           seed: int = 0) -> OperatorData:
    """Draw ``train + test`` inputs (NumPy generator seeded ``seed``) and solve each classically."""
    resolution = family.check_resolution(resolution)
    if train < 0 or test < 0 or train + test < 1:
        raise ConfigurationError(f"{family.problem_name}: a dataset needs train >= 0, test >= 0 and at least one draw; "
                                 f"got train={train}, test={test}")
    # train and test draws from separate streams: the test set does not change with the training set's size, and
    # training sets of one seed are nested (a study over `train` compares on one test set)
    draws = [np.asarray(family.draw_inputs(n, resolution, np.random.default_rng([seed, split])), dtype=np.float64)
             for split, n in ((0, train), (1, test)) if n > 0]
    inputs = np.concatenate(draws)
    outputs = np.asarray(family.solve_inputs(inputs, resolution), dtype=np.float64)
    if not (np.all(np.isfinite(inputs)) and np.all(np.isfinite(outputs))):
        raise ConfigurationError(f"{family.problem_name}: the generator produced non-finite values at resolution "
                                 f"{resolution}; try a finer resolution")
    return OperatorData(family.problem_name, dict(family.params), resolution, inputs, outputs, train, test, seed)


def write_operator_data(data: OperatorData, path: str | Path) -> Path:
    """Write ``data`` to the HDF5 file ``path`` (atomically); an existing file is an error, never overwritten."""
    import h5py

    path = Path(path)
    if path.exists():
        raise ConfigurationError(f"'{path}' already exists; it is not overwritten (choose another path or delete it)")
    path.parent.mkdir(parents=True, exist_ok=True)

    def write(tmp: Path) -> None:
        with h5py.File(tmp, "w") as f:
            f.create_dataset("inputs", data=data.inputs)
            f.create_dataset("outputs", data=data.outputs)
            f.attrs.update({"format": FORMAT, "family": data.family, "parameters": json.dumps(data.parameters, sort_keys=True),
                            "resolution": data.resolution, "train": data.train, "test": data.test, "seed": data.seed,
                            "sha256": data.digest()})

    atomic_write(path, write)
    data.path = path
    return path


def read_operator_data(path: str | Path, family: AbstractProblemFamily | None = None,
                       resolution: int | None = None) -> OperatorData:
    """Read a dataset file; check its content hash and, when given, that it is of ``family`` (same parameters) at
    ``resolution``. Any mismatch or damage is one :class:`ConfigurationError` line naming it."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise ConfigurationError(f"dataset '{path}' does not exist")
    try:
        with h5py.File(path, "r") as f:
            attrs = dict(f.attrs)
            inputs, outputs = np.asarray(f["inputs"][...], dtype=np.float64), np.asarray(f["outputs"][...], dtype=np.float64)
    except Exception as exc:  # noqa: BLE001 - h5py raises many kinds on damaged files
        raise ConfigurationError(f"dataset '{path}' cannot be read ({type(exc).__name__}): it is damaged or not a physopt "
                                 "dataset; delete it (it is regenerated) or run `physopt data generate`") from None
    if attrs.get("format") != FORMAT:
        raise ConfigurationError(f"dataset '{path}' is not a physopt operator dataset (format {attrs.get('format')!r})")
    data = OperatorData(str(attrs["family"]), json.loads(attrs["parameters"]), int(attrs["resolution"]), inputs, outputs,
                        int(attrs["train"]), int(attrs["test"]), int(attrs["seed"]), path)
    if data.digest() != attrs["sha256"]:
        raise ConfigurationError(f"dataset '{path}' is damaged: its content does not match its sha256; delete it "
                                 "(it is regenerated) or run `physopt data generate` again")
    if family is not None:
        if data.family != family.problem_name:
            raise ConfigurationError(f"dataset '{path}' is of problem '{data.family}', not '{family.problem_name}'")
        if data.parameters != json.loads(json.dumps(family.params, sort_keys=True)):
            raise ConfigurationError(f"dataset '{path}' was made with parameters {data.parameters}, not {family.params}")
        shapes = (family.input_shape(data.resolution), family.output_shape(data.resolution))
        if (inputs.shape[1:], outputs.shape[1:]) != shapes:
            raise ConfigurationError(f"dataset '{path}': arrays {inputs.shape[1:]}, {outputs.shape[1:]} do not fit "
                                     f"{family.problem_name} at resolution {data.resolution} ({shapes[0]}, {shapes[1]})")
    if resolution is not None and data.resolution != resolution:
        raise ConfigurationError(f"dataset '{path}' is at resolution {data.resolution}, not {resolution} "
                                 f"(pass --resolution {data.resolution} to use it)")
    if len(inputs) != len(outputs) or len(inputs) < data.train + data.test:
        raise ConfigurationError(f"dataset '{path}' is damaged: {len(inputs)} inputs, {len(outputs)} outputs for "
                                 f"{data.train} + {data.test} draws")
    return data


def operator_data(family: AbstractProblemFamily, resolution: int | None = None, train: int | None = None,
                  test: int | None = None, seed: int = 0, path: str | Path | None = None,
                  progress=None) -> OperatorData:
    """The dataset of ``family``: read from ``path`` if given, else from the cache, else generated and cached.

    Args:
        resolution, train, test: default to the family's ``resolution`` and ``samples``.
        path: a dataset file (``physopt data generate``); it must be of this family (checked).
        progress: called with a line before a dataset is generated (it can take a while).
    """
    resolution = family.check_resolution(family.resolution if resolution is None else resolution)
    train = family.samples[0] if train is None else int(train)
    test = family.samples[1] if test is None else int(test)
    if path is not None:
        data = read_operator_data(path, family, resolution)
        if data.train < train or data.test < test:
            raise ConfigurationError(f"dataset '{path}' holds {data.train} train + {data.test} test draws; "
                                     f"{train} + {test} were asked for")
        return dataclasses.replace(data, inputs=np.concatenate([data.train_inputs[:train], data.test_inputs[:test]]),
                                   outputs=np.concatenate([data.train_outputs[:train], data.test_outputs[:test]]),
                                   train=train, test=test)
    cached = cache_path(family, resolution, train, test, seed)
    if cached.is_file():
        return read_operator_data(cached, family, resolution)
    if progress is not None:
        progress(f"generating {train} + {test} draws of {family.problem_name} at resolution {resolution} -> {cached}")
    data = generate_operator_data(family, resolution, train, test, seed)
    try:
        write_operator_data(data, cached)
    except OSError:
        pass  # an unwritable cache: the data are still good for this run
    except ConfigurationError:
        if not cached.is_file():
            raise
        # another process wrote the same dataset meanwhile (the draws are deterministic): keep its file, use ours
    return data
