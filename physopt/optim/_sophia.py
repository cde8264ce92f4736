r"""Sophia-H: clipped diagonal-Newton steps with a lazily refreshed Hutchinson curvature (Liu et al. 2023).

With :math:`g_t = \nabla L(\theta_t)`,

.. math::
    m_t = \beta_1 m_{t-1} + (1-\beta_1)\, g_t ,

and every :math:`k` steps (``update_every``; :math:`t \equiv 1 \bmod k`, the
first step included) the curvature EMA is refreshed with a Hutchinson estimate
of the Hessian diagonal from Rademacher probes :math:`z_i`,

.. math::
    \hat h_t = \frac1{n}\sum_{i=1}^{n} z_i \odot \nabla^2 L(\theta_t)\, z_i ,\qquad
    h_t = \beta_2 h_{t-k} + (1-\beta_2)\, \hat h_t

(otherwise :math:`h_t = h_{t-1}`). The step is a diagonal Newton step, clipped
coordinate by coordinate,

.. math::
    \theta_{t+1} = \theta_t - \eta_t \lambda\, \theta_t
                 - \eta_t\, \mathrm{clip}\Big(\frac{m_t}{\max(\gamma\, h_t,\ \epsilon)},\ -1,\ 1\Big),

with decoupled weight decay :math:`\lambda` (default 0). Where the curvature
is negative, tiny or not yet estimated, :math:`\max(\gamma h, \epsilon)` makes
the ratio large and the clip turns the step into sign descent of length
:math:`\eta_t`: no coordinate ever moves by more than :math:`\eta_t(1 + \lambda|\theta|)`
per step. Where it is reliable and the ratio is below 1 the step is the
Newton step :math:`m/h` scaled by :math:`\eta/\gamma`. As in the paper there is
no bias correction. The learning rate decays exponentially,
:math:`\eta_t = \eta\,(\eta_{final}/\eta)^{t/T}`.

Gradients and Hessian-vector products are taken with ``torch.func`` of the
objective's ``loss`` at the flat parameter vector; the probes come from a
seeded ``torch.Generator``, so runs are reproducible and resumable.
"""

from __future__ import annotations

import torch
from torch.func import grad_and_value

from .._errors import ConfigurationError
from .._optimizers import AbstractOptimizer, register_optimizer
from ._adahessian import apply_update, check_common, hessian_diagonal_estimate, make_generator
from ._objective import LeastSquaresObjective

__all__ = ["Sophia"]


@register_optimizer("sophia")
class Sophia(AbstractOptimizer):
    """Sophia-H: elementwise-clipped diagonal Newton with a Hutchinson Hessian EMA (needs the solver's objective)."""

    closure_needs_gradient = False
    needs = "least_squares"  # anything with .flat and .loss(theta)
    solver_options = {"lr": "lr", "lr_final": "lr_final", "steps": "steps"}

    def __init__(self, params, objective: LeastSquaresObjective | None = None, lr: float = 1e-3, lr_final: float | None = None,
                 steps: int = 1, betas=(0.965, 0.99), gamma: float = 0.01, eps: float = 1e-12, update_every: int = 10,
                 probes: int = 1, seed: int = 0, weight_decay: float = 0.0):
        super().__init__(params)
        self.check_objective(objective)
        self.decay = check_common(self.name, lr, lr_final, steps, betas, probes, weight_decay)
        if not gamma > 0:
            raise ConfigurationError(f"{self.name}: gamma must be positive, got {gamma!r}")
        if not eps > 0:
            raise ConfigurationError(f"{self.name}: eps must be positive, got {eps!r}")
        if not isinstance(update_every, int) or update_every < 1:
            raise ConfigurationError(f"{self.name}: update_every must be an integer >= 1, got {update_every!r}")
        self.objective, self.lr, self.betas = objective, float(lr), tuple(float(b) for b in betas)
        self.gamma, self.eps, self.update_every = float(gamma), float(eps), int(update_every)
        self.probes, self.weight_decay = int(probes), float(weight_decay)
        theta = objective.flat.vector()
        self.generator = make_generator(seed, theta.device)
        self.t = 0
        self.m = torch.zeros_like(theta)
        self.h = torch.zeros_like(theta)
        self.last_clipped: float | None = None  # fraction of coordinates whose step was clipped, last step

    def step(self, closure=None):
        loss = None if closure is None else float(closure().detach())
        theta = self.objective.flat.vector()
        g, value = grad_and_value(self.objective.loss)(theta)
        b1, b2 = self.betas
        self.t += 1
        self.m.mul_(b1).add_(g.detach(), alpha=1 - b1)
        if (self.t - 1) % self.update_every == 0:
            h_hat = hessian_diagonal_estimate(self.objective.loss, theta, self.probes, self.generator)
            self.h.mul_(b2).add_(h_hat, alpha=1 - b2)
        ratio = self.m / torch.clamp(self.gamma * self.h, min=self.eps)
        self.last_clipped = float((ratio.abs() >= 1).to(theta.dtype).mean())
        return apply_update(self, ratio.clamp(-1.0, 1.0), theta, loss, value)

    def state_dict(self):
        return {"t": self.t, "lr": self.lr, "m": self.m.clone(), "h": self.h.clone(),
                "generator": self.generator.get_state().clone()}

    def load_state_dict(self, state):
        self.t, self.lr = int(state["t"]), float(state["lr"])
        self.m = state["m"].detach().to(self.m).clone()
        self.h = state["h"].detach().to(self.h).clone()
        self.generator.set_state(state["generator"].detach().cpu().to(torch.uint8).clone())
