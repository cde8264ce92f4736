"""The documentation pages as the docs tests (``test_docs*.py``) read them.

``PAGES`` are README.md and docs/**/*.md. ``PARSED`` holds each page's fenced
blocks and its prose (fenced lines blanked, so line numbers hold);
``COMMANDS`` are the command lines the pages show — ``physopt ...``,
``.venv/bin/physopt ...``, ``python -m physopt ...`` and ``bash scripts/demo.sh
ARGS`` (which runs ``physopt solve ARGS``, the problem defaulting to poisson2d)
— in ```bash, ```sh and plain ``` blocks and in inline code; ``PY_BLOCKS`` are
their ```python blocks. ``shrink`` makes every size of a solver's options tiny
(``TINY``): the docs show full sizes, the tests run a few steps, points and units.

Markers: an HTML comment on the last non-blank line before a fenced block.

    <!-- docs-test: skip (why) -->               neither run nor check the block; keep these rare
    <!-- docs-test: setup physopt solve ... -->  run this command (tiny) in the page's folder first
"""

from __future__ import annotations

import dataclasses
import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]

# ----- reading the pages ------------------------------------------------------------------

_FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([\w+-]*)\s*$")
MARKER = re.compile(r"^\s*<!--\s*docs-test:\s*(.*?)\s*-->\s*$")
_PY_FILE = re.compile(r"^#\s*([\w./-]+\.py)\s*$")


@dataclasses.dataclass(frozen=True)
class Block:
    page: Path
    line: int  # 1-based line of the first line of code
    info: str  # the fence's language, "" for none
    code: str
    markers: tuple[str, ...]

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    @property
    def skip(self) -> str | None:
        for marker in self.markers:
            if marker.startswith("skip"):
                return marker
        return None

    @property
    def setup(self) -> list[str]:
        return [m[len("setup"):].strip() for m in self.markers if m.startswith("setup")]

    @property
    def needs_pyvista(self) -> bool:
        """The block imports PyVista: it runs only where PyVista is installed (solving never needs it)."""
        return bool(re.search(r"^\s*(import|from)\s+pyvista\b", self.code, re.M))

    @property
    def defines_file(self) -> str | None:
        """``name.py`` when the block's first line is ``# name.py``."""
        first = self.code.lstrip("\n").splitlines()[0] if self.code.strip() else ""
        m = _PY_FILE.match(first.strip())
        return m.group(1) if m else None


def parse_page(page: Path) -> tuple[list[Block], str]:
    """The fenced blocks of a page, and its prose (fenced lines blanked, so line numbers hold)."""
    lines = page.read_text(encoding="utf-8").splitlines()
    blocks, prose = [], list(lines)
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, info = m.groups()
        j = i + 1
        while j < len(lines) and not re.fullmatch(rf"\s*{re.escape(fence[0])}{{{len(fence)},}}\s*", lines[j]):
            j += 1
        markers, k = [], i - 1
        while k >= 0 and not lines[k].strip():
            k -= 1
        while k >= 0 and MARKER.match(lines[k]):
            markers.insert(0, MARKER.match(lines[k]).group(1))
            k -= 1
        body = [line[len(indent):] if line.startswith(indent) else line.lstrip() for line in lines[i + 1 : j]]
        blocks.append(Block(page, i + 2, info.lower(), "\n".join(body) + "\n", tuple(markers)))
        for n in range(i, min(j + 1, len(lines))):
            prose[n] = ""
        i = j + 1
    return blocks, "\n".join(prose)


PARSED = {page: parse_page(page) for page in PAGES}

# ----- command lines ----------------------------------------------------------------------

_PROGRAM = re.compile(r"^(?:\$\s+)?(?:\.venv/bin/physopt|physopt|python3? -m physopt)(?=\s|$)(.*)$", re.S)
_DEMO = re.compile(r"^(?:\$\s+)?bash scripts/demo\.sh(?=\s|$)(.*)$", re.S)
_SYNOPSIS = re.compile(r"\[|\||\.\.\.|…")
_SHELL_BLOCKS = {"bash", "sh", "shell", "console", ""}


@dataclasses.dataclass(frozen=True)
class Command:
    page: Path
    line: int
    text: str  # as written, without the trailing comment
    argv: tuple[str, ...]  # what goes to physopt's parser
    inline: bool
    skip: str | None = None

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    @property
    def synopsis(self) -> bool:
        return bool(_SYNOPSIS.search(self.text))


def _strip_comment(text: str) -> str:
    return re.sub(r"(^|\s)#.*$", "", text).strip()


def _command(page: Path, line: int, text: str, inline: bool, skip=None) -> Command | None:
    text = _strip_comment(" ".join(text.split()))
    program, demo = _PROGRAM.match(text), _DEMO.match(text)
    if program:
        rest = program.group(1)
    elif demo:
        rest = demo.group(1)
    else:
        return None
    argv = shlex.split(rest) if not _SYNOPSIS.search(text) else rest.split()
    if demo:  # problem="${1:-poisson2d}"; shift; exec physopt solve "$problem" "$@"
        argv = ["solve", *(argv or ["poisson2d"])]
    return Command(page, line, text, tuple(argv), inline, skip)


def page_commands(page: Path) -> list[Command]:
    blocks, prose = PARSED[page]
    found = []
    for block in blocks:
        if block.info not in _SHELL_BLOCKS:
            continue
        lines = block.code.splitlines()
        n = 0
        while n < len(lines):
            start, text = n, lines[n]
            while text.rstrip().endswith("\\") and n + 1 < len(lines):  # shell continuation
                n += 1
                text = text.rstrip()[:-1] + " " + lines[n]
            # an indented synopsis continuation: "    [--force | --resume] ..."
            while n + 1 < len(lines) and re.match(r"^\s+(\[|--)", lines[n + 1]) and _SYNOPSIS.search(text):
                n += 1
                text += " " + lines[n]
            cmd = _command(page, block.line + start, text.strip(), inline=False, skip=block.skip)
            if cmd is not None:
                found.append(cmd)
            n += 1
    for m in re.finditer(r"`([^`\n]+(?:\n[^`\n]+)*)`", prose):
        line = prose.count("\n", 0, m.start()) + 1
        cmd = _command(page, line, m.group(1), inline=True)
        if cmd is not None:
            found.append(cmd)
    return found


COMMANDS = [cmd for page in PAGES for cmd in page_commands(page)]

# ----- tiny solvers ----------------------------------------------------------------------

# every solver run from the docs is shrunk to this (the docs show full sizes)
_SCHEDULE_STEPS = 2
TINY = {
    "steps": lambda n: min(n, 4),
    "points": lambda n: min(n, max(8, n // 16)),  # 256, 512, 1024 -> 16, 32, 64: still distinct
    "boundary_points": lambda n: min(n, max(8, n // 8)),
    "width": lambda n: min(n, 8),
    "depth": lambda n: min(n, 2),
    "hidden": lambda s: "",
    "optimizer": lambda s: re.sub(r":\s*(\d+)", lambda m: f":{min(int(m.group(1)), _SCHEDULE_STEPS)}", s),
    "grid": lambda n: min(n, 16),
    "features": lambda n: min(n, 2),
    "iterations": lambda n: min(n, 2),
    "corrector_iterations": lambda n: min(n, 2),
    "init_iterations": lambda n: min(n, 5),
}


def shrink(options):
    """``options`` with every size in ``TINY`` made tiny."""
    changes = {}
    for f in dataclasses.fields(options):
        if f.name in TINY:
            value = TINY[f.name](getattr(options, f.name))
            if value != getattr(options, f.name):
                changes[f.name] = value
    return dataclasses.replace(options, **changes)


PY_BLOCKS = [b for page in PAGES for b in PARSED[page][0] if b.info in ("python", "py")]
