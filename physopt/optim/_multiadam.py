r"""MultiAdam: Adam with separate moment estimates per loss group (PINN loss balancing).

The loss is split into groups :math:`L = \sum_k L_k` (PDE residual, each
boundary/initial condition). Each group keeps its own moments of its own
gradient :math:`g_k = \nabla L_k`,

.. math::
    m_k \leftarrow \beta_1 m_k + (1-\beta_1) g_k ,\quad
    v_k \leftarrow \beta_2 v_k + (1-\beta_2) g_k^2 ,\quad
    \theta \leftarrow \theta - \eta \sum_k w_k\, \hat m_k / (\sqrt{\hat v_k} + \epsilon),

with :math:`w_k = 1/K` and bias-corrected :math:`\hat m, \hat v`. Scaling one
group's loss by :math:`c > 0` scales its :math:`\hat m_k` by :math:`c` and
:math:`\sqrt{\hat v_k}` by :math:`c`: the update does not change (up to
:math:`\epsilon`), so no group can drown the others. With one group it is Adam.
"""

from __future__ import annotations

import torch
from torch.func import jacrev

from .._errors import ConfigurationError
from .._optimizers import AbstractOptimizer, register_optimizer
from ._objective import LeastSquaresObjective

__all__ = ["MultiAdam"]


@register_optimizer("multiadam")
class MultiAdam(AbstractOptimizer):
    """Adam with one pair of moment estimates per loss group (groups from the solver's objective)."""

    closure_needs_gradient = False
    needs = "groups"
    solver_options = {"lr": "lr", "lr_final": "lr_final", "steps": "steps"}

    def __init__(self, params, objective: LeastSquaresObjective | None = None, lr: float = 1e-3, betas=(0.99, 0.99),
                 eps: float = 1e-8, lr_final: float | None = None, steps: int = 1):
        super().__init__(params)
        self.check_objective(objective)
        if not lr > 0:
            raise ConfigurationError(f"multiadam: learning rate must be positive, got {lr!r}")
        if lr_final is not None:
            self.check_positive(lr_final=lr_final)
        self.check_nonnegative(eps=eps, steps=steps)
        self.objective, self.lr, self.betas, self.eps = objective, lr, betas, eps
        self.gamma = 1.0 if lr_final is None else (lr_final / lr) ** (1.0 / max(steps, 1))
        self.t = 0
        self.m: torch.Tensor | None = None
        self.v: torch.Tensor | None = None

    def group_gradients(self, theta: torch.Tensor) -> torch.Tensor:
        """Gradients of the group losses :math:`\\|r_k\\|^2`, one row per group, ``(K, P)``."""

        def losses(th):
            return torch.stack([r @ r for r in self.objective.groups(th).values()])

        return jacrev(losses)(theta)

    def step(self, closure):
        loss = float(closure().detach())
        flat = self.objective.flat
        theta = flat.vector()
        G = self.group_gradients(theta).detach()
        b1, b2 = self.betas
        if self.m is None:
            self.m, self.v = torch.zeros_like(G), torch.zeros_like(G)
        self.t += 1
        self.m.mul_(b1).add_(G, alpha=1 - b1)
        self.v.mul_(b2).addcmul_(G, G, value=1 - b2)
        m_hat = self.m / (1 - b1**self.t)
        v_hat = self.v / (1 - b2**self.t)
        update = (m_hat / (v_hat.sqrt() + self.eps)).mean(0)  # w_k = 1/K
        flat.add_(update, alpha=-self.lr)
        self.lr *= self.gamma
        return loss

    def state_dict(self):
        return {"t": self.t, "m": self.m, "v": self.v, "lr": self.lr}

    def load_state_dict(self, state):
        self.t, self.m, self.v, self.lr = int(state["t"]), state["m"], state["v"], float(state["lr"])
