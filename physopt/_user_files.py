"""Loading a class from a user's Python file (``path/to/file.py[:ClassName]``).

Problems and solvers both come from files this way; the messages name the kind
(``problem file 'x.py' defines no Problem subclass``) and the line that failed.
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
from pathlib import Path

__all__ = ["load_class_from_file", "split_file_spec"]


def split_file_spec(spec: str) -> tuple[str, str | None] | None:
    """``"path/x.py:Class"`` -> ``("path/x.py", "Class")``, ``"x.py"`` -> ``("x.py", None)``; a plain name -> ``None``."""
    file_part, _, class_name = spec.partition(":") if ".py:" in spec else (spec, "", "")
    if file_part.endswith(".py") or "/" in file_part or Path(file_part).suffix:
        return file_part, class_name or None
    return None


def _import_file(path: Path, kind: str, error: type[Exception]):
    module_name = f"_physopt_user_{kind}_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # noqa: BLE001 - any import failure is the user's to fix
        del sys.modules[module_name]
        line = ""
        tb = exc.__traceback__
        while tb is not None:
            if Path(tb.tb_frame.f_code.co_filename).resolve() == path.resolve():
                line = f" (line {tb.tb_lineno})"
            tb = tb.tb_next
        raise error(f"{kind} file '{path}' failed to import{line}: {type(exc).__name__}: {exc}") from exc
    return module


def load_class_from_file(path: str | Path, base: type, kind: str, error: type[Exception], class_name: str | None = None,
                         example: str = "") -> type:
    """Import ``path`` and return its subclass of ``base`` defined there (``class_name`` picks one of several).

    Args:
        kind: ``"problem"`` or ``"solver"``, for the messages.
        error: the exception class raised for every mistake.
        example: the class statement suggested when the file defines none.
    """
    path = Path(path)
    if not path.is_file():
        raise error(f"{kind} file '{path}' does not exist")
    if path.suffix != ".py":
        raise error(f"{kind} file '{path}' must be a Python file ending in .py")
    module = _import_file(path, kind, error)
    classes = {
        name: obj
        for name, obj in vars(module).items()
        if inspect.isclass(obj) and issubclass(obj, base) and obj is not base and obj.__module__ == module.__name__
    }
    what = base.__name__
    if class_name is not None:
        if class_name not in classes:
            have = ", ".join(sorted(classes)) or "none"
            raise error(f"{kind} file '{path}' defines no {what} subclass '{class_name}'; it defines: {have}")
        return classes[class_name]
    if not classes:
        raise error(f"{kind} file '{path}' defines no {what} subclass; write `{example or f'class My{kind.title()}({what}): ...'}`")
    concrete = {name: cls for name, cls in classes.items() if not inspect.isabstract(cls)}
    if len(classes) > 1 and len(concrete) == 1:  # an abstract helper base next to the one real class
        classes = concrete
    if len(classes) > 1:
        raise error(
            f"{kind} file '{path}' defines several {kind}s ({', '.join(sorted(classes))}); pick one with '{path}:ClassName'"
        )
    return next(iter(classes.values()))
