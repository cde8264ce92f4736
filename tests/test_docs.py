"""The documentation cannot rot: its command lines are real.

Every command line of README.md and docs/**/*.md (``docs_pages.COMMANDS``:
``physopt ...``, ``.venv/bin/physopt ...``, ``python -m physopt ...`` and
``bash scripts/demo.sh ARGS`` in ```bash, ```sh and plain ``` blocks and in
inline code) is parsed by the real parser (``physopt.cli.build_parser``) and its
names are checked as ``physopt solve`` would check them before solving: the
problem is registered, or a file the repository has, or a file that a block of
the same page defines (a block whose first line is ``# name.py``); ``--solver``
exists; flags, ``--set`` options and ``--optimizer`` schedules are options of
that solver and convert; ``--param`` names are parameters of that problem;
``--vary`` names a setting. Upper-case placeholders (``PROBLEM``, ``NAME``,
``RUN_DIR``, ``DIR``), ``<...>`` and ``path/to/...`` stand for values. A
synopsis (a line with ``[...]``, ``|`` or ``...``) may name only real flags, and
names every flag of its subcommand unless it says ``[options]`` (solver option
flags may be summed up as ``[solver option flags]``).

The tests also check that the pages, blocks, commands and ``docs-test``
markers (see ``docs_pages.py``) are found. That the ```python blocks run is
tested in ``test_docs_python.py``; that the docs' lists and example error
messages are current in ``test_docs_lists.py``.

Failures name the page and line: ``docs/cli.md:42: `physopt solve ...`: ...``.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest
import torch

from docs_pages import COMMANDS, MARKER, PAGES, PARSED, PY_BLOCKS, ROOT, Command, shrink

_PLACEHOLDER_PATHS = {"RUN_DIR": "runs/placeholder", "DIR": "runs/placeholder"}


def _marker_ok(marker: str) -> bool:
    return bool(re.fullmatch(r"skip \(.+\)", marker) or re.fullmatch(r"setup (physopt|\.venv/bin/physopt) .+", marker))


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


def _nested(parser, argv: list[str]) -> tuple[object, list[str]]:
    """The (sub-)subcommand parser ``argv`` names (``data generate``) and the names that led there."""
    path = []
    while argv[len(path):]:
        try:
            subs = _subparsers(parser)
        except AssertionError:
            break
        if argv[len(path)] not in subs:
            break
        parser = subs[argv[len(path)]]
        path.append(argv[len(path)])
    return parser, path


def check_synopsis(cmd: Command, parser) -> None:
    subs = _subparsers(parser)
    sub = cmd.argv[0] if cmd.argv else None
    assert sub in subs, f"unknown subcommand {sub!r}; physopt has: {', '.join(subs)}"
    from physopt.cli._main import solver_flags

    target, path = _nested(parser, list(cmd.argv))
    sub = " ".join(path)
    actions = target._actions
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
    if not argv or (cmd.inline and len(argv) == len(_nested(parser, argv)[1])):
        return  # a mention of the program or of a subcommand, as in "use `physopt plot`" or "`physopt data generate`"
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
        problem = load_problem(spec, run_params) if spec is not None else None
        suggested = {k: str(v) for k, v in getattr(problem, "solver_defaults", {}).get(solver_cls.name, {}).items()}
        try:
            with _cuda_as_if_available():  # as physopt solve: the user's options over the problem's solver_defaults
                opts = solver_cls.Options.from_strings({**suggested, **run_options})
        except NotImplementedYet:
            return  # a planned feature, named to show its message: a real name
        if spec is None:
            continue
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


# ----- the tests find what they should ---------------------------------------------------


def test_markers_are_known_and_rare():
    markers = [(b.where, m) for page in PAGES for b in PARSED[page][0] for m in b.markers]
    assert all(_marker_ok(m) for _, m in markers), [x for x in markers if not _marker_ok(x[1])]
    assert sum(m.startswith("skip") for _, m in markers) <= 3, markers
    stray = [
        f"{page.relative_to(ROOT)}:{n}"
        for page in PAGES
        for n, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1)
        if line.lstrip().startswith("<!--") and "docs-test" in line and not MARKER.match(line)
    ]
    assert not stray, f"malformed docs-test markers at {stray}"
    written = sum(1 for page in PAGES for line in page.read_text(encoding="utf-8").splitlines() if MARKER.match(line))
    assert written == len(markers), "a docs-test marker must be the last non-blank line before a fenced block"


def test_the_pages_are_found():
    assert {p.name for p in PAGES} >= {"README.md", "index.md", "cli.md", "pinn.md", "teng.md"}
    assert len(PY_BLOCKS) >= 15 and len(COMMANDS) >= 60, (len(PY_BLOCKS), len(COMMANDS))
    assert any(c.inline for c in COMMANDS) and any(c.synopsis for c in COMMANDS)
