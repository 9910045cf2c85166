"""Where a recogniser's directory is (a path, a bundled name or a hub id), what its ``config.json``
says (:class:`RecognizerConfig`), and making the local encoder directories that its front-ends
name travel with it."""

from __future__ import annotations

import dataclasses
import logging
import os
import pathlib
import shutil
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any
from typing import Literal

from emofuse.asr.base import check_asr
from emofuse.audio.io import DEFAULT_SAMPLING_RATE
from emofuse.config import Component
from emofuse.config import to_dict
from emofuse.data.labels import DISPLAY_NAMES
from emofuse.files import jsonable

log = logging.getLogger(__name__)

CONFIG_NAME = "config.json"
SYSTEMS_DIR = "systems"
ENCODERS_DIR = "encoders"
#: The recognisers shipped inside the package, by name.
BUNDLED: dict[str, str] = {"default": "default_model"}


class RecognizerError(ValueError):
    """A recogniser that cannot be loaded, saved or applied as asked."""


FORMAT = "emofuse-recognizer"
FORMAT_VERSION = 2


@dataclasses.dataclass(frozen=True)
class RecognizerConfig:
    """Everything a recogniser is, apart from its systems (``config.json``).

    ``heads`` maps ``categorical`` and/or ``dimensional`` to the system that answers it;
    ``systems`` lists every system directory, members before the fusions that use them.
    ``asr`` is the engine used when a caller gives no transcript (``none``: speech only).
    ``temperatures`` maps a system to the temperature that calibrates its posteriors
    (:mod:`emofuse.calibration`; fitted on held-out speakers), applied to members before they
    are fused and to the fused output. ``adaptation`` maps a system to the one that replaces it
    when predicting with ``adapt`` (a system trained on per-speaker standardised inputs, whose
    inputs are then standardised with the statistics of the recordings given).
    ``neutral_words`` names the class that a text member gives to sentences whose words carry no
    emotion (``neu``, say); when such a member is fused with a voice, its posteriors are tempered by
    how much emotion they give the words (``p ** (1 - p[neutral_words])``,
    :func:`~emofuse.inference.prediction.discount_neutral`), so that a lexically neutral sentence
    ("Say the word chair") says little either way and cannot outvote an emotional voice. The
    text member alone still answers as it is. ``None``: text members are fused as they are.
    """

    name: str
    heads: dict[Literal["categorical", "dimensional"], str]
    systems: tuple[str, ...]
    asr: str = "pocketsphinx"
    sampling_rate: int = DEFAULT_SAMPLING_RATE
    label_names: dict[str, str] = dataclasses.field(default_factory=dict)
    description: str = ""
    versions: dict[str, str] = dataclasses.field(default_factory=dict)
    provenance: dict[str, Any] = dataclasses.field(default_factory=dict)
    metrics: dict[str, Any] = dataclasses.field(default_factory=dict)
    temperatures: dict[str, float] = dataclasses.field(default_factory=dict)
    adaptation: dict[str, str] = dataclasses.field(default_factory=dict)
    neutral_words: str | None = None
    format: str = FORMAT
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        if self.format != FORMAT:
            raise ValueError(f"format is {self.format!r}, not an {FORMAT}")
        if self.format_version > FORMAT_VERSION:
            raise ValueError(f"format_version {self.format_version} is newer than this emofuse reads ({FORMAT_VERSION}); "
                             "upgrade emofuse")
        if self.format_version < FORMAT_VERSION:
            raise ValueError(f"format_version {self.format_version} was written by an older emofuse; export the run again")
        if not self.heads:
            raise ValueError("a recogniser needs at least one head (categorical or dimensional)")
        for task, system in self.heads.items():
            if system not in self.systems:
                raise ValueError(f"head {task!r}: {system!r} is not one of the systems")
        for system, temperature in self.temperatures.items():
            if system not in self.systems:
                raise ValueError(f"temperatures: {system!r} is not one of the systems")
            if not temperature > 0:
                raise ValueError(f"temperatures: {system!r} has temperature {temperature}; it must be positive")
        for system, replacement in self.adaptation.items():
            if system not in self.systems or replacement not in self.systems:
                raise ValueError(f"adaptation: {system!r} -> {replacement!r} names a system that is not listed")
        check_asr(self.asr)

    def to_dict(self) -> dict[str, Any]:
        return jsonable(to_dict(self))


def display_names(classes: Sequence[str]) -> dict[str, str]:
    return {c: DISPLAY_NAMES.get(c, c) for c in classes}


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
