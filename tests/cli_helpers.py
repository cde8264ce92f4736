"""Running ``physopt`` in-process in tests, and reading its one-line errors."""

from __future__ import annotations

from physopt.cli import main


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
