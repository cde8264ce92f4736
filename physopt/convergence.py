"""Convergence studies: vary one setting of a run, solve each, fit the observed order.

``physopt convergence`` is :func:`convergence_study` with argument parsing. The
study directory holds one run directory per value (``NAME=VALUE/``, written by
:func:`physopt._cli.solve_to_directory`) and::

    convergence.json   problem, solver, varied name, fixed settings, rows, fit
    convergence.csv    the rows
    convergence.png    log-log error against the value, with the fitted line

The observed order is the least-squares slope of ``log(rel_l2)`` against
``log(value)``. It is reported as it is: for a time step ``dt`` it is the order
``p`` of ``e ~ dt^p``; for sizes such as ``points`` or ``width`` (the error falls
as they grow) it is negative.
"""

from __future__ import annotations

import csv
import datetime
import importlib
import json
import math
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ._errors import ConfigurationError, Interrupted, TrainingDiverged
from ._run_directory import RunDirectory, write_json_atomic

__all__ = ["convergence_study", "observed_order", "parse_vary", "parse_fit_range", "format_table", "plot_convergence"]

STUDY_JSON, STUDY_CSV, STUDY_PNG = "convergence.json", "convergence.csv", "convergence.png"
_PREFIXES = {"option.": "option", "param.": "param"}
_OTHER = {"problem": "another problem", "solver": "another solver", "parameters": "other parameters", "options": "other options"}


# ----- the fit -----------------------------------------------------------------------------


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


# ----- parsing -----------------------------------------------------------------------------


def parse_vary(text: str) -> tuple[str, list[str]]:
    """``"NAME=v1,v2,..."`` -> ``(NAME, ["v1", "v2", ...])``."""
    name, sep, values = text.partition("=")
    if not sep or not name.strip():
        raise ConfigurationError(f"--vary '{text}' must look like NAME=v1,v2,... (e.g. points=256,512,1024)")
    return name.strip(), [v.strip() for v in values.split(",") if v.strip()]


def parse_fit_range(text: str | None) -> tuple[float, float] | None:
    """``"lo:hi"`` (either side may be empty) -> ``(lo, hi)``."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return None
    if not isinstance(text, str):
        lo, hi = text
        lo, hi = (-math.inf if lo is None else float(lo)), (math.inf if hi is None else float(hi))
    else:
        lo_text, sep, hi_text = text.partition(":")
        try:
            if not sep:
                raise ValueError
            lo = float(lo_text) if lo_text.strip() else -math.inf
            hi = float(hi_text) if hi_text.strip() else math.inf
        except ValueError:
            raise ConfigurationError(f"--fit-range '{text}' must look like LO:HI, e.g. 0.001:0.01 (either side may be empty)") from None
    if math.isnan(lo) or math.isnan(hi) or lo > hi:
        raise ConfigurationError(f"--fit-range {text!r}: need LO <= HI")
    return lo, hi


def _resolve_name(name: str, option_types: dict, parameters: dict, solver: str, problem: str) -> tuple[str, str]:
    """The varied NAME -> (kind, bare name); kind is 'option' or 'param'."""
    for prefix, kind in _PREFIXES.items():
        if name.startswith(prefix):
            bare = name[len(prefix):]
            if kind == "option":
                bare = bare.replace("-", "_")
                if bare not in option_types:
                    raise ConfigurationError(
                        f"--vary {name}: solver '{solver}' has no option '{bare}'; its options are: {', '.join(option_types)}"
                    )
            elif bare not in parameters:
                raise ConfigurationError(
                    f"--vary {name}: problem '{problem}' has no parameter '{bare}'; "
                    f"its parameters are: {', '.join(sorted(parameters)) or 'none'}"
                )
            return kind, bare
    as_option = name.replace("-", "_")
    is_option, is_param = as_option in option_types, name in parameters
    if is_option and is_param:
        raise ConfigurationError(
            f"--vary {name}: '{name}' is both a solver option and a parameter of problem '{problem}'; "
            f"write option.{name} or param.{name}"
        )
    if is_option:
        return "option", as_option
    if is_param:
        return "param", name
    raise ConfigurationError(
        f"--vary: unknown name '{name}'; solver '{solver}' options are: {', '.join(option_types)}; "
        f"problem '{problem}' parameters are: {', '.join(sorted(parameters)) or 'none'}"
    )


def _numbers(name: str, values) -> list[tuple[str, float]]:
    """Value texts and their numbers; at least two, all numeric, no repeats."""
    if isinstance(values, str):
        values = [v.strip() for v in values.split(",") if v.strip()]
    texts = [v if isinstance(v, str) else repr(v) if isinstance(v, float) else str(v) for v in values]
    out = []
    for text in texts:
        try:
            number = float(text)
        except ValueError:
            raise ConfigurationError(f"--vary {name}: value '{text}' is not a number; give numbers like {name}=0.02,0.01,0.005") from None
        if not math.isfinite(number):
            raise ConfigurationError(f"--vary {name}: value '{text}' is not a finite number")
        if any(number == seen for _, seen in out):
            raise ConfigurationError(f"--vary {name}: value '{text}' is given twice")
        out.append((text, number))
    if len(out) < 2:
        raise ConfigurationError(f"--vary {name} needs at least 2 distinct values, got {len(out)}; e.g. {name}=256,512,1024")
    return out


# ----- the study ---------------------------------------------------------------------------


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


def _row(value, run: Path, summary: dict | None, status: str) -> dict:
    errors = (summary or {}).get("errors") or {}
    row = {"value": value, "rel_l2": math.nan, "max_abs": math.nan}
    for key, number in errors.items():
        if isinstance(number, (int, float)) and not isinstance(number, bool):
            row[key] = float(number)
        elif isinstance(number, str):  # NaN/inf come back from JSON as strings
            try:
                row[key] = float(number)
            except ValueError:
                pass
    row["train_time_s"] = (summary or {}).get("train_time_s")
    row["steps"] = (summary or {}).get("steps")
    row["status"] = status
    row["run_dir"] = str(run)
    return row


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
        solver: solver name.
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
        ``options``, ``rows`` (value, rel_l2, max_abs, other error entries, train_time_s,
        steps, status, run_dir), ``fit`` (slope, intercept, order, n_used, fit_range)
        and ``out``.
    """
    from ._cli import _load_problem, solve_to_directory

    say = echo or (lambda line: None)
    problems, solvers = importlib.import_module("problems"), importlib.import_module("solvers")
    params = {str(k): str(v) for k, v in (params or {}).items()}
    options = {str(k).replace("-", "_"): str(v) for k, v in (options or {}).items()}
    if isinstance(vary, str):
        vary = parse_vary(vary)
    try:
        raw_name, raw_values = vary
    except (TypeError, ValueError):
        raise ConfigurationError(f"vary must be (NAME, [values]) or 'NAME=v1,v2,...', got {vary!r}") from None
    solver_cls = solvers.resolve_solver(solver)
    problem_cls = problems.resolve_problem(problem)
    option_types = solver_cls.Options.field_types()
    kind, name = _resolve_name(str(raw_name), option_types, dict(problem_cls.parameters), solver, problem)
    fixed = options if kind == "option" else params
    if name in fixed:
        where = f"--set {name}=... or --{name.replace('_', '-')}" if kind == "option" else f"--param {name}=..."
        raise ConfigurationError(
            f"{name} is varied by --vary and also fixed by {where}; drop one of them"
        )
    values = _numbers(str(raw_name), raw_values)
    span = parse_fit_range(fit_range)
    number_type = option_types[name] if kind == "option" else type(problem_cls.parameters[name])
    if resume and force:
        raise ConfigurationError("--force and --resume exclude each other: resume the study, or start it over")
    if resume and out is None:
        raise ConfigurationError("--resume needs --out DIR (the study to continue)")

    # every configuration is checked before anything is written
    plan = []
    for text, number in values:
        run_params = params | ({name: text} if kind == "param" else {})
        run_options = options | ({name: text} if kind == "option" else {})
        prob = _load_problem(problem, run_params)
        opts = solver_cls.Options.from_strings(run_options)
        value = int(number) if number_type is int and float(number).is_integer() else float(number)
        expected = {"problem": problem, "solver": solver, "parameters": prob.params, "options": opts.as_dict()}
        plan.append((text, value, run_params, run_options, expected))

    if out is None:
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        out = Path("runs") / f"convergence-{Path(problem.split(':')[0]).stem}-{solver}-{name}-{stamp}"
    out = Path(out)
    if resume:
        if not out.is_dir() or not any(out.iterdir()):
            raise ConfigurationError(f"cannot resume: '{out}' holds no convergence study; start one without --resume")
        previous = out / STUDY_JSON
        if previous.is_file():
            try:
                saved = json.loads(previous.read_text(encoding="utf-8"))
            except ValueError as exc:
                raise ConfigurationError(f"'{previous}' is damaged (not valid JSON: {exc}); start over with --force") from None
            saved_vary = (saved.get("vary") or {})
            if (saved.get("problem"), saved.get("solver"), saved_vary.get("name"), saved_vary.get("kind")) != (problem, solver, name, kind):
                raise ConfigurationError(
                    f"--resume: '{out}' holds a study of {saved_vary.get('kind')} {saved_vary.get('name')} for "
                    f"{saved.get('problem')} with {saved.get('solver')}, not {kind} {name} for {problem} with {solver}; "
                    f"start over with --force or choose another --out"
                )
        study_dir = RunDirectory(out)
    else:
        study_dir = RunDirectory.prepare(out, force=force)

    study = {
        "problem": problem,
        "solver": solver,
        "vary": {"name": name, "kind": kind, "values": [v for _, v, *_ in plan]},
        "params": params,
        "options": options,
        "status": "running",
        "created": datetime.datetime.now().isoformat(timespec="seconds"),
        "command": command_line,
        "rows": [],
        "fit": None,
        "out": str(study_dir.path),
    }
    for k, (text, value, run_params, run_options, expected) in enumerate(plan, 1):
        run = study_dir.path / f"{name}={text}"
        label = f"[{k}/{len(plan)}] {name}={text}"
        summary = _finished(run) if resume else None
        if summary is not None and _check_saved_config(run, expected):
            say(f"{label}: reused the finished run in {run}")
            study["rows"].append(_row(value, run, summary, "finished"))
            _write_json(study_dir, study, span)
            continue
        continue_run = (
            resume and not (run / RunDirectory.SUMMARY).exists() and (run / RunDirectory.CHECKPOINT).is_file()
            and _check_saved_config(run, expected)
        )
        say(f"{label}: {'continuing' if continue_run else 'solving'} in {run}")
        try:
            summary = solve_to_directory(
                problem, solver, run,
                params=None if continue_run else run_params,
                options=None if continue_run else run_options,
                force=resume and not continue_run, resume=continue_run,
                progress=progress, render=render, command_line=command_line,
            )
            row = _row(value, run, summary, summary.get("status", "finished"))
        except TrainingDiverged as exc:
            say(f"{label}: diverged ({exc}); the study goes on")
            row = _row(value, run, None, "diverged")
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
    _write_csv(study_dir.path / STUDY_CSV, study["rows"])
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


def _columns(rows: list[dict]) -> list[str]:
    head, tail = ["value", "rel_l2", "max_abs"], ["train_time_s", "steps", "status", "run_dir"]
    extra = []
    for row in rows:
        extra += [k for k in row if k not in head and k not in tail and k not in extra]
    return head + extra + tail


def _write_csv(path: Path, rows: list[dict]) -> None:
    columns = _columns(rows)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, columns, restval="")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in columns})
    tmp.replace(path)


# ----- reporting ---------------------------------------------------------------------------


def _number(x, spec: str = ".3e") -> str:
    if x is None:
        return "-"
    if isinstance(x, float) and not math.isfinite(x):
        return "nan"
    return format(x, spec)


def format_table(study: dict) -> str:
    """The rows as a text table, then ``observed order p = ...``."""
    name = study["vary"]["name"]
    rows = study["rows"]
    extra = [c for c in _columns(rows) if c.startswith("floor_")]
    steps = name != "steps"  # no second steps column when the steps are what varies
    header = [name, "rel_l2", "max_abs", *extra, *(["steps"] if steps else []), "time_s", "status"]
    body = [
        [f"{r['value']:g}", _number(r["rel_l2"]), _number(r["max_abs"]), *(_number(r.get(c)) for c in extra),
         *([("-" if r["steps"] is None else str(r["steps"]))] if steps else []), _number(r["train_time_s"], ".2f"),
         r["status"]]
        for r in rows
    ]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    lines = ["  ".join(cell.rjust(w) if i < len(header) - 1 else cell for i, (cell, w) in enumerate(zip(line, widths))).rstrip()
             for line in [header, *body]]
    lines.append(_order_line(study))
    return "\n".join(lines)


def _order_line(study: dict) -> str:
    fit, name = study["fit"], study["vary"]["name"]
    where = ""
    if fit.get("fit_range"):
        lo, hi = fit["fit_range"]
        where = f", {name} in [{'-inf' if lo is None else f'{lo:g}'}, {'inf' if hi is None else f'{hi:g}'}]"
    if fit["order"] is None:
        return f"observed order p = n/a (needs 2 finished runs with a finite positive rel_l2{where})"
    return f"observed order p = {fit['order']:.3f} (slope of log rel_l2 against log {name}, {fit['n_used']} runs{where})"


def plot_convergence(study: dict, path: str | Path) -> Path:
    """Log-log relative L2 error (markers) against the value, the fitted line, and any stepper floor (dashed,
    with the final-time error it compares to: the floor is an error at the final time, ``rel_l2`` is over all error points)."""
    from .viz import _matplotlib

    plt = _matplotlib()
    name, rows, fit = study["vary"]["name"], study["rows"], study["fit"]
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)

    def positive(key):
        pts = [(r["value"], r.get(key)) for r in rows
               if isinstance(r.get(key), (int, float)) and math.isfinite(r[key]) and r[key] > 0 and r["value"] > 0]
        return np.array(sorted(pts), dtype=float).reshape(-1, 2).T

    drawn = False
    x, y = positive("rel_l2")
    if x.size:
        ax.plot(x, y, "o-", ms=7, lw=1.2, color="tab:blue", label="relative L2 error")
        drawn = True
    x, y = positive("max_abs")
    if x.size:
        ax.plot(x, y, "s:", ms=5, lw=1.0, color="tab:orange", alpha=0.8, label="max abs error")
        drawn = True
    x, y = positive("floor_rel_l2")
    if x.size:
        ax.plot(x, y, "--", lw=1.5, color="black", label="stepper floor (final time)")
        drawn = True
        x, y = positive("rel_l2_final")  # the floor's own measure: the error at the final time
        if x.size:
            ax.plot(x, y, "^-", ms=6, lw=1.0, color="tab:green", label="relative L2 at the final time")
    if fit and fit.get("order") is not None:
        used = np.array(fit["values_used"], dtype=float)
        xs = np.geomspace(used.min(), used.max(), 50)
        ax.plot(xs, math.exp(fit["intercept"]) * xs ** fit["slope"], "-", lw=2.0, color="tab:red", alpha=0.7,
                label=f"fit: observed order p = {fit['order']:.2f}")
    if drawn:
        from matplotlib.ticker import FuncFormatter

        ax.set_xscale("log")
        ax.set_yscale("log")
        plain, blank = FuncFormatter(lambda v, _: f"{v:g}"), FuncFormatter(lambda v, _: "")
        values = sorted({r["value"] for r in rows if r["value"] > 0})
        if len(values) <= 12:  # the studied values themselves on the x axis
            ax.set_xticks(values)
            ax.xaxis.set_minor_formatter(blank)
        ax.xaxis.set_major_formatter(plain)
        ax.yaxis.set_major_formatter(plain)
        ax.yaxis.set_minor_formatter(plain if np.ptp(np.log10(ax.yaxis.get_data_interval())) < 1.2 else blank)
        ax.legend(fontsize=9)
    else:
        ax.text(0.5, 0.5, "no finite errors to plot\n(diverged runs, or no reference solution)", ha="center",
                va="center", transform=ax.transAxes)
    ax.set_xlabel(name)
    ax.set_ylabel("error")
    ax.set_title(f"{study['problem']} · {study['solver']}: error against {name}")
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)
