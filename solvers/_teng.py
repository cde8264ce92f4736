r"""TENG: time-evolving natural gradient (Chen et al., ICML 2024).

For :math:`u_t = L[u]` on a periodic box, a network :math:`u_\theta` is marched in
time. Each step of an explicit Runge–Kutta scheme (Euler, Heun, RK4) builds its
stage targets on a fixed uniform grid :math:`x_i`,

.. math::
    \tilde u^{(s)} = u_n + \Delta t \sum_{j<s} a_{sj} k_j,\qquad k_j = L[u_{\theta^{(j)}}](x_i),

and fits the network to each target by natural-gradient least squares: per
iteration a random subset S of parameter columns, :math:`J_S \delta = \tilde u -
u_\theta` solved with singular values below ``rcond`` dropped (``step_fit`` ``gram``: by
the eigendecomposition of :math:`J_S^\top J_S`; ``qr``: by rank-revealing QR;
:mod:`._teng_lstsq`), :math:`\theta_S \mathrel{+}= \delta` if that lowers the misfit
(else solved again with a larger cut-off from the same factorization: :meth:`TENG.fit`).
The Jacobian columns come from one forward/backward pass (:mod:`._teng_network`).
The initial fit to :math:`u_0` uses Levenberg–Marquardt with geodesic acceleration
(:mod:`physopt.optim`) on all columns (plain Gauss–Newton diverges there; for networks
past ``init_columns`` parameters on a coarse sub-grid first); with ``step_fit="lm"``
the step fits use it too (the damping keeps the steps along the Jacobian's tiny
singular directions short, which the nonlinear problems need).

With ``carry_misfit`` the march keeps its state on the grid: :math:`u_n` in the
targets is the last step's target :math:`U_n` (with :math:`U_0 = u_0` on the grid)
instead of the network's values :math:`u_{\theta_n}`, so a fit's misfit
:math:`U_n - u_{\theta_n}` is not dropped but handed on to the next fit. The fits'
misfits then no longer add up over the steps; the network still supplies every
:math:`L[u]` and the solution, and its error is about the last fit's misfit plus the
grid state's own (the stepper's floor and what the misfits change in :math:`L[u]`).

Modules: the fits in :mod:`._teng_fit`, the march (a step source of the shared
loop, :func:`._training.run_loop`) in :mod:`._teng_march`, the solution in
:mod:`._teng_solution`; the Runge–Kutta tableaus in :mod:`physopt._runge_kutta`.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch.func import vmap

from physopt import ConfigurationError, ProblemDefinitionError, check_device, coordinate_layout, default_device
from physopt._runge_kutta import TABLEAUS
from physopt.curvature import FlatParameters
from problems import Box, Initial, Periodic

from ._base import AbstractSolver, register_solver
from ._callbacks import Checkpointer, NaNGuard, TrainingState
from ._options import AbstractOptions, option
from ._teng_fit import REJECT_RCOND, STEP_FITS, GridFits
from ._teng_lstsq import truncated_lstsq
from ._teng_march import TimeMarch
from ._teng_network import PeriodicMLP
from ._teng_solution import TENGSolution
from ._training import run_loop

__all__ = ["TENG", "TENGOptions", "TENGSolution", "TABLEAUS", "STEP_FITS", "SUPPORTED_CONDITIONS", "truncated_lstsq",
           "REJECT_RCOND"]

DTYPES = {"float32": torch.float32, "float64": torch.float64}

#: the conditions TENG honours: periodicity by its network's Fourier features, u0 by the initial fit
SUPPORTED_CONDITIONS = (Periodic, Initial)


@dataclasses.dataclass
class TENGOptions(AbstractOptions):
    """Options of the TENG solver (``--set name=value``)."""

    method: str = option("heun", "euler, heun or rk4")
    dt: float = option(0.005, "time step")
    grid: int = option(64, "grid points per axis (uniform, periodic: the right end left out)")
    features: int = option(8, "periodic embedding features per axis (the paper: 20)")
    width: int = option(32, "hidden width after the embedding (the paper: 40)")
    depth: int = option(1, "hidden tanh layers after the embedding (the paper: 5)")
    step_fit: str = option("lm", "lm: Levenberg–Marquardt on all columns; gram or qr: column subsets (the paper's) solved "
                                 "by the normal equations (fast) or by truncated QR")
    iterations: int = option(8, "least-squares iterations for every stage fit but the last (the paper's qr: 7)")
    corrector_iterations: int = option(50, "for the last fit of a multi-stage step; Euler's one fit uses the larger (qr: 5)")
    columns: int = option(1024, "parameter columns per iteration")
    first_columns: int = option(1536, "parameter columns on the first iteration of a fit")
    rcond: float = option(1e-9, "relative singular-value cut-off of the least-squares solve (1e-6 for column subsets of big nets)")
    lm_damping: float = option(1e-12, "step_fit lm: lowest starting damping of a step fit (relative to the largest Gram eigenvalue)")
    carry_misfit: bool = option(True, "march the grid values (each target keeps the last fit's misfit) instead of u_θ's")
    init_iterations: int = option(1000, "at most this many Levenberg–Marquardt steps for the fit to u0")
    init_tol: float = option(1e-7, "the fit to u0 stops at this relative L2 misfit on the grid")
    init_columns: int = option(4096, "the fit to u0 uses all columns for networks of up to this many parameters; a bigger "
                                     "one is fitted on a coarse sub-grid first (init_points), then on column subsets")
    init_points: int = option(1024, "networks past init_columns: the coarse sub-grid of the fit to u0 has at most this many points")
    seed: int = option(0, "random seed (network, column subsets)")
    dtype: str = option("float64", "float32 or float64")
    device: str = option(default_device, "cpu, cuda, cuda:1, ... (default: $PHYSOPT_DEVICE, else cpu)")
    checkpoint_every: int = option(1, "time steps between checkpoints (0: only at the end)")
    error_every: int = option(0, "also measure the error every N steps (0: only at the output times)")

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
        for name in ("grid", "features", "width", "depth", "iterations", "columns", "first_columns", "init_columns",
                     "init_points"):
            self.check_range(name, 1)
        for name in ("corrector_iterations", "init_iterations", "seed", "checkpoint_every", "error_every"):
            self.check_range(name, 0)


@register_solver("teng")
class TENG(GridFits, AbstractSolver):
    """Time-evolving natural gradient for u_t = L[u] on periodic boxes (``Problem.rhs``)."""

    Options = TENGOptions
    single_process_reason = ("each time step is a chain of small least-squares fits on one grid (its rows could be sharded with the normal "
                             "equations summed; not done: one GPU runs the paper's scale, docs/solvers/teng.md)")
    tiny_options = {"grid": 16, "features": 2, "width": 8, "depth": 1, "dt": 0.005, "init_iterations": 50,
                    "iterations": 3, "corrector_iterations": 5}

    def __init__(self, problem, options: TENGOptions | None = None, **overrides):
        super().__init__(problem, options, **overrides)
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
        self.column_rows = self.model.column_rows()  # the banks' rows of every Jacobian column (the subset fits)
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
        unsupported = [repr(c) for c in p.conditions if not isinstance(c, SUPPORTED_CONDITIONS)]
        periodic = {c.dim for c in p.conditions if isinstance(c, Periodic)}
        if unsupported or periodic != set(range(p.n_space)):
            supported = " and ".join(c.__name__ for c in SUPPORTED_CONDITIONS)
            raise ConfigurationError(
                f"TENG handles periodic boxes and supports only {supported} conditions: '{name}' must be Periodic in "
                f"every axis (it has periodic axes {sorted(periodic)}) and has unsupported conditions "
                f"{', '.join(unsupported) or 'none'}; make every axis Periodic and drop the others, "
                "or solve the problem with the PINN (--solver pinn)"
            )
        initial = [c for c in p.conditions if isinstance(c, Initial)]
        if [c.order for c in initial] != [0]:
            raise ProblemDefinitionError(
                f"TENG marches u_t = L[u] from one Initial(u0) condition (order 0); '{name}' has "
                f"{', '.join(map(repr, initial)) or 'none'}"
            )
        if p.n_unknowns != 1:
            raise ConfigurationError(f"TENG here solves scalar equations; '{name}' has unknowns {p.unknowns}")

    def enforcement(self) -> list[dict[str, str]]:
        """How each condition is honoured: periodicity by the network's Fourier features, u0 by the initial fit."""
        how = {Periodic: "network (periodic by construction)", Initial: "initial fit"}
        return [{"condition": repr(c), "enforced": next(v for k, v in how.items() if isinstance(c, k)), "term": ""}
                for c in self.problem.conditions]

    # ----- pieces (the fits: GridFits, solvers/_teng_fit.py) ----------------------------------------
    def initial_values(self) -> torch.Tensor:
        c = next(c for c in self.problem.conditions if isinstance(c, Initial) and c.order == 0)
        with coordinate_layout(self.problem.n_space, False):
            return vmap(c.value)(self.x).reshape(-1).to(self.dtype)

    def rhs_values(self) -> torch.Tensor:
        """L[u_θ] on the grid, with exact input derivatives."""
        model, problem = self.model, self.problem

        def u(y):
            return model(y)

        with coordinate_layout(problem.n_space, False):
            return torch.cat([vmap(lambda y: problem.rhs(u, y))(chunk).reshape(-1).detach() for chunk in self.x.split(8192)])

    # ----- the march ----------------------------------------------------------------------------
    def solve(self, callbacks=(), checkpoint_path=None, checkpoint: dict | None = None) -> TENGSolution:
        """March from t0 to t1 in the shared loop (:class:`TimeMarch`); checkpoint every ``checkpoint_every`` steps
        (and after the initial fit); continue from ``checkpoint`` when given; return the :class:`TENGSolution`."""
        o = self.options
        march = TimeMarch(self)
        state = TrainingState(self.model, [(f"teng-{o.method}", self.n_steps)])
        if checkpoint is not None:
            march.restore(checkpoint, state)
        cbs = [NaNGuard()]
        if checkpoint_path is not None:  # before the caller's callbacks: a step is saved before they can stop the run
            cbs.append(Checkpointer(checkpoint_path, o.checkpoint_every, extra=march.extra, partial_steps=False))
        run_loop(state, march, cbs + list(callbacks))
        return march.solution(state)
