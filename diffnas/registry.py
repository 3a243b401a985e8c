"""A small name -> object registry, so new samplers, schedules, clippers ... register by name.

A registry's ``kind`` is the config key that chooses from it; for the kinds listed in
:data:`diffnas.names.BUILTIN` every registered name is also recorded there, which is where config
validation reads the allowed values (without importing the registry's module, or torch).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from diffnas import names as name_book

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to objects; an unknown name raises ValueError listing what is allowed."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._items[name] = obj
            name_book.add(self.kind, name)
            return obj

        return decorator

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise ValueError(
                f"{self.kind}: unknown {name!r}; allowed: {', '.join(self._items)}"
            ) from None

    def unregister(self, name: str) -> None:
        """Remove ``name`` (a test registering a temporary entry cleans up with this)."""
        del self._items[name]
        name_book.remove(self.kind, name)

    def check_builtins(self) -> None:
        """RuntimeError unless every built-in name of this kind (:mod:`diffnas.names`) is registered."""
        name_book.check_implemented(self.kind, name_book.BUILTIN.get(self.kind, ()), self._items)

    def names(self) -> list[str]:
        return list(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)
