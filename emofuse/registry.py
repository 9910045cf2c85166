"""Registries: a name in a config maps to ``"module:object"``, imported on first use.

Every swappable component (front-ends, models, fusion strategies, protocols, corpus readers,
ASR) is registered under a name in :mod:`emofuse.components`, as the import path of its
builder. The builder (a class or a function) carries its config dataclass as
``config_class`` (set with :func:`builds`). Nothing is imported until a name is used, so
listing names, parsing a CLI or reading a manifest imports no model code. Where the builder's
module is heavy (torch), the registry also names its config class in a light module
(``configs``), so configs are checked key by key before any model code loads; third-party packages
add components through entry points (group ``emofuse.<registry>``, e.g. ``emofuse.models``).
Nothing is looked up with ``eval``.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from collections.abc import Mapping
from typing import Any
from typing import Generic
from typing import TypeVar

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


class RegistryError(KeyError):
    """A name that is not registered, or an entry that does not import."""

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly
        return str(self.args[0])


@dataclasses.dataclass(frozen=True)
class Example:
    """A tiny, fast configuration of a model, for the tests that cover every registered model
    (learning checks, save-and-load round trips) and for smoke runs.

    ``inputs`` are the kinds of input it reads, in order: ``vector`` and ``sequence`` (acoustic
    features: utterance-level or frames), ``text`` (raw text), ``text_vector`` and
    ``text_sequence`` (sentence or token embeddings), ``waveform``, or ``member`` (a trained
    member system, for models built over members). ``config`` overrides the config's defaults;
    ``{tiny_text_model}`` and ``{tiny_ssl_model}`` in a value stand for tiny local encoders.
    """

    inputs: tuple[str, ...]
    config: Mapping[str, Any] = dataclasses.field(default_factory=dict)


def builds(config_class: type, *, example: Example | None = None) -> Callable[[F], F]:
    """Mark a builder (class or function) with the config dataclass it is built from (and, for
    models, a tiny :class:`Example` configuration).

    >>> @dataclasses.dataclass(frozen=True)
    ... class SquareConfig:
    ...     value: int = 2
    >>> @builds(SquareConfig)
    ... def square(config):
    ...     return config.value**2
    >>> square.config_class.__name__
    'SquareConfig'
    """
    if not dataclasses.is_dataclass(config_class):
        raise TypeError(f"{config_class!r} is not a dataclass")

    def decorator(builder: F) -> F:
        builder.config_class = config_class  # type: ignore[attr-defined]
        builder.example = example  # type: ignore[attr-defined]
        return builder

    return decorator


@dataclasses.dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered component: its name, config class and builder."""

    name: str
    config_class: type
    builder: Callable[..., T]


class Registry(Generic[T]):
    """A named collection of components of one kind.

    >>> @dataclasses.dataclass(frozen=True)
    ... class SquareConfig:
    ...     value: int = 2
    >>> @builds(SquareConfig)
    ... def square(config):
    ...     return config.value**2
    >>> registry = Registry("example", {"cube": "emofuse.no_such_module:cube"})
    >>> registry.add("square", square)
    >>> registry.build("square", SquareConfig(value=3))
    9
    >>> registry.names()
    ['cube', 'square']
    """

    def __init__(self, kind: str, paths: Mapping[str, str] | None = None, *, group: str | None = None,
                 configs: Mapping[str, str] | None = None) -> None:
        self.kind = kind
        self.group = group
        self._paths: dict[str, str] = dict(paths or {})
        self._configs: dict[str, str] = dict(configs or {})
        unknown = set(self._configs) - set(self._paths)
        if unknown:
            raise ValueError(f"config classes named for unregistered {kind}s: {sorted(unknown)}")
        self._objects: dict[str, Any] = {}
        self._entries: dict[str, Entry[T]] = {}
        self._plugins_loaded = group is None

    def add(self, name: str, target: str | Callable[..., T]) -> None:
        """Register ``target`` (``"module:object"`` or the builder itself) under ``name``."""
        if name in self._paths or name in self._objects:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        if isinstance(target, str):
            _split(target)
            self._paths[name] = target
        else:
            self._objects[name] = target

    def remove(self, name: str) -> None:
        """Forget ``name`` (for tests that register temporary components)."""
        self._paths.pop(name, None)
        self._objects.pop(name, None)
        self._entries.pop(name, None)

    def _load_plugins(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        from importlib.metadata import entry_points

        for point in entry_points(group=self.group):
            if point.name not in self._paths and point.name not in self._objects:
                self._paths[point.name] = point.value

    def get(self, name: str) -> Entry[T]:
        entry = self._entries.get(name)
        if entry is not None:
            return entry
        if name not in self._paths and name not in self._objects:
            self._load_plugins()
        if name in self._objects:
            builder = self._objects[name]
        elif name in self._paths:
            builder = _import(self._paths[name], f"{self.kind} {name!r}")
        else:
            raise RegistryError(f"unknown {self.kind} {name!r}; available: {', '.join(self.names())}")
        config_class = getattr(builder, "config_class", None)
        if config_class is None or not dataclasses.is_dataclass(config_class):
            raise RegistryError(f"{self.kind} {name!r}: its builder has no config_class (decorate it with @builds)")
        if name in self._configs and config_class is not self.config_class(name):
            raise RegistryError(f"{self.kind} {name!r}: its builder is built from {config_class.__name__}, "
                                f"not the registered {self._configs[name]}")
        entry = Entry(name, config_class, builder)
        self._entries[name] = entry
        return entry

    def config_class(self, name: str) -> type:
        """The config dataclass of ``name``, from its light module when one is registered (no
        builder import), else from the builder."""
        path = self._configs.get(name)
        if path is None:
            return self.get(name).config_class
        return _import(path, f"{self.kind} {name!r}")

    def build(self, name: str, config: Any, *args: Any, **kwargs: Any) -> T:
        entry = self.get(name)
        if not isinstance(config, entry.config_class):
            raise TypeError(f"{self.kind} {name!r} expects {entry.config_class.__name__}, got {type(config).__name__}")
        return entry.builder(config, *args, **kwargs)

    def names(self) -> list[str]:
        self._load_plugins()
        return sorted({*self._paths, *self._objects})

    def path(self, name: str) -> str | None:
        """The ``"module:object"`` a name imports (``None`` for objects added directly)."""
        return self._paths.get(name)

    def __contains__(self, name: object) -> bool:
        if name in self._paths or name in self._objects:
            return True
        self._load_plugins()
        return name in self._paths or name in self._objects


def _split(path: str) -> tuple[str, str]:
    module, separator, attribute = path.partition(":")
    if not separator or not module or not attribute:
        raise ValueError(f"{path!r} is not 'module:object'")
    return module, attribute


def _import(path: str, what: str) -> Any:
    module_name, attribute = _split(path)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        missing = error.name or module_name
        if module_name == missing or module_name.startswith(missing + "."):
            raise RegistryError(f"{what}: module {module_name!r} does not exist") from None
        raise RegistryError(f"{what} needs the package {missing!r}, which is not installed "
                            f"(install the emofuse extra that provides it)") from None
    obj = module
    for part in attribute.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise RegistryError(f"{what}: {module_name} has no {attribute!r}") from None
    return obj
