"""Named solvers. Plug-ins add theirs through the entry-point group ``physopt.solvers``."""

from __future__ import annotations

from importlib.metadata import entry_points

from physopt import ConfigurationError

from ._pinn import PINN
from ._teng import TENG

__all__ = ["registered_solvers", "resolve_solver"]

_BUILTIN = {"pinn": PINN, "teng": TENG}


def registered_solvers() -> dict[str, type]:
    """All solvers by name: the built-in ones and those of installed plug-ins."""
    found = dict(_BUILTIN)
    for ep in entry_points(group="physopt.solvers"):
        if ep.name in found:
            continue
        try:
            found[ep.name] = ep.load()
        except Exception:  # noqa: BLE001 - a broken plug-in must not break the CLI
            continue
    return dict(sorted(found.items()))


def resolve_solver(name: str) -> type:
    solvers = registered_solvers()
    if name not in solvers:
        raise ConfigurationError(f"unknown solver '{name}'; choose one of: {', '.join(solvers)}")
    return solvers[name]
