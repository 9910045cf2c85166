"""Explicit registries: a name in a config maps to a config dataclass and a builder.

Every swappable component (feature extractors, models, fusion strategies, protocols, corpora)
is registered under a name. Configs name components; nothing is looked up with ``eval`` or
imported from a string.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any
from typing import Generic
from typing import TypeVar

T = TypeVar("T")


class RegistryError(KeyError):
    """A name that is not registered."""

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly
        return str(self.args[0])


@dataclasses.dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered component: its name, config class and builder."""

    name: str
    config_class: type
    builder: Callable[..., T]


class Registry(Generic[T]):
    """A named collection of components of one kind.

    >>> from dataclasses import dataclass
    >>> registry = Registry("example")
    >>> @dataclass(frozen=True)
    ... class SquareConfig:
    ...     value: int = 2
    >>> @registry.register("square", SquareConfig)
    ... def build_square(config):
    ...     return config.value**2
    >>> registry.build("square", SquareConfig(value=3))
    9
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}

    def register(self, name: str, config_class: type) -> Callable[[Callable[..., T]], Callable[..., T]]:
        if not dataclasses.is_dataclass(config_class):
            raise TypeError(f"{self.kind} {name!r}: config class must be a dataclass")

        def decorator(builder: Callable[..., T]) -> Callable[..., T]:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._entries[name] = Entry(name, config_class, builder)
            return builder

        return decorator

    def get(self, name: str) -> Entry[T]:
        try:
            return self._entries[name]
        except KeyError:
            raise RegistryError(
                f"unknown {self.kind} {name!r}; available: {', '.join(sorted(self._entries))}"
            ) from None

    def build(self, name: str, config: Any, *args: Any, **kwargs: Any) -> T:
        entry = self.get(name)
        if not isinstance(config, entry.config_class):
            raise TypeError(
                f"{self.kind} {name!r} expects {entry.config_class.__name__}, "
                f"got {type(config).__name__}"
            )
        return entry.builder(config, *args, **kwargs)

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries
