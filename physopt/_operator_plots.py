"""Pictures of a trained operator: a few test draws (input / prediction / truth / error) and the error distribution.

Both read ``operator.npz`` of a run directory (written by ``physopt solve`` for a
problem family): ``input_axes_*``/``output_axes_*`` (grid axes), ``inputs``,
``predictions``, ``truths`` (a few test draws) and ``errors`` (the relative L2 error
of every test draw), with the names of the input and output in ``names``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._errors import ConfigurationError

__all__ = ["OPERATOR_FILE", "plot_operator_examples", "plot_error_distribution", "render_operator_run"]

OPERATOR_FILE = "operator.npz"


def _matplotlib():
    from .viz import _matplotlib as pyplot  # lazily: viz imports this module's renderer

    return pyplot()


def _read(run_dir: Path) -> dict:
    try:
        with np.load(run_dir / OPERATOR_FILE, allow_pickle=False) as f:
            return {k: np.array(f[k]) for k in f.files}
    except Exception as exc:  # noqa: BLE001 - a damaged file
        raise ConfigurationError(f"'{run_dir / OPERATOR_FILE}' cannot be read ({type(exc).__name__})") from None


def _axes(data: dict, which: str) -> list[np.ndarray]:
    return [data[k] for k in sorted(k for k in data if k.startswith(f"{which}_axes_"))]


def _panel(fig, ax, axes: list[np.ndarray], values: np.ndarray, title: str, cmap: str = "viridis") -> None:
    if len(axes) == 1:
        ax.plot(axes[0], values, lw=1.5)
        ax.grid(alpha=0.3)
    else:
        image = ax.pcolormesh(axes[0], axes[1], values.T, shading="auto", cmap=cmap)
        fig.colorbar(image, ax=ax, fraction=0.046)
        ax.set_aspect("auto")
    ax.set_title(title, fontsize=9)


def plot_operator_examples(data: dict, path: str | Path) -> Path:
    """Rows of test draws; columns input, prediction, truth and error (curves in 1-D, images in 2-D)."""
    plt = _matplotlib()
    names = [str(n) for n in data["names"]]
    rows = len(data["inputs"])
    fig, axs = plt.subplots(rows, 4, figsize=(13, 2.6 * rows), dpi=110, squeeze=False)
    x_in, x_out = _axes(data, "input"), _axes(data, "output")
    for i in range(rows):
        error = data["predictions"][i] - data["truths"][i]
        rel = np.linalg.norm(error) / np.linalg.norm(data["truths"][i])
        _panel(fig, axs[i, 0], x_in, data["inputs"][i], f"input {names[0]}")
        _panel(fig, axs[i, 1], x_out, data["predictions"][i], f"prediction {names[1]}")
        _panel(fig, axs[i, 2], x_out, data["truths"][i], f"truth {names[1]}")
        _panel(fig, axs[i, 3], x_out, error, f"error (relative L2 {rel:.2e})", cmap="coolwarm")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def plot_error_distribution(errors: np.ndarray, path: str | Path) -> Path:
    """Histogram of the test draws' relative L2 errors (log-spaced bins) with the mean, median and worst marked."""
    plt = _matplotlib()
    errors = np.asarray(errors, float)
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    positive = errors[errors > 0]
    bins = np.geomspace(positive.min(), positive.max() * 1.0001, 30) if len(positive) > 1 else 10
    ax.hist(errors, bins=bins, color="tab:blue", alpha=0.8)
    if len(positive) > 1:
        ax.set_xscale("log")
    for value, label, style in ((errors.mean(), "mean", "-"), (np.median(errors), "median", "--"),
                                (errors.max(), "worst", ":")):
        ax.axvline(value, color="black", ls=style, lw=1.2, label=f"{label} {value:.2e}")
    ax.set_xlabel("relative L2 error of a test draw")
    ax.set_ylabel("test draws")
    ax.set_title(f"test error distribution ({len(errors)} draws)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def render_operator_run(run_dir: Path, out: Path, kind: str = "all") -> list[Path]:
    """``operator_examples.png`` (kind ``solution``), ``operator_errors.png`` (``error``); the caller draws the loss."""
    data = _read(run_dir)
    written = []
    if kind in ("all", "solution"):
        written.append(plot_operator_examples(data, out / "operator_examples.png"))
    if kind in ("all", "error") and len(data["errors"]):
        written.append(plot_error_distribution(data["errors"], out / "operator_errors.png"))
    if kind in ("panels", "animation", "iso"):
        raise ConfigurationError(f"--kind {kind} does not apply to an operator run; use solution, error or loss")
    return written
