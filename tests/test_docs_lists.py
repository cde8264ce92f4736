"""The documentation keeps up: its lists name what is registered, its example errors are what physopt prints.

docs/cli.md, docs/solvers/pinn.md, docs/optimizers.md, docs/problems.md and
docs/index.md list the registered optimizers, problems, solvers and solver
option flags; docs/cli.md's "Some examples" block shows error messages, each
reproduced here with the command that prints it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from docs_pages import PARSED, ROOT


# ----- lists the docs keep of what is registered ------------------------------------------


def _paragraph(page: str, anchor: str) -> str:
    """The paragraph (or table row) of ``page`` that holds ``anchor``, with its lines joined."""
    text = (ROOT / page).read_text(encoding="utf-8")
    for para in re.split(r"\n\s*\n", text):
        if anchor in para:
            return " ".join(para.split())
    raise AssertionError(f"{page}: no paragraph holds {anchor!r} any more; update this test with the page")


def _names(text: str) -> set[str]:
    return set(re.findall(r"`([a-z][a-z0-9_+]*)`", text))


def test_optimizer_lists_name_every_registered_optimizer():
    from physopt import OPTIMIZERS

    names = set(OPTIMIZERS)
    for page, anchor in [
        ("docs/cli.md", "- `optimizers`: every registered optimizer"),
        ("docs/solvers/pinn.md", "The registered optimizers are those of"),
    ]:
        listed = _names(_paragraph(page, anchor)) - {"adam+lbfgs"}
        assert listed >= names, f"{page}: the list at {anchor!r} lacks {sorted(names - listed)}"
    table = set(re.findall(r"^\| `([a-z_]+)` \|", (ROOT / "docs/optimizers.md").read_text(encoding="utf-8"), re.M))
    assert table == names, f"docs/optimizers.md's table has {sorted(table)}; registered: {sorted(names)}"


def test_problem_and_solver_lists_name_every_registered_one():
    import problems._registry
    import solvers._registry

    problems._registry.registered_problems()
    names = set(problems._registry.PROBLEMS._classes)  # the library (plug-ins are not the docs' business)
    text = (ROOT / "docs/problems.md").read_text(encoding="utf-8")
    library = text[text.index("## The problem library"):]
    library = library[: library.index("\n### ")]
    table = set(re.findall(r"^\| `([a-z0-9_]+)` \|", library, re.M))
    assert table == names, f"docs/problems.md's library table: missing {sorted(names - table)}, not registered {sorted(table - names)}"
    index = _paragraph("docs/index.md", "_library/")
    assert f"{len(names)} problems" in index and all(n in index for n in names), (
        f"docs/index.md's layout should list the {len(names)} library problems {sorted(names)}"
    )
    solvers._registry.registered_solvers()
    solver_names = set(solvers.SOLVERS._classes)  # the built-in ones
    listed = _names(_paragraph("docs/cli.md", "- `solvers`:"))
    assert solver_names <= listed, f"docs/cli.md's `solvers` entry lacks {sorted(solver_names - listed)}"


def test_cli_flag_table_names_every_flag():
    """docs/cli.md's table of solver option flags: every generated flag, its option and the solvers that take it."""
    from physopt.cli._main import solver_flags

    text = (ROOT / "docs/cli.md").read_text(encoding="utf-8")
    rows = {flag: (name, takers) for flag, name, takers in re.findall(r"^\| `--([a-z-]+)` \| `([a-z_]+)` \| ([a-z_, ]+) \|", text, re.M)}
    expected = {entry.flag[2:]: (name, ", ".join(entry.solvers)) for name, entry in solver_flags().items()}
    wrong = {flag: (rows.get(flag), want) for flag, want in expected.items() if rows.get(flag) != want}
    assert not wrong, f"docs/cli.md's solver option flags (flag: (documented, generated)): {wrong}"
    assert not set(rows) - set(expected), f"docs/cli.md documents flags no solver has: {sorted(set(rows) - set(expected))}"


# ----- the example error messages are what physopt prints ---------------------------------

_TWO_PROBLEMS = '''
from problems import Problem, Box, Dirichlet
from physopt import laplacian

class Channel(Problem):
    domain = Box([0.0, 0.0], [1.0, 1.0])
    conditions = [Dirichlet(0.0)]
    def residual(self, u, x):
        return -laplacian(u)(x)

class Other(Channel):
    pass
'''


def _two_unknowns_run() -> list[str]:
    """A tiny run of problems.md's `Oscillator` (fields u, v), written to ``osc``."""
    from physopt.cli import main

    block = next(b for b in PARSED[ROOT / "docs/problems.md"][0] if "class Oscillator" in b.code)
    Path("osc.py").write_text(block.code, encoding="utf-8")
    tiny = ["--steps", "2", "--width", "4", "--depth", "1", "--points", "16", "--boundary-points", "8"]
    assert main(["solve", "osc.py", *tiny, "--out", "osc", "--no-progress", "--no-render"]) == 0
    return ["plot", "osc", "--field", "w"]


_REPRODUCE = {  # the start of an example error -> how to make physopt print it
    "unknown problem 'nope'": lambda: ["solve", "nope"],
    "problem 'heat1d' has no parameter(s) foo": lambda: ["solve", "heat1d", "--param", "foo=1"],
    "unknown optimizer 'sgd'": lambda: ["solve", "poisson2d", "--optimizer", "sgd"],
    "problem file 'probs/channel.py' defines several": lambda: (
        Path("probs").mkdir(),
        Path("probs/channel.py").write_text(_TWO_PROBLEMS, encoding="utf-8"),
        ["solve", "probs/channel.py"],
    )[-1],
    "unknown field 'w'": _two_unknowns_run,
    "unknown derivative mode 'foo'": lambda: ["solve", "poisson2d", "--derivatives", "foo"],
}
_EXAMPLES = next(
    b for b in PARSED[ROOT / "docs/cli.md"][0] if b.code.startswith("physopt: error: unknown problem")
)


@pytest.mark.parametrize("line", _EXAMPLES.code.splitlines(), ids=lambda line: line[16:50])
def test_example_error_messages_are_real(line, tmp_path, monkeypatch, capsys):
    """docs/cli.md's "Some examples" block: each line is what the command prints today."""
    from physopt.cli import main

    monkeypatch.chdir(tmp_path)
    message = line.removeprefix("physopt: error: ")
    make = next((f for start, f in _REPRODUCE.items() if message.startswith(start)), None)
    assert make, f"{_EXAMPLES.where}: no way to reproduce the example {line!r}; add one to _REPRODUCE"
    argv = make()
    capsys.readouterr()
    assert main(argv) == 2
    printed = capsys.readouterr().err.strip().splitlines()[-1]
    assert printed == line, f"{_EXAMPLES.where}: `physopt {' '.join(argv)}` prints\n{printed}\nnot\n{line}"
