"""One small generic registry: every plug-in (track, defense, attack, explainer, score, stage, architecture)
is looked up by name through an instance of :class:`Registry`.

Duplicates raise (a silent overwrite would corrupt a leaderboard); unknown names raise with the closest
registered names, so a typo tells the user the fix.
"""

from __future__ import annotations

import difflib
import fnmatch
import logging
import types
from collections.abc import Callable, Iterator
from importlib import metadata
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class RegistryError(KeyError):
    """Base of registry errors (a ``KeyError`` so ``in``-style callers keep working)."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it readable
        return str(self.args[0]) if self.args else ""


class DuplicateNameError(RegistryError):
    """A second plug-in tried to register under a name that is taken."""


class UnknownNameError(RegistryError):
    """A lookup asked for a name nobody registered."""


class Registry(Generic[T]):
    """Name → plug-in mapping with discovery by wildcard.

    Example:
        >>> r: Registry[int] = Registry("number")
        >>> r.add("one", 1)
        >>> r.get("one")
        1
        >>> r.get("onw")
        Traceback (most recent call last):
        ...
        bench.registry.UnknownNameError: unknown number 'onw'; did you mean: one?
    """

    def __init__(self, kind: str, *, load: Callable[[], object] | None = None, group: str | None = None) -> None:
        """``load`` imports the built-in plug-ins (a function of plain imports, called once on first lookup);
        ``group`` names the ``[project.entry-points]`` group third-party packages register under."""
        self.kind = kind
        self._items: dict[str, T] = {}
        self._builtin = load
        self.group = group
        self._loaded = load is None and group is None

    def _load(self) -> None:
        """Import the built-in plug-ins, then the entry points of :attr:`group`, once, on first lookup."""
        if self._loaded:
            return
        self._loaded = True
        if self._builtin is not None:
            self._builtin()
        if self.group is not None:
            for ep in metadata.entry_points(group=self.group):
                if ep.name in self._items:
                    continue  # already registered (e.g. a built-in that is also declared as an entry point)
                obj = ep.load()
                if not isinstance(obj, types.ModuleType):  # a module registers itself when imported
                    self.add(ep.name, obj)
                log.debug("%s %r loaded from entry point %s", self.kind, ep.name, ep.value)

    def add(self, name: str, obj: T) -> None:
        """Register ``obj`` under ``name``; raise :class:`DuplicateNameError` if the name is taken."""
        if not name or not isinstance(name, str):
            raise ValueError(f"{self.kind} name must be a non-empty string, got {name!r}")
        if name in self._items:
            raise DuplicateNameError(f"{self.kind} {name!r} is already registered ({self._items[name]!r})")
        self._items[name] = obj

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator form of :meth:`add`; sets ``obj.name`` when the object allows it."""

        def decorator(obj: T) -> T:
            self.add(name, obj)
            if isinstance(obj, type):
                obj.name = name  # type: ignore[attr-defined]
            return obj

        return decorator

    def get(self, name: str) -> T:
        """Return the plug-in registered as ``name``."""
        self._load()
        try:
            return self._items[name]
        except KeyError:
            close = difflib.get_close_matches(name, list(self._items), n=3, cutoff=0.5)
            hint = f"; did you mean: {', '.join(close)}?" if close else f"; known: {', '.join(sorted(self._items))}"
            raise UnknownNameError(f"unknown {self.kind} {name!r}{hint}") from None

    def create(self, name: str, /, *args: Any, **kwargs: Any) -> Any:
        """Look ``name`` up and call it (a class or factory) with the given arguments."""
        factory = self.get(name)
        if not callable(factory):
            raise TypeError(f"{self.kind} {name!r} is not callable")
        return factory(*args, **kwargs)

    def names(self, pattern: str = "*") -> list[str]:
        """Registered names matching an fnmatch ``pattern``, sorted."""
        self._load()
        return sorted(n for n in self._items if fnmatch.fnmatchcase(n, pattern))

    def items(self) -> list[tuple[str, T]]:
        """(name, plug-in) pairs, sorted by name."""
        self._load()
        return sorted(self._items.items())

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        self._load()
        return len(self._items)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self)} items)"
