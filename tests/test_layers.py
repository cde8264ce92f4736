"""The layers' imports point one way: app (physopt/cli) -> solvers -> problems -> physopt core.

Checked statically with ``ast``: ``import x``, ``from x import y``, relative
imports, and ``importlib.import_module("x")`` / ``__import__("x")`` with a string
literal, anywhere in a module (also inside functions).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "physopt"
APP = CORE / "cli"
ENTRY_POINTS = {CORE / "__main__.py"}  # `python -m physopt` runs the command: it is part of the app layer


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(module: str, level: int, importer: Path) -> str:
    """The absolute name of ``from .module import ...`` (``level`` dots) written in ``importer``."""
    if level == 0:
        return module
    package = _module_name(importer).split(".")
    if importer.name != "__init__.py":
        package = package[:-1]
    base = package[: len(package) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def imported_modules(path: Path, source: str | None = None) -> set[str]:
    """Every module ``path`` imports (its text, or ``source`` as if it were that file), by absolute name
    (for ``from a import b``: ``a`` and ``a.b``)."""
    tree = ast.parse(path.read_text(encoding="utf-8") if source is None else source, str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(node.module or "", node.level, path)
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names if alias.name != "*"}
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                target = node.args[0].value
                if target.startswith("."):
                    level = len(target) - len(target.lstrip("."))
                    package = node.args[1].value if len(node.args) > 1 and isinstance(node.args[1], ast.Constant) else None
                    target = _resolve(target.lstrip("."), level, path) if package is None else f"{package}.{target.lstrip('.')}"
                found.add(target)
    return found


def _in(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _core_modules() -> list[Path]:
    return sorted(p for p in CORE.rglob("*.py") if APP not in p.parents and p not in ENTRY_POINTS)


@pytest.mark.parametrize("path", _core_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_core_knows_no_problem_solver_or_app(path):
    bad = sorted(m for m in imported_modules(path) if _in(m, "problems") or _in(m, "solvers") or _in(m, "physopt.cli"))
    assert not bad, f"{path.relative_to(ROOT)} imports {bad}: the core (physopt/ outside physopt/cli/) may not"


@pytest.mark.parametrize("package", ["problems", "solvers"])
def test_problems_and_solvers_do_not_import_the_app(package):
    for path in sorted((ROOT / package).rglob("*.py")):
        bad = sorted(m for m in imported_modules(path) if _in(m, "physopt.cli"))
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}: only the app layer and its entry points may"


def test_problems_do_not_import_solvers():
    for path in sorted((ROOT / "problems").rglob("*.py")):
        bad = sorted(m for m in imported_modules(path) if _in(m, "solvers"))
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}: problems may not know solvers"


def test_the_checker_sees_every_form_of_import():
    source = (
        "import problems\n"
        "from solvers import PINN\n"
        "from . import cli\n"
        "from .cli import main\n"
        "def f():\n"
        "    import importlib\n"
        "    importlib.import_module('solvers._teng')\n"
        "    __import__('problems._library')\n"
        "    importlib.import_module('.cli._run', 'physopt')\n"
    )
    found = imported_modules(CORE / "_probe.py", source)  # as if it were a core module; nothing is written
    assert {"problems", "solvers", "solvers.PINN", "physopt.cli", "physopt.cli.main", "solvers._teng",
            "problems._library", "physopt.cli._run"} <= found, found


def test_python_m_physopt_runs_the_app():
    assert "physopt.cli" in imported_modules(CORE / "__main__.py")
