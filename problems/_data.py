r"""Measured data as a condition: values of unknowns, or of a quantity derived from them, at given points.

:math:`b_i = q(u, x_i) - y_i` with :math:`q` the observed components (or ``quantity(u, x)``,
e.g. a flux), from arrays or a file (``.npz``/``.h5`` with ``points`` and ``values``; ``.csv``
with a header naming the problem's coordinates and the observed columns). ``noise`` is the
measurement noise's standard deviation when known; otherwise the standard errors of the
identified unknowns estimate it from the data residual (docs/problems.md, inverse problems).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from physopt import ProblemDefinitionError

from ._observations import Observations

__all__ = ["Data"]


def _read(path: Path, components: Sequence[str], coordinates: Sequence[str] | None):
    """``(points, values)`` from a data file; a missing file, array or column is a one-line error."""
    if not path.is_file():
        raise ProblemDefinitionError(f"Data: file '{path}' does not exist")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        with np.load(path) as f:
            missing = [k for k in ("points", "values") if k not in f.files]
            if missing:
                raise ProblemDefinitionError(f"Data file '{path}' has no array {', '.join(missing)} (it has: "
                                             f"{', '.join(f.files) or 'none'})")
            return np.asarray(f["points"], dtype=float), np.asarray(f["values"], dtype=float)
    if suffix in (".h5", ".hdf5"):
        import h5py

        with h5py.File(path, "r") as f:
            missing = [k for k in ("points", "values") if k not in f]
            if missing:
                raise ProblemDefinitionError(f"Data file '{path}' has no dataset {', '.join(missing)} (it has: "
                                             f"{', '.join(f) or 'none'})")
            return np.asarray(f["points"], dtype=float), np.asarray(f["values"], dtype=float)
    if suffix == ".csv":
        if coordinates is None:
            raise ProblemDefinitionError("Data: a .csv file needs coordinates=(names of its point columns)")
        with open(path, encoding="utf-8") as f:
            header = [h.strip() for h in f.readline().split(",")]
        missing = [c for c in list(coordinates) + list(components) if c not in header]
        if missing:
            raise ProblemDefinitionError(f"Data file '{path}' has no column {', '.join(missing)} (its columns: "
                                         f"{', '.join(header)})")
        try:
            table = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
        except ValueError as exc:
            raise ProblemDefinitionError(f"Data file '{path}': not a table of numbers ({exc})") from None
        pick = lambda names: table[:, [header.index(n) for n in names]]  # noqa: E731
        return pick(coordinates), pick(components)
    raise ProblemDefinitionError(f"Data: file '{path}' must be .npz, .h5 or .csv")


class Data(Observations):
    """Observed values at points: of the unknowns ``components``, or of ``quantity(u, x)``.

    Args:
        points, values: arrays ``(N, n_coordinates)`` and ``(N, k)``; or ``file`` instead.
        components: names of the observed unknowns (default: the first unknown), or names for the
            columns of ``quantity``.
        file: ``.npz``/``.h5`` with ``points`` and ``values``, or ``.csv`` with a header.
        coordinates: the point columns of a ``.csv`` file, e.g. ``("x", "t")``.
        quantity: ``(u, x) -> (k,)`` observed instead of the components (a flux, a sum, ...).
        noise: the standard deviation of the measurement noise, when known.
        weight: the term's weight.
    """

    def __init__(self, points=None, values=None, components: Sequence[str] = ("u",), file: str | Path | None = None,
                 coordinates: Sequence[str] | None = None, quantity: Callable | None = None,
                 noise: float | None = None, weight: float = 1.0):
        if file is not None:
            if points is not None or values is not None:
                raise ProblemDefinitionError("Data: give points and values, or a file, not both")
            self.file = Path(file)
            points, values = _read(self.file, tuple(components), coordinates)
        elif points is None or values is None:
            raise ProblemDefinitionError("Data needs points and values (arrays), or file=...")
        else:
            self.file = None
        self.quantity = quantity
        if noise is not None and not noise > 0:
            raise ProblemDefinitionError(f"Data: noise must be a positive standard deviation, got {noise!r}")
        self.noise = noise
        super().__init__(points, values, components, weight)

    def validate(self, problem) -> None:
        if self.quantity is None:
            super().validate(problem)
        elif self.points.shape[1] != problem.n_coordinates:
            raise ProblemDefinitionError(f"problem '{problem.problem_name}': Data points have {self.points.shape[1]} "
                                         f"coordinates, the problem {problem.n_coordinates}")
        inside = problem.domain.contains(self.points[:, :problem.n_space], tol=1e-9)
        if problem.has_time:
            t = self.points[:, -1]
            inside &= (t >= problem.time.t0 - 1e-9) & (t <= problem.time.t1 + 1e-9)
        if not np.all(inside):
            i = int(np.flatnonzero(~inside)[0])
            raise ProblemDefinitionError(f"problem '{problem.problem_name}': Data point {i} {self.points[i].tolist()} "
                                         f"lies outside the domain ({int((~inside).sum())} of {len(inside)} do)")

    def residual(self, u, x: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        if self.quantity is None:
            return super().residual(u, x, values)
        return self.quantity(u, x).reshape(-1) - values

    def __repr__(self):
        what = "a quantity" if self.quantity is not None else ", ".join(self.components)
        source = f" from {self.file.name}" if self.file is not None else ""
        return f"Data({len(self.points)} points of {what}{source})"
