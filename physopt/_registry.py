"""Named plug-in registries: problems, solvers and optimizers all register the same way.

A :class:`Registry` holds classes by name. The package's own classes register
with the decorator ``@REGISTRY.register("name")``; other packages add theirs
through the entry-point group ``physopt.<kind>s`` (each entry a class or a
``{name: class}`` mapping). A plug-in that fails to import does not break the
others: it is kept in :attr:`Registry.broken` with its error, and asking for
it by name raises that error instead of "unknown".
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Callable

from ._errors import ConfigurationError

__all__ = ["Registry"]


class Registry(Mapping):
    """Classes of one kind by name (a read-only mapping: ``REGISTRY[name]``, ``REGISTRY.items()``).

    Args:
        kind: what is registered (``"problem"``, ``"solver"``, ``"optimizer"``), for messages.
        base: every registered class must subclass it (``None``: checked by the caller).
        load_builtins: imports the modules whose decorators register the package's own classes.
    """

    def __init__(self, kind: str, base: type | None = None, load_builtins: Callable[[], None] | None = None):
        self.kind, self.base, self.load_builtins = kind, base, load_builtins
        self.group = f"physopt.{kind}s"
        self._classes: dict[str, type] = {}
        self.broken: dict[str, str] = {}  # entry point name -> "ErrorType: message"

    def register(self, name: str, cls: type | None = None):
        """Class decorator (or direct call with ``cls``): make ``cls`` available as ``name``; sets ``cls.name``."""

        def deco(cls):
            if self.base is not None and not (isinstance(cls, type) and issubclass(cls, self.base)):
                raise TypeError(f"register('{name}') takes {self.base.__name__} subclasses, got {cls!r}")
            known = self._classes.get(name)
            if known is not None and known is not cls and known.__qualname__ != cls.__qualname__:
                raise ValueError(f"a {self.kind} named '{name}' is already registered ({known.__name__})")
            cls.name = name
            self._classes[name] = cls
            return cls

        return deco if cls is None else deco(cls)

    def all(self) -> dict[str, type]:
        """Every class by name, sorted: the package's own and those of installed plug-ins."""
        if self.load_builtins is not None:
            self.load_builtins()
        found = dict(self._classes)
        for ep in entry_points(group=self.group):
            if ep.name in found:
                continue
            try:
                obj = ep.load()
            except Exception as exc:  # noqa: BLE001 - a broken plug-in must not break the others
                self.broken[ep.name] = f"{type(exc).__name__}: {exc}"
                continue
            items = obj.items() if isinstance(obj, dict) else [(ep.name, obj)]
            for name, cls in items:
                if isinstance(cls, type) and (self.base is None or issubclass(cls, self.base)):
                    found.setdefault(name, cls)
                else:
                    self.broken[name] = f"entry point {ep.value} is {cls!r}, not a {self.kind} class"
        return dict(sorted(found.items()))

    def get(self, name: str) -> type:
        """The class registered as ``name``; a clear error names the choices (or the plug-in's import error)."""
        found = self.all()
        if name in found:
            return found[name]
        if name in self.broken:
            raise ConfigurationError(f"the {self.kind} plug-in '{name}' failed to load: {self.broken[name]}")
        raise ConfigurationError(f"unknown {self.kind} '{name}'; choose one of: {', '.join(found)}")

    def __getitem__(self, name: str) -> type:
        found = self.all()
        if name not in found:
            raise KeyError(name)
        return found[name]

    def __iter__(self):
        return iter(self.all())

    def __len__(self) -> int:
        return len(self.all())
