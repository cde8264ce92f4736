"""Optimizers behind one interface, and hybrid schedules such as adam+lbfgs.

Every optimizer takes a closure that zeroes gradients, computes the loss,
calls backward and returns the loss. step returns the loss at the
start of the step. An optimizer that can make no more progress says why in
stop_reason instead of returning silently (the classic L-BFGS trap).

Optimizers register by name with ``@OPTIMIZERS.register("name")`` (other
packages through the entry-point group ``physopt.optimizers``) and declare
what they need from a solver (:attr:`AbstractOptimizer.needs`,
:attr:`~AbstractOptimizer.solver_options`), so a solver builds any of them with
:meth:`AbstractOptimizer.arguments` without knowing its name.
"""

from __future__ import annotations

import abc
import collections
import math
from collections.abc import Mapping
from typing import Any, Callable

import torch

from ._errors import ConfigurationError
from ._registry import Registry

__all__ = ["AbstractOptimizer", "Adam", "LBFGS", "NEEDS", "OPTIMIZERS", "SCHEDULES", "StallRule", "parse_schedule",
           "register_optimizer"]

Closure = Callable[[], torch.Tensor]

# what an optimizer can need from a solver besides the loss closure, and how to say that it is missing
NEEDS = {
    "closure": "",
    "least_squares": "the solver's least-squares objective (its loss as ||r(theta)||^2 over the flat parameters; "
                     "the solver must provide least_squares())",
    "groups": "the solver's loss groups (a least-squares objective with groups)",
    "kronecker": "Kronecker factors from the solver: a PINN whose network is an MLP (Linear layers and elementwise "
                 "activations) and whose loss terms have a jet form; use --optimizer lm or engd otherwise",
}
_MISSING = object()


class AbstractOptimizer(abc.ABC):
    """A first- or second-order optimizer over a list of parameter tensors.

    A subclass declares what it needs from a solver; :meth:`arguments` turns that into its
    constructor's keyword arguments, so solvers need no table of optimizer names:

    - ``needs``: ``"closure"`` (the loss closure alone), ``"least_squares"`` (also an
      ``objective``, a :class:`physopt.optim.LeastSquaresObjective`), ``"groups"`` (one with
      named loss groups) or ``"kronecker"`` (one with Kronecker factors);
    - ``solver_options``: constructor argument -> the solver option that sets it; ``"steps"``
      is the phase's step count;
    - ``solver_defaults``: constructor argument -> its value where the solver's option is 0
      (the solver's "this optimizer's own default").
    """

    name: str = "abstract"  # set by OPTIMIZERS.register
    # False for optimizers that differentiate the solver's objective themselves and call the
    # closure only for the loss value: the training loop then skips the backward pass
    closure_needs_gradient: bool = True
    # True for curvature-based methods whose loss decreases monotonically (accepted steps only):
    # the training loop ends their phase once the loss has stalled (see StallRule)
    second_order: bool = False
    needs: str = "closure"
    # runs data-parallel (docs/distributed.md): its sums over samples are completed across the ranks — in the
    # training loop's closure (the gradient) and through LeastSquaresObjective.sum (Gram matrices, J^T r, losses)
    data_parallel: bool = False
    solver_options: dict[str, str] = {}
    solver_defaults: dict[str, Any] = {}

    def __init__(self, params):
        self.params = [p for p in params if p.requires_grad]
        if not self.params:
            raise ConfigurationError(f"{self.name}: no trainable parameters")
        self.stop_reason: str | None = None

    @abc.abstractmethod
    def step(self, closure: Closure) -> float:
        """Take one step; return the loss before it."""

    @abc.abstractmethod
    def state_dict(self) -> dict: ...

    @abc.abstractmethod
    def load_state_dict(self, state: dict) -> None: ...

    # ----- what a solver provides ------------------------------------------------------------
    @classmethod
    def arguments(cls, provider, options, steps: int) -> dict:
        """Constructor keyword arguments for a phase of ``steps`` steps.

        Args:
            provider: the solver; asked for ``provider.least_squares()`` unless ``needs`` is ``"closure"``.
            options: the solver's options (attributes or a mapping); an option it lacks leaves the
                constructor's default.
            steps: the phase's step count (the option ``"steps"``).
        """
        kwargs = {}
        for arg, option in cls.solver_options.items():
            if option == "steps":
                kwargs[arg] = steps
                continue
            value = options.get(option, _MISSING) if isinstance(options, Mapping) else getattr(options, option, _MISSING)
            if value is _MISSING:
                continue
            kwargs[arg] = cls.solver_defaults[arg] if not value and arg in cls.solver_defaults else value
        if cls.needs != "closure":
            least_squares = getattr(provider, "least_squares", None)
            if not callable(least_squares):
                raise ConfigurationError(f"{cls.name} needs {NEEDS[cls.needs]}; {type(provider).__name__} has none")
            kwargs["objective"] = least_squares()
            cls.check_objective(kwargs["objective"])
        return kwargs

    @classmethod
    def from_options(cls, params, provider, options, steps: int) -> "AbstractOptimizer":
        """The optimizer for a phase of ``steps`` steps, built from what ``provider`` and its ``options`` give."""
        return cls(params, **cls.arguments(provider, options, steps))

    @classmethod
    def check_objective(cls, objective) -> None:
        """A one-line :class:`ConfigurationError` unless ``objective`` provides what ``needs`` declares."""
        if cls.needs == "closure":
            return
        if objective is None:
            raise ConfigurationError(f"{cls.name} needs {NEEDS[cls.needs]}")
        if not (hasattr(objective, "flat") and callable(getattr(objective, "loss", None))):
            raise ConfigurationError(f"{cls.name}: the objective must have .flat and .loss(theta), "
                                     f"got {type(objective).__name__}")
        wanted = {"groups": "groups", "kronecker": "kronecker_fn"}.get(cls.needs)
        if wanted is not None and getattr(objective, wanted, None) is None:
            raise ConfigurationError(f"{cls.name} needs {NEEDS[cls.needs]}")

    def check_positive(self, **values) -> None:
        """:class:`ConfigurationError` naming the optimizer and the option unless every value is > 0."""
        for key, value in values.items():
            if not value > 0:
                raise ConfigurationError(f"{self.name}: {key} must be positive, got {value!r}")

    def check_nonnegative(self, **values) -> None:
        """:class:`ConfigurationError` naming the optimizer and the option unless every value is >= 0."""
        for key, value in values.items():
            if not value >= 0:
                raise ConfigurationError(f"{self.name}: {key} must be >= 0, got {value!r}")


def _load_builtin_optimizers() -> None:
    from . import optim  # noqa: F401  (its modules' decorators register the curvature-based optimizers)


OPTIMIZERS = Registry("optimizer", AbstractOptimizer, _load_builtin_optimizers)
register_optimizer = OPTIMIZERS.register


@register_optimizer("adam")
class Adam(AbstractOptimizer):
    r"""Adam with an optional exponential learning-rate decay from lr to lr_final over steps."""

    data_parallel = True
    solver_options = {"lr": "lr", "lr_final": "lr_final", "steps": "steps"}

    def __init__(self, params, lr: float = 1e-3, lr_final: float | None = None, steps: int = 1, betas=(0.9, 0.999)):
        super().__init__(params)
        if not lr > 0:
            raise ConfigurationError(f"adam: learning rate must be positive, got {lr!r}")
        if lr_final is not None:
            self.check_positive(lr_final=lr_final)
        self.check_nonnegative(steps=steps)
        self.torch_optimizer = torch.optim.Adam(self.params, lr=lr, betas=betas)
        gamma = 1.0 if lr_final is None else (lr_final / lr) ** (1.0 / max(steps, 1))
        self.scheduler = torch.optim.lr_scheduler.ExponentialLR(self.torch_optimizer, gamma=gamma)

    def step(self, closure):
        loss = self.torch_optimizer.step(closure)
        self.scheduler.step()
        return float(loss.detach())

    def state_dict(self):
        return {"optimizer": self.torch_optimizer.state_dict(), "scheduler": self.scheduler.state_dict()}

    def load_state_dict(self, state):
        self.torch_optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])


@register_optimizer("lbfgs")
class LBFGS(AbstractOptimizer):
    r"""L-BFGS with a strong-Wolfe line search; one step is one quasi-Newton iteration.

    Stops (stop_reason) when the loss has not decreased by more than
    rtol relative for patience consecutive steps, or when the gradient
    vanishes — never silently.
    """

    second_order = True
    data_parallel = True

    def __init__(self, params, lr: float = 1.0, history_size: int = 50, max_line_search: int = 25, rtol: float = 1e-14, patience: int = 5):
        super().__init__(params)
        self.check_positive(lr=lr, history_size=history_size, max_line_search=max_line_search, patience=patience)
        self.check_nonnegative(rtol=rtol)
        self.torch_optimizer = torch.optim.LBFGS(
            self.params,
            lr=lr,
            max_iter=1,
            # torch bounds the line search by max_eval - evals so far; its default
            # (max_iter * 5 // 4 = 1 here) would make every search fail with t = 0.
            max_eval=max_line_search + 1,
            history_size=history_size,
            tolerance_grad=0.0,
            tolerance_change=0.0,
            line_search_fn="strong_wolfe",
        )
        self.rtol, self.patience = rtol, patience
        self._stalled = 0
        self._last = math.inf

    def step(self, closure):
        loss = float(self.torch_optimizer.step(closure).detach())
        grad_max = max(float(p.grad.abs().max()) for p in self.params if p.grad is not None)
        if grad_max == 0.0:
            self.stop_reason = "lbfgs: gradient is exactly zero (a stationary point)"
        step_length = self.torch_optimizer.state[self.params[0]].get("t")
        if not math.isfinite(loss):
            return loss
        if step_length is not None and float(step_length) == 0.0:
            self._stalled += 1  # the line search found no decrease along the quasi-Newton direction
        elif self._last - loss <= self.rtol * abs(self._last):
            self._stalled += 1
        else:
            self._stalled = 0
        self._last = min(self._last, loss)
        if self._stalled >= self.patience:
            self.stop_reason = (
                f"lbfgs: loss decreased by less than {self.rtol:g} (relative) in {self.patience} "
                f"consecutive iterations (converged to the resolution of the dtype, or stalled)"
            )
        return loss

    def state_dict(self):
        return {"optimizer": self.torch_optimizer.state_dict(), "last": self._last, "stalled": self._stalled}

    def load_state_dict(self, state):
        self.torch_optimizer.load_state_dict(state["optimizer"])
        self._last, self._stalled = state["last"], state["stalled"]


class StallRule:
    r"""Ends a second-order phase once its loss has stalled.

    With :math:`\ell_k` the lowest loss of the phase after :math:`k` steps, the phase ends at
    the first :math:`k \ge w` with :math:`\ell_{k-w} - \ell_k \le \mathrm{rtol}\,\ell_{k-w}`:
    the loss fell by less than the fraction ``rtol`` over the last ``window`` steps.
    ``window=0`` never stops. (The PINN's default (0.6, 100) was chosen by replaying rules on
    every library problem's losses: docs/solvers/pinn.md, "The stall rule".)
    """

    def __init__(self, rtol: float, window: int):
        if not 0 <= rtol < 1:
            raise ConfigurationError(f"stall_rtol must be in [0, 1), got {rtol}")
        if window < 0:
            raise ConfigurationError(f"stall_window must be >= 0, got {window}")
        self.rtol, self.window = rtol, window
        self.best: collections.deque[float] = collections.deque(maxlen=window + 1)  # the last window + 1 bests

    def restart(self) -> None:
        self.best.clear()

    def update(self, name: str, loss: float) -> str | None:
        """Record the step's loss; the reason to stop, or ``None``."""
        if not self.window or not math.isfinite(loss):
            return None
        self.best.append(min(loss, self.best[-1]) if self.best else loss)
        if len(self.best) <= self.window:
            return None
        then, now = self.best[0], self.best[-1]
        if then - now <= self.rtol * then:
            return (f"{name}: loss fell by less than {100 * self.rtol:g}% over the last {self.window} steps "
                    f"({then:.3e} -> {now:.3e}; stalled)")
        return None


# named two-phase schedules: (first, its share of the steps), (second, the rest), description
SCHEDULES = {
    "adam+lm": (("adam", 0.25), ("lm", 0.75), "Adam for a quarter of the steps, then Levenberg-Marquardt until stalled (default)"),
    "adam+lbfgs": (("adam", 0.5), ("lbfgs", 0.5), "Adam for half the steps, then L-BFGS"),
}


def parse_schedule(spec: str, steps: int) -> list[tuple[str, int]]:
    """Turn an optimizer spec into phases [(name, steps), ...].

    "adam" runs all steps with Adam; "adam+lbfgs" splits them in half
    (:data:`SCHEDULES`); "adam:2000,lbfgs:500" gives each phase its own count (steps ignored).
    """
    if not isinstance(steps, int) or steps < 0:
        raise ConfigurationError(f"steps must be an integer >= 0, got {steps!r}")
    spec = spec.strip().lower()
    choices = ", ".join(list(OPTIMIZERS) + list(SCHEDULES)) + ", or phases like adam:2000,lbfgs:500"
    if spec in SCHEDULES:
        phases = SCHEDULES[spec]
        first = int(round(steps * phases[0][1]))
        return [(phases[0][0], first), (phases[1][0], steps - first)]
    if spec in OPTIMIZERS:
        return [(spec, steps)]
    phases = []
    for part in spec.split(","):
        name, _, count = part.partition(":")
        name = name.strip()
        if name not in OPTIMIZERS:
            raise ConfigurationError(f"unknown optimizer '{name}'; choose one of: {choices}")
        try:
            n = int(count)
            if n < 0:
                raise ValueError
        except ValueError:
            raise ConfigurationError(
                f"optimizer phase '{part}' needs a step count, like '{name}:1000'"
            ) from None
        phases.append((name, n))
    return phases
