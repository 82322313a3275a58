"""One registry idiom for every "look it up by name" table in rampart.

Engines, rule operators and transformations (native and SecLang), sink-guard detectors,
corpus mutators and suite importers each keep a :class:`Registry`:

- ``register(name, item)`` adds an item; ``@register(name)`` does the same as a decorator;
- a name registered twice is a :class:`DuplicateNameError` unless ``replace=True`` says the
  second registration is meant to win;
- ``get(name)`` on a miss raises :class:`UnknownNameError` (or the registry's own subclass)
  whose message lists every known name;
- ``names()`` is the known names, sorted; iterating yields the items in registration order.

A registry built with ``fold=str.lower`` looks names up case-insensitively and lists them as
they were first spelled (SecLang's ``t:urlDecodeUni`` is ``t:urldecodeuni``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import overload

__all__ = ["DuplicateNameError", "Registry", "UnknownNameError"]


class UnknownNameError(KeyError):
    """``get`` was asked for a name nobody registered; the message lists the known names."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown name"


class DuplicateNameError(ValueError):
    """A name was registered twice without ``replace=True``."""


def _same(name: str) -> str:
    return name


class Registry[T]:
    """Name -> item. ``kind`` names what is registered in messages (``"operator"``)."""

    def __init__(
        self,
        kind: str,
        *,
        unknown: type[UnknownNameError] = UnknownNameError,
        fold: Callable[[str], str] = _same,
    ) -> None:
        self.kind = kind
        self._unknown = unknown
        self._fold = fold
        self._items: dict[str, tuple[str, T]] = {}
        # changes with every registration and removal: a caller that keeps what it looked up
        # (a chain of transformations resolved once) knows when to look again
        self.version = 0

    @overload
    def register(self, name: str, item: T, *, replace: bool = False) -> T: ...

    @overload
    def register(self, name: str, *, replace: bool = False) -> Callable[[T], T]: ...

    def register(self, name: str, item: T | None = None, *, replace: bool = False) -> T | Callable[[T], T]:
        """Add ``item`` under ``name``; without ``item``, a decorator that adds what it wraps."""
        if item is None:

            def deco(wrapped: T) -> T:
                return self._add(name, wrapped, replace)

            return deco
        return self._add(name, item, replace)

    def _add(self, name: str, item: T, replace: bool) -> T:
        if not name:
            raise ValueError(f"a {self.kind} needs a non-empty name")
        key = self._fold(name)
        held = self._items.get(key)
        if held is not None and not replace and held[1] is not item:
            raise DuplicateNameError(
                f"{self.kind} {name!r} is already registered; pass replace=True to replace it"
            )
        self._items[key] = (held[0] if held is not None else name, item)
        self.version += 1
        return item

    def get(self, name: str) -> T:
        """The item registered as ``name``; a miss lists every known name."""
        held = self._items.get(self._fold(name))
        if held is None:
            known = ", ".join(self.names()) or "none"
            raise self._unknown(f"unknown {self.kind} {name!r}; known: {known}")
        return held[1]

    def unregister(self, name: str) -> T | None:
        """Remove ``name`` (a plug-in unloading, a test cleaning up); returns what it held."""
        held = self._items.pop(self._fold(name), None)
        self.version += 1
        return None if held is None else held[1]

    def names(self) -> tuple[str, ...]:
        """Every registered name as first spelled, sorted (by its folded form)."""
        return tuple(spelled for _, (spelled, _) in sorted(self._items.items()))

    def items(self) -> Iterator[tuple[str, T]]:
        """``(name, item)`` pairs in registration order."""
        return iter(list(self._items.values()))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._fold(name) in self._items

    def __iter__(self) -> Iterator[T]:
        return iter([item for _, item in self._items.values()])

    def __len__(self) -> int:
        return len(self._items)
