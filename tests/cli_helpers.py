"""Running ``physopt`` in-process in tests, and reading its one-line errors and its run directories.

Also the tiny sizes of the CLI tests' runs (``TINY``), the library problems they
expect, and the helper problem files of ``cli_problems/``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from physopt.cli import main

PROBLEMS_DIR = Path(__file__).parent / "cli_problems"
LIBRARY = (
    "poisson2d", "poisson_nd", "heat1d", "convection1d", "burgers1d", "lshape_poisson", "heat2d", "allen_cahn2d", "burgers2d",
)
TINY = ["--steps", "6", "--points", "64", "--boundary-points", "32", "--width", "8", "--depth", "1", "--no-progress"]


def cli(capsys, *argv):
    """Run ``physopt ARGV`` in-process; return (exit code, stdout, stderr).

    argparse errors leave through SystemExit; they count as an exit code too.
    """
    capsys.readouterr()  # drop anything printed before
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def error_line(err: str) -> str:
    """The single ``physopt: error: ...`` line of stderr (and check that there is exactly one line)."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got:\n{err}"
    assert lines[0].startswith("physopt: error: "), lines[0]
    return lines[0]


def problem_file(name: str, where: Path) -> Path:
    """Copy a helper problem file into ``where`` and return the copy."""
    target = where / name
    shutil.copy(PROBLEMS_DIR / name, target)
    return target


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def step_losses(path: Path) -> list[tuple[int, float]]:
    return [(r["step"], r["loss"]) for r in read_jsonl(path) if "loss" in r]
