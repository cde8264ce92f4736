r"""TENG: time-evolving natural gradient (Chen et al., ICML 2024).

For :math:`u_t = L[u]` on a periodic box, a network :math:`u_\theta` is marched in
time. Each step of an explicit Runge–Kutta scheme (Euler, Heun, RK4) builds its
stage targets on a fixed uniform grid :math:`x_i`,

.. math::
    \tilde u^{(s)} = u_n + \Delta t \sum_{j<s} a_{sj} k_j,\qquad k_j = L[u_{\theta^{(j)}}](x_i),

and fits the network to each target by natural-gradient least squares: per
iteration a random subset S of parameter columns, :math:`J_S \delta = \tilde u -
u_\theta` solved by rank-revealing QR (cut-off ``rcond``), :math:`\theta_S \mathrel{+}= \delta`
if that lowers the misfit (else solved again with a larger cut-off: :meth:`TENG.fit`).
The Jacobian columns come from one forward/backward pass (:mod:`._teng_network`).
The initial fit to :math:`u_0` uses Levenberg–Marquardt with geodesic acceleration
(:mod:`physopt.optim`) on all columns (plain Gauss–Newton diverges there); with
``step_fit="lm"`` the step fits use it too (the damping keeps the steps along the
Jacobian's tiny singular directions short, which the nonlinear problems need).

With ``carry_misfit`` the march keeps its state on the grid: :math:`u_n` in the
targets is the last step's target :math:`U_n` (with :math:`U_0 = u_0` on the grid)
instead of the network's values :math:`u_{\theta_n}`, so a fit's misfit
:math:`U_n - u_{\theta_n}` is not dropped but handed on to the next fit. The fits'
misfits then no longer add up over the steps; the network still supplies every
:math:`L[u]` and the solution, and its error is about the last fit's misfit plus the
grid state's own (the stepper's floor and what the misfits change in :math:`L[u]`).
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from pathlib import Path

import numpy as np
import scipy.linalg
import torch
from torch.func import vmap

from physopt import ConfigurationError, ProblemDefinitionError, check_device, coordinate_layout, default_device
from physopt.curvature import FlatParameters
from physopt.optim import LeastSquaresObjective, LevenbergMarquardt
from problems import Box

from ._options import AbstractOptions
from ._solution import Solution, relative_errors
from ._teng_network import PeriodicMLP
from ._training import NaNGuard, StepRecord, StopTraining, TrainingState

__all__ = ["TENG", "TENGOptions", "TENGSolution", "TABLEAUS", "STEP_FITS"]

DTYPES = {"float32": torch.float32, "float64": torch.float64}

#: largest rcond tried when fit steps are rejected (each rejection multiplies rcond by 100)
REJECT_RCOND = 1e-3

#: least-squares methods of the step fits (:meth:`TENG.fit`)
STEP_FITS = ("qr", "lm")

#: explicit Runge–Kutta tableaus: stage rows a_{s, <s} and weights b
TABLEAUS = {
    "euler": ([], [1.0]),
    "heun": ([[1.0]], [0.5, 0.5]),
    "rk4": ([[0.5], [0.0, 0.5], [0.0, 0.0, 1.0]], [1 / 6, 1 / 3, 1 / 3, 1 / 6]),
}


@dataclasses.dataclass
class TENGOptions(AbstractOptions):
    """Options of the TENG solver (``--set name=value``)."""

    method: str = "heun"  # euler, heun or rk4
    dt: float = 0.005
    grid: int = 64  # grid points per axis (uniform, periodic: the right end left out)
    features: int = 8  # periodic embedding features per axis (the paper: 20)
    width: int = 32  # (the paper: 40)
    depth: int = 1  # hidden tanh layers after the embedding (the paper: 5)
    step_fit: str = "lm"  # lm: Levenberg–Marquardt on all columns; qr: column-subset truncated QR (the paper's)
    iterations: int = 8  # least-squares iterations for every stage fit but the last (the paper's qr: 7)
    corrector_iterations: int = 50  # for the last fit of a multi-stage step; Euler's one fit uses the larger (qr: 5)
    columns: int = 1024  # parameter columns per iteration
    first_columns: int = 1536  # ... on the first iteration of a fit
    rcond: float = 1e-9  # relative singular-value cut-off of the least-squares solve (1e-6 for column subsets of big nets)
    lm_damping: float = 1e-12  # step_fit lm: lowest starting damping of a step fit (relative to the largest Gram eigenvalue)
    carry_misfit: bool = True  # march the grid values (each target keeps the last fit's misfit) instead of u_θ's
    init_iterations: int = 1000  # at most this many Levenberg–Marquardt steps for the fit to u0
    init_tol: float = 1e-7  # ... stopping at this relative L2 misfit on the grid
    seed: int = 0
    dtype: str = "float64"
    device: str = dataclasses.field(default_factory=default_device)  # cpu, cuda, cuda:N ($PHYSOPT_DEVICE, else cpu)
    checkpoint_every: int = 1  # time steps between checkpoints (0: only at the end)
    error_every: int = 0  # also measure the error every N steps (0: only at the output times)

    def validate(self):
        super().validate()
        self.check_choice("method", tuple(TABLEAUS))
        self.check_choice("step_fit", STEP_FITS)
        self.check_choice("dtype", tuple(DTYPES))
        check_device(self.device)
        if not self.dt > 0:
            raise ConfigurationError(f"option dt must be positive, got {self.dt}")
        if not 0 < self.rcond < 1:
            raise ConfigurationError(f"option rcond must be in (0, 1), got {self.rcond}")
        if not 0 < self.lm_damping < 1:
            raise ConfigurationError(f"option lm_damping must be in (0, 1), got {self.lm_damping}")
        for name in ("grid", "features", "width", "depth", "iterations", "columns", "first_columns"):
            self.check_range(name, 1)
        for name in ("corrector_iterations", "init_iterations", "seed", "checkpoint_every", "error_every"):
            self.check_range(name, 0)


class TENGSolution(Solution):
    """Network weights at stored time steps; values between them are interpolated linearly in time."""

    def __init__(self, problem, model, times: list[float], weights: list[torch.Tensor], info=None, floor=None):
        super().__init__(problem, model, model, info)
        order = np.argsort(times)
        self.times = np.asarray(times, dtype=float)[order]
        self.weights = [weights[i] for i in order]
        self._floor = floor  # (method, dt) of the ideal stepper to compare with, if the problem offers it
        self._flat = FlatParameters(model)

    def _values_at(self, theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return self._flat.call(theta, x)

    def __call__(self, points, batch_size: int = 65536) -> torch.Tensor:
        points = torch.as_tensor(points, dtype=self.dtype, device=self.device)
        d = self.problem.n_space
        if points.ndim != 2 or points.shape[1] != d + 1:
            raise ValueError(f"points must have shape (N, {d + 1}) = (x, t), got {tuple(points.shape)}")
        t = points[:, -1].double().cpu().numpy()
        lo, hi = self.times[0], self.times[-1]
        tol = 1e-9 * max(1.0, abs(hi))
        if t.min() < lo - tol or t.max() > hi + tol:
            raise ValueError(f"TENG solution covers t in [{lo:g}, {hi:g}]; points reach [{t.min():g}, {t.max():g}]")
        out = torch.empty(points.shape[0], dtype=self.dtype, device=self.device)
        right = np.clip(np.searchsorted(self.times, t - tol), 0, len(self.times) - 1)
        with torch.no_grad():
            for k in np.unique(right):
                rows = np.nonzero(right == k)[0]
                x = points[rows, :d]
                value = self._values_at(self.weights[k], x)
                if k > 0 and np.any(np.abs(t[rows] - self.times[k]) > tol):  # between two stored steps
                    w = torch.as_tensor((self.times[k] - t[rows]) / (self.times[k] - self.times[k - 1]), dtype=value.dtype,
                                        device=value.device)
                    value = (1 - w) * value + w * self._values_at(self.weights[k - 1], x)
                out[rows] = value
        return out[:, None]

    def errors(self, points=None):
        """Errors over the error points, plus at the final time ``rel_l2_final`` and, where the problem
        offers its ideal stepper, ``floor_rel_l2``: that stepper's error with the same method and dt."""
        errors = super().errors(points)
        if errors is None:
            return None
        points = torch.as_tensor(self.problem.error_points() if points is None else points, dtype=torch.float64)
        final = points[(points[:, -1] - points[:, -1].max()).abs() <= 1e-12 * max(1.0, float(points[:, -1].max()))]
        reference = self.problem.solution_at(final).cpu()
        names = self.problem.unknowns
        errors["rel_l2_final"] = relative_errors(self(final).double().cpu(), reference, names)["rel_l2"]
        if self._floor is not None:
            floor = torch.as_tensor(self.problem.stepper_floor(*self._floor, final), dtype=torch.float64).cpu()
            errors["floor_rel_l2"] = relative_errors(floor.reshape(reference.shape), reference, names)["rel_l2"]
        return errors

    def save(self, path) -> None:
        """The weights at every stored time (``{"times", "weights"}``; loads with ``weights_only=True``)."""
        torch.save({"times": torch.as_tensor(self.times), "weights": torch.stack(self.weights)}, path)


def truncated_lstsq(J: torch.Tensor, b: torch.Tensor, rcond: float, method: str | None = None) -> torch.Tensor:
    r"""Rank-revealing least squares :math:`\min\|J\delta - b\|`: directions below ``rcond``·(largest) are dropped.

    ``method`` ``"gelsy"`` (LAPACK's QR with column pivoting; the CPU's default) or ``"svd"``
    (a thin SVD; the default elsewhere, since torch's only CUDA driver, ``gels``, ignores
    ``rcond`` and is not rank-revealing).
    """
    if (method or ("gelsy" if J.device.type == "cpu" else "svd")) == "gelsy":
        # SciPy's gelsy, not torch's: torch 2.13's passes LAPACK an uninitialised pivot array (JPVT), so columns
        # are sometimes held in front and the rank decision goes wrong, depending on leftover memory
        x = scipy.linalg.lstsq(J.detach().cpu().numpy(), b.detach().cpu().numpy(), cond=rcond, lapack_driver="gelsy",
                               check_finite=False)[0]
        return torch.from_numpy(x).to(dtype=J.dtype, device=J.device)
    U, s, Vh = torch.linalg.svd(J, full_matrices=False)
    coef = torch.where(s > rcond * s[0], 1 / s, torch.zeros_like(s))
    return Vh.T @ (coef * (U.T @ b))


class TENG:
    """Time-evolving natural gradient for u_t = L[u] on periodic boxes (``Problem.rhs``)."""

    Options = TENGOptions

    def __init__(self, problem, options: TENGOptions | None = None):
        self.problem, self.options = problem, options or TENGOptions()
        o, p = self.options, problem
        self._check_problem()
        self.dtype, self.device = DTYPES[o.dtype], torch.device(o.device)
        torch.manual_seed(o.seed)
        self.rng = torch.Generator().manual_seed(o.seed + 1)
        lo, hi = p.domain.lo, p.domain.hi
        with torch.device("cpu"):  # the same initial weights on every device (drawn from the CPU generator)
            model = PeriodicMLP(list(hi - lo), o.features, o.width, o.depth)
        self.model = model.to(dtype=self.dtype, device=self.device)
        axes = [lo[k] + (hi[k] - lo[k]) * np.arange(o.grid) / o.grid for k in range(p.n_space)]
        grid = np.stack([a.ravel() for a in np.meshgrid(*axes, indexing="ij")], -1)
        self.x = torch.as_tensor(grid, dtype=self.dtype, device=self.device)
        self.flat = FlatParameters(self.model)
        self.n_params = self.flat.size
        t0, t1 = p.time.t0, p.time.t1
        n = (t1 - t0) / o.dt
        if abs(n - round(n)) > 1e-9 * max(1.0, n) or round(n) < 1:
            raise ConfigurationError(
                f"dt = {o.dt:g} does not divide the time interval [{t0:g}, {t1:g}] into whole steps; "
                "choose dt = (t1 - t0) / n (or change the problem's end time, e.g. --param t_end=...)"
            )
        self.n_steps, self.t0 = int(round(n)), t0
        self.rejected_steps = 0  # fit steps rejected for raising the misfit (see `fit`)
        self.grid_values = None  # the last target on the grid: the marched state with ``carry_misfit``
        self.last_damping = 0.0  # the damping the last LM fit ended with (the next step fit starts there or higher)

    def _check_problem(self):
        p = self.problem
        name = p.problem_name
        if not p.has_time or not p.has_rhs:
            raise ProblemDefinitionError(
                f"TENG solves u_t = L[u]: problem '{name}' needs a `time` interval and rhs(self, u, x) returning L[u]"
            )
        if not isinstance(p.domain, Box):
            raise ConfigurationError(f"TENG needs a Box domain (periodic in every axis); '{name}' has {p.domain!r}")
        periodic = {c.dim for c in p.conditions if c.kind == "periodic"}
        others = sorted({c.kind for c in p.conditions if c.kind not in ("periodic", "initial")})
        if periodic != set(range(p.n_space)) or others:
            raise ConfigurationError(
                f"TENG here handles periodic boxes: '{name}' must be Periodic in every axis and have no other "
                f"boundary conditions (it has periodic axes {sorted(periodic)}, others: {others or 'none'})"
            )
        initial = [c for c in p.conditions if c.kind == "initial"]
        if [c.order for c in initial] != [0]:
            raise ProblemDefinitionError(
                f"TENG marches u_t = L[u] from one Initial(u0) condition (order 0); '{name}' has "
                f"{', '.join(map(repr, initial)) or 'none'}"
            )
        if p.n_unknowns != 1:
            raise ConfigurationError(f"TENG here solves scalar equations; '{name}' has unknowns {p.unknowns}")

    def enforcement(self) -> list[dict[str, str]]:
        """How each condition is honoured: periodicity by the network's Fourier features, u0 by the initial fit."""
        how = {"periodic": "network (periodic by construction)", "initial": "initial fit"}
        return [{"condition": repr(c), "enforced": how[c.kind], "term": ""} for c in self.problem.conditions]

    # ----- pieces ---------------------------------------------------------------------------
    def initial_values(self) -> torch.Tensor:
        c = next(c for c in self.problem.conditions if c.kind == "initial" and c.order == 0)
        with coordinate_layout(self.problem.n_space, False):
            return vmap(c.value)(self.x).reshape(-1).to(self.dtype)

    def rhs_values(self) -> torch.Tensor:
        """L[u_θ] on the grid, with exact input derivatives."""
        model, problem = self.model, self.problem

        def u(y):
            return model(y)

        with coordinate_layout(problem.n_space, False):
            return torch.cat([vmap(lambda y: problem.rhs(u, y))(chunk).reshape(-1).detach() for chunk in self.x.split(8192)])

    def _columns(self, m: int) -> torch.Tensor:
        m = min(m, self.n_params)
        return torch.sort(torch.randperm(self.n_params, generator=self.rng, device="cpu")[:m]).values.to(self.device)

    def fit(self, target: torch.Tensor, iterations: int) -> float:
        """``iterations`` least-squares steps towards ``target`` on the grid (``step_fit``); the final relative misfit."""
        if self.options.step_fit == "lm":
            return self._fit_lm(target, iterations, tol=0.0, damping=max(self.options.lm_damping, self.last_damping))[0]
        return self._fit_qr(target, iterations)

    def _fit_qr(self, target: torch.Tensor, iterations: int) -> float:
        """Natural-gradient least squares on random column subsets by truncated QR.

        A step is kept only if it lowers the misfit. A rejected one (the truncated QR took
        in a near-singular direction whose coefficient is mostly noise) is solved again with
        the cut-off ×100, up to ``REJECT_RCOND``; past that the iteration keeps the best iterate.
        Within a fit the cut-off adapts like a trust region (×100 on a rejection, ÷10 after an
        accepted step, never below the option ``rcond``); every fit starts from the option
        ``rcond``, since a fit that ended in rejections (it had converged) says nothing about
        the next target. When every cut-off from ``rcond`` up was rejected with every column
        in use, the fit has converged: the next iteration would repeat the same solves.
        """
        o, model = self.options, self.model
        theta = self.flat.vector()
        taps = model.taps(self.x)
        residual = target - taps.u
        best = residual.norm()
        start = o.rcond
        for it in range(iterations):
            cols = self._columns(o.first_columns if it == 0 else o.columns)
            J = model.jacobian_columns(taps, cols)
            rcond = start
            while True:
                delta = truncated_lstsq(J, residual, rcond)
                trial = theta.clone()
                trial[cols] += delta
                self.flat.assign(trial)
                trial_taps = model.taps(self.x)
                trial_residual = target - trial_taps.u
                norm = trial_residual.norm()
                if norm < best:
                    theta, taps, residual, best = trial, trial_taps, trial_residual, norm
                    start = max(o.rcond, rcond / 10.0)
                    break
                rcond *= 100.0
                self.rejected_steps += 1
                if rcond > REJECT_RCOND:
                    self.flat.assign(theta)
                    break
            if rcond > REJECT_RCOND:
                if start == o.rcond and len(cols) == self.n_params:
                    break  # every cut-off rejected on every column: converged
                start = o.rcond  # the smaller cut-offs were not tried on this system yet
        return float(best / target.norm().clamp_min(1e-300))

    def fit_initial(self, target: torch.Tensor) -> tuple[float, int]:
        """The fit to u0: LM until the relative misfit is ``init_tol`` or ``init_iterations`` are spent."""
        return self._fit_lm(target, self.options.init_iterations, self.options.init_tol, damping=1e-3)

    def _fit_lm(self, target: torch.Tensor, max_iterations: int, tol: float, damping: float) -> tuple[float, int]:
        """Levenberg–Marquardt with geodesic acceleration (:mod:`physopt.optim`) on all parameters,
        from ``damping`` (relative to the largest Gram eigenvalue), until the relative misfit on the grid
        is ``tol``, ``max_iterations`` are spent or LM stalls (its steps rejected at the dtype's
        resolution); (misfit, iterations).

        The fit to u0 starts far from its target and from damping 1e-3. A step fit starts where the
        last step ended, a linear model's step away (the gain ratio stays ~1), so from the damping the
        last fit ended with, or ``lm_damping`` = 1e-12 if that is lower: from 1e-3, Nielsen's update (at
        most ÷3 per step) spends ~20 iterations on lowering the damping alone (Allen–Cahn, one Heun
        predictor: misfit 1.5e-5 after 15 iterations from 1e-3, 1.6e-6 from 1e-12). Where the last fit
        needed more damping (a carried misfit far off the tangent space), starting from 1e-12 would
        spend the iterations on raising it again (2 iterations per fit then never moved the network)."""
        model = self.model
        flat = self.flat
        objective = LeastSquaresObjective(
            flat,
            residual=lambda theta: flat.call(theta, self.x) - target,
            jacobian_fn=lambda theta: model.jacobian(model.taps(self.x)),
        )
        optimizer = LevenbergMarquardt(model.parameters(), objective, damping=damping)
        norm = target.norm().clamp_min(1e-300)

        def closure():
            with torch.no_grad():
                return ((model(self.x) - target) ** 2).sum()

        misfit, it = float(closure().sqrt() / norm), 0
        while misfit > tol and it < max_iterations and not getattr(optimizer, "stop_reason", None):
            optimizer.step(closure)
            it += 1
            misfit = float(closure().sqrt() / norm)
        self.last_damping = optimizer.mu
        return misfit, it

    # ----- the march ----------------------------------------------------------------------------
    def _output_times(self) -> set[int]:
        """Steps whose weights are kept: where errors and fields are evaluated, and every 5% of the run."""
        p, dt = self.problem, self.options.dt
        times = set(float(t) for t in p.error_points()[:, -1].unique().tolist())
        times |= {e["time"] for e in p.evaluation_meshes() if e["time"] is not None}
        steps = {0, self.n_steps} | set(range(0, self.n_steps + 1, max(1, self.n_steps // 20)))
        for t in times:
            k = (t - self.t0) / dt
            steps |= {int(math.floor(k + 1e-9)), int(math.ceil(k - 1e-9))}
        return {s for s in steps if 0 <= s <= self.n_steps}

    def _floor(self):
        p = self.problem
        if hasattr(p, "stepper_floor") and p.has_reference:
            return (self.options.method, self.options.dt)
        return None

    def _error_at(self, step: int, reference_cache: dict) -> float | None:
        p = self.problem
        if not p.has_reference:
            return None
        if step not in reference_cache:
            t = self.t0 + step * self.options.dt
            # references (spectral, exact) are evaluated on the CPU in float64 and moved to the run's device
            space = self.x.detach().to(device="cpu", dtype=torch.float64)
            pts = torch.cat([space, torch.full((len(space), 1), t, dtype=torch.float64, device="cpu")], 1)
            reference_cache[step] = p.solution_at(pts).reshape(-1).to(self.dtype)
        ref = reference_cache.pop(step)
        with torch.no_grad():
            return float((self.model(self.x) - ref.to(self.device)).norm() / ref.norm().clamp_min(1e-300))

    def solve(self, callbacks=(), checkpoint_path=None, checkpoint: dict | None = None) -> TENGSolution:
        """March from t0 to t1; checkpoint every ``checkpoint_every`` steps; return the :class:`TENGSolution`."""
        o = self.options
        stages, weights = TABLEAUS[o.method]
        keep = self._output_times()
        state = TrainingState(self.model, [(f"teng-{o.method}", self.n_steps)])
        cbs = [NaNGuard(), *callbacks]
        stored_t: list[float] = []
        stored_w: list[torch.Tensor] = []
        start = time.perf_counter()
        info: dict = {}
        if checkpoint is not None:
            self._restore(checkpoint, state, stored_t, stored_w, info)
        for cb in cbs:
            cb.on_start(state)
        try:
            if checkpoint is None:
                self.grid_values = self.initial_values()
                misfit, its = self.fit_initial(self.grid_values)
                info.update(initial_fit_rel_l2=misfit, initial_fit_iterations=its)
                stored_t.append(self.t0)
                stored_w.append(self.flat.vector())
                record = StepRecord(0, "initial fit", misfit, {"fit": misfit}, time.perf_counter() - start,
                                    self._error_at(0, {}), {"t": self.t0, "iterations": its})
                for cb in cbs:
                    cb.on_step(state, record)
            while state.step < self.n_steps:
                n = state.step
                t_new = self.t0 + (n + 1) * o.dt
                if o.carry_misfit:
                    u_n = self.grid_values
                else:
                    with torch.no_grad():
                        u_n = self.model(self.x)
                k = [self.rhs_values()]
                misfit = 0.0
                for row in stages:
                    misfit = self.fit(u_n + o.dt * sum(a * kj for a, kj in zip(row, k)), o.iterations)
                    k.append(self.rhs_values())
                final = max(o.iterations, o.corrector_iterations) if not stages else o.corrector_iterations
                target = u_n + o.dt * sum(b * kj for b, kj in zip(weights, k))
                if final:
                    misfit = self.fit(target, final)
                self.grid_values = target
                state.step = n + 1
                state.elapsed = info.get("elapsed", 0.0) + time.perf_counter() - start
                measure = (n + 1) in keep or (o.error_every and (n + 1) % o.error_every == 0)
                error = self._error_at(n + 1, {}) if measure else None
                if error is not None:
                    state.best_error = error if state.best_error is None else min(state.best_error, error)
                if (n + 1) in keep:
                    stored_t.append(t_new)
                    stored_w.append(self.flat.vector())
                record = StepRecord(n + 1, f"teng-{o.method}", misfit, {"fit": misfit}, state.elapsed, error, {"t": t_new})
                state.last = record
                if checkpoint_path is not None and o.checkpoint_every and (n + 1) % o.checkpoint_every == 0:
                    self._save(checkpoint_path, state, stored_t, stored_w, info)
                for cb in cbs:
                    cb.on_step(state, record)
            state.stop_reason = f"reached t = {self.t0 + self.n_steps * o.dt:g} after {self.n_steps} steps of dt = {o.dt:g}"
        except StopTraining as stop:
            state.stop_reason = str(stop)
        finally:
            for cb in cbs:
                cb.on_end(state)
        if checkpoint_path is not None:
            self._save(checkpoint_path, state, stored_t, stored_w, info)
        info.update(steps=state.step, stop_reason=state.stop_reason, train_time_s=state.elapsed,
                    rejected_fit_steps=self.rejected_steps,
                    final_loss=state.last.loss if state.last else info.get("initial_fit_rel_l2"))
        return TENGSolution(self.problem, self.model, stored_t, stored_w, info, self._floor())

    # ----- checkpoints -----------------------------------------------------------------------
    def _save(self, path, state, stored_t, stored_w, info):
        payload = {"solver": "teng", "step": state.step, "model": self.model.state_dict(),
                   "times": torch.as_tensor(stored_t, dtype=torch.float64), "weights": torch.stack(stored_w),
                   "rng": self.rng.get_state(), "torch_rng": torch.get_rng_state(),
                   "elapsed": state.elapsed, "best_error": state.best_error,
                   "initial_fit_rel_l2": info.get("initial_fit_rel_l2"), "initial_fit_iterations": info.get("initial_fit_iterations"),
                   "rejected_steps": self.rejected_steps, "grid_values": self.grid_values, "last_damping": self.last_damping}
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        torch.save(payload, tmp)
        os.replace(tmp, path)

    def _restore(self, ckpt, state, stored_t, stored_w, info):
        if ckpt.get("solver") != "teng":
            raise ConfigurationError("the checkpoint was not written by the TENG solver")
        self.model.load_state_dict(ckpt["model"])
        state.step = int(ckpt["step"])
        stored_t.extend(float(t) for t in ckpt["times"])
        stored_w.extend(w.to(self.dtype) for w in ckpt["weights"])
        self.rng.set_state(ckpt["rng"])
        torch.set_rng_state(ckpt["torch_rng"])
        state.best_error = ckpt.get("best_error")
        info["elapsed"] = state.elapsed = float(ckpt.get("elapsed", 0.0))
        for key in ("initial_fit_rel_l2", "initial_fit_iterations"):
            info[key] = ckpt.get(key)
        self.rejected_steps = int(ckpt.get("rejected_steps", 0))
        self.grid_values = ckpt.get("grid_values")
        self.last_damping = float(ckpt.get("last_damping", 0.0))
        if self.options.carry_misfit and self.grid_values is None:
            raise ConfigurationError("the checkpoint has no grid values to march (written before carry_misfit existed); "
                                     "resume it with carry_misfit=False")
        if self.grid_values is not None:
            self.grid_values = self.grid_values.to(dtype=self.dtype, device=self.device)
