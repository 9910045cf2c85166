"""Where a recogniser's directory is (a path, a bundled name or a hub id), and making the local
encoder directories that its front-ends name travel with it."""

from __future__ import annotations

import dataclasses
import logging
import os
import pathlib
import shutil
from collections.abc import Mapping
from typing import Any

from emofuse.config import Component

log = logging.getLogger(__name__)

CONFIG_NAME = "config.json"
SYSTEMS_DIR = "systems"
ENCODERS_DIR = "encoders"
#: The recognisers shipped inside the package, by name.
BUNDLED: dict[str, str] = {"default": "default_model"}


class RecognizerError(ValueError):
    """A recogniser that cannot be loaded, saved or applied as asked."""


def resolve_recognizer(source: str | os.PathLike[str]) -> pathlib.Path:
    """The directory of a recogniser: a local directory, a bundled name, or a hub id."""
    path = pathlib.Path(source).expanduser()
    if path.is_dir():
        return path.resolve()
    name = str(source)
    if name in BUNDLED:
        from importlib.resources import files

        bundled = pathlib.Path(str(files("emofuse") / "assets" / BUNDLED[name]))
        if not (bundled / CONFIG_NAME).is_file():
            raise RecognizerError(f"the bundled recogniser {name!r} is missing from this installation ({bundled})")
        return bundled
    if path.exists():
        raise RecognizerError(f"{path} is a file; give the recogniser's directory")
    if name.count("/") == 1 and not name.startswith((".", "/", "~")):
        try:
            from huggingface_hub import snapshot_download

            return pathlib.Path(snapshot_download(name, allow_patterns=[CONFIG_NAME, f"{SYSTEMS_DIR}/**", f"{ENCODERS_DIR}/**"]))
        except Exception as error:  # noqa: BLE001 - any hub failure becomes one clear message
            raise RecognizerError(f"{name!r} is not a local directory or bundled recogniser ({', '.join(BUNDLED)}), "
                                  f"and the Hugging Face hub did not provide it: {type(error).__name__}: {error}") from None
    raise RecognizerError(f"{name!r} is not a recogniser directory or a bundled recogniser ({', '.join(BUNDLED)})")


def _model_field(config: Any) -> str | None:
    value = getattr(config, "model", None)
    return value if isinstance(value, str) else None


def portable_features(features: Mapping[str, Component], directory: pathlib.Path) -> dict[str, Component]:
    """Front-ends whose ``model`` is a local directory get a copy of it under ``encoders/`` and a
    relative ``model`` path; hub ids and the packaged MiniLM stay as they are."""
    from emofuse.text.lm import packaged_minilm

    packaged = packaged_minilm()
    result = {}
    for name, component in features.items():
        model = _model_field(component.config)
        local = pathlib.Path(model).expanduser() if model else None
        if local is not None and local.is_dir() and (packaged is None or local.resolve() != packaged.resolve()):
            relative = f"{ENCODERS_DIR}/{name}"
            target = directory / relative
            if local.resolve() != target.resolve():
                shutil.rmtree(target, ignore_errors=True)
                shutil.copytree(local, target)
            component = Component(component.name, dataclasses.replace(component.config, model=relative))
        result[name] = component
    return result


def localize_features(features: Mapping[str, Component], directory: pathlib.Path) -> dict[str, Component]:
    """Relative ``encoders/...`` model paths made absolute inside the recogniser directory."""
    result = {}
    for name, component in features.items():
        model = _model_field(component.config)
        if model and model.startswith(f"{ENCODERS_DIR}/") and (directory / model).is_dir():
            component = Component(component.name, dataclasses.replace(component.config, model=str(directory / model)))
        result[name] = component
    return result


def check_versions(versions: Mapping[str, str], where: pathlib.Path) -> None:
    """Log where the libraries that shape a recogniser's numbers differ from when it was built."""
    from emofuse.files import library_versions

    current = library_versions()
    for package in ("emofuse", "librosa", "torch", "transformers"):
        built = versions.get(package)
        if built and package in current and built.split(".")[:2] != current[package].split(".")[:2]:
            log.info("%s was built with %s %s; this is %s", where, package, built, current[package])
