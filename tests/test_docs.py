"""The documentation cannot rot: its Python runs and its command lines are real.

* Every ```python block of README.md and docs/**/*.md runs. The blocks of one
  page run in order in one namespace (a block may use what an earlier block of
  its page defined), in a fresh folder per page, with every solver shrunk to a
  few steps, points and units (``TINY``), so that all of them take seconds.
  A block may print no VTK "bad X server" warning (the docs promise headless use).
* Every command line — ``physopt ...``, ``.venv/bin/physopt ...``,
  ``python -m physopt ...`` and ``bash scripts/demo.sh ARGS`` (which runs
  ``physopt solve ARGS``, the problem defaulting to poisson2d) — in ```bash,
  ```sh and plain ``` blocks and in inline code is parsed by the real parser
  (``physopt.cli.build_parser``) and its names are checked as ``physopt solve``
  would check them before solving: the problem is registered, or a file the
  repository has, or a file that a block of the same page defines (a block whose
  first line is ``# name.py``); ``--solver`` exists; flags, ``--set`` options and
  ``--optimizer`` schedules are options of that solver and convert;
  ``--param`` names are parameters of that problem; ``--vary`` names a setting.
  Upper-case placeholders (``PROBLEM``, ``NAME``, ``RUN_DIR``, ``DIR``), ``<...>`` and
  ``path/to/...`` stand for values. A synopsis (a line with ``[...]``, ``|`` or
  ``...``) may name only real flags, and names every flag of its subcommand
  unless it says ``[options]`` (solver option flags may be summed up as
  ``[solver option flags]``).

Markers: an HTML comment on the last non-blank line before a fenced block.

    <!-- docs-test: skip (why) -->               neither run nor check the block; keep these rare
    <!-- docs-test: setup physopt solve ... -->  run this command (tiny) in the page's folder first

Failures name the page and line: ``docs/cli.md:42: `physopt solve ...`: ...``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import re
import shlex
from pathlib import Path

import pytest
import torch

from physopt.viz import pyvista_installed

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]

# ----- reading the pages ------------------------------------------------------------------

_FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([\w+-]*)\s*$")
_MARKER = re.compile(r"^\s*<!--\s*docs-test:\s*(.*?)\s*-->\s*$")
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


def _marker_ok(marker: str) -> bool:
    return bool(re.fullmatch(r"skip \(.+\)", marker) or re.fullmatch(r"setup (physopt|\.venv/bin/physopt) .+", marker))


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
        while k >= 0 and _MARKER.match(lines[k]):
            markers.insert(0, _MARKER.match(lines[k]).group(1))
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
_PLACEHOLDER_PATHS = {"RUN_DIR": "runs/placeholder", "DIR": "runs/placeholder"}
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


def _subparsers(parser) -> dict:
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices
    raise AssertionError("physopt's parser has no subcommands")


@contextlib.contextmanager
def _cuda_as_if_available():
    """Check ``--device cuda`` lines as on a machine with CUDA (they are for such machines)."""
    saved = torch.cuda.is_available
    torch.cuda.is_available = lambda: True
    try:
        yield
    finally:
        torch.cuda.is_available = saved


def _page_files(page: Path, folder: Path) -> dict[str, Path]:
    """The ``# name.py`` blocks of a page, written into ``folder``: {name: path}."""
    files = {}
    for block in PARSED[page][0]:
        name = block.defines_file
        if name and block.info in ("python", "py"):
            path = folder / Path(name).name
            path.write_text(block.code, encoding="utf-8")
            files[name] = path
    return files


def _problem_spec(spec: str, files: dict[str, Path]) -> str | None:
    """A spec ``physopt`` can load from any folder, or None for a placeholder."""
    if re.fullmatch(r"[A-Z][A-Z_]*", spec) or spec.startswith("path/to/") or spec.startswith("<"):
        return None
    m = re.fullmatch(r"(.+\.py)(?::(\w+))?", spec)
    if not m:
        return spec  # a registered name (or a mistake, which resolve_problem reports)
    name, cls = m.groups()
    if name in files:
        path = files[name]
    elif (ROOT / name).is_file():
        path = ROOT / name
    else:
        raise AssertionError(
            f"problem file '{name}' is neither in the repository nor defined on this page (a ```python block starting `# {name}`)"
        )
    return f"{path}:{cls}" if cls else str(path)


def check_synopsis(cmd: Command, parser) -> None:
    subs = _subparsers(parser)
    sub = cmd.argv[0] if cmd.argv else None
    assert sub in subs, f"unknown subcommand {sub!r}; physopt has: {', '.join(subs)}"
    from physopt.cli._main import solver_flags

    actions = subs[sub]._actions
    known = {s for a in actions for s in a.option_strings}
    named = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", cmd.text))
    assert not named - known, f"no such flag of `physopt {sub}`: {', '.join(sorted(named - known))}"
    if "[options]" not in cmd.text:
        option_flags = {entry.flag for entry in solver_flags().values()}
        own = {
            max(a.option_strings, key=len)
            for a in actions
            if a.option_strings and a.dest != "help" and not ("option flags" in cmd.text and a.option_strings[0] in option_flags)
        }
        missing = own - named
        assert not missing, f"the synopsis of `physopt {sub}` lacks {', '.join(sorted(missing))}"
    for a in actions:  # [a|b|c] alternatives of a positional with choices
        if not a.option_strings and a.choices:
            for group in re.findall(r"\[([\w|]+)\]", cmd.text):
                assert set(group.split("|")) == set(a.choices), f"`physopt {sub}` takes {sorted(a.choices)}, the synopsis says {group}"


def check_command(cmd: Command, parser, folder: Path) -> None:
    """Parse ``cmd`` with physopt's parser and check its names as ``physopt solve`` would."""
    from physopt import NotImplementedYet, parse_schedule
    from physopt.cli._main import option_values, pairs
    from physopt.cli._run import load_problem
    from physopt.cli._vary import numbers, parse_fit_range, parse_vary, resolve_name

    import problems
    import solvers

    argv = list(cmd.argv)
    subs = _subparsers(parser)
    if not argv or (cmd.inline and len(argv) == 1 and argv[0] in subs):
        return  # a mention of the program or of a subcommand, as in "use `physopt plot`"
    for i, token in enumerate(argv):
        for name, value in _PLACEHOLDER_PATHS.items():
            if token == name:
                argv[i] = value
        if re.fullmatch(r"<[^>]*>", token):
            argv[i] = "placeholder"
    err, out = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            args = parser.parse_args(argv)
    except SystemExit as exc:
        if exc.code == 0 and ("-h" in argv or "--help" in argv):
            return
        raise AssertionError(f"does not parse: {err.getvalue().strip().splitlines()[-1]}") from None
    if args.command not in ("solve", "convergence"):
        return

    if args.solver.startswith("path/to/"):
        return  # a placeholder solver file: its options are unknown
    solver_cls = solvers.resolve_solver(args.solver)
    options, _, _ = option_values(args)  # a flag the solver has no option for is an error here
    params = pairs(args.param, "--param")
    if args.command == "solve" and args.resume:
        assert not (params or options), "--resume refuses --param, --set and option flags"
    spec = _problem_spec(args.problem, _page_files(cmd.page, folder))
    problem_cls = problems.resolve_problem(spec) if spec else None
    if "optimizer" in options:
        parse_schedule(options["optimizer"], int(options.get("steps", solver_cls.Options().steps)))

    runs = [(params, options)]
    if args.command == "convergence":
        name_text, values = parse_vary(args.vary)
        parse_fit_range(args.fit_range)
        if problem_cls is None:
            return  # a placeholder problem: its parameters are unknown
        kind, name = resolve_name(name_text, solver_cls.Options.field_types(), dict(problem_cls.parameters), args.solver, args.problem)
        fixed = options if kind == "option" else params
        assert name not in fixed, f"{name} is varied and also fixed"
        runs = [
            (params | ({name: text} if kind == "param" else {}), options | ({name: text} if kind == "option" else {}))
            for text, _ in numbers(name_text, values)
        ]
    for run_params, run_options in runs:
        try:
            with _cuda_as_if_available():
                opts = solver_cls.Options.from_strings(run_options)
        except NotImplementedYet:
            return  # a planned feature, named to show its message (`--derivatives taylor`): a real name
        if spec is None:
            continue
        problem = load_problem(spec, run_params)
        if torch.cuda.is_available() or not opts.device.startswith("cuda"):  # the solver accepts the problem (built tiny)
            solver_cls(problem, shrink(opts))


@pytest.fixture(scope="module")
def parser():
    from physopt.cli import build_parser

    return build_parser()


@pytest.mark.parametrize(
    "cmd",
    [pytest.param(c, marks=pytest.mark.skip(reason=c.skip)) if c.skip else c for c in COMMANDS],
    ids=[f"{c.where}:{' '.join(c.argv[:2])}" for c in COMMANDS],
)
def test_command_line(cmd, parser, tmp_path):
    try:
        if cmd.synopsis:
            check_synopsis(cmd, parser)
        else:
            check_command(cmd, parser, tmp_path)
        return
    except AssertionError as exc:
        message = str(exc)
    except Exception as exc:  # noqa: BLE001 - a physopt error names what is wrong
        message = f"{type(exc).__name__}: {exc}"
    pytest.fail(f"{cmd.where}: `{cmd.text}`: {message}", pytrace=False)


# ----- Python blocks ----------------------------------------------------------------------

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


def _tiny_solvers(monkeypatch) -> None:
    import solvers

    for cls in {solvers.PINN, solvers.TENG} | set(solvers.registered_solvers().values()):
        original = cls.__init__

        def __init__(self, problem, options=None, _original=original, _cls=cls, **overrides):
            opts = dataclasses.replace(options or _cls.Options(), **overrides)
            _original(self, problem, shrink(opts))

        monkeypatch.setattr(cls, "__init__", __init__)


PY_BLOCKS = [b for page in PAGES for b in PARSED[page][0] if b.info in ("python", "py")]


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


# ----- the tests find what they should ---------------------------------------------------


def test_markers_are_known_and_rare():
    markers = [(b.where, m) for page in PAGES for b in PARSED[page][0] for m in b.markers]
    assert all(_marker_ok(m) for _, m in markers), [x for x in markers if not _marker_ok(x[1])]
    assert sum(m.startswith("skip") for _, m in markers) <= 3, markers
    stray = [
        f"{page.relative_to(ROOT)}:{n}"
        for page in PAGES
        for n, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1)
        if line.lstrip().startswith("<!--") and "docs-test" in line and not _MARKER.match(line)
    ]
    assert not stray, f"malformed docs-test markers at {stray}"
    written = sum(1 for page in PAGES for line in page.read_text(encoding="utf-8").splitlines() if _MARKER.match(line))
    assert written == len(markers), "a docs-test marker must be the last non-blank line before a fenced block"


def test_the_pages_are_found():
    assert {p.name for p in PAGES} >= {"README.md", "index.md", "cli.md", "pinn.md", "teng.md"}
    assert len(PY_BLOCKS) >= 15 and len(COMMANDS) >= 60, (len(PY_BLOCKS), len(COMMANDS))
    assert any(c.inline for c in COMMANDS) and any(c.synopsis for c in COMMANDS)


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
    rows = {flag: (name, takers) for flag, name, takers in re.findall(r"^\| `--([a-z-]+)` \| `([a-z_]+)` \| ([a-z, ]+) \|", text, re.M)}
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
    "derivative mode 'taylor'": lambda: ["solve", "poisson2d", "--derivatives", "taylor"],
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
