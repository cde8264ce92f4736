"""The ``physopt`` command: list, solve, plot, convergence, predict, data.

User mistakes (unknown names, bad files, busy output directories, diverged
training) end with one line ``physopt: error: ...`` and a non-zero exit code,
never a traceback. Exit codes: 0 done, 2 bad input, 3 training diverged,
130 interrupted (the checkpoint is kept; continue with ``--resume``).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import problems
import solvers

from .. import distributed
from .._derivative_mode import available_derivative_modes
from .._devices import available_devices, default_device
from .._errors import ConfigurationError, Interrupted, PhysoptError, TrainingDiverged
from .._optimizers import OPTIMIZERS, SCHEDULES
from ..viz import PLOT_KINDS
from ._flags import add_option_flags, check_flags_fit, given_options, option_flags, with_flag
from ._launch import LAUNCHED, launch, record_rank_error, start_rank
from ._run import format_summary, solve_to_directory

__all__ = ["main", "build_parser", "solver_flags", "pairs", "option_values"]

EXIT_USAGE, EXIT_DIVERGED, EXIT_INTERRUPTED = 2, 3, 130

_SET_HELP = ("any solver option by its field name (dashes may replace underscores); the way to give the options of a "
             "solver loaded from a file (--solver FILE.py:Class), which have no flags of their own")
_SOLVER_HELP = "a registered solver name (default: pinn), or path/to/file.py[:ClassName] (its options: --set NAME=VALUE)"


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"physopt: error: {message}\n")


def solver_flags() -> dict:
    """The option flags of every registered solver (see :mod:`physopt.cli._flags`)."""
    return option_flags(solvers.registered_solvers())


def _add_solve(sub, flags) -> None:
    p = sub.add_parser("solve", help="solve a problem and write a run directory",
                       epilog="Solver option flags are generated from each registered solver's options; a flag the "
                              "chosen solver has no option for is an error. Flags apply first, then --set. The options "
                              "of a solver loaded from a file (--solver FILE.py:Class) are given with --set NAME=VALUE.")
    p.add_argument("problem", help="a registered problem name, or path/to/file.py[:ClassName]")
    p.add_argument("--solver", default="pinn", help=_SOLVER_HELP)
    p.add_argument("--out", default=None, help="run directory (default: runs/PROBLEM-SOLVER-TIMESTAMP)")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="problem parameter, e.g. beta=30")
    p.add_argument("--set", action="append", default=[], metavar="OPTION=VALUE", help=_SET_HELP)
    group = p.add_mutually_exclusive_group()
    group.add_argument("--force", action="store_true", help="start over in a busy --out (the old run is moved aside)")
    group.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--no-render", action="store_true", help="write fields but no PNGs")
    p.add_argument("--derived", default="", metavar="NAMES",
                   help="also write derived quantities of the solution: grad, laplacian (per unknown) and the "
                        "problem's own derived_quantities, comma-separated")
    p.add_argument("--nproc", type=int, default=None, metavar="N",
                   help="data-parallel on N processes through torch.distributed (one per GPU with --device cuda); "
                        "ignored when torchrun or srun started this process (docs/distributed.md)")
    add_option_flags(p, flags)


def _add_convergence(sub, flags) -> None:
    p = sub.add_parser("convergence", help="vary one setting over a list of values, solve each, fit the observed order")
    p.add_argument("problem", help="a registered problem name, or path/to/file.py[:ClassName]")
    p.add_argument("--solver", default="pinn", help=_SOLVER_HELP)
    p.add_argument("--vary", required=True, metavar="NAME=V1,V2,...",
                   help="a solver option or problem parameter and its values, e.g. points=256,512,1024 "
                        "(option.NAME / param.NAME when both exist)")
    p.add_argument("--out", default=None, help="study directory (default: runs/convergence-PROBLEM-SOLVER-NAME-TIMESTAMP)")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="fixed problem parameter")
    p.add_argument("--set", action="append", default=[], metavar="OPTION=VALUE", help="fixed solver option; " + _SET_HELP)
    p.add_argument("--fit-range", default=None, metavar="LO:HI", help="fit the order only over values in [LO, HI]")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--force", action="store_true", help="start over in a busy --out (the old study is moved aside)")
    group.add_argument("--resume", action="store_true", help="reuse the finished runs in --out; solve the other values")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--render", action="store_true", help="also render each run's pictures (off by default)")
    add_option_flags(p, flags)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; the solver option flags come from the registered solvers' ``Options``."""
    flags = solver_flags()
    parser = _Parser(prog="physopt", description="Solve PDEs with physics-informed machine learning.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    p_list = sub.add_parser("list", help="list problems, solvers, optimizers, derivative modes and devices")
    p_list.add_argument("what", nargs="?", choices=["problems", "families", "solvers", "optimizers", "modes", "devices"],
                        help="only this kind")
    _add_solve(sub, flags)
    _add_convergence(sub, flags)

    p_plot = sub.add_parser("plot", help="render the pictures of a finished run again")
    p_plot.add_argument("run_dir", help="a run directory written by `physopt solve`")
    p_plot.add_argument("--field", default=None, help="field to draw (default: the first unknown)")
    p_plot.add_argument("--time", type=float, default=None, help="draw the time slice nearest to this time")
    p_plot.add_argument("--kind", default="all", choices=PLOT_KINDS,
                        help="which picture: solution, error, panels (time slices), animation (GIF), iso (3-D), loss; default all that apply")
    p_plot.add_argument("--out", default=None, help="folder for the pictures (default: the run directory)")

    p_predict = sub.add_parser("predict", help="answer new input functions with a trained operator (deeponet, fno, ...)")
    p_predict.add_argument("run_dir", help="a run directory of a problem family written by `physopt solve`")
    p_predict.add_argument("--input", required=True, metavar="FILE",
                           help=".npz (array 'inputs') or .h5 (dataset 'inputs'): input functions (n, *grid) at any resolution")
    p_predict.add_argument("--out", default=None, help="predictions file (default: INPUT-predictions.npz; never overwritten)")

    p_data = sub.add_parser("data", help="operator-learning datasets of a problem family")
    data_sub = p_data.add_subparsers(dest="data_command", metavar="ACTION", parser_class=_Parser)
    data_sub.required = True
    p_gen = data_sub.add_parser("generate", help="draw input functions, solve each classically, write an HDF5 dataset")
    p_gen.add_argument("family", help="a problem family (physopt list families)")
    p_gen.add_argument("--samples", type=int, default=None, help="training draws (default: the family's)")
    p_gen.add_argument("--test", type=int, default=None, help="test draws (default: the family's)")
    p_gen.add_argument("--resolution", type=int, default=None, help="points per axis (default: the family's)")
    p_gen.add_argument("--seed", type=int, default=0, help="seed of the draws")
    p_gen.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="family parameter")
    p_gen.add_argument("--out", default=None,
                       help="dataset file (default: the cache, $PHYSOPT_DATA_DIR, where solvers look for it)")
    return parser


def pairs(items: list[str], what: str) -> dict[str, str]:
    """``["NAME=VALUE", ...]`` -> ``{NAME: VALUE}``; a malformed item is a one-line error naming ``what``."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigurationError(f"{what} '{item}' must look like NAME=VALUE")
        out[key.strip()] = value.strip()
    return out


def option_values(args) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """The solver options of a ``solve``/``convergence`` command line: (all, from flags, from ``--set``).

    A flag the chosen solver has no option for is an error naming the solvers that take it.
    """
    given, set_pairs = given_options(args), pairs(args.set, "--set")
    if given:
        check_flags_fit(given, args.solver, solvers.resolve_solver(args.solver), solver_flags())
    return given | set_pairs, given, set_pairs


def _first_line(cls) -> str:
    return (cls.__doc__ or "").strip().splitlines()[0] if (cls.__doc__ or "").strip() else ""


def cmd_list(args) -> int:
    found_problems, found_solvers = problems.registered_problems(), solvers.registered_solvers()
    broken = {"problems": problems.PROBLEMS.broken, "families": problems.FAMILIES.broken, "solvers": solvers.SOLVERS.broken}
    sections = {
        "problems": {name: cls.summary() for name, cls in found_problems.items()},
        "families": {name: cls.summary() for name, cls in problems.registered_families().items()},
        "solvers": {name: cls.summary() for name, cls in found_solvers.items()},
        "optimizers": {name: _first_line(cls) for name, cls in OPTIMIZERS.items()}
        | {name: description for name, (_, _, description) in SCHEDULES.items()},
        "modes": available_derivative_modes(),
        "devices": available_devices(),
    }
    for title, entries in sections.items():
        if args.what and args.what != title:
            continue
        entries = entries | {name: f"(plug-in failed to load: {error})" for name, error in broken.get(title, {}).items()}
        print(f"{title}:")
        width = max(map(len, entries)) if entries else 0
        for name, text in entries.items():
            print(f"  {name:<{width}}  {text}")
    return 0


def cmd_solve(args, argv) -> int:
    options, given, set_pairs = option_values(args)
    if args.out is None and args.resume:
        raise ConfigurationError("--resume needs --out RUN_DIR (the run to continue)")
    device = options.get("device") or default_device()
    if args.nproc is not None and distributed.environment() is None:  # the launcher: the ranks run this command
        reason = solvers.resolve_solver(args.solver).single_process_reason
        if args.nproc > 1 and reason:
            raise ConfigurationError(f"--nproc {args.nproc}: solver {args.solver} runs in one process only: {reason}")
        return launch(argv, args.nproc, device)
    start_rank(device)
    try:
        summary = solve_to_directory(
            args.problem,
            args.solver,
            args.out,
            pairs(args.param, "--param"),
            options,
            force=args.force,
            resume=args.resume,
            progress=not args.no_progress,
            render=not args.no_render,
            command_line=["physopt", *argv],
            derived=[n.strip() for n in args.derived.split(",") if n.strip()],
        )
    except ConfigurationError as exc:
        raise with_flag(exc, given, set_pairs) from None
    if summary is not None:  # rank 0 (or the one process) reports
        print(format_summary(summary, Path(summary["run_dir"])))
    return 0


def cmd_convergence(args, argv) -> int:
    from .convergence import convergence_study, format_table, parse_vary

    options, given, set_pairs = option_values(args)
    try:
        study = convergence_study(
            args.problem,
            args.solver,
            parse_vary(args.vary),
            params=pairs(args.param, "--param"),
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
    except ConfigurationError as exc:
        raise with_flag(exc, given, set_pairs) from None
    print(format_table(study))
    print(f"study directory: {study['out']}")
    return 0


def cmd_plot(args) -> int:
    from ..viz import render_run

    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        raise ConfigurationError(f"run directory '{run_dir}' does not exist")
    for path in render_run(run_dir, field=args.field, time=args.time, out=args.out, kind=args.kind):
        print(path)
    return 0


def cmd_predict(args) -> int:
    from ._operator_run import predict_to_file

    report = predict_to_file(args.run_dir, args.input, args.out)
    line = f"{report['functions']} functions at resolution {report['resolution']} in {report['seconds'] * 1e3:.1f} ms"
    if "rel_l2" in report:
        line += (f" · relative L2 against the file's outputs: mean {report['rel_l2']:.3e}, median "
                 f"{report['rel_l2_median']:.3e}, worst {report['rel_l2_worst']:.3e}")
    print(f"{line}\npredictions: {report['out']}")
    return 0


def cmd_data(args) -> int:
    from ._operator_run import generate_data_file

    report = generate_data_file(args.family, pairs(args.param, "--param"), args.samples, args.test, args.resolution,
                                args.seed, args.out)
    print(f"{report['train']} + {report['test']} draws at resolution {report['resolution']} in {report['seconds']:.1f} s "
          f"(inputs {tuple(report['inputs'])}, outputs {tuple(report['outputs'])})\ndataset: {report['path']}")
    return 0


def _run_command(args, argv) -> int:
    if args.command == "list":
        return cmd_list(args)
    if args.command == "solve":
        return cmd_solve(args, argv)
    if args.command == "plot":
        return cmd_plot(args)
    if args.command == "convergence":
        return cmd_convergence(args, argv)
    if args.command == "predict":
        return cmd_predict(args)
    if args.command == "data":
        return cmd_data(args)
    return EXIT_USAGE


def _report(exc: BaseException, message: str) -> None:
    """Print ``physopt: MESSAGE``; in a rank of a data-parallel run, also record it for the launcher (which
    prints it once for ``--nproc``) and name the rank."""
    if record_rank_error(exc, message):
        found = distributed.environment()
        where = "" if found is None else f" (rank {found['rank']})"
        print(f"physopt{where}: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """``physopt ARGV``; returns the exit code (argparse's usage errors leave through ``SystemExit(2)``).

    A rank of a data-parallel run ends its process here instead (:func:`physopt.distributed.exit_rank`).
    """
    code = _main(argv)
    if distributed.environment() is not None and distributed.current().joined:
        distributed.exit_rank(code)
    return code


def _main(argv: list[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
        return _run_command(args, argv)
    except TrainingDiverged as exc:
        _report(exc, f"error: training diverged: {exc}")
        return EXIT_DIVERGED
    except Interrupted as exc:
        _report(exc, str(exc))
        return EXIT_INTERRUPTED
    except PhysoptError as exc:
        _report(exc, f"error: {exc}")
        return EXIT_USAGE
    except KeyboardInterrupt as exc:
        _report(exc, "interrupted")
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - a bug or an error in user code: its traceback, and the launcher told
        if distributed.environment() is None:
            raise
        _report(exc, f"error: {type(exc).__name__}: {exc}")
        if os.environ.get(LAUNCHED) != "1":
            raise
        return 1
