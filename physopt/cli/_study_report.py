"""A convergence study's rows as a CSV file and as the text table ``physopt convergence`` prints."""

from __future__ import annotations

import csv
import math
from pathlib import Path

from .._atomic import atomic_write

__all__ = ["columns", "write_csv", "format_table", "order_line"]

_HEAD, _TAIL = ["value", "rel_l2", "max_abs"], ["train_time_s", "steps", "status", "run_dir"]


def columns(rows: list[dict]) -> list[str]:
    """``value, rel_l2, max_abs``, every other error or metric column of the rows, then the run's facts."""
    extra = []
    for row in rows:
        extra += [k for k in row if k not in _HEAD and k not in _TAIL and k not in extra]
    return _HEAD + extra + _TAIL


def write_csv(path: Path, rows: list[dict]) -> None:
    names = columns(rows)

    def write(tmp: Path) -> None:
        with tmp.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, names, restval="")
            writer.writeheader()
            for row in rows:
                writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in names})

    atomic_write(path, write)


def _number(x, spec: str = ".3e") -> str:
    if x is None:
        return "-"
    if isinstance(x, float) and not math.isfinite(x):
        return "nan"
    return format(x, spec)


def format_table(study: dict) -> str:
    """The rows as a text table (a column per metric the solver reports), then ``observed order p = ...``."""
    name = study["vary"]["name"]
    rows = study["rows"]
    extra = [c for c in (study.get("metrics") or {}) if c not in _HEAD]
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
    lines.append(order_line(study))
    return "\n".join(lines)


def order_line(study: dict) -> str:
    fit, name = study["fit"], study["vary"]["name"]
    where = ""
    if fit.get("fit_range"):
        lo, hi = fit["fit_range"]
        where = f", {name} in [{'-inf' if lo is None else f'{lo:g}'}, {'inf' if hi is None else f'{hi:g}'}]"
    if fit["order"] is None:
        return f"observed order p = n/a (needs 2 finished runs with a finite positive rel_l2{where})"
    return f"observed order p = {fit['order']:.3f} (slope of log rel_l2 against log {name}, {fit['n_used']} runs{where})"
