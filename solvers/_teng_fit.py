r"""TENG's least-squares fits of the network to grid values (:class:`GridFits`, a mixin of :class:`solvers.TENG`).

A step fit (``step_fit``) is natural-gradient least squares on the grid: ``"qr"``
solves :math:`J_S \delta = \tilde u - u_\theta` on random column subsets S by
rank-revealing QR (:func:`truncated_lstsq`, the paper's), ``"lm"`` runs
Levenberg–Marquardt with geodesic acceleration (:mod:`physopt.optim`) on all
columns. The fit to :math:`u_0` is always LM (plain Gauss–Newton diverges there).
"""

from __future__ import annotations

import scipy.linalg
import torch

from physopt.optim import LeastSquaresObjective, LevenbergMarquardt

__all__ = ["GridFits", "truncated_lstsq", "STEP_FITS", "REJECT_RCOND"]

#: largest rcond tried when fit steps are rejected (each rejection multiplies rcond by 100)
REJECT_RCOND = 1e-3

#: least-squares methods of the step fits (:meth:`GridFits.fit`)
STEP_FITS = ("qr", "lm")


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


class GridFits:
    """The fits of :class:`solvers.TENG`; they use its ``model``, ``flat``, grid ``x``, ``options``, ``rng``,
    ``n_params`` and ``device``, and keep ``rejected_steps`` and ``last_damping`` on it."""

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
