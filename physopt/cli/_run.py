"""One run: look up the problem and the solver, solve, write the run directory (``physopt solve``)."""

from __future__ import annotations

import datetime
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

import problems
import solvers

from .. import distributed
from ._derived import check_derived, derived_fields
from .._devices import describe_device
from .._errors import ConfigurationError, Interrupted, PhysoptError, ProblemDefinitionError, TrainingDiverged
from .._run_directory import RunDirectory

__all__ = ["solve_to_directory", "load_problem", "write_solution_fields", "spec_stem"]


def spec_stem(spec: str) -> str:
    """A name for directories: the registered name, or the file name without ``.py``."""
    return Path(spec.split(":")[0]).stem


def load_problem(spec: str, params: dict[str, str]):
    """The problem ``spec`` (a name or ``file.py[:Class]``) built with ``params`` and validated."""
    cls = problems.resolve_problem(spec)
    try:
        problem = cls(**params)
        problem.validate()
    except PhysoptError:
        raise
    except Exception as exc:  # noqa: BLE001 - errors in the user's problem code
        raise ProblemDefinitionError(f"problem '{spec}' could not be set up: {type(exc).__name__}: {exc}") from exc
    return problem


def _resumed_configuration(run: RunDirectory, problem_spec, solver_name, params, options, out):
    saved = run.read_json(RunDirectory.CONFIG)
    if params or options or saved["solver"] != solver_name:
        raise ConfigurationError(
            "--resume continues the saved configuration; drop the other options "
            f"(saved: solver {saved['solver']}, options in {run / RunDirectory.CONFIG})"
        )
    if saved["problem"] != problem_spec:
        raise ConfigurationError(f"--resume: '{out}' holds a run of '{saved['problem']}', not '{problem_spec}'")
    params = {k: str(v) for k, v in saved["parameters"].items()}
    options = {k: str(v) for k, v in saved["options"].items()}
    return params, options, solvers.load_checkpoint(run / RunDirectory.CHECKPOINT)


def _config(problem_spec, problem, solver_name, opts, solver, command_line) -> dict:
    return {
        "problem": problem_spec,
        "problem_class": type(problem).__name__,
        "parameters": problem.params,
        "solver": solver_name,
        "options": opts.as_dict(),
        "equations": None if _is_family(problem) else problem.n_equations,
        "conditions": solver.enforcement(),
        "versions": {"physopt": _version(), "torch": torch.__version__, "python": platform.python_version()},
        "command": command_line,
        "processes": solver.ranks.world_size,
        "started": datetime.datetime.now().isoformat(timespec="seconds"),
    }


def _is_family(problem) -> bool:
    return isinstance(problem, problems.AbstractProblemFamily)


def _solve(solver, run, checkpoint, progress, problem_spec, solver_name):
    callbacks = [solvers.ProgressBar(enabled=progress), solvers.MetricsWriter(run / RunDirectory.METRICS)]
    try:
        return solver.solve(callbacks, checkpoint_path=run / RunDirectory.CHECKPOINT, checkpoint=checkpoint)
    except TrainingDiverged as exc:
        run.write_json(RunDirectory.SUMMARY, {"status": "diverged", "reason": str(exc), "problem": problem_spec, "solver": solver_name})
        raise
    except KeyboardInterrupt:
        if (run / RunDirectory.CHECKPOINT).is_file():
            processes = solver.ranks.world_size
            raise Interrupted(
                f"interrupted; the checkpoint in '{run.path}' is kept: continue with "
                f"`physopt solve {problem_spec} --out {run.path} --resume{f' --nproc {processes}' * (processes > 1)}`"
            ) from None
        raise Interrupted("interrupted before the first checkpoint; nothing to resume") from None


def _solve_quietly(solver, checkpoint) -> None:
    """A rank other than 0: the same training (its shard of the samples), no files, no output."""
    try:
        solver.solve(checkpoint=checkpoint)
    except KeyboardInterrupt:
        raise Interrupted("interrupted") from None


def _metrics(solution) -> tuple[dict, dict]:
    """The solution's extra results: ``{name: value}`` and ``{name: {"description", "kind"}}``."""
    values, about = {}, {}
    for metric in solution.metrics() or []:
        values[metric.name] = None if metric.value is None else float(metric.value)
        about[metric.name] = {"description": metric.description, "kind": metric.kind}
    return values, about


def _summary(problem_spec, solver_name, problem, opts, solution, run, t0) -> dict:
    errors = solution.errors()
    metrics, about = _metrics(solution)
    return {
        "status": "finished",
        "problem": problem_spec,
        "solver": solver_name,
        "dtype": opts.as_dict().get("dtype"),
        "device": describe_device(opts.as_dict().get("device", "cpu")),
        "processes": distributed.current().world_size,
        "steps": solution.info.get("steps"),
        "stop_reason": solution.info.get("stop_reason"),
        "final_loss": solution.info.get("final_loss"),
        "train_time_s": round(solution.info.get("train_time_s", 0.0), 3),
        "wall_time_s": round(time.perf_counter() - t0, 3),
        "errors": errors,
        "metrics": metrics,
        "metric_info": about,
        "reference": _reference_kind(problem),
        "run_dir": str(run.path),
        **({"unknowns": solution.info["unknowns"]} if solution.info.get("unknowns") else {}),
    }


def _reference_kind(problem) -> str | None:
    if _is_family(problem):
        return "classical solutions of the test draws"
    return "exact" if problem.has_exact else ("reference solution" if problem.has_reference else None)


def solve_to_directory(
    problem_spec: str,
    solver_name: str = "pinn",
    out: str | Path | None = None,
    params: dict[str, str] | None = None,
    options: dict[str, str] | None = None,
    force: bool = False,
    resume: bool = False,
    progress: bool = True,
    render: bool = True,
    command_line: list[str] | None = None,
    derived: list[str] | None = None,
) -> dict:
    """Solve a problem and write a complete run directory; return the summary.

    This is ``physopt solve`` without the argument parsing. ``solver_name`` is a
    registered name or ``path/to/file.py[:Class]``. In a data-parallel run every rank
    calls it; rank 0 writes the directory and returns the summary, the others ``None``.
    """
    params, options = dict(params or {}), dict(options or {})
    solver_cls = solvers.resolve_solver(solver_name)
    ranks = distributed.current()  # a data-parallel run: every rank solves; rank 0 alone writes and prints
    if out is None:
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        out = Path("runs") / f"{spec_stem(problem_spec)}-{spec_stem(solver_name)}-{stamp}"
    out = Path(ranks.from_main(str(out)))

    checkpoint = None
    if resume:
        run = RunDirectory.prepare(out, resume=True)
        params, options, checkpoint = _resumed_configuration(run, problem_spec, solver_name, params, options, out)

    problem = load_problem(problem_spec, params)
    check_derived(problem, list(derived or []))
    suggested = {k: str(v) for k, v in problem.solver_defaults.get(solver_cls.name, {}).items()}
    opts = solver_cls.Options.from_strings({**suggested, **options})  # the user's choices over the problem's
    solver = solver_cls(problem, opts)  # validates everything before any file is written
    if not ranks.is_main:
        return _solve_quietly(solver, checkpoint)
    if not resume:  # only once the problem, options and network are known to be good
        run = RunDirectory.prepare(out, force=force)
    config = _config(problem_spec, problem, solver_name, opts, solver, command_line)
    if not resume:
        run.write_json(RunDirectory.CONFIG, config)

    if progress:
        print(_format_operator(problem) if _is_family(problem) else _format_enforcement(problem, config["conditions"]),
              file=sys.stderr)
    t0 = time.perf_counter()
    solution = _solve(solver, run, checkpoint, progress, problem_spec, solver_name)
    solution.save(run / RunDirectory.MODEL)
    if callable(getattr(solver, "save_collocation", None)):  # the points trained on last (adaptive ones included)
        solver.save_collocation(run.path / "collocation.npz")
    summary = _summary(problem_spec, solver_name, problem, opts, solution, run, t0)
    if _is_family(problem):
        from ._operator_run import write_operator_results

        write_operator_results(run.path, problem, solution)
    else:
        write_solution_fields(run.path, problem, solution, list(derived or []))
    if render:
        summary["pictures"] = _render_pictures(run.path, operator=_is_family(problem))
    run.write_json(RunDirectory.SUMMARY, summary)
    return summary


def _render_pictures(run_path: Path, operator: bool = False) -> list[str]:
    """All pictures of a run; without PyVista (solving never needs it) only the loss plot, and a note saying so
    (an operator's pictures need matplotlib only)."""
    from ..viz import pyvista_installed, render_run

    if not operator and not pyvista_installed():
        print("physopt: pyvista is not installed: fields are written (VTU/XDMF) but only the loss plot is drawn; "
              f"`pip install pyvista`, then `physopt plot {run_path}`", file=sys.stderr)
        return [p.name for p in render_run(run_path, kind="loss")]
    return [p.name for p in render_run(run_path)]


def write_solution_fields(directory: Path, problem, solution, derived: list[str] | None = None) -> dict:
    """Evaluate ``solution`` (and the reference, and the error, and the ``derived`` quantities) on the problem's meshes;
    write VTU files."""
    from .._fields import FieldSet, write_field_sets

    sets = []
    for entry in problem.evaluation_meshes():
        points = torch.as_tensor(entry["points"], dtype=torch.float64)
        values = solution.numpy(points)
        data = {name: values[:, i] for i, name in enumerate(problem.unknowns)}
        reference = problem.solution_at(points) if problem.has_reference else None
        if reference is not None:
            reference = reference.double().cpu().numpy()
            for i, name in enumerate(problem.unknowns):
                if np.isnan(reference[:, i]).all():  # no reference for this unknown (the cavity's pressure)
                    continue
                data[f"{name}_reference"] = reference[:, i]
                data[f"error_{name}"] = values[:, i] - reference[:, i]
        own_fields = getattr(problem, "derived_fields", None)  # a problem's own fields from the unknowns (density)
        if own_fields is not None:
            data.update(own_fields(values))
        for name, found in solvers.unknown_fields_at(solution.model, points).items():  # identified coefficient fields
            data[name] = found.numpy()
            if hasattr(problem, "reference_unknown"):
                data[f"{name}_reference"] = np.asarray(problem.reference_unknown(name, points), dtype=float).reshape(-1)
                data[f"error_{name}"] = data[name] - data[f"{name}_reference"]
        data.update(derived_fields(problem, solution, points, list(derived or [])))  # --derived grad, ...
        for name, parts in problem.vectors.items():  # a velocity (u, v) as one vector field
            data[name] = np.column_stack([data[part] for part in parts])
        sets.append(FieldSet(entry["mesh"], data, entry["time"], tuple(entry["axis_labels"])))
    primary = getattr(problem, "primary_field", next(iter(problem.vectors), problem.unknowns[0]))
    coefficients = [n for n in problem.unknown_specs() if n in sets[0].data]  # identified fields drawn beside
    components = [*problem.vectors, *problem.unknowns, *coefficients] if problem.n_unknowns + len(coefficients) > 1 \
        else None
    return write_field_sets(directory, sets, primary=primary, overlay=getattr(problem, "overlay_field", None),
                            components=components)


def _version() -> str:
    from .. import __version__

    return __version__


def _format_enforcement(problem, entries: list[dict]) -> str:
    """One line: the residual's equations per unknowns, and how each condition is honoured (ansatz or loss term)."""
    parts = [
        f"{e['condition']} {'penalty loss_' + e['term'] if e['enforced'] == 'penalty' else e['enforced']}" for e in entries
    ]
    n = problem.n_equations
    equations = f"{n} equation{'s' * (n != 1)} for unknown{'s' * (problem.n_unknowns != 1)} {', '.join(problem.unknowns)}"
    return f"{equations} · conditions: " + (" · ".join(parts) if parts else "none")


def _format_operator(family) -> str:
    """One line: the operator a problem family's run learns."""
    return (f"operator learning: {family.input_name}({', '.join(family.input_coordinates)}) -> "
            f"{family.output_name}({', '.join(family.coordinates)}) · {family!r}")


def _format_unknown(name: str, entry: dict) -> str:
    if entry.get("field"):  # a coefficient field: its error where the problem knows it
        return f"{name}(x) (relative L2 {entry['rel_l2']:.3g})" if "rel_l2" in entry else f"{name}(x) (a field)"
    if "std_error" not in entry:
        return f"{name} = {entry['value']:.6g}"
    low, high = entry["ci95"]
    return f"{name} = {entry['value']:.6g} ± {entry['std_error']:.2g} (95%: {low:.6g}…{high:.6g})"


def format_summary(summary: dict, out: Path) -> str:
    """The three lines ``physopt solve`` prints at the end."""
    parts = [f"{summary['problem']} · {summary['solver']} · {summary['steps']} steps in {summary['train_time_s']:.1f} s"]
    errors = summary.get("errors")
    if errors:
        if "rel_l2_median" in errors:  # an operator: over the test draws
            parts.append(f"test relative L2 mean {errors['rel_l2']:.3e} · median {errors['rel_l2_median']:.3e} · "
                         f"worst {errors['rel_l2_worst']:.3e} ({errors['test_draws']} draws)")
        else:
            parts.append(f"relative L2 = {errors['rel_l2']:.3e} · max error = {errors['max_abs']:.3e}")
        if "constant_floor_rel_l2" in errors:  # a constant-like exact solution: say what a constant fit reaches
            parts.append(f"constant floor {errors['constant_floor_rel_l2']:.3e} · non-constant part {errors['nonconstant_rel_l2']:.3e}")
    else:
        parts.append(f"final loss = {summary['final_loss']:.3e} (no reference solution)")
    if summary.get("unknowns"):  # an inverse problem: the identified values, with standard errors where measured
        parts.append("identified " + ", ".join(_format_unknown(k, v) for k, v in summary["unknowns"].items()))
    processes = summary.get("processes", 1)
    parts.append(f"{summary['dtype']} on {summary['device']}" + (f" × {processes} processes" if processes > 1 else ""))
    return " · ".join(parts) + f"\nstopped: {summary['stop_reason']}\nrun directory: {out}"
