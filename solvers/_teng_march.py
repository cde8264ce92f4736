"""TENG's time march as a step source of the shared loop (:func:`solvers._training.run_loop`).

Step 0 is the fit to u0; step n ≥ 1 is one explicit Runge–Kutta step
(:func:`physopt._runge_kutta.explicit_rk_step`) whose stages fit the network to
their targets. The loop handles progress, metrics, the NaN guard, stopping and
checkpoints; :meth:`TimeMarch.extra` is what a checkpoint holds beyond the loop's
state, and :meth:`TimeMarch.restore` reads it back, so a resumed run takes the same
steps as an uninterrupted one.
"""

from __future__ import annotations

import math

import torch

from physopt import ConfigurationError, relative_l2
from physopt._runge_kutta import TABLEAUS, explicit_rk_step

from ._callbacks import StepRecord, TrainingState
from ._teng_solution import TENGSolution

__all__ = ["TimeMarch", "output_steps"]


def output_steps(problem, t0: float, dt: float, n_steps: int) -> set[int]:
    """Steps whose weights are kept: where errors and fields are evaluated, and every 5% of the run."""
    times = set(float(t) for t in problem.error_points()[:, -1].unique().tolist())
    times |= {e["time"] for e in problem.evaluation_meshes() if e["time"] is not None}
    steps = {0, n_steps} | set(range(0, n_steps + 1, max(1, n_steps // 20)))
    for t in times:
        k = (t - t0) / dt
        steps |= {int(math.floor(k + 1e-9)), int(math.ceil(k - 1e-9))}
    return {s for s in steps if 0 <= s <= n_steps}


class TimeMarch:
    """The march of a :class:`solvers.TENG` from t0 to t1, one step per call (the loop's step source)."""

    def __init__(self, solver):
        self.solver = solver
        o = solver.options
        self.tableau = TABLEAUS[o.method]
        self.keep = output_steps(solver.problem, solver.t0, o.dt, solver.n_steps)
        self.times: list[float] = []  # the stored steps' times and flat weights
        self.weights: list[torch.Tensor] = []
        self.info: dict = {}  # the initial fit's misfit and iterations

    def __call__(self, state: TrainingState) -> StepRecord | None:
        s = self.solver
        if not self.times:  # a fresh run: the fit to u0 first
            return self._initial_fit(state)
        if state.step >= s.n_steps:
            state.stop_reason = f"reached t = {s.t0 + s.n_steps * s.options.dt:g} after {s.n_steps} steps of dt = {s.options.dt:g}"
            return None
        return self._time_step(state)

    def _initial_fit(self, state: TrainingState) -> StepRecord:
        s = self.solver
        s.grid_values = s.initial_values()
        misfit, its = s.fit_initial(s.grid_values)
        self.info.update(initial_fit_rel_l2=misfit, initial_fit_iterations=its)
        self.times.append(s.t0)
        self.weights.append(s.flat.vector())
        elapsed = state.tick()
        return StepRecord(0, "initial fit", misfit, {"fit": misfit}, elapsed, self.error_at(0), {"t": s.t0, "iterations": its})

    def _time_step(self, state: TrainingState) -> StepRecord:
        """One step of the method: stage s > 1 fits the network to its target, then L[u_θ] gives its slope."""
        s, o = self.solver, self.solver.options
        n = state.step
        t_new = s.t0 + (n + 1) * o.dt
        if o.carry_misfit:
            u_n = s.grid_values
        else:
            with torch.no_grad():
                u_n = s.model(s.x)
        misfit = 0.0

        def slope(target, stage):
            nonlocal misfit
            if stage:  # stage 1 is u_n, which the network holds already
                misfit = s.fit(target, o.iterations)
            return s.rhs_values()

        target = explicit_rk_step(slope, u_n, o.dt, self.tableau)
        final = max(o.iterations, o.corrector_iterations) if self.tableau.stages == 1 else o.corrector_iterations
        if final:
            misfit = s.fit(target, final)
        s.grid_values = target
        state.step = n + 1
        elapsed = state.tick()
        measure = (n + 1) in self.keep or (o.error_every and (n + 1) % o.error_every == 0)
        error = self.error_at(n + 1) if measure else None
        if (n + 1) in self.keep:
            self.times.append(t_new)
            self.weights.append(s.flat.vector())
        return StepRecord(n + 1, f"teng-{o.method}", misfit, {"fit": misfit}, elapsed, error, {"t": t_new})

    def error_at(self, step: int) -> float | None:
        """Relative L2 error of the network on the grid at ``step`` (``None`` without a reference)."""
        s = self.solver
        if not s.problem.has_reference:
            return None
        # references (spectral, exact) are evaluated on the CPU in float64 and moved to the run's device
        space = s.x.detach().to(device="cpu", dtype=torch.float64)
        t = torch.full((len(space), 1), s.t0 + step * s.options.dt, dtype=torch.float64)
        reference = s.problem.solution_at(torch.cat([space, t], 1)).reshape(-1).to(s.dtype)
        with torch.no_grad():
            return relative_l2(s.model(s.x), reference.to(s.device))

    # ----- checkpoints: what the loop's Checkpointer stores besides the model and the loop state -----
    def extra(self) -> dict:
        s = self.solver
        return {"solver": "teng", "times": torch.as_tensor(self.times, dtype=torch.float64),
                "weights": torch.stack(self.weights), "rng": s.rng.get_state(), "torch_rng": torch.get_rng_state(),
                "initial_fit_rel_l2": self.info.get("initial_fit_rel_l2"),
                "initial_fit_iterations": self.info.get("initial_fit_iterations"),
                "rejected_steps": s.rejected_steps, "grid_values": s.grid_values, "last_damping": s.last_damping}

    def restore(self, checkpoint: dict, state: TrainingState) -> None:
        """Continue from ``checkpoint`` (written by a TENG run's Checkpointer, or by TENG before the shared loop)."""
        s = self.solver
        if checkpoint.get("solver") != "teng":
            raise ConfigurationError("the checkpoint was not written by the TENG solver")
        state.load(checkpoint)
        self.times = [float(t) for t in checkpoint["times"]]
        self.weights = [w.to(s.dtype) for w in checkpoint["weights"]]
        s.rng.set_state(checkpoint["rng"])
        torch.set_rng_state(checkpoint["torch_rng"])
        for key in ("initial_fit_rel_l2", "initial_fit_iterations"):
            self.info[key] = checkpoint.get(key)
        s.rejected_steps = int(checkpoint.get("rejected_steps", 0))
        s.last_damping = float(checkpoint.get("last_damping", 0.0))
        grid_values = checkpoint.get("grid_values")
        if s.options.carry_misfit and grid_values is None:
            raise ConfigurationError("the checkpoint has no grid values to march (written before carry_misfit existed); "
                                     "resume it with carry_misfit=False")
        s.grid_values = None if grid_values is None else grid_values.to(dtype=s.dtype, device=s.device)

    def solution(self, state: TrainingState) -> TENGSolution:
        s = self.solver
        info = dict(self.info, steps=state.step, stop_reason=state.stop_reason, train_time_s=state.elapsed,
                    rejected_fit_steps=s.rejected_steps,
                    final_loss=state.last.loss if state.last else self.info.get("initial_fit_rel_l2"))
        p = s.problem
        floor = (s.options.method, s.options.dt) if hasattr(p, "stepper_floor") and p.has_reference else None
        return TENGSolution(p, s.model, self.times, self.weights, info, floor)
