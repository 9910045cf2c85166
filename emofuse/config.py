"""Typed configs: YAML or dicts in, frozen dataclasses out; unknown keys are errors.

A config section that chooses a registered component (a feature extractor, a model, a fusion
strategy, a protocol) is a mapping with a ``name`` key; the remaining keys are parsed into the
config dataclass registered under that name. Errors name the full key path, for example
``systems.audio.model.hiden_sizes: unknown key``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import pathlib
import types
import typing
from collections.abc import Mapping
from typing import Any
from typing import Literal
from typing import TypeVar
from typing import Union

import yaml

from emofuse.registry import Registry
from emofuse.registry import RegistryError

T = TypeVar("T")


class ConfigError(ValueError):
    """A config that does not match its schema; the message names the key path."""


@dataclasses.dataclass(frozen=True)
class Component:
    """A registered component chosen by name, with its typed config."""

    name: str
    config: Any


_REQUIRED = object()


def component_field(registry: Registry, default: str | None | object = _REQUIRED, **kwargs: Any) -> Any:
    """A dataclass field holding a :class:`Component` of ``registry``.

    ``default`` is the name of a component built with its default config, ``None`` for an
    optional field, or left out for a required one.
    """
    metadata = {"registry": registry}
    if default is _REQUIRED:
        return dataclasses.field(metadata=metadata, **kwargs)
    if default is None:
        return dataclasses.field(default=None, metadata=metadata, **kwargs)

    def factory() -> Component:
        return Component(str(default), registry.config_class(str(default))())

    return dataclasses.field(default_factory=factory, metadata=metadata, **kwargs)


def component_list_field(registry: Registry) -> Any:
    """A dataclass field holding a tuple of :class:`Component` of ``registry`` (default empty)."""
    return dataclasses.field(default_factory=tuple, metadata={"item_registry": registry})


def component_dict_field(registry: Registry) -> Any:
    """A dataclass field holding ``{name: Component}`` of ``registry`` (default empty)."""
    return dataclasses.field(default_factory=dict, metadata={"value_registry": registry})


def apply_overrides(data: Any, overrides: list[str]) -> Any:
    """Set dotted keys in plain config data: ``["systems.text.model.name=mlp"]``; numbers index
    lists (``model.branches.1.vectors=glove.txt``).

    Values are read as YAML scalars or flow collections (``3``, ``1e-3``, ``[64, 32]``, ``null``).
    A key set under one system stays with it where the YAML shares a mapping between systems
    (an anchor ``&training`` and its aliases ``*training``): every mapping and list is copied
    once per place it appears, so an override never reaches the aliases.
    """
    data = _unshared(data) if data is not None else {}
    for override in overrides:
        key, separator, raw = override.partition("=")
        if not separator or not key.strip():
            raise ConfigError(f"override {override!r} must look like key.path=value")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError as error:
            raise ConfigError(f"override {override!r}: invalid value: {error}") from None
        parts = key.strip().split(".")
        node = data
        for part in parts[:-1]:
            if isinstance(node, list):
                node = _list_item(node, part, override)
                continue
            if not isinstance(node, dict):
                raise ConfigError(f"override {override!r}: {part!r} is not inside a mapping")
            node = node.setdefault(part, {})
            if node is None:
                raise ConfigError(f"override {override!r}: {part!r} is null")
        if isinstance(node, list):
            node[_index(node, parts[-1], override)] = value
        elif isinstance(node, dict):
            node[parts[-1]] = value
        else:
            raise ConfigError(f"override {override!r}: cannot set a key inside a {type(node).__name__}")
    return data


def _unshared(value: Any) -> Any:
    """A copy of plain config data in which no mapping or list appears twice (``copy.deepcopy``
    keeps YAML aliases shared)."""
    if isinstance(value, dict):
        return {key: _unshared(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_unshared(item) for item in value]
    return value


def parse(cls: type[T], data: Any, *, path: str = "") -> T:
    """Build dataclass ``cls`` from plain data, strictly.

    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class Training:
    ...     epochs: int = 10
    ...     learning_rate: float = 1e-3
    >>> parse(Training, {"epochs": 3, "learning_rate": "1e-4"})
    Training(epochs=3, learning_rate=0.0001)
    >>> parse(Training, {"epoch": 3})
    Traceback (most recent call last):
    ...
    emofuse.config.ConfigError: epoch: unknown key; allowed keys: epochs, learning_rate
    """
    return _parse_dataclass(cls, data, path)


def load_yaml(path: str | pathlib.Path) -> Any:
    path = pathlib.Path(path)
    try:
        with path.open(encoding="utf-8") as file:
            return yaml.safe_load(file)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: invalid YAML: {error}") from None


def to_dict(value: Any) -> Any:
    """Plain, JSON-serialisable data from configs (inverse of :func:`parse`)."""
    if isinstance(value, Component):
        return {"name": value.name, **to_dict(value.config)}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_dict(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): to_dict(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_dict(v) for v in value]
    if isinstance(value, pathlib.Path):
        return str(value)
    return value


def config_hash(value: Any, *, length: int = 12) -> str:
    """A stable short hash of a config, used to key caches and artefacts."""
    text = json.dumps(to_dict(value), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def _index(items: list, part: str, override: str) -> int:
    if not part.lstrip("-").isdigit() or not -len(items) <= int(part) < len(items):
        raise ConfigError(f"override {override!r}: {part!r} is not an index of a list of {len(items)}")
    return int(part)


def _list_item(items: list, part: str, override: str) -> Any:
    return items[_index(items, part, override)]


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _parse_dataclass(cls: type, data: Any, path: str) -> Any:
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path or '<root>'}: expected a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = [key for key in data if key not in fields]
    if unknown:
        raise ConfigError(
            f"{_join(path, str(unknown[0]))}: unknown key; allowed keys: {', '.join(fields)}"
        )
    hints = typing.get_type_hints(cls)
    values = {}
    for name, field in fields.items():
        key_path = _join(path, name)
        if name in data:
            registry = field.metadata.get("registry")
            if registry is not None:
                values[name] = None if data[name] is None else _parse_component(registry, data[name], key_path)
            else:
                values[name] = _parse_value(hints[name], data[name], key_path, field.metadata)
        elif (
            field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
        ):
            raise ConfigError(f"{key_path}: required key is missing")
    try:
        return cls(**values)
    except (ValueError, TypeError) as error:
        raise ConfigError(f"{path or '<root>'}: {error}") from None


def _parse_component(registry: Registry, data: Any, path: str) -> Component:
    if isinstance(data, str):
        data = {"name": data}
    if not isinstance(data, Mapping) or "name" not in data:
        raise ConfigError(f"{path}: expected a mapping with a 'name' key choosing a {registry.kind}")
    name = data["name"]
    try:
        config_class = registry.config_class(name)
    except RegistryError as error:
        raise ConfigError(f"{path}.name: {error}") from None
    rest = {k: v for k, v in data.items() if k != "name"}
    return Component(name, _parse_dataclass(config_class, rest, path))


def _parse_value(hint: Any, value: Any, path: str, metadata: Mapping[str, Any]) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arm in args:
            if arm is type(None):
                continue
            try:
                return _parse_value(arm, value, path, metadata)
            except ConfigError as error:
                errors.append(str(error))
        raise ConfigError(errors[-1] if len(errors) == 1 else f"{path}: {value!r} matches none of {hint}")
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{path}: {value!r} is not one of {', '.join(map(repr, args))}")
        return value
    if origin in (list, tuple, typing.Sequence) or hint in (list, tuple):
        if isinstance(value, str | bytes) or not isinstance(value, list | tuple):
            raise ConfigError(f"{path}: expected a list, got {type(value).__name__}")
        item = args[0] if args else Any
        item_registry = metadata.get("item_registry")
        if item_registry is not None:
            items = [_parse_component(item_registry, v, f"{path}[{i}]") for i, v in enumerate(value)]
        else:
            items = [_parse_value(item, v, f"{path}[{i}]", metadata) for i, v in enumerate(value)]
        return tuple(items) if origin is tuple or hint is tuple else items
    if origin in (dict, Mapping) or hint is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{path}: expected a mapping, got {type(value).__name__}")
        key_hint, value_hint = args if args else (Any, Any)
        registry = metadata.get("value_registry")
        result: dict = {}
        for key, item in value.items():
            key = _parse_value(key_hint, key, path, {})
            item_path = _join(path, str(key))
            if registry is not None:
                result[key] = _parse_component(registry, item, item_path)
            else:
                result[key] = _parse_value(value_hint, item, item_path, {})
        return result
    if dataclasses.is_dataclass(hint):
        return _parse_dataclass(hint, value, path)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: expected true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path}: expected an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool):
            raise ConfigError(f"{path}: expected a number, got {value!r}")
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)  # YAML reads 1e-3 (no dot) as a string
            except ValueError:
                pass
        raise ConfigError(f"{path}: expected a number, got {value!r}")
    if hint is str:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ConfigError(f"{path}: expected a string, got {value!r}")
        return str(value)
    if hint is pathlib.Path:
        if not isinstance(value, str):
            raise ConfigError(f"{path}: expected a path, got {value!r}")
        return pathlib.Path(value)
    if hint is Component:
        raise ConfigError(f"{path}: component field has no registry")  # programming error
    raise ConfigError(f"{path}: unsupported config type {hint}")
