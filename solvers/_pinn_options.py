"""Options of the PINN solver: every one is also a CLI flag or ``--set key=value``; ``validate`` checks them all."""

from __future__ import annotations

import dataclasses
import math

from physopt import (
    ACTIVATIONS,
    OPTIMIZERS,
    SAMPLING_METHODS,
    ConfigurationError,
    default_device,
    get_derivative_mode,
    parse_schedule,
)
from physopt.optim._engd import SOLVERS as ENGD_SOLVERS

from problems._corners import parse_enrichment

from ._adaptive import parse_adaptive
from ._best_model import BEST_BY
from ._options import AbstractOptions, option

__all__ = ["PINNOptions", "COMPILE_MODES"]

COMPILE_MODES = ("off", "default", "reduce-overhead", "max-autotune")


@dataclasses.dataclass
class PINNOptions(AbstractOptions):
    """Options of the PINN solver (every one is also a CLI flag or ``--set key=value``)."""

    width: int = option(32, "hidden width of the network")
    depth: int = option(3, "number of hidden layers")
    hidden: str = option("", "hidden widths layer by layer, e.g. 64,64,48,48 (overrides --width/--depth)")
    activation: str = option("tanh", "tanh, sin, gelu, silu, softplus, sigmoid")
    embedding: str = option("", "input embedding before the MLP (untrained): fourier:M:S (random Fourier features, frequencies "
                                "~ N(0, S²)), fourier_axes:M:S (frequencies S·k, k = 1..M, per coordinate) or periodic:K "
                                "(exactly periodic in the problem's Periodic coordinates, K harmonics); empty: none")
    enrichment: str = option("", "trained multiples of known functions added to the network: corners (the Laplacian's "
                                 "singular function r^(π/ω) sin(πθ/ω) at each re-entrant corner of a 2-D domain, "
                                 "Dirichlet edges), corners:J (J functions per corner, exponents jπ/ω), "
                                 "corners:J:neumann (cos, Neumann edges); conditions become penalties; empty: none")
    output_scale: float = option(1.0, "fixed factor on the network's output before the ansatz: the solution's magnitude, so that "
                                      "the tanh layers need not saturate to produce it (allen_cahn_ball: sqrt(d), measured "
                                      "rel. L2 9.4e-4 against 6.8e-3 = the constant floor with 1 at d = 1000)")
    points: int = option(1024, "interior collocation points")
    boundary_points: int = option(256, "points per boundary/initial/periodic condition")
    sampling: str = option("sobol", "uniform, sobol, halton or grid")
    adaptive: str = option("", "residual-based adaptive collocation at each resample: rad:K:C (draw the interior points from a "
                               "10x pool with density ∝ |r|^K/mean + C; rad = rad:1:1) or rar:M (add the M pool points of "
                               "largest residual); empty: none")
    resample_every: int = option(20, "draw new collocation points every N steps (0: never; adam+lbfgs wants 0)")
    bc: str = option("auto", "auto, soft (penalty) or hard (ansatz)")
    optimizer: str = option("adam+lm", "optimizer or schedule (default adam+lm: Adam for a quarter of the steps, then Levenberg-Marquardt until stalled): adam, lbfgs, lm, engd, kfac, ... (physopt list optimizers), or adam:N,lm:M. engd converges more slowly than lm: on heat1d --bc soft the stall rule stops it at 4.7e-6; --set stall_rtol=0.25 lets it reach 4.5e-7 (engd_solver=pinv does not converge there and suits hard constraints on stationary problems); lm is the better choice")
    steps: int = option(2000, "total optimization steps")
    lr: float = option(1e-3, "Adam learning rate")
    lr_final: float = option(1e-4, "Adam's learning rate at the end of its phase (exponential decay from lr)")
    engd_solver: str = option("auto", "linear solver of engd/lm: auto, cholesky, cg, pinv, ...")
    engd_rcond: float = option(1e-8, "pseudo-inverse cut-off of engd_solver=pinv")
    damping: float = option(0.0, "initial damping of engd/lm/lazy_newton; 0: each one's default (its class's solver_defaults)")
    kfac_damping: float = option(1e-3, "initial damping of kfac")
    stall_rtol: float = option(0.6, "a second-order phase ends once its loss fell by less than this fraction over stall_window steps")
    stall_window: int = option(100, "the stall rule's window in steps (0: never stop a phase early)")
    dtype: str = option("float64", "float32 or float64")
    device: str = option(default_device, "cpu, cuda, cuda:1, ... (default: $PHYSOPT_DEVICE, else cpu)")
    seed: int = option(0, "random seed (network, sampling)")
    derivatives: str = option("exact", "derivative mode: exact, taylor (forward Taylor mode, exact) or stde (stochastic Taylor estimators)")
    samples: int = option(16, "stde: sampled coordinates |J| (sparse) or random directions S (rademacher, gaussian, biharmonic)")
    stde_estimator: str = option("sparse", "stde Laplacian/tr(A Hessian) estimator: sparse (|J| coordinates without replacement), rademacher or gaussian (dense Hutchinson)")
    stde_samples_per: str = option("step", "stde: draw the directions once per optimizer step, shared by all points (step), or for every point (point: first-order optimizers only)")
    stde_loss: str = option("biased", "stde: biased (square of one estimate) or unbiased (product of two independent estimates: twice the cost, first-order optimizers only)")
    residual_weight: float = option(1.0, "weight of the PDE residual's loss term, w in (w/N) Σ r² (each condition has its own weight=)")
    test_points: int = option(0, "held-out interior points (and boundary_points per condition) drawn once with their own "
                                 "seed; their loss is measured every error_every steps (metrics: test_loss); 0: none")
    keep_best: str = option("off", "restore at the end the parameters with the lowest test_loss (needs test_points) or "
                                   "error (relative L2, needs a reference), measured every error_every steps; off: the last")
    error_every: int = option(100, "measure the relative L2 error every N steps (0: only at the end of each phase)")
    target_error: float = option(0.0, "stop once the relative L2 error is at most this")
    checkpoint_every: int = option(500, "steps between checkpoints (0: only at the end)")
    diagnostics_every: int = option(0, "every N steps write Gram/Hessian top eigenvalues and the Gram condition number to the metrics")
    jets: bool = option(True, "MLP jets for Gauss-Newton Jacobians and K-FAC (checked against the exact path)")
    curriculum: str = option("", "warm start on easier problems first: NAME=V1,V2,... trains on the problem with its parameter "
                                 "NAME set to V1, then V2, ..., curriculum_steps steps each, before the run itself "
                                 "(Krishnapriyan et al. 2021; e.g. beta=10,20 for convection1d at beta=30)")
    curriculum_steps: int = option(500, "optimizer steps of each curriculum stage (the schedule of --optimizer, over these steps)")
    compile: str = option("off", "torch.compile the loss and its backward: off, default, reduce-overhead (CUDA graphs, "
                                 "for GPU runs bound by kernel launches) or max-autotune; the first step compiles (tens "
                                 "of seconds); Gauss-Newton Jacobians and error evaluation stay eager")

    def hidden_widths(self) -> list[int]:
        """The hidden layer widths: ``hidden`` parsed, else ``depth`` times ``width``."""
        if not self.hidden.strip():
            return [self.width] * self.depth
        try:
            widths = [int(w) for w in self.hidden.replace(" ", "").split(",")]
        except ValueError:
            raise ConfigurationError(f"hidden={self.hidden!r}: give comma-separated layer widths, e.g. 64,64,48,48") from None
        if not widths or min(widths) < 1:
            raise ConfigurationError(f"hidden={self.hidden!r}: every layer width must be >= 1")
        return widths

    def curriculum_stages(self) -> tuple[str, list[float]] | None:
        """``curriculum`` parsed: the parameter's name and its values, in order (None: no curriculum)."""
        if not self.curriculum.strip():
            return None
        name, _, values = self.curriculum.replace(" ", "").partition("=")
        try:
            stages = [float(v) for v in values.split(",")]
        except ValueError:
            stages = []
        if not name or not stages:
            raise ConfigurationError(f"curriculum={self.curriculum!r}: give NAME=V1,V2,..., e.g. beta=10,20")
        return name, stages

    def validate(self):
        super().validate()
        self.check_choice("sampling", SAMPLING_METHODS)
        self.check_choice("bc", ("auto", "soft", "hard"))
        self.check_choice("dtype", ("float32", "float64"))
        self.check_choice("activation", tuple(ACTIVATIONS))
        self.check_choice("engd_solver", ENGD_SOLVERS)
        self.check_choice("compile", COMPILE_MODES)
        self.check_choice("keep_best", BEST_BY)
        if parse_enrichment(self.enrichment) is not None and self.bc == "hard":
            raise ConfigurationError(f"enrichment={self.enrichment} adds functions that are not zero on the boundary: the "
                                     "conditions must be penalties; use bc=soft (or auto)")
        if parse_adaptive(self.adaptive) is not None and not self.resample_every:
            raise ConfigurationError(f"adaptive={self.adaptive} adapts the points at each resample: give resample_every > 0")
        if not (math.isfinite(self.residual_weight) and self.residual_weight > 0):
            raise ConfigurationError(f"residual_weight must be a positive number, got {self.residual_weight}")
        if self.keep_best == "test_loss" and not self.test_points:
            raise ConfigurationError("keep_best=test_loss needs a test set: give test_points (e.g. 1024)")
        if self.keep_best != "off" and not self.error_every:
            raise ConfigurationError(f"keep_best={self.keep_best} measures every error_every steps: give error_every > 0")
        if not (math.isfinite(self.output_scale) and self.output_scale > 0):
            raise ConfigurationError(f"output_scale must be a positive number, got {self.output_scale}")
        if not 0 < self.engd_rcond < 1:
            raise ConfigurationError(f"engd_rcond must be in (0, 1), got {self.engd_rcond}")
        if not self.damping >= 0 or not self.kfac_damping > 0:
            raise ConfigurationError(f"damping must be >= 0 (0: each optimizer's default) and kfac_damping positive, "
                                     f"got {self.damping}, {self.kfac_damping}")
        for name in ("points", "boundary_points"):
            self.check_range(name, 1)
        for name in ("width", "depth"):
            self.check_range(name, 1)
        self.hidden_widths()
        self.curriculum_stages()
        self.check_range("curriculum_steps", 1)
        for name in ("steps", "resample_every", "error_every", "checkpoint_every", "seed", "diagnostics_every", "stall_window",
                     "test_points"):
            self.check_range(name, 0)
        get_derivative_mode("stde", self)  # checks samples and the stde_* choices, whatever the mode
        if get_derivative_mode(self.derivatives, self).stochastic and (self.stde_samples_per, self.stde_loss) != ("step", "biased"):
            gauss_newton = [n for n, _ in parse_schedule(self.optimizer, self.steps) if OPTIMIZERS.get(n).needs != "closure"]
            if gauss_newton or self.diagnostics_every:  # r and its Jacobian must see the same directions, the loss be squares
                raise ConfigurationError(f"stde_samples_per=point and stde_loss=unbiased each need first-order optimizers and "
                                         f"diagnostics_every=0 (got {', '.join(gauss_newton) or 'diagnostics'}): use "
                                         f"--optimizer adam, or stde_samples_per=step with stde_loss=biased")
        self.check_training()
