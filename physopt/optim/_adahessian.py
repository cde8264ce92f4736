r"""AdaHessian: Adam whose second moment is built from the Hessian diagonal (Yao et al. 2021).

With :math:`g_t = \nabla L(\theta_t)` and a Hutchinson estimate of the
Hessian diagonal from :math:`k` Rademacher probes :math:`z_i`
(:math:`\mathbb{E}[z z^\top] = I`),

.. math::
    D_t = \frac1k \sum_{i=1}^k z_i \odot \nabla^2 L(\theta_t)\, z_i ,

the moments and the step are

.. math::
    m_t = \beta_1 m_{t-1} + (1-\beta_1)\, g_t ,\quad
    v_t = \beta_2 v_{t-1} + (1-\beta_2)\, D_t \odot D_t ,

    \hat m_t = \frac{m_t}{1-\beta_1^t} ,\quad \hat v_t = \frac{v_t}{1-\beta_2^t} ,\quad
    \theta_{t+1} = \theta_t - \eta_t \Big( \frac{\hat m_t}{\hat v_t^{\,p/2} + \epsilon} + \lambda\,\theta_t \Big),

with Hessian power :math:`p \in (0, 1]` (``hessian_power``; :math:`p = 1`
scales by :math:`|\mathrm{diag}\,\nabla^2 L|`, a diagonal Newton step; Adam's
:math:`\sqrt{\hat v}` of squared gradients is replaced by curvature) and
optional decoupled weight decay :math:`\lambda`. The learning rate decays
exponentially, :math:`\eta_t = \eta\,(\eta_{final}/\eta)^{t/T}`. For a
separable loss the Hessian is diagonal and Rademacher probes make
:math:`D_t` exact (:math:`z_i^2 = 1`); the first step (:math:`\hat m_1 = g_1`,
:math:`\hat v_1 = D_1^2`) is then :math:`-\eta\, g / (|\mathrm{diag}\,\nabla^2 L| + \epsilon)`.
The spatial averaging of the paper (for convolution kernels) is not used.

Gradients and Hessian-vector products are taken with ``torch.func`` of the
objective's ``loss`` at the flat parameter vector; the probes come from a
seeded ``torch.Generator``, so runs are reproducible and resumable.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch.func import grad_and_value

from .._errors import ConfigurationError
from .._optimizers import AbstractOptimizer, register_optimizer
from ..curvature import hessian_vector_product, hutchinson_diagonal
from ._objective import LeastSquaresObjective

__all__ = ["AdaHessian", "hessian_diagonal_estimate"]


def hessian_diagonal_estimate(loss: Callable[[torch.Tensor], torch.Tensor], theta: torch.Tensor, probes: int,
                              generator: torch.Generator) -> torch.Tensor:
    r"""Hutchinson estimate :math:`\frac1k\sum_i z_i \odot \nabla^2 L(\theta) z_i` from ``probes`` Rademacher vectors."""
    return hutchinson_diagonal(lambda V: hessian_vector_product(loss, theta, V), theta.numel(), samples=probes,
                               batch=probes, distribution="rademacher", generator=generator, dtype=theta.dtype,
                               device=theta.device).detach()


def check_common(name: str, lr, lr_final, steps, betas, probes, weight_decay) -> float:
    """Validate the shared options; return the per-step learning-rate decay factor."""
    if not lr > 0:
        raise ConfigurationError(f"{name}: learning rate must be positive, got {lr!r}")
    if lr_final is not None and not lr_final > 0:
        raise ConfigurationError(f"{name}: lr_final must be positive, got {lr_final!r}")
    if not isinstance(steps, int) or steps < 1:
        raise ConfigurationError(f"{name}: steps must be an integer >= 1, got {steps!r}")
    if len(betas) != 2 or not all(0 <= b < 1 for b in betas):
        raise ConfigurationError(f"{name}: betas must be two numbers in [0, 1), got {betas!r}")
    if not isinstance(probes, int) or probes < 1:
        raise ConfigurationError(f"{name}: probes must be an integer >= 1, got {probes!r}")
    if not weight_decay >= 0:
        raise ConfigurationError(f"{name}: weight_decay must be >= 0, got {weight_decay!r}")
    return 1.0 if lr_final is None else (lr_final / lr) ** (1.0 / steps)


def make_generator(seed: int, device: torch.device) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(int(seed))


def apply_update(opt, update: torch.Tensor, theta: torch.Tensor, loss: float | None, value: torch.Tensor) -> float:
    """``theta -= lr * (update + weight_decay * theta)``, decay ``lr``; return the loss to report."""
    if opt.weight_decay:
        update = update + opt.weight_decay * theta
    opt.objective.flat.add_(update, alpha=-opt.lr)
    opt.lr *= opt.decay
    return float(value.detach()) if loss is None else loss


@register_optimizer("adahessian")
class AdaHessian(AbstractOptimizer):
    """AdaHessian: Adam with the squared Hutchinson Hessian diagonal as second moment (needs the solver's objective)."""

    closure_needs_gradient = False
    needs = "least_squares"  # anything with .flat and .loss(theta)
    solver_options = {"lr": "lr", "lr_final": "lr_final", "steps": "steps"}

    def __init__(self, params, objective: LeastSquaresObjective | None = None, lr: float = 0.1, lr_final: float | None = None,
                 steps: int = 1, betas=(0.9, 0.999), eps: float = 1e-8, hessian_power: float = 1.0, probes: int = 1,
                 seed: int = 0, weight_decay: float = 0.0):
        super().__init__(params)
        self.check_objective(objective)
        self.decay = check_common(self.name, lr, lr_final, steps, betas, probes, weight_decay)
        if not 0 < hessian_power <= 1:
            raise ConfigurationError(f"{self.name}: hessian_power must be in (0, 1], got {hessian_power!r}")
        if not eps >= 0:
            raise ConfigurationError(f"{self.name}: eps must be >= 0, got {eps!r}")
        self.objective, self.lr, self.betas, self.eps = objective, float(lr), tuple(float(b) for b in betas), float(eps)
        self.hessian_power, self.probes, self.weight_decay = float(hessian_power), int(probes), float(weight_decay)
        theta = objective.flat.vector()
        self.generator = make_generator(seed, theta.device)
        self.t = 0
        self.m = torch.zeros_like(theta)
        self.v = torch.zeros_like(theta)
        self.last_diagonal: torch.Tensor | None = None  # D_t of the last step (diagnostics, tests)

    def step(self, closure=None):
        loss = None if closure is None else float(closure().detach())
        theta = self.objective.flat.vector()
        g, value = grad_and_value(self.objective.loss)(theta)
        g = g.detach()
        D = hessian_diagonal_estimate(self.objective.loss, theta, self.probes, self.generator)
        self.last_diagonal = D
        b1, b2 = self.betas
        self.t += 1
        self.m.mul_(b1).add_(g, alpha=1 - b1)
        self.v.mul_(b2).addcmul_(D, D, value=1 - b2)
        m_hat = self.m / (1 - b1**self.t)
        v_hat = self.v / (1 - b2**self.t)
        denom = (v_hat.sqrt() if self.hessian_power == 1.0 else v_hat ** (self.hessian_power / 2)) + self.eps
        return apply_update(self, m_hat / denom, theta, loss, value)

    def state_dict(self):
        return {"t": self.t, "lr": self.lr, "m": self.m.clone(), "v": self.v.clone(),
                "generator": self.generator.get_state().clone()}

    def load_state_dict(self, state):
        self.t, self.lr = int(state["t"]), float(state["lr"])
        self.m = state["m"].detach().to(self.m).clone()
        self.v = state["v"].detach().to(self.v).clone()
        self.generator.set_state(state["generator"].detach().cpu().to(torch.uint8).clone())
