r"""TENG's least-squares fits of the network to grid values (:class:`GridFits`, a mixin of :class:`solvers.TENG`).

A step fit (``step_fit``) is natural-gradient least squares on the grid: ``"gram"``
and ``"qr"`` solve :math:`J_S \delta = \tilde u - u_\theta` on random column subsets S
(the paper's fit) by the normal equations or by rank-revealing QR
(:mod:`._teng_lstsq`), ``"lm"`` runs Levenberg–Marquardt with geodesic acceleration
(:mod:`physopt.optim`) on all columns. The fit to :math:`u_0` is always LM (plain
Gauss–Newton diverges there): on all columns for small networks, on column subsets
(one eigendecomposition per subset, the damping searched on it) for big ones.
"""

from __future__ import annotations

import torch

from physopt.optim import LeastSquaresObjective, LevenbergMarquardt

from ._teng_lstsq import SubsetSystem, truncated_lstsq

__all__ = ["GridFits", "truncated_lstsq", "STEP_FITS", "REJECT_RCOND"]

#: largest rcond tried when fit steps are rejected (each rejection multiplies rcond by 100)
REJECT_RCOND = 1e-3

#: least-squares methods of the step fits (:meth:`GridFits.fit`): column subsets solved by the normal equations
#: or by QR (:mod:`._teng_lstsq`), or Levenberg–Marquardt on all columns
STEP_FITS = ("gram", "qr", "lm")


class GridFits:
    """The fits of :class:`solvers.TENG`; they use its ``model``, ``flat``, grid ``x``, ``options``, ``rng``,
    ``n_params``, ``column_rows`` (of the model) and ``device``, and keep ``rejected_steps`` and ``last_damping`` on it."""

    def _columns(self, m: int) -> torch.Tensor:
        m = min(m, self.n_params)
        return torch.sort(torch.randperm(self.n_params, generator=self.rng, device="cpu")[:m]).values.to(self.device)

    def fit(self, target: torch.Tensor, iterations: int) -> float:
        """``iterations`` least-squares steps towards ``target`` on the grid (``step_fit``); the final relative misfit."""
        if self.options.step_fit == "lm":
            return self._fit_lm(target, iterations, tol=0.0, damping=max(self.options.lm_damping, self.last_damping))[0]
        return self._fit_subsets(target, iterations)[0]

    def _subset_system(self, taps, columns: torch.Tensor, residual: torch.Tensor, method: str) -> SubsetSystem:
        """The system J_S δ ≈ r of the columns S at ``taps`` (:class:`SubsetSystem`)."""
        left, right = self.model.column_banks(taps)
        rows_left, rows_right = self.column_rows
        return SubsetSystem(left, right, rows_left[columns], rows_right[columns], residual, method)

    def _trial(self, theta: torch.Tensor, columns: torch.Tensor, delta: torch.Tensor, target: torch.Tensor, taps: bool):
        """Set θ_S += δ; (θ, the new residual, the new taps or None): a forward pass, with the backward pass of
        the taps only when another iteration needs them, so no pass is repeated."""
        trial = theta.clone()
        trial[columns] += delta
        self.flat.assign(trial)
        if taps:
            new = self.model.taps(self.x)
            return trial, target - new.u, new
        with torch.no_grad():
            return trial, target - self.model(self.x), None

    def _fit_subsets(self, target: torch.Tensor, iterations: int, rcond: float | None = None,
                     tol: float = 0.0) -> tuple[float, int]:
        """Natural-gradient least squares on random column subsets (``step_fit`` ``qr``, else ``gram``), from the
        cut-off ``rcond`` (default: the option), until the relative misfit is ``tol``; (misfit, iterations).

        A step is kept only if it lowers the misfit. A rejected one (the truncated solve took
        in a near-singular direction whose coefficient is mostly noise) is solved again with
        the cut-off ×100, up to ``REJECT_RCOND``, from the same factorization; past that the
        iteration keeps the best iterate.
        Within a fit the cut-off adapts like a trust region (×100 on a rejection, ÷10 after an
        accepted step, never below the option ``rcond``); every fit starts from the option
        ``rcond``, since a fit that ended in rejections (it had converged) says nothing about
        the next target. When every cut-off from ``rcond`` up was rejected with every column
        in use, the fit has converged: the next iteration would repeat the same solves.
        """
        o, model = self.options, self.model
        rcond_min = o.rcond if rcond is None else rcond
        method = "qr" if o.step_fit == "qr" else "gram"
        theta = self.flat.vector()
        taps = model.taps(self.x)
        residual = target - taps.u
        best = residual.norm()
        stop = tol * target.norm()
        start = rcond_min
        done = 0
        for it in range(iterations):
            if best < stop:
                break
            done += 1
            cols = self._columns(o.first_columns if it == 0 else o.columns)
            system = self._subset_system(taps, cols, residual, method)
            more = it < iterations - 1
            rcond = start
            while True:
                trial, trial_residual, trial_taps = self._trial(theta, cols, system.solve(rcond), target, more)
                norm = trial_residual.norm()
                if norm < best:
                    theta, taps, residual, best = trial, trial_taps, trial_residual, norm
                    start = max(rcond_min, rcond / 10.0)
                    break
                rcond *= 100.0
                self.rejected_steps += 1
                if rcond > REJECT_RCOND:
                    self.flat.assign(theta)
                    break
            if rcond > REJECT_RCOND:
                if start == rcond_min and len(cols) == self.n_params:
                    break  # every cut-off rejected on every column: converged
                start = rcond_min  # the smaller cut-offs were not tried on this system yet
        return float(best / target.norm().clamp_min(1e-300)), done

    def fit_initial(self, target: torch.Tensor) -> tuple[float, int]:
        """The fit to u0: LM until the relative misfit is ``init_tol`` or ``init_iterations`` are spent.

        A network of at most ``init_columns`` parameters is fitted on the grid with all columns. A bigger one
        (the paper's 8,361 on 256²: a full Gram matrix costs ~90 s per iteration on one core) is fitted by LM
        with all columns on a coarse sub-grid of at most ``init_points`` points (every k-th point per axis; the
        sample-space system is points x points: 0.45 s per iteration for 32²), then, if iterations are left
        and the whole grid's misfit is above ``init_tol``, by LM on column subsets (``first_columns``) of the
        whole grid. A smooth u0 is fitted on the whole grid about as well as on the coarse one (the paper's
        network on heat2d after 275 iterations on 32² of 256²: 3.32e-7 on the coarse points, 3.59e-7 on all)."""
        o = self.options
        if self.n_params <= o.init_columns:
            return self._fit_lm(target, o.init_iterations, o.init_tol, damping=1e-3)
        stride, d = 1, self.problem.n_space
        while (o.grid // stride) ** d > o.init_points and o.grid % (2 * stride) == 0:
            stride *= 2
        coarse = torch.arange(len(self.x), device=self.device).reshape(*(o.grid,) * d)
        coarse = coarse[(slice(None, None, stride),) * d].reshape(-1)
        misfit, its = self._fit_lm(target, o.init_iterations, o.init_tol, damping=1e-3, points=coarse)
        misfit, more = self._fit_subset_lm(target, o.init_iterations - its, o.init_tol, damping=max(self.last_damping, 1e-9))
        return misfit, its + more

    def _fit_subset_lm(self, target: torch.Tensor, max_iterations: int, tol: float, damping: float) -> tuple[float, int]:
        r"""Levenberg–Marquardt on random subsets of ``first_columns`` columns: per iteration one Gram matrix of
        the subset and its eigendecomposition (:class:`SubsetSystem`), then δ = (G + μI)⁻¹ J_Sᵀ r for
        μ = ``damping``·λ_max, adapted by the gain ratio with Nielsen's update; a rejected step is solved
        again with a larger μ from the same factorization (one forward and backward pass each); (misfit, iterations)."""
        o = self.options
        theta = self.flat.vector()
        taps = self.model.taps(self.x)
        residual = target - taps.u
        current = float(residual @ residual)
        norm = float(target.norm().clamp_min(1e-300))
        mu, nu, it = damping, 2.0, 0
        while current**0.5 / norm > tol and it < max_iterations:
            cols = self._columns(o.first_columns)
            system = self._subset_system(taps, cols, residual, "gram")
            if system.eigen is None:
                break
            for _ in range(8):
                delta, predicted = system.damped(mu * system.largest)
                trial, trial_residual, trial_taps = self._trial(theta, cols, delta, target, True)
                new = float(trial_residual @ trial_residual)
                rho = (current - new) / predicted if predicted > 0 else -1.0
                if rho > 0:
                    theta, taps, residual, current = trial, trial_taps, trial_residual, new
                    mu, nu = max(mu * max(1 / 3, 1 - (2 * rho - 1) ** 3), 1e-15), 2.0
                    break
                mu, nu = min(mu * nu, 1e2), 2 * nu
            it += 1
        self.flat.assign(theta)
        self.last_damping = mu
        return current**0.5 / norm, it

    def _fit_lm(self, target: torch.Tensor, max_iterations: int, tol: float, damping: float,
                points: torch.Tensor | None = None) -> tuple[float, int]:
        """Levenberg–Marquardt with geodesic acceleration (:mod:`physopt.optim`) on all parameters,
        from ``damping`` (relative to the largest Gram eigenvalue), until the relative misfit on the grid
        is ``tol``, ``max_iterations`` are spent or LM stalls (its steps rejected at the dtype's
        resolution); (misfit, iterations). With ``points`` (indices into the grid) on those grid points only.

        The fit to u0 starts far from its target and from damping 1e-3. A step fit starts where the
        last step ended, a linear model's step away (the gain ratio stays ~1), so from the damping the
        last fit ended with, or ``lm_damping`` = 1e-12 if that is lower: from 1e-3, Nielsen's update (at
        most ÷3 per step) spends ~20 iterations on lowering the damping alone (Allen–Cahn, one Heun
        predictor: misfit 1.5e-5 after 15 iterations from 1e-3, 1.6e-6 from 1e-12). Where the last fit
        needed more damping (a carried misfit far off the tangent space), starting from 1e-12 would
        spend the iterations on raising it again (2 iterations per fit then never moved the network)."""
        model = self.model
        flat = self.flat
        x = self.x if points is None else self.x[points]
        target = target if points is None else target[points]
        objective = LeastSquaresObjective(
            flat,
            residual=lambda theta: flat.call(theta, x) - target,
            jacobian_fn=lambda theta: model.jacobian(model.taps(x)),
        )
        optimizer = LevenbergMarquardt(model.parameters(), objective, damping=damping)
        norm = target.norm().clamp_min(1e-300)

        def closure():
            with torch.no_grad():
                return ((model(x) - target) ** 2).sum()

        misfit, it = float(closure().sqrt() / norm), 0
        while misfit > tol and it < max_iterations and not getattr(optimizer, "stop_reason", None):
            optimizer.step(closure)
            it += 1
            misfit = float(closure().sqrt() / norm)
        self.last_damping = optimizer.mu
        return misfit, it
