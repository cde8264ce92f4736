"""The documentation cannot rot: its Python runs.

Every ```python block of README.md and docs/**/*.md (``docs_pages.PY_BLOCKS``)
runs. The blocks of one page run in order in one namespace (a block may use
what an earlier block of its page defined), in a fresh folder per page, with
every solver shrunk to a few steps, points and units (``docs_pages.TINY``), so
that all of them take seconds. A block may print no VTK "bad X server" warning
(the docs promise headless use). A block marked ``<!-- docs-test: skip (why) -->``
does not run; one marked ``<!-- docs-test: setup physopt solve ... -->`` runs
that command (tiny) in its page's folder first.
"""

from __future__ import annotations

import dataclasses
import shlex

import pytest

from physopt.viz import pyvista_installed
from docs_pages import PY_BLOCKS, Block, shrink


def _tiny_solvers(monkeypatch) -> None:
    import solvers

    for cls in {solvers.PINN, solvers.TENG} | set(solvers.registered_solvers().values()):
        original = cls.__init__

        def __init__(self, problem, options=None, _original=original, _cls=cls, **overrides):
            opts = dataclasses.replace(options or _cls.Options(), **overrides)
            _original(self, problem, shrink(opts))

        monkeypatch.setattr(cls, "__init__", __init__)


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """Per page: its namespace, its folder, and how far its blocks have run."""
    state = {}
    return lambda page: state.setdefault(
        page, {"ns": {"__name__": "__docs__"}, "dir": tmp_path_factory.mktemp(page.stem), "done": set(), "failed": None}
    )


def _run_block(block: Block, page: dict) -> None:
    from physopt.cli import main

    for command in block.setup:
        argv = shlex.split(command)[1:]
        assert main([*argv, "--no-progress"]) == 0, f"setup `{command}` failed"
    code = compile("\n" * (block.line - 1) + block.code, str(block.page), "exec", dont_inherit=True)  # as a user's file: no __future__ of this module; tracebacks name the page's lines
    exec(code, page["ns"])


def _block_marks(block: Block) -> list:
    return ([pytest.mark.skip(reason=block.skip)] if block.skip else []) + ([pytest.mark.pyvista] if block.needs_pyvista else [])


def _runnable(block: Block) -> bool:
    return not block.skip and (pyvista_installed() or not block.needs_pyvista)


@pytest.mark.parametrize("block", [pytest.param(b, marks=_block_marks(b)) for b in PY_BLOCKS], ids=[b.where for b in PY_BLOCKS])
def test_python_block(block, pages, monkeypatch, capfd):
    import problems._registry as registry

    page = pages(block.page)
    monkeypatch.chdir(page["dir"])
    registry.registered_problems()  # the library first
    monkeypatch.setattr(registry.PROBLEMS, "_classes", dict(registry.PROBLEMS._classes))  # the docs register example problems
    _tiny_solvers(monkeypatch)
    if page["failed"]:
        pytest.skip(f"an earlier block of this page failed: {page['failed']}")
    for earlier in PY_BLOCKS:  # when a block is run alone, the blocks before it on its page first
        if earlier.page == block.page and earlier.line < block.line and _runnable(earlier) and earlier.line not in page["done"]:
            _run_block(earlier, page)
            page["done"].add(earlier.line)
    # a fresh process has not set it (physopt.viz sets it when it renders): the docs must not need it
    monkeypatch.delenv("VTK_DEFAULT_OPENGL_WINDOW", raising=False)
    page["failed"] = block.where
    _run_block(block, page)
    page["failed"] = None
    page["done"].add(block.line)
    err = capfd.readouterr().err
    assert "bad X server" not in err, f"{block.where} printed an X-server warning:\n{err}"
