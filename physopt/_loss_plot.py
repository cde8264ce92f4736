"""The training curves of a run: loss, its terms, the relative L2 error and the phases, from ``metrics.jsonl``.

:func:`loss_figure` builds the matplotlib figure (what the tests inspect), :func:`plot_loss`
writes it as ``loss.png``; :mod:`physopt.viz` re-exports both.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ._errors import ConfigurationError
from ._run_directory import RunDirectory

__all__ = ["loss_figure", "plot_loss"]


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _read_metrics(path: Path) -> list[dict]:
    """The step records of a ``metrics.jsonl``, one per step, in step order.

    Lines cut short by an interrupted run and event lines (no ``loss``) are skipped; a step
    written twice (a run resumed from an earlier checkpoint) keeps its last record.
    """
    by_step: dict[int, dict] = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and _number(record.get("step")) and _number(record.get("loss")):
            by_step[int(record["step"])] = record
    return [by_step[k] for k in sorted(by_step)]


def _run_title(run_dir: Path) -> str | None:
    """``problem (parameters) · solver`` from a run directory's ``config.json`` (or ``summary.json``)."""
    for name in (RunDirectory.CONFIG, RunDirectory.SUMMARY):
        try:
            info = json.loads((Path(run_dir) / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        problem = str(info.get("problem") or "")
        if not problem:
            continue
        if problem.endswith(".py") or ".py:" in problem:  # a user's file: name the class it holds
            problem = f"{info.get('problem_class') or problem} ({Path(problem.split(':')[0]).name})"
        params = info.get("parameters") or {}
        if params:
            problem += " (" + ", ".join(f"{k} = {v:g}" if _number(v) else f"{k} = {v}" for k, v in params.items()) + ")"
        return f"{problem} · {info['solver']}" if info.get("solver") else problem
    return None


def _floor_error(run_dir: Path) -> float | None:
    """``floor_rel_l2`` of a run's ``summary.json`` (time-marching runs whose problem has an ideal stepper):
    among its ``metrics`` (where solutions report it), else its ``errors`` (older runs)."""
    try:
        summary = json.loads((Path(run_dir) / RunDirectory.SUMMARY).read_text(encoding="utf-8"))
        found = [part["floor_rel_l2"] for part in (summary.get("metrics"), summary.get("errors"))
                 if isinstance(part, dict) and "floor_rel_l2" in part]
        value = found[0]
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError):
        return None
    return float(value) if _number(value) and value > 0 else None


def _positive(values) -> np.ndarray:
    """Values for a log axis: non-positive or non-finite ones become gaps (NaN)."""
    v = np.asarray(values, dtype=float)
    return np.where(np.isfinite(v) & (v > 0), v, np.nan)


def loss_figure(metrics_path: str | Path, title: str | None = None):
    r"""The training curves of a ``metrics.jsonl`` as a matplotlib figure (the caller closes it).

    Two panels, against the step and against the wall-clock time (``time``, seconds; the
    second panel only when every record has it), log-scale y: the total loss, each loss
    term ``loss_<term>`` (thinner), the relative L2 error :math:`\|u-u^*\|/\|u^*\|` where it
    was measured (``rel_l2``; older runs: ``error``), a dashed line where one optimizer
    phase hands over to the next (``phase`` changes), and, for time-marching runs that
    record the physical time ``t``, that time on the step panel's top axis. ``title``
    defaults to the run's problem and solver (``config.json`` next to the metrics).
    """
    from .viz import _matplotlib  # the Agg backend, set once for every plot

    plt = _matplotlib()
    metrics_path = Path(metrics_path)
    records = _read_metrics(metrics_path)
    if not records:
        raise ConfigurationError(f"'{metrics_path}' holds no loss values to plot")
    if title is None:
        title = _run_title(metrics_path.parent) or metrics_path.parent.name
    terms = list(dict.fromkeys(k for r in records for k in r if k.startswith("loss_")))
    loss = np.array([r["loss"] for r in records], dtype=float)
    if len(terms) == 1 and np.allclose([records[i].get(terms[0], np.nan) for i in range(len(records))], loss, equal_nan=True):
        total_label, terms = f"loss (= {terms[0]})", []  # one term: it is the total
    else:
        total_label = "loss (total)"
    error_key = next((k for k in ("rel_l2", "error") if any(_number(r.get(k)) for r in records)), None)
    axes_keys = [("step", "step")]
    if all(_number(r.get("time")) for r in records):
        axes_keys.append(("time", "wall-clock time [s]"))

    fig, axes = plt.subplots(1, len(axes_keys), figsize=(6.4 * len(axes_keys), 4.8), dpi=120, sharey=True, squeeze=False)
    for ax, (key, xlabel) in zip(axes[0], axes_keys):
        x = np.array([r[key] for r in records], dtype=float)
        ax.plot(x, _positive(loss), lw=1.8, color="C0", label=total_label)
        for k, term in enumerate(terms):
            y = [r.get(term, np.nan) for r in records]
            ax.plot(x, _positive(y), lw=0.9, alpha=0.85, color=f"C{k + 2}", label=term)
        if error_key:
            measured = [(r[key], r[error_key]) for r in records if _number(r.get(error_key))]
            ex, ey = np.array(measured, dtype=float).T
            ax.plot(ex, _positive(ey), "o-", ms=3.5, lw=1.3, color="black", label="relative L2 error")
        for i in range(1, len(records)):  # phase hand-overs: after the old phase's last step
            old, new = records[i - 1].get("phase"), records[i].get("phase")
            if old != new and old is not None and new is not None:
                ax.axvline(x[i - 1], color="0.35", ls="--", lw=1.0, gid="phase-boundary")
                ax.annotate(f"{old} → {new}", xy=(x[i - 1], 1.0), xycoords=("data", "axes fraction"), xytext=(3, -3),
                            textcoords="offset points", ha="left", va="top", fontsize=8, color="0.25", gid="phase-boundary",
                            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8})
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3, which="both")
    floor = _floor_error(metrics_path.parent)
    if floor is not None:  # time marching: the error of the ideal stepper (same method and dt) at the end
        for ax, (key, _) in zip(axes[0], axes_keys):
            ax.plot([records[-1][key]], [floor], "*", ms=11, color="C1", label="ideal stepper's error at the end (floor)")
    steps = np.array([r["step"] for r in records], dtype=float)
    if all(_number(r.get("t")) for r in records) and np.ptp(steps) > 0:  # time marching: the physical time on top
        t = np.array([r["t"] for r in records], dtype=float)
        t0, dt = np.polynomial.polynomial.polyfit(steps, t, 1)
        if dt > 0 and np.allclose(t0 + dt * steps, t, rtol=1e-6, atol=1e-9 * dt):  # t = t0 + step dt
            top = axes[0, 0].secondary_xaxis("top", functions=(lambda n: t0 + dt * n, lambda u: (u - t0) / dt))
            top.set_xlabel("physical time t", fontsize=9)
    axes[0, 0].set_ylabel("loss, relative L2 error")
    axes[0, 0].legend(fontsize=8, loc="best")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_loss(metrics_path: str | Path, path: str | Path, title: str | None = None) -> Path:
    """Write :func:`loss_figure` of a ``metrics.jsonl`` to ``path`` (PNG)."""
    from .viz import _matplotlib  # the Agg backend, set once for every plot

    plt = _matplotlib()
    fig = loss_figure(metrics_path, title)
    try:
        fig.savefig(path)
    finally:
        plt.close(fig)
    return Path(path)
