r"""The PINN's collocation points: drawing them (uniform, quasi-random, adaptive), probing the residual, saving.

Every rank draws all the points of a round (seed and RNG states are shared) and keeps its contiguous
shard of each term's, so the union is exactly what one process trains on, and saving them needs no
collective call. Adaptive rounds (``adaptive=rad:K:C`` / ``rar:M``, :mod:`solvers._adaptive`) draw from a
pool by the current residual's magnitude.
"""

from __future__ import annotations

import numpy as np
import torch

from physopt import ConfigurationError, unit_cube_samples
from problems import PointSampler

from ._adaptive import POOL, parse_adaptive

__all__ = ["CollocationSampling"]


def _as_numpy(points) -> np.ndarray:
    """Float64 NumPy points from an array or a tensor."""
    return points.detach().double().cpu().numpy() if torch.is_tensor(points) else np.asarray(points, dtype=np.float64)


class _Batch:
    """Collocation points of one sampling round, as tensors."""

    def __init__(self):
        self.interior: torch.Tensor | None = None
        self.interior_data: dict[str, torch.Tensor] = {}  # the problem's point_data at the interior points
        self.conditions: list[dict] = []
        # points of each term over all ranks (a data-parallel run holds its shard; the scales use these)
        self.interior_count = 0
        self.condition_counts: list[int] = []
        self.all_interior = None  # the interior points of all ranks together (what one process would train on)
        self.all_conditions: list = []  # ... and each condition's




class CollocationSampling:
    """The sampling half of :class:`solvers.PINN` (a mixin: it reads the solver's problem, options, RNGs and ranks)."""

    def _tensor(self, array) -> torch.Tensor:
        return torch.as_tensor(np.asarray(array), dtype=self.dtype, device=self.device)

    def _space_time(self, n: int, n_unit_space: int, mapper) -> tuple[np.ndarray, ...]:
        p, o = self.problem, self.options
        unit = unit_cube_samples(n, n_unit_space + int(p.has_time), o.sampling, self.rng)
        mapped = mapper(unit[:, :n_unit_space])
        if not isinstance(mapped, tuple):
            mapped = (mapped,)
        if p.has_time:
            t = p.time.map(unit[:, n_unit_space:])
            mapped = (np.column_stack([mapped[0], t]),) + mapped[1:]
        return mapped

    def _shard(self, points, what: str):
        """This rank's rows of ``points`` (all of them in one process); too few to split is a clear error."""
        if not self.ranks.sharded:
            return points
        if len(points) < self.ranks.world_size:
            raise ConfigurationError(f"{what}: {len(points)} points cannot be split over {self.ranks.world_size} "
                                     f"processes; use at least {self.ranks.world_size} (or fewer processes)")
        return points[self.ranks.shard(len(points))]

    def sample(self) -> _Batch:
        """Draw collocation points for the residual and each soft condition (each condition says where).

        On several ranks every rank draws the same points (seed and RNG states are shared) and keeps
        its contiguous shard of each term's, so the union is exactly what one process trains on,
        for any number of ranks.
        """
        # a checkpoint redraws this very batch
        self._rng_before_batch = {"numpy": _encode_rng(self.rng), "torch": self.generator.get_state()}
        p, o = self.problem, self.options
        d = p.domain
        batch = _Batch()
        # random sampling drawn on the device by the problem's law (space-time), else the domain's (stationary)
        draw = getattr(p, "draw_interior", None) or (getattr(d, "draw_interior", None) if not p.has_time else None)
        adaptive = parse_adaptive(o.adaptive) if getattr(self, "batch", None) is not None else None
        if adaptive is not None:  # after the first batch: where the residual is large (solvers/_adaptive.py)
            interior = self._adapted_interior(adaptive)
        elif draw is not None and o.sampling == "uniform":
            interior = draw(o.points, self.generator, self.dtype, self.device)
        else:
            interior = self._space_time(o.points, d.n_unit_interior, d.map_interior)[0]
        batch.interior_count = len(interior)
        batch.all_interior = interior  # every rank's points (each rank draws them all, then keeps its shard)
        interior = self._shard(interior, "points")
        batch.interior = (interior if torch.is_tensor(interior) else self._tensor(interior)).contiguous()
        batch.interior_data = p.point_data(batch.interior)
        sampler = PointSampler(o.boundary_points, self._space_time,
                               lambda n, dim: unit_cube_samples(n, dim, o.sampling, self.rng))
        for c, key in zip(self.soft, self.term_names):
            arrays = c.sample(p, sampler)
            batch.condition_counts.append(len(next(iter(arrays.values()))))
            batch.all_conditions.append(arrays["points"])
            points = {name: self._tensor(self._shard(array, f"condition {key}")).contiguous() for name, array in arrays.items()}
            batch.conditions.append({"condition": c, **points})
        return batch

    def _adapted_interior(self, adaptive) -> np.ndarray:
        """RAD: ``points`` drawn from a pool by residual density; RAR: the current points and the pool's worst ``m``."""
        o, d = self.options, self.problem.domain
        pool = self._space_time(POOL * o.points, d.n_unit_interior, d.map_interior)[0]
        pool = np.asarray(pool.detach().cpu() if torch.is_tensor(pool) else pool)
        norms = self.residual_norms(pool)
        chosen = pool[adaptive.choose(norms, o.points, self.rng)]
        if adaptive.kind == "rar":
            return np.concatenate([self.collocation_points(), chosen])
        return chosen

    def residual_norms(self, points) -> np.ndarray:
        """``|r(x)|`` of the PDE residual (all equations) at ``points``, with the current parameters (no gradients)."""
        points = self._tensor(np.asarray(points))
        saved = self.batch
        probe = _Batch()
        probe.interior, probe.interior_count = points, len(points)
        probe.interior_data = self.problem.point_data(points)
        probe.conditions, probe.condition_counts = [], []
        self.batch = probe
        try:
            with torch.no_grad():
                r = self.residual_terms()["residual"]
        finally:
            self.batch = saved
        return r.reshape(len(points), -1).norm(dim=1).double().cpu().numpy()

    def collocation_points(self) -> np.ndarray:
        """The interior points of all ranks together (no communication: every rank draws them all), ``(N, n)``."""
        return _as_numpy(self.batch.all_interior)

    def save_collocation(self, path) -> None:
        """Write the current collocation points (interior, and each condition's; all ranks') to ``path`` (``.npz``)."""
        arrays = {"interior": self.collocation_points()}
        for key, points in zip(self.term_names, self.batch.all_conditions):
            arrays[key] = _as_numpy(points)
        np.savez_compressed(path, **arrays)



def _encode_rng(rng: np.random.Generator) -> dict:
    s = rng.bit_generator.state
    return {"bit_generator": s["bit_generator"], "state": str(s["state"]["state"]), "inc": str(s["state"]["inc"]),
            "has_uint32": s["has_uint32"], "uinteger": s["uinteger"]}


def _decode_rng(d: dict) -> dict:
    return {"bit_generator": d["bit_generator"], "state": {"state": int(d["state"]), "inc": int(d["inc"])},
            "has_uint32": d["has_uint32"], "uinteger": d["uinteger"]}
