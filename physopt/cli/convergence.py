"""Convergence studies: vary one setting of a run, solve each, fit the observed order.

``physopt convergence`` is :func:`convergence_study` with argument parsing. The
study directory holds one run directory per value (``NAME=VALUE/``, written by
:func:`physopt.cli.solve_to_directory`) and::

    convergence.json   problem, solver, varied name, fixed settings, metrics, rows, fit
    convergence.csv    the rows
    convergence.png    log-log error against the value, with the fitted line

The observed order is the least-squares slope of ``log(rel_l2)`` against
``log(value)``. It is reported as it is: for a time step ``dt`` it is the order
``p`` of ``e ~ dt^p``; for sizes such as ``points`` or ``width`` (the error falls
as they grow) it is negative. The study knows no particular solver: the extra
results a solver reports (``Solution.metrics()``, in each run's ``summary.json``
under ``metrics``) become columns, and those of kind ``"error"`` are drawn.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

import problems
import solvers

from .._errors import ConfigurationError, Interrupted, TrainingDiverged
from .._run_directory import RunDirectory, write_json_atomic
from ._convergence_plot import plot_convergence
from ._run import load_problem, solve_to_directory, spec_stem
from ._study_report import format_table, write_csv
from ._vary import numbers, parse_fit_range, parse_vary, resolve_name

__all__ = ["convergence_study", "observed_order", "parse_vary", "parse_fit_range", "format_table", "plot_convergence"]

STUDY_JSON, STUDY_CSV, STUDY_PNG = "convergence.json", "convergence.csv", "convergence.png"
_OTHER = {"problem": "another problem", "solver": "another solver", "parameters": "other parameters", "options": "other options"}


def observed_order(values: Sequence[float], errors: Sequence[float]) -> tuple[float, float]:
    """Least-squares fit ``log(error) = slope * log(value) + intercept``.

    Pairs whose value or error is not finite and positive are left out. Returns
    ``(nan, nan)`` when fewer than two pairs with distinct values remain.
    """
    v = np.asarray(values, dtype=float).ravel()
    e = np.asarray(errors, dtype=float).ravel()
    if v.shape != e.shape:
        raise ValueError(f"values and errors differ in length ({v.size} vs {e.size})")
    keep = np.isfinite(v) & np.isfinite(e) & (v > 0) & (e > 0)
    x, y = np.log(v[keep]), np.log(e[keep])
    if x.size < 2 or np.ptp(x) == 0:
        return math.nan, math.nan
    slope, intercept = np.polyfit(x, y, 1)
    return float(slope), float(intercept)


# ----- the plan: every configuration is checked before anything is written ------------------


@dataclasses.dataclass
class _Plan:
    problem: str
    solver: str
    kind: str  # "option" or "param"
    name: str
    params: dict
    options: dict
    runs: list  # (text, value, run params, run options, expected config)


def _plan(problem: str, solver: str, vary, params: dict, options: dict) -> _Plan:
    if isinstance(vary, str):
        vary = parse_vary(vary)
    try:
        raw_name, raw_values = vary
    except (TypeError, ValueError):
        raise ConfigurationError(f"vary must be (NAME, [values]) or 'NAME=v1,v2,...', got {vary!r}") from None
    solver_cls = solvers.resolve_solver(solver)
    problem_cls = problems.resolve_problem(problem)
    option_types = solver_cls.Options.field_types()
    kind, name = resolve_name(str(raw_name), option_types, dict(problem_cls.parameters), solver, problem)
    fixed = options if kind == "option" else params
    if name in fixed:
        where = f"--set {name}=... or --{name.replace('_', '-')}" if kind == "option" else f"--param {name}=..."
        raise ConfigurationError(f"{name} is varied by --vary and also fixed by {where}; drop one of them")
    values = numbers(str(raw_name), raw_values)
    number_type = option_types[name] if kind == "option" else type(problem_cls.parameters[name])
    runs = []
    for text, number in values:
        run_params = params | ({name: text} if kind == "param" else {})
        run_options = options | ({name: text} if kind == "option" else {})
        prob = load_problem(problem, run_params)
        opts = solver_cls.Options.from_strings(run_options)
        value = int(number) if number_type is int and float(number).is_integer() else float(number)
        expected = {"problem": problem, "solver": solver, "parameters": prob.params, "options": opts.as_dict()}
        runs.append((text, value, run_params, run_options, expected))
    return _Plan(problem, solver, kind, name, params, options, runs)


def _open_study(plan: _Plan, out, force: bool, resume: bool) -> RunDirectory:
    if out is None:
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        out = Path("runs") / f"convergence-{spec_stem(plan.problem)}-{spec_stem(plan.solver)}-{plan.name}-{stamp}"
    out = Path(out)
    if not resume:
        return RunDirectory.prepare(out, force=force)
    if not out.is_dir() or not any(out.iterdir()):
        raise ConfigurationError(f"cannot resume: '{out}' holds no convergence study; start one without --resume")
    previous = out / STUDY_JSON
    if previous.is_file():
        try:
            saved = json.loads(previous.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ConfigurationError(f"'{previous}' is damaged (not valid JSON: {exc}); start over with --force") from None
        saved_vary = saved.get("vary") or {}
        now = (plan.problem, plan.solver, plan.name, plan.kind)
        if (saved.get("problem"), saved.get("solver"), saved_vary.get("name"), saved_vary.get("kind")) != now:
            raise ConfigurationError(
                f"--resume: '{out}' holds a study of {saved_vary.get('kind')} {saved_vary.get('name')} for "
                f"{saved.get('problem')} with {saved.get('solver')}, not {plan.kind} {plan.name} for {plan.problem} "
                f"with {plan.solver}; start over with --force or choose another --out"
            )
    return RunDirectory(out)


# ----- the runs --------------------------------------------------------------------------------


def _canonical(obj):
    return json.loads(json.dumps(obj, default=str))


def _finished(run: Path) -> dict | None:
    """The summary of a finished run in ``run``, else None."""
    try:
        summary = json.loads((run / RunDirectory.SUMMARY).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return summary if isinstance(summary, dict) and summary.get("status") == "finished" else None


def _check_saved_config(run: Path, expected: dict) -> bool:
    """Whether ``run/config.json`` was written for the ``expected`` problem/solver/parameters/options.

    A differing configuration is an error (the study would mix runs); a missing or unreadable one is False.
    """
    try:
        saved = json.loads((run / RunDirectory.CONFIG).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    for key in ("problem", "solver", "parameters", "options"):
        if _canonical(saved.get(key)) != _canonical(expected[key]):
            diff = ""
            if isinstance(expected[key], dict) and isinstance(saved.get(key), dict):
                names = [k for k in expected[key] if saved[key].get(k) != _canonical(expected[key]).get(k)]
                diff = "; ".join(f"{k}: {saved[key].get(k)!r} there, {expected[key][k]!r} now" for k in names[:3])
            raise ConfigurationError(
                f"--resume: '{run}' was solved with {_OTHER[key]}"
                f"{' (' + diff + ')' if diff else ''}; start over with --force or choose another --out"
            )
    return True


def _as_number(number) -> float | None:
    if isinstance(number, (int, float)) and not isinstance(number, bool):
        return float(number)
    if isinstance(number, str):  # NaN/inf come back from JSON as strings
        try:
            return float(number)
        except ValueError:
            return None
    return None


def _row(value, run: Path, summary: dict | None, status: str) -> dict:
    """A row: the value, the run's errors and metrics (one column each), its time, steps and status."""
    summary = summary or {}
    row = {"value": value, "rel_l2": math.nan, "max_abs": math.nan}
    for key, number in {**(summary.get("errors") or {}), **(summary.get("metrics") or {})}.items():
        if _as_number(number) is not None:
            row[key] = _as_number(number)
    row["train_time_s"] = summary.get("train_time_s")
    row["steps"] = summary.get("steps")
    row["status"] = status
    row["run_dir"] = str(run)
    return row


def _note_metrics(study: dict, summary: dict | None) -> None:
    """The metrics a run reports, with their descriptions and kinds, in the study's ``metrics``."""
    for name, about in ((summary or {}).get("metric_info") or {}).items():
        study["metrics"].setdefault(name, about)


def _solve_value(study, study_dir: RunDirectory, plan: _Plan, k: int, entry, options: dict, say) -> dict:
    text, value, run_params, run_options, expected = entry
    run = study_dir.path / f"{plan.name}={text}"
    label = f"[{k}/{len(plan.runs)}] {plan.name}={text}"
    resume = options["resume"]
    summary = _finished(run) if resume else None
    if summary is not None and _check_saved_config(run, expected):
        say(f"{label}: reused the finished run in {run}")
        _note_metrics(study, summary)
        return _row(value, run, summary, "finished")
    continue_run = (
        resume and not (run / RunDirectory.SUMMARY).exists() and (run / RunDirectory.CHECKPOINT).is_file()
        and _check_saved_config(run, expected)
    )
    say(f"{label}: {'continuing' if continue_run else 'solving'} in {run}")
    try:
        summary = solve_to_directory(
            plan.problem, plan.solver, run,
            params=None if continue_run else run_params,
            options=None if continue_run else run_options,
            force=resume and not continue_run, resume=continue_run,
            progress=options["progress"], render=options["render"], command_line=options["command_line"],
        )
    except TrainingDiverged as exc:
        say(f"{label}: diverged ({exc}); the study goes on")
        return _row(value, run, None, "diverged")
    _note_metrics(study, summary)
    return _row(value, run, summary, summary.get("status", "finished"))


def convergence_study(
    problem: str,
    solver: str = "pinn",
    vary: tuple[str, Sequence] | str = ("points", [256, 512, 1024]),
    params: dict | None = None,
    options: dict | None = None,
    out: str | Path | None = None,
    force: bool = False,
    resume: bool = False,
    progress: bool = False,
    render: bool = False,
    fit_range: tuple[float | None, float | None] | str | None = None,
    echo: Callable[[str], None] | None = None,
    command_line: list[str] | None = None,
) -> dict:
    """Solve ``problem`` once per value of one setting; return the study (what ``convergence.json`` holds).

    Args:
        problem: a registered problem name or ``path/to/file.py[:Class]``.
        solver: a registered solver name or ``path/to/file.py[:Class]``.
        vary: ``(NAME, [v1, v2, ...])`` or ``"NAME=v1,v2,..."``. NAME is a solver option
            (a field of the solver's ``Options``) or a problem parameter; ``option.NAME`` /
            ``param.NAME`` pick one (required when both exist). At least two distinct numbers.
        params, options: fixed problem parameters and solver options (``{name: text}``);
            they may not set NAME.
        out: study directory (default ``runs/convergence-PROBLEM-SOLVER-NAME-TIMESTAMP``).
        force: start over in a busy ``out`` (the old study is moved aside).
        resume: reuse the finished runs in ``out``; solve the other values.
        progress: progress bars of the runs.
        render: each run's pictures (off by default; the study's plot is always drawn).
        fit_range: ``(lo, hi)`` or ``"lo:hi"``: fit only values in [lo, hi].
        echo: called with one line per value as the study goes (e.g. ``print``).
        command_line: recorded in each run's ``config.json``.

    Returns:
        dict with ``problem``, ``solver``, ``vary`` (name, kind, values), ``params``,
        ``options``, ``metrics`` (``{name: {"description", "kind"}}`` of the solver's extra
        results), ``rows`` (value, rel_l2, max_abs, other error entries, a column per metric,
        train_time_s, steps, status, run_dir), ``fit`` (slope, intercept, order, n_used,
        fit_range) and ``out``.
    """
    say = echo or (lambda line: None)
    params = {str(k): str(v) for k, v in (params or {}).items()}
    options = {str(k).replace("-", "_"): str(v) for k, v in (options or {}).items()}
    plan = _plan(problem, solver, vary, params, options)
    span = parse_fit_range(fit_range)
    if resume and force:
        raise ConfigurationError("--force and --resume exclude each other: resume the study, or start it over")
    if resume and out is None:
        raise ConfigurationError("--resume needs --out DIR (the study to continue)")
    study_dir = _open_study(plan, out, force, resume)
    study = {
        "problem": problem, "solver": solver,
        "vary": {"name": plan.name, "kind": plan.kind, "values": [v for _, v, *_ in plan.runs]},
        "params": params, "options": options, "status": "running",
        "created": datetime.datetime.now().isoformat(timespec="seconds"), "command": command_line,
        "metrics": {}, "rows": [], "fit": None, "out": str(study_dir.path),
    }
    how = {"resume": resume, "progress": progress, "render": render, "command_line": command_line}
    for k, entry in enumerate(plan.runs, 1):
        try:
            row = _solve_value(study, study_dir, plan, k, entry, how, say)
        except Interrupted:
            study["status"] = "interrupted"
            _write_json(study_dir, study, span)
            raise Interrupted(
                f"interrupted; the finished runs in '{study_dir.path}' are kept: continue the study with the same "
                f"command and `--out {study_dir.path} --resume`"
            ) from None
        study["rows"].append(row)
        _write_json(study_dir, study, span)
    study["status"] = "finished"
    _write_json(study_dir, study, span)
    write_csv(study_dir.path / STUDY_CSV, study["rows"])
    plot_convergence(study, study_dir.path / STUDY_PNG)
    return study


def _fit(rows: list[dict], span) -> dict:
    used = [r for r in rows if r["status"] == "finished"]
    if span is not None:
        used = [r for r in used if span[0] <= r["value"] <= span[1]]
    usable = [r for r in used if math.isfinite(r["rel_l2"]) and r["rel_l2"] > 0 and r["value"] > 0]
    slope, intercept = observed_order([r["value"] for r in usable], [r["rel_l2"] for r in usable])
    ok = math.isfinite(slope)
    return {
        "slope": slope if ok else None,
        "intercept": intercept if ok else None,
        "order": slope if ok else None,
        "n_used": len(usable) if ok else 0,
        "values_used": [r["value"] for r in usable] if ok else [],
        "fit_range": None if span is None else [None if math.isinf(span[0]) else span[0], None if math.isinf(span[1]) else span[1]],
    }


def _write_json(study_dir: RunDirectory, study: dict, span) -> None:
    study["fit"] = _fit(study["rows"], span)
    write_json_atomic(study_dir.path / STUDY_JSON, study)
