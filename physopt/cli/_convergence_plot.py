"""``convergence.png``: log-log errors against the varied value, the fitted line, and the solver's error metrics."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

__all__ = ["plot_convergence"]

# the solver's error metrics, in the order it reports them (e.g. a stepper floor, then the error it compares to)
_METRIC_STYLES = [("--", "black", None), ("^--", "tab:green", 6), ("v--", "tab:purple", 6), ("d--", "tab:brown", 6),
                  ("x--", "tab:pink", 6), ("*--", "tab:olive", 7)]


def _positive(rows: list[dict], key: str):
    pts = [(r["value"], r.get(key)) for r in rows
           if isinstance(r.get(key), (int, float)) and math.isfinite(r[key]) and r[key] > 0 and r["value"] > 0]
    return np.array(sorted(pts), dtype=float).reshape(-1, 2).T


def _draw(ax, study: dict) -> bool:
    """The lines; whether any finite error was drawn."""
    rows, fit = study["rows"], study.get("fit")
    drawn = False
    x, y = _positive(rows, "rel_l2")
    if x.size:
        ax.plot(x, y, "o-", ms=7, lw=1.2, color="tab:blue", label="relative L2 error")
        drawn = True
    x, y = _positive(rows, "max_abs")
    if x.size:
        ax.plot(x, y, "s:", ms=5, lw=1.0, color="tab:orange", alpha=0.8, label="max abs error")
        drawn = True
    errors = [(name, about) for name, about in (study.get("metrics") or {}).items() if about.get("kind") == "error"]
    for (name, about), (style, color, size) in zip(errors, _METRIC_STYLES * (1 + len(errors) // len(_METRIC_STYLES))):
        x, y = _positive(rows, name)
        if x.size:
            ax.plot(x, y, style, ms=size or 0, lw=1.5, color=color, label=about.get("description") or name)
            drawn = True
    if fit and fit.get("order") is not None:
        used = np.array(fit["values_used"], dtype=float)
        xs = np.geomspace(used.min(), used.max(), 50)
        ax.plot(xs, math.exp(fit["intercept"]) * xs ** fit["slope"], "-", lw=2.0, color="tab:red", alpha=0.7,
                label=f"fit: observed order p = {fit['order']:.2f}")
    return drawn


def _log_axes(ax, rows: list[dict]) -> None:
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


def plot_convergence(study: dict, path: str | Path) -> Path:
    """Log-log relative L2 and max errors (markers) against the value, the fitted line, and each metric of kind
    ``"error"`` the solver reports (``study["metrics"]``: ``{name: {"description", "kind"}}``, values in the rows),
    dashed and labelled with its description — e.g. a time stepper's floor and the final-time error it compares to."""
    from ..viz import _matplotlib

    plt = _matplotlib()
    name, rows = study["vary"]["name"], study["rows"]
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    if _draw(ax, study):
        _log_axes(ax, rows)
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
