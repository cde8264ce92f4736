"""Which coordinates of a point are space and which one is time.

Problems are written pointwise: ``x`` is one point. For a time-dependent
problem the point is ``(x_1, ..., x_d, t)`` — time is always the *last*
coordinate. Spatial operators (``grad``, ``laplacian``, ...) act on the
spatial coordinates only; the engine that evaluates a problem says how many
there are with :func:`coordinate_layout`. Outside such a block every
coordinate is spatial.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses

__all__ = ["CoordinateLayout", "coordinate_layout", "current_layout"]


@dataclasses.dataclass(frozen=True)
class CoordinateLayout:
    """Layout of a point: ``n_space`` spatial coordinates, then time if ``has_time``."""

    n_space: int
    has_time: bool = False

    def __post_init__(self):
        if self.n_space < 0:
            raise ValueError(f"n_space must be >= 0, got {self.n_space}")

    @property
    def n_coordinates(self) -> int:
        return self.n_space + int(self.has_time)

    @property
    def space_dims(self) -> tuple[int, ...]:
        return tuple(range(self.n_space))

    @property
    def time_index(self) -> int | None:
        return self.n_space if self.has_time else None


_LAYOUT: contextvars.ContextVar[CoordinateLayout | None] = contextvars.ContextVar(
    "physopt_coordinate_layout", default=None
)


def current_layout() -> CoordinateLayout | None:
    """The layout set by the innermost :func:`coordinate_layout` block, or ``None``."""
    return _LAYOUT.get()


@contextlib.contextmanager
def coordinate_layout(n_space: int, has_time: bool = False):
    """Declare that points have ``n_space`` spatial coordinates (then time, if ``has_time``)."""
    token = _LAYOUT.set(CoordinateLayout(n_space, has_time))
    try:
        yield
    finally:
        _LAYOUT.reset(token)


def space_dims_for(n_coordinates: int) -> tuple[int, ...]:
    """Spatial coordinate indices of a point with ``n_coordinates`` entries."""
    layout = current_layout()
    if layout is None:
        return tuple(range(n_coordinates))
    if layout.n_coordinates != n_coordinates:
        raise ValueError(
            f"a point has {n_coordinates} coordinates but the problem declares "
            f"{layout.n_space} spatial coordinate(s)"
            + (" plus time" if layout.has_time else "")
            + "; check the dimension of the domain against the residual/exact functions"
        )
    return layout.space_dims


def time_index_for(n_coordinates: int) -> int:
    """Index of the time coordinate (the last one)."""
    layout = current_layout()
    if layout is not None and not layout.has_time:
        raise ValueError(
            "time_derivative was used in a problem without time; give the problem "
            "a `time = TimeInterval(t0, t1)` attribute"
        )
    return n_coordinates - 1
