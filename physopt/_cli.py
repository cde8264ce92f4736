"""The ``physopt`` command: list, solve, plot, convergence.

User mistakes (unknown names, bad files, busy output directories, diverged
training) end with one line ``physopt: error: ...`` and a non-zero exit code,
never a traceback. Exit codes: 0 done, 2 bad input, 3 training diverged,
130 interrupted (the checkpoint is kept; continue with ``--resume``).
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import platform
import sys
import time
from pathlib import Path

import torch

from ._devices import available_devices, describe_device
from ._derivative_mode import available_derivative_modes
from ._errors import ConfigurationError, Interrupted, PhysoptError, ProblemDefinitionError, TrainingDiverged
from ._optimizers import OPTIMIZERS, SCHEDULES
from ._run_directory import RunDirectory
from .viz import PLOT_KINDS

__all__ = ["main", "build_parser", "solve_to_directory"]

EXIT_USAGE, EXIT_DIVERGED, EXIT_INTERRUPTED = 2, 3, 130

# CLI flags that map one-to-one onto solver options of the same name
OPTION_FLAGS = {
    "optimizer": (str, "optimizer or schedule (default adam+lm: Adam for a quarter of the steps, then "
                       "Levenberg-Marquardt until stalled): adam, lbfgs, lm, engd, kfac, ... (physopt list optimizers), "
                       "or adam:N,lm:M. engd converges more slowly than lm: on heat1d --bc soft the stall rule "
                       "stops it at 4.7e-6; --set stall_rtol=0.25 lets it reach 4.5e-7 (engd_solver=pinv does not "
                       "converge there and suits hard constraints on stationary problems); lm is the better choice"),
    "steps": (int, "total optimization steps"),
    "dt": (float, "time step of time-marching solvers (teng)"),
    "dtype": (str, "float32 or float64"),
    "device": (str, "cpu, cuda, cuda:1, ..."),
    "seed": (int, "random seed (network, sampling)"),
    "lr": (float, "Adam learning rate"),
    "width": (int, "hidden width of the network"),
    "depth": (int, "number of hidden layers"),
    "hidden": (str, "hidden widths layer by layer, e.g. 64,64,48,48 (overrides --width/--depth)"),
    "activation": (str, "tanh, sin, gelu, silu, softplus, sigmoid"),
    "points": (int, "interior collocation points"),
    "boundary_points": (int, "points per boundary/initial/periodic condition"),
    "sampling": (str, "uniform, sobol, halton or grid"),
    "resample_every": (int, "draw new collocation points every N steps (0: never; adam+lbfgs wants 0)"),
    "bc": (str, "auto, soft (penalty) or hard (ansatz)"),
    "derivatives": (str, "derivative mode: exact (taylor and stde are planned)"),
    "target_error": (float, "stop once the relative L2 error is at most this"),
    "diagnostics_every": (int, "every N steps write Gram/Hessian top eigenvalues and the Gram condition number to the metrics"),
}


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"physopt: error: {message}\n")


def _add_option_flags(parser) -> None:
    for name, (kind, text) in OPTION_FLAGS.items():
        parser.add_argument("--" + name.replace("_", "-"), dest=name, type=kind, default=None, help=text)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="physopt", description="Solve PDEs with physics-informed machine learning.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    p_list = sub.add_parser("list", help="list problems, solvers, optimizers, derivative modes and devices")
    p_list.add_argument("what", nargs="?", choices=["problems", "solvers", "optimizers", "modes", "devices"], help="only this kind")

    p_solve = sub.add_parser("solve", help="solve a problem and write a run directory")
    p_solve.add_argument("problem", help="a registered problem name, or path/to/file.py[:ClassName]")
    p_solve.add_argument("--solver", default="pinn", help="solver name (default: pinn)")
    p_solve.add_argument("--out", default=None, help="run directory (default: runs/PROBLEM-SOLVER-TIMESTAMP)")
    p_solve.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="problem parameter, e.g. beta=30")
    p_solve.add_argument("--set", action="append", default=[], metavar="OPTION=VALUE", help="any solver option")
    group = p_solve.add_mutually_exclusive_group()
    group.add_argument("--force", action="store_true", help="start over in a busy --out (the old run is moved aside)")
    group.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    p_solve.add_argument("--no-progress", action="store_true", help="no progress bar")
    p_solve.add_argument("--no-render", action="store_true", help="write fields but no PNGs")
    _add_option_flags(p_solve)

    p_conv = sub.add_parser("convergence", help="vary one setting over a list of values, solve each, fit the observed order")
    p_conv.add_argument("problem", help="a registered problem name, or path/to/file.py[:ClassName]")
    p_conv.add_argument("--solver", default="pinn", help="solver name (default: pinn)")
    p_conv.add_argument("--vary", required=True, metavar="NAME=V1,V2,...",
                        help="a solver option or problem parameter and its values, e.g. points=256,512,1024 "
                             "(option.NAME / param.NAME when both exist)")
    p_conv.add_argument("--out", default=None, help="study directory (default: runs/convergence-PROBLEM-SOLVER-NAME-TIMESTAMP)")
    p_conv.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="fixed problem parameter")
    p_conv.add_argument("--set", action="append", default=[], metavar="OPTION=VALUE", help="fixed solver option")
    p_conv.add_argument("--fit-range", default=None, metavar="LO:HI", help="fit the order only over values in [LO, HI]")
    group = p_conv.add_mutually_exclusive_group()
    group.add_argument("--force", action="store_true", help="start over in a busy --out (the old study is moved aside)")
    group.add_argument("--resume", action="store_true", help="reuse the finished runs in --out; solve the other values")
    p_conv.add_argument("--no-progress", action="store_true", help="no progress bars")
    p_conv.add_argument("--render", action="store_true", help="also render each run's pictures (off by default)")
    _add_option_flags(p_conv)

    p_plot = sub.add_parser("plot", help="render the pictures of a finished run again")
    p_plot.add_argument("run_dir", help="a run directory written by `physopt solve`")
    p_plot.add_argument("--field", default=None, help="field to draw (default: the first unknown)")
    p_plot.add_argument("--time", type=float, default=None, help="draw the time slice nearest to this time")
    p_plot.add_argument("--kind", default="all", choices=PLOT_KINDS,
                        help="which picture: solution, error, panels (time slices), animation (GIF), iso (3-D), loss; default all that apply")
    p_plot.add_argument("--out", default=None, help="folder for the pictures (default: the run directory)")
    return parser


def _pairs(items: list[str], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigurationError(f"{what} '{item}' must look like NAME=VALUE")
        out[key.strip()] = value.strip()
    return out


def _registries():
    problems = importlib.import_module("problems")
    solvers = importlib.import_module("solvers")
    return problems, solvers


def cmd_list(args) -> int:
    problems, solvers = _registries()
    sections = {
        "problems": {name: cls.summary() for name, cls in problems.registered_problems().items()},
        "solvers": {name: (cls.__doc__ or "").strip().splitlines()[0] for name, cls in solvers.registered_solvers().items()},
        "optimizers": {name: (cls.__doc__ or "").strip().splitlines()[0] for name, cls in OPTIMIZERS.items()}
        | {name: description for name, (_, _, description) in SCHEDULES.items()},
        "modes": available_derivative_modes(),
        "devices": available_devices(),
    }
    for title, entries in sections.items():
        if args.what and args.what != title:
            continue
        print(f"{title}:")
        width = max(map(len, entries)) if entries else 0
        for name, text in entries.items():
            print(f"  {name:<{width}}  {text}")
    return 0


def _load_problem(spec: str, params: dict[str, str]):
    problems, _ = _registries()
    cls = problems.resolve_problem(spec)
    try:
        problem = cls(**params)
        problem.validate()
    except PhysoptError:
        raise
    except Exception as exc:  # noqa: BLE001 - errors in the user's problem code
        raise ProblemDefinitionError(f"problem '{spec}' could not be set up: {type(exc).__name__}: {exc}") from exc
    return problem


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
) -> dict:
    """Solve a problem and write a complete run directory; return the summary.

    This is ``physopt solve`` without the argument parsing.
    """
    problems, solvers = _registries()
    params, options = dict(params or {}), dict(options or {})
    solver_cls = solvers.resolve_solver(solver_name)
    if out is None:
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        safe = Path(problem_spec.split(":")[0]).stem
        out = Path("runs") / f"{safe}-{solver_name}-{stamp}"

    checkpoint = None
    if resume:
        run = RunDirectory.prepare(out, resume=True)
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
        checkpoint = solvers.load_checkpoint(run / RunDirectory.CHECKPOINT)

    problem = _load_problem(problem_spec, params)
    opts = solver_cls.Options.from_strings(options)
    solver = solver_cls(problem, opts)  # validates everything before any file is written
    if not resume:  # only once the problem, options and network are known to be good
        run = RunDirectory.prepare(out, force=force)
    config = {
        "problem": problem_spec,
        "problem_class": type(problem).__name__,
        "parameters": problem.params,
        "solver": solver_name,
        "options": opts.as_dict(),
        "equations": problem.n_equations,
        "conditions": solver.enforcement(),
        "versions": {"physopt": _version(), "torch": torch.__version__, "python": platform.python_version()},
        "command": command_line,
        "started": datetime.datetime.now().isoformat(timespec="seconds"),
    }
    if not resume:
        run.write_json(RunDirectory.CONFIG, config)

    if progress:
        print(_format_enforcement(problem, config["conditions"]), file=sys.stderr)
    callbacks = [solvers.ProgressBar(enabled=progress), solvers.MetricsWriter(run / RunDirectory.METRICS)]
    t0 = time.perf_counter()
    status = "finished"
    try:
        solution = solver.solve(callbacks, checkpoint_path=run / RunDirectory.CHECKPOINT, checkpoint=checkpoint)
    except TrainingDiverged as exc:
        run.write_json(RunDirectory.SUMMARY, {"status": "diverged", "reason": str(exc), "problem": problem_spec, "solver": solver_name})
        raise
    except KeyboardInterrupt:
        if (run / RunDirectory.CHECKPOINT).is_file():
            raise Interrupted(
                f"interrupted; the checkpoint in '{run.path}' is kept: continue with "
                f"`physopt solve {problem_spec} --out {run.path} --resume`"
            ) from None
        raise Interrupted("interrupted before the first checkpoint; nothing to resume") from None
    solution.save(run / RunDirectory.MODEL)
    errors = solution.errors()
    summary = {
        "status": status,
        "problem": problem_spec,
        "solver": solver_name,
        "dtype": opts.as_dict().get("dtype"),
        "device": describe_device(opts.as_dict().get("device", "cpu")),
        "steps": solution.info.get("steps"),
        "stop_reason": solution.info.get("stop_reason"),
        "final_loss": solution.info.get("final_loss"),
        "train_time_s": round(solution.info.get("train_time_s", 0.0), 3),
        "wall_time_s": round(time.perf_counter() - t0, 3),
        "errors": errors,
        "reference": "exact" if problem.has_exact else ("reference solution" if problem.has_reference else None),
        "run_dir": str(run.path),
    }
    write_solution_fields(run.path, problem, solution)
    if render:
        summary["pictures"] = _render_pictures(run.path)
    run.write_json(RunDirectory.SUMMARY, summary)
    return summary


def _render_pictures(run_path: Path) -> list[str]:
    """All pictures of a run; without PyVista (solving never needs it) only the loss plot, and a note saying so."""
    from .viz import pyvista_installed, render_run

    if not pyvista_installed():
        print("physopt: pyvista is not installed: fields are written (VTU/XDMF) but only the loss plot is drawn; "
              f"`pip install pyvista`, then `physopt plot {run_path}`", file=sys.stderr)
        return [p.name for p in render_run(run_path, kind="loss")]
    return [p.name for p in render_run(run_path)]


def write_solution_fields(directory: Path, problem, solution) -> dict:
    """Evaluate ``solution`` (and the reference, and the error) on the problem's meshes; write VTU files."""
    from ._fields import FieldSet, write_field_sets

    sets = []
    for entry in problem.evaluation_meshes():
        points = torch.as_tensor(entry["points"], dtype=torch.float64)
        values = solution.numpy(points)
        data = {name: values[:, i] for i, name in enumerate(problem.unknowns)}
        reference = problem.solution_at(points) if problem.has_reference else None
        if reference is not None:
            reference = reference.double().cpu().numpy()
            for i, name in enumerate(problem.unknowns):
                data[f"{name}_reference"] = reference[:, i]
                data[f"error_{name}"] = values[:, i] - reference[:, i]
        sets.append(FieldSet(entry["mesh"], data, entry["time"], tuple(entry["axis_labels"])))
    return write_field_sets(directory, sets, primary=problem.unknowns[0])


def _version() -> str:
    from . import __version__

    return __version__


def _format_enforcement(problem, entries: list[dict]) -> str:
    """One line: the residual's equations per unknowns, and how each condition is honoured (ansatz or loss term)."""
    parts = [
        f"{e['condition']} {'penalty loss_' + e['term'] if e['enforced'] == 'penalty' else e['enforced']}" for e in entries
    ]
    n = problem.n_equations
    equations = f"{n} equation{'s' * (n != 1)} for unknown{'s' * (problem.n_unknowns != 1)} {', '.join(problem.unknowns)}"
    return f"{equations} · conditions: " + (" · ".join(parts) if parts else "none")


def _format_summary(summary: dict, out: Path) -> str:
    parts = [f"{summary['problem']} · {summary['solver']} · {summary['steps']} steps in {summary['train_time_s']:.1f} s"]
    errors = summary.get("errors")
    if errors:
        parts.append(f"relative L2 = {errors['rel_l2']:.3e} · max error = {errors['max_abs']:.3e}")
    else:
        parts.append(f"final loss = {summary['final_loss']:.3e} (no reference solution)")
    parts.append(f"{summary['dtype']} on {summary['device']}")
    return " · ".join(parts) + f"\nstopped: {summary['stop_reason']}\nrun directory: {out}"


def cmd_solve(args, argv) -> int:
    overrides = {name: getattr(args, name) for name in OPTION_FLAGS if getattr(args, name) is not None}
    overrides.update(_pairs(args.set, "--set"))
    out = args.out
    if out is None and args.resume:
        raise ConfigurationError("--resume needs --out RUN_DIR (the run to continue)")
    summary = solve_to_directory(
        args.problem,
        args.solver,
        out,
        _pairs(args.param, "--param"),
        {k: str(v) for k, v in overrides.items()},
        force=args.force,
        resume=args.resume,
        progress=not args.no_progress,
        render=not args.no_render,
        command_line=["physopt", *argv],
    )
    print(_format_summary(summary, Path(summary["run_dir"])))
    return 0


def cmd_convergence(args, argv) -> int:
    from .convergence import convergence_study, format_table, parse_vary

    options = {name: str(getattr(args, name)) for name in OPTION_FLAGS if getattr(args, name) is not None}
    options.update(_pairs(args.set, "--set"))
    study = convergence_study(
        args.problem,
        args.solver,
        parse_vary(args.vary),
        params=_pairs(args.param, "--param"),
        options=options,
        out=args.out,
        force=args.force,
        resume=args.resume,
        progress=not args.no_progress,
        render=args.render,
        fit_range=args.fit_range,
        echo=print,
        command_line=["physopt", *argv],
    )
    print(format_table(study))
    print(f"study directory: {study['out']}")
    return 0


def cmd_plot(args) -> int:
    from .viz import render_run

    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        raise ConfigurationError(f"run directory '{run_dir}' does not exist")
    for path in render_run(run_dir, field=args.field, time=args.time, out=args.out, kind=args.kind):
        print(path)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    try:
        if args.command == "list":
            return cmd_list(args)
        if args.command == "solve":
            return cmd_solve(args, argv)
        if args.command == "plot":
            return cmd_plot(args)
        if args.command == "convergence":
            return cmd_convergence(args, argv)
    except TrainingDiverged as exc:
        print(f"physopt: error: training diverged: {exc}", file=sys.stderr)
        return EXIT_DIVERGED
    except Interrupted as exc:
        print(f"physopt: {exc}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except PhysoptError as exc:
        print(f"physopt: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("physopt: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
