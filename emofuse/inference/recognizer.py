"""A trained emotion recogniser as a self-describing directory, and predictions from it.

A recogniser directory holds::

    config.json         what it is: format version, versions of the libraries it was built with,
                        the label set, the front-ends with their settings, every trained system
                        (model config, input specs, normalisation), fusion systems with their
                        fitted weights, the output heads, the default ASR, and where it came from
    model.safetensors   the weights of every trained system, keyed ``<system>/<parameter>``
    encoders/<name>/    (optional) local language models that a front-end needs

Nothing is loaded through pickle: configs are JSON parsed into typed dataclasses (unknown keys
are errors) and weights are safetensors. :meth:`Recognizer.from_pretrained` takes a directory,
the name of a bundled model (``default``) or a Hugging Face hub id; :meth:`Recognizer.save_pretrained`
writes the directory back. Calling a recogniser on audio (a path, the bytes of a file, or a
signal) and/or a transcript returns a :class:`Prediction`: class posteriors and the top
emotion, valence / arousal / dominance when the recogniser has a dimensional head, and the
transcript used (given, or from ASR when the recogniser reads text and none is given).

When a modality is missing for an utterance (no words from ASR, text without audio), fusion
systems fuse the members that have their inputs (weights renormalised), and the prediction
names the systems that contributed.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import logging
import os
import pathlib
import platform
import shutil
import threading
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any
from typing import Literal

import numpy as np
import torch

import emofuse
import emofuse.audio  # noqa: F401  (registers audio front-ends)
import emofuse.fusion  # noqa: F401  (registers fusion strategies)
import emofuse.models  # noqa: F401  (registers models)
import emofuse.text  # noqa: F401  (registers text front-ends)
from emofuse.audio.io import DEFAULT_SAMPLING_RATE
from emofuse.audio.io import AudioError
from emofuse.audio.io import read_audio
from emofuse.audio.io import resample
from emofuse.config import Component
from emofuse.config import ConfigError
from emofuse.config import component_dict_field
from emofuse.config import component_field
from emofuse.config import parse
from emofuse.config import to_dict
from emofuse.data.labels import DISPLAY_NAMES
from emofuse.features import FEATURES
from emofuse.features import FeatureExtractor
from emofuse.features import build_extractor
from emofuse.features import check_finite
from emofuse.fusion.base import SCORE_FUSIONS
from emofuse.fusion.base import ScoreFusion
from emofuse.inference.transcribe import ASRConfig
from emofuse.inference.transcribe import Transcriber
from emofuse.inference.transcribe import build_transcriber
from emofuse.models.base import MODELS
from emofuse.models.base import InputSpec
from emofuse.models.serialization import ModelFileError
from emofuse.models.serialization import assemble_system_model
from emofuse.models.standardize import SystemModel
from emofuse.text.lm import packaged_minilm

log = logging.getLogger(__name__)

FORMAT = "emofuse-recognizer"
FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
ENCODERS_DIR = "encoders"
#: Inputs a system takes without a front-end (as in experiment configs).
RAW_INPUTS: dict[str, str] = {"text": "text", "waveform": "audio"}
#: The recognisers shipped inside the package, by name.
BUNDLED: dict[str, str] = {"default": "default_model"}
AudioSource = str | os.PathLike[str] | bytes | np.ndarray


class RecognizerError(ValueError):
    """A recogniser that cannot be loaded, saved or applied as asked."""


# Configs -----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class SystemSpec:
    """One system of a recogniser: a ``neural`` (torch) or ``classic`` (linear arrays) model
    on ``inputs``, or a ``fusion`` of ``members`` with its ``fitted`` parameters.

    ``task`` and ``outputs`` say what it predicts: class names (categorical) or rating names
    (dimensional). ``normalization`` is ``global`` (standardisers stored with the weights) or
    ``none``. ``member_models`` are the trained models inside a model that is built over other
    models (a classification block over frozen speech and text models); their weights are part
    of the outer model's.
    """

    kind: Literal["neural", "classic", "fusion"]
    task: Literal["categorical", "dimensional"]
    outputs: tuple[str, ...]
    inputs: tuple[InputSpec, ...] = ()
    model: Component | None = component_field(MODELS, default=None)
    normalization: str = "global"
    members: tuple[str, ...] = ()
    fusion: Component | None = component_field(SCORE_FUSIONS, default=None)
    fitted: dict[str, Any] = dataclasses.field(default_factory=dict)
    member_models: tuple[SystemSpec, ...] = ()

    def __post_init__(self) -> None:
        if self.member_models and self.kind != "neural":
            raise ValueError("only neural models are built over member models")
        if (self.kind == "fusion") != (self.fusion is not None) or (self.kind == "fusion") == (self.model is not None):
            raise ValueError(f"a {self.kind} system needs {'fusion and members' if self.kind == 'fusion' else 'a model and inputs'}")
        if self.kind == "fusion" and len(self.members) < 2:
            raise ValueError("a fusion system needs at least two members")
        if self.kind != "fusion" and not self.inputs:
            raise ValueError("a model system needs at least one input")
        if self.normalization not in {"global", "none"}:
            raise ValueError(f"normalization must be 'global' or 'none', got {self.normalization!r}")


@dataclasses.dataclass(frozen=True)
class RecognizerConfig:
    """Everything a recogniser is, except its weights (``config.json``).

    ``heads`` maps ``categorical`` and/or ``dimensional`` to the system that answers it.
    ``features`` are the front-ends (with all their settings) that systems' inputs name.
    ``transcript`` is the text that the text systems were trained on (``reference`` or
    ``asr``); ``asr`` the recogniser used when a caller gives no transcript.
    """

    name: str
    heads: dict[Literal["categorical", "dimensional"], str]
    systems: dict[str, SystemSpec]
    features: dict[str, Component] = component_dict_field(FEATURES)
    asr: ASRConfig = dataclasses.field(default_factory=ASRConfig)
    transcript: str = "reference"
    sampling_rate: int = DEFAULT_SAMPLING_RATE
    label_names: dict[str, str] = dataclasses.field(default_factory=dict)
    description: str = ""
    versions: dict[str, str] = dataclasses.field(default_factory=dict)
    provenance: dict[str, Any] = dataclasses.field(default_factory=dict)
    metrics: dict[str, Any] = dataclasses.field(default_factory=dict)
    format: str = FORMAT
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        if self.format != FORMAT:
            raise ValueError(f"format is {self.format!r}, not an {FORMAT}")
        if self.format_version > FORMAT_VERSION:
            raise ValueError(f"format_version {self.format_version} is newer than this emofuse reads ({FORMAT_VERSION}); upgrade emofuse")
        if not self.heads:
            raise ValueError("a recogniser needs at least one head (categorical or dimensional)")
        for task, system in self.heads.items():
            if system not in self.systems:
                raise ValueError(f"head {task!r}: {system!r} is not a system")
            if self.systems[system].task != task:
                raise ValueError(f"head {task!r}: system {system!r} is {self.systems[system].task}")
        for name, spec in self.systems.items():
            for member in spec.members:
                if member not in self.systems:
                    raise ValueError(f"system {name!r}: member {member!r} is not a system")
                if self.systems[member].outputs != spec.outputs:
                    raise ValueError(f"system {name!r}: member {member!r} predicts other outputs")
            for input_ in spec.inputs:
                if input_.name not in self.features and input_.name not in RAW_INPUTS:
                    raise ValueError(f"system {name!r}: input {input_.name!r} is neither a front-end nor raw text/waveform")
        self.system_order()

    def system_order(self) -> list[str]:
        """The systems the heads need, members before the fusions that use them."""
        order: list[str] = []

        def visit(name: str, path: tuple[str, ...]) -> None:
            if name in path:
                raise ValueError(f"system {name!r} is its own member (a cycle)")
            for member in self.systems[name].members:
                visit(member, (*path, name))
            if name not in order:
                order.append(name)

        for system in self.heads.values():
            visit(system, ())
        return order

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(to_dict(self))


def library_versions() -> dict[str, str]:
    """Versions of what shapes a recogniser's numbers (front-ends, models, encoders)."""
    versions = {"emofuse": emofuse.__version__, "python": platform.python_version(), "torch": torch.__version__}
    for package in ("numpy", "librosa", "transformers", "safetensors", "scikit-learn", "pocketsphinx"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


# Results -----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Prediction:
    """What a recogniser says about one utterance.

    ``posteriors`` (class -> probability, in the recogniser's class order) and ``emotion`` (the
    most probable class) come from the categorical head; ``valence``, ``arousal`` and
    ``dominance`` (in [-1, 1] as trained) from a dimensional head. ``transcript`` is the text
    the text systems read, ``transcript_source`` says whether it was ``given``, came from
    ``asr``, or there was ``none``. ``systems`` names the trained systems that contributed and
    ``members`` holds their own outputs.
    """

    emotion: str | None
    posteriors: dict[str, float]
    valence: float | None = None
    arousal: float | None = None
    dominance: float | None = None
    transcript: str | None = None
    transcript_source: Literal["given", "asr", "none"] = "none"
    systems: tuple[str, ...] = ()
    members: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)
    duration: float | None = None
    source: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with ``None`` fields left out."""
        data = dataclasses.asdict(self)
        data["systems"] = list(self.systems)
        return {k: v for k, v in data.items() if v is not None}

    def to_row(self) -> dict[str, Any]:
        """One flat row for CSV: ``p_<class>`` columns, no per-member outputs."""
        row: dict[str, Any] = {"source": self.source, "emotion": self.emotion}
        row.update({f"p_{c}": p for c, p in self.posteriors.items()})
        for name in ("valence", "arousal", "dominance"):
            if getattr(self, name) is not None:
                row[name] = getattr(self, name)
        row.update({"transcript": self.transcript, "transcript_source": self.transcript_source,
                    "systems": "+".join(self.systems), "duration": self.duration})
        return row


# Systems at run time -----------------------------------------------------------------------


class _NeuralSystem:
    """A :class:`SystemModel` (standardisers + model) rebuilt from its config and weights."""

    def __init__(self, name: str, spec: SystemSpec, state: Mapping[str, torch.Tensor]) -> None:
        self.module = build_system_module(name, spec)
        try:
            self.module.load_state_dict(dict(state), strict=True)
        except RuntimeError as error:
            raise RecognizerError(f"system {name!r}: the weights do not fit the model config: {error}") from None
        self.module.eval()
        self.spec = spec

    @torch.inference_mode()
    def __call__(self, columns: Sequence[list[Any]]) -> np.ndarray:
        inputs = [_collate(spec.kind, column) for spec, column in zip(self.spec.inputs, columns, strict=True)]
        outputs = self.module(inputs).float()  # (batch, outputs)
        if self.spec.task == "categorical":
            return torch.softmax(outputs, dim=-1).numpy().astype(np.float64)
        return outputs.numpy().astype(np.float64)


def build_system_module(name: str, spec: SystemSpec) -> SystemModel:
    """An untrained :class:`SystemModel` (standardisers + model) of a neural system's spec,
    with its member models built first when it is built over other models."""
    assert spec.model is not None
    members = [build_system_module(f"{name}.member_{k}", m) for k, m in enumerate(spec.member_models)]
    try:
        return assemble_system_model(spec.model, list(spec.inputs), len(spec.outputs),
                                     normalization=spec.normalization, members=members)
    except ModelFileError as error:
        raise RecognizerError(f"system {name!r}: {error}") from None


class _ClassicSystem:
    """A linear scikit-learn model from its arrays: per estimator ``k``, ``k.mean``, ``k.scale``
    (standardisation), ``k.coef`` and ``k.intercept``. Logistic regression gives softmax
    posteriors (sigmoid for two classes); ridge / linear SVR one output per estimator."""

    def __init__(self, name: str, spec: SystemSpec, state: Mapping[str, torch.Tensor]) -> None:
        arrays = {k: v.double().numpy() for k, v in state.items()}
        count = len({k.split(".", 1)[0] for k in arrays})
        self.estimators = []
        for index in range(count):
            if f"{index}.coef" not in arrays:
                raise RecognizerError(f"system {name!r}: estimator {index} has no coefficients")
            self.estimators.append({key: arrays.get(f"{index}.{key}") for key in ("mean", "scale", "coef", "intercept")})
        classes = len(spec.outputs)
        if spec.task == "categorical":
            rows = self.estimators[0]["coef"].shape[0] if count == 1 else -1
            if not (rows == classes or (rows == 1 and classes == 2)):
                raise RecognizerError(f"system {name!r}: {rows} coefficient rows for {classes} classes "
                                      "(a class was missing from training?)")
        elif count != classes:
            raise RecognizerError(f"system {name!r}: {count} estimators for {classes} targets")
        self.spec = spec

    def __call__(self, columns: Sequence[list[Any]]) -> np.ndarray:
        features = np.concatenate([np.stack(column).astype(np.float64) for column in columns], axis=1)  # (batch, dim)
        scores = []
        for estimator in self.estimators:
            values = features
            if estimator["mean"] is not None:
                values = (values - estimator["mean"]) / estimator["scale"]
            scores.append(values @ estimator["coef"].T + estimator["intercept"])  # (batch, rows)
        if self.spec.task == "dimensional":
            return np.concatenate(scores, axis=1)
        (decision,) = scores
        if decision.shape[1] == 1:
            positive = 1.0 / (1.0 + np.exp(-decision[:, 0]))
            return np.stack([1.0 - positive, positive], axis=1)
        decision = decision - decision.max(axis=1, keepdims=True)
        exp = np.exp(decision)
        return exp / exp.sum(axis=1, keepdims=True)


class _FusionSystem:
    """A score fusion restored from its config and fitted parameters; fuses whichever members
    are available for an utterance (with per-member parameters restricted to them)."""

    def __init__(self, name: str, spec: SystemSpec) -> None:
        self.name = name
        self.spec = spec

    def _build(self, available: Sequence[int]) -> ScoreFusion:
        assert self.spec.fusion is not None
        fusion = SCORE_FUSIONS.build(self.spec.fusion.name, self.spec.fusion.config, kind=self.spec.task)
        full = len(available) == len(self.spec.members)
        for key, value in self.spec.fitted.items():
            if key in {"method", "members"} or value is None:
                continue
            if isinstance(value, list) and len(value) == len(self.spec.members):
                value = [value[i] for i in available]
                if key == "weights" and not full:
                    total = float(sum(value))
                    value = [v / total for v in value] if total > 0 else [1.0 / len(value)] * len(value)
                value = tuple(tuple(v) if isinstance(v, list) else v for v in value)
            if not hasattr(fusion, key):
                raise RecognizerError(f"fusion system {self.name!r}: {self.spec.fusion.name} has no fitted parameter {key!r}")
            setattr(fusion, key, value)
        return fusion

    def __call__(self, members: Sequence[Sequence[np.ndarray | None]]) -> list[np.ndarray | None]:
        """Fuse per item: ``members[m][k]`` is member ``m``'s output for item ``k`` (or None).

        Items are fused in groups that share the same available members.
        """
        count = len(members[0])
        groups: dict[tuple[int, ...], list[int]] = {}
        for k in range(count):
            groups.setdefault(tuple(m for m, rows in enumerate(members) if rows[k] is not None), []).append(k)
        fused: list[np.ndarray | None] = [None] * count
        for available, items in groups.items():
            if not available:
                continue
            if len(available) == 1:
                values = np.stack([members[available[0]][k] for k in items])  # type: ignore[misc]
            else:
                scores = [np.stack([members[m][k] for k in items]) for m in available]  # (items, outputs) each
                values = np.asarray(self._build(available)(scores), dtype=np.float64)
            for position, k in enumerate(items):
                fused[k] = values[position]
        return fused


def _collate(kind: str, column: list[Any]) -> tuple[Any, torch.Tensor | None]:
    """One model input for a batch: stacked vectors, zero-padded sequences/waveforms, text lists."""
    if kind == "text":
        return list(column), None
    if kind == "vector":
        return torch.from_numpy(np.stack(column).astype(np.float32)), None
    lengths = torch.tensor([len(v) for v in column], dtype=torch.long)
    first = np.asarray(column[0])
    padded = np.zeros((len(column), int(lengths.max()), *first.shape[1:]), dtype=np.float32)
    for row, value in enumerate(column):
        padded[row, : len(value)] = value
    return torch.from_numpy(padded), lengths


# The recogniser ----------------------------------------------------------------------------


class Recognizer:
    """Emotion from speech and words, as trained and exported by emofuse.

    >>> recognizer = Recognizer.from_pretrained("default")          # doctest: +SKIP
    >>> recognizer("call.wav").emotion                               # doctest: +SKIP
    'neu'
    """

    def __init__(
        self,
        config: RecognizerConfig,
        state: Mapping[str, Mapping[str, torch.Tensor]],
        *,
        asr: ASRConfig | str | None = None,
        directory: pathlib.Path | None = None,
    ) -> None:
        self.config = config
        self.directory = directory
        self._state = {k: dict(v) for k, v in state.items()}
        order = config.system_order()
        self._order = order
        self.extractors: dict[str, FeatureExtractor] = {}
        needed = {i.name for s in order for i in config.systems[s].inputs}
        for name in sorted(needed - set(RAW_INPUTS)):
            self.extractors[name] = build_extractor(config.features[name])
        self._systems: dict[str, Any] = {}
        for name in order:
            spec = config.systems[name]
            if spec.kind == "fusion":
                self._systems[name] = _FusionSystem(name, spec)
                continue
            if name not in self._state:
                raise RecognizerError(f"system {name!r} has no weights in {WEIGHTS_NAME}")
            system_class = _NeuralSystem if spec.kind == "neural" else _ClassicSystem
            self._systems[name] = system_class(name, spec, self._state[name])
        self.asr = config.asr if asr is None else (ASRConfig(asr) if isinstance(asr, str) else asr)
        self.transcriber: Transcriber | None = build_transcriber(self.asr) if self.reads_text else None
        self._text_lock = threading.Lock()  # fast tokenizers are not safe across threads

    # Loading and saving ---------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, source: str | os.PathLike[str] = "default", *, asr: ASRConfig | str | None = None,
                        num_threads: int | None = None) -> Recognizer:
        """Load a recogniser from a directory, a bundled name (``default``) or a hub id.

        ``asr`` replaces the recogniser's default speech recogniser (``none``: no ASR).
        ``num_threads`` sets torch's intra-op threads for the whole process (``None``: leave
        them). One thread is usually best for single utterances: the models are small, and
        with more threads than free cores (a busy machine, several workers) torch's threads
        wait on each other (measured: 25 ms with 1 thread, 1.1 s with 2 on a loaded 2-core machine).
        """
        if num_threads is not None:
            if num_threads < 1:
                raise RecognizerError(f"num_threads must be at least 1, got {num_threads}")
            torch.set_num_threads(num_threads)
        directory = resolve_recognizer(source)
        config_path = directory / CONFIG_NAME
        try:
            data = json.loads(config_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RecognizerError(f"{directory} is not a recogniser directory (no {CONFIG_NAME})") from None
        except json.JSONDecodeError as error:
            raise RecognizerError(f"{config_path}: invalid JSON: {error}") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise RecognizerError(f"{config_path} does not describe an {FORMAT}")
        try:
            config = parse(RecognizerConfig, data)
        except ConfigError as error:
            raise RecognizerError(f"{config_path}: {error}") from None
        config = dataclasses.replace(config, features=_localize_features(config.features, directory))
        _check_versions(config, config_path)
        state = load_weights(directory / WEIGHTS_NAME) if (directory / WEIGHTS_NAME).exists() else {}
        return cls(config, state, asr=asr, directory=directory)

    def save_pretrained(self, directory: str | os.PathLike[str]) -> pathlib.Path:
        """Write the recogniser to ``directory`` (``config.json``, ``model.safetensors``, and a
        copy of every local encoder directory that a front-end needs)."""
        from safetensors.torch import save_file

        directory = pathlib.Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        features = _portable_features(self.config.features, directory)
        config = dataclasses.replace(self.config, features=features)
        tensors = {f"{system}/{key}": value.detach().cpu().contiguous()
                   for system, state in self.weights().items() for key, value in state.items()}
        if tensors:
            save_file(tensors, str(directory / WEIGHTS_NAME), metadata={"format": FORMAT, "format_version": str(FORMAT_VERSION)})
            (directory / WEIGHTS_NAME).chmod(0o644)
        (directory / CONFIG_NAME).write_text(json.dumps(config.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return directory

    def weights(self) -> dict[str, dict[str, torch.Tensor]]:
        """The weights of every trained system the heads need: ``{system: {parameter: tensor}}``."""
        return {system: dict(state) for system, state in self._state.items() if system in self._order}

    # Facts ------------------------------------------------------------------------------------
    @property
    def classes(self) -> tuple[str, ...]:
        """The class names of the categorical head (empty without one)."""
        head = self.config.heads.get("categorical")
        return self.config.systems[head].outputs if head else ()

    @property
    def targets(self) -> tuple[str, ...]:
        """The rating names of the dimensional head (empty without one)."""
        head = self.config.heads.get("dimensional")
        return self.config.systems[head].outputs if head else ()

    @property
    def sampling_rate(self) -> int:
        return self.config.sampling_rate

    def _input_modality(self, name: str) -> str:
        return RAW_INPUTS.get(name) or self.extractors[name].modality

    @property
    def reads_text(self) -> bool:
        return any(self._input_modality(i.name) == "text" for s in self._order for i in self.config.systems[s].inputs)

    @property
    def reads_audio(self) -> bool:
        return any(self._input_modality(i.name) == "audio" for s in self._order for i in self.config.systems[s].inputs)

    def describe(self) -> dict[str, Any]:
        """A short JSON-ready description (for ``/health`` and logs)."""
        return {
            "name": self.config.name,
            "classes": list(self.classes),
            "targets": list(self.targets),
            "modalities": [m for m, on in (("audio", self.reads_audio), ("text", self.reads_text)) if on],
            "asr": self.transcriber.name if self.transcriber is not None else "none",
            "systems": self._order,
            "sampling_rate": self.sampling_rate,
            "emofuse_version": emofuse.__version__,
        }

    def warm_up(self) -> None:
        """Load the lazily loaded parts (language models, this thread's ASR decoder) by
        transcribing and predicting a short tone with a short text."""
        t = np.arange(self.sampling_rate) / self.sampling_rate
        signal = (0.2 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
        if self.reads_text:
            self.transcribe(signal)
        self.predict_signals([signal if self.reads_audio else None], texts=["warm up" if self.reads_text else None])

    # Prediction ---------------------------------------------------------------------------
    def __call__(
        self,
        audio: AudioSource | None = None,
        *,
        text: str | None = None,
        sampling_rate: int | None = None,
        name: str | None = None,
    ) -> Prediction:
        """Predict one utterance from audio (path, file bytes, or a signal with its
        ``sampling_rate``) and/or its transcript ``text``."""
        signal = None if audio is None else self.load_audio(audio, sampling_rate=sampling_rate, name=name)
        source = name or (str(audio) if isinstance(audio, str | os.PathLike) else None)
        return self.predict_signals([signal], texts=[text], sources=[source])[0]

    def predict(
        self,
        audios: Sequence[AudioSource | None],
        *,
        texts: Sequence[str | None] | None = None,
        sampling_rate: int | None = None,
        batch_size: int = 16,
    ) -> list[Prediction]:
        """Predict many utterances, ``batch_size`` at a time."""
        texts = list(texts) if texts is not None else [None] * len(audios)
        if len(texts) != len(audios):
            raise RecognizerError(f"{len(audios)} audio items but {len(texts)} texts")
        results: list[Prediction] = []
        for start in range(0, len(audios), batch_size):
            chunk = audios[start : start + batch_size]
            signals = [None if a is None else self.load_audio(a, sampling_rate=sampling_rate) for a in chunk]
            sources = [str(a) if isinstance(a, str | os.PathLike) else None for a in chunk]
            results += self.predict_signals(signals, texts=texts[start : start + batch_size], sources=sources)
        return results

    def load_audio(self, audio: AudioSource, *, sampling_rate: int | None = None, name: str | None = None,
                   max_duration: float | None = None) -> np.ndarray:
        """A mono float32 signal at the recogniser's rate from a path, file bytes or an array."""
        if isinstance(audio, np.ndarray):
            if sampling_rate is None:
                raise RecognizerError("give sampling_rate with a signal array")
            signal = np.asarray(audio, dtype=np.float32)
            if signal.ndim == 2:
                signal = signal.mean(axis=1 if signal.shape[1] <= signal.shape[0] else 0, dtype=np.float32)
            if signal.ndim != 1 or signal.size == 0 or not np.all(np.isfinite(signal)):
                raise AudioError("a signal must be a non-empty, finite 1-D (or 2-D multichannel) array", source=name)
            if not np.any(signal):
                raise AudioError("silent: every sample is zero", source=name)
            if sampling_rate != self.sampling_rate:
                signal = resample(signal, sampling_rate, self.sampling_rate)
            if max_duration is not None and signal.size / self.sampling_rate > max_duration:
                raise AudioError(f"too long: {signal.size / self.sampling_rate:.1f} s (maximum {max_duration} s)", source=name)
            return signal
        return read_audio(audio, sampling_rate=self.sampling_rate, name=name, max_duration=max_duration)

    def transcribe(self, signal: np.ndarray) -> str | None:
        """The ASR transcript of a signal at the recogniser's rate (``None`` without ASR)."""
        if self.transcriber is None:
            return None
        return self.transcriber.transcribe(signal, self.sampling_rate)

    def predict_signals(
        self,
        signals: Sequence[np.ndarray | None],
        *,
        texts: Sequence[str | None] | None = None,
        sources: Sequence[str | None] | None = None,
    ) -> list[Prediction]:
        """Predict a batch of signals (at :attr:`sampling_rate`, or ``None``) with optional texts.

        Items without text are transcribed when the recogniser reads text and has ASR.
        """
        count = len(signals)
        texts = list(texts) if texts is not None else [None] * count
        sources = list(sources) if sources is not None else [None] * count
        if len(texts) != count or len(sources) != count:
            raise RecognizerError("give one text (or None) and one source (or None) per signal")
        transcripts: list[str | None] = []
        origins: list[Literal["given", "asr", "none"]] = []
        for signal, text in zip(signals, texts, strict=True):
            if text is not None and text.strip():
                transcripts.append(text.strip())
                origins.append("given")
            elif self.reads_text and signal is not None and self.transcriber is not None:
                transcripts.append(self.transcribe(signal) or "")
                origins.append("asr")
            else:
                transcripts.append(None)
                origins.append("none")
        streams = self._streams(signals, transcripts)
        outputs: dict[str, list[np.ndarray | None]] = {}
        for name in self._order:
            spec = self.config.systems[name]
            if spec.kind == "fusion":
                fusion = self._systems[name]
                outputs[name] = fusion([outputs[m] for m in spec.members])
                continue
            ready = [k for k in range(count) if all(streams[i.name][k] is not None for i in spec.inputs)]
            rows: list[np.ndarray | None] = [None] * count
            if ready:
                values = self._systems[name]([[streams[i.name][k] for k in ready] for i in spec.inputs])
                for position, k in enumerate(ready):
                    rows[k] = values[position]
            outputs[name] = rows
        results = []
        for k in range(count):
            results.append(self._prediction(k, outputs, signals[k], transcripts[k], origins[k], sources[k]))
        return results

    def _streams(self, signals: Sequence[np.ndarray | None], transcripts: Sequence[str | None]) -> dict[str, list[Any]]:
        streams: dict[str, list[Any]] = {}
        usable_texts = [t if t else None for t in transcripts]
        for name in {i.name for s in self._order for i in self.config.systems[s].inputs}:
            if name == "text":
                streams[name] = usable_texts
            elif name == "waveform":
                streams[name] = list(signals)
            elif self.extractors[name].modality == "text":
                extractor = self.extractors[name]
                present = [k for k, t in enumerate(usable_texts) if t is not None]
                column: list[Any] = [None] * len(usable_texts)
                if present:
                    with self._text_lock:
                        arrays = extractor.extract_texts([usable_texts[k] for k in present])  # type: ignore[misc]
                    for k, array in zip(present, arrays, strict=True):
                        column[k] = check_finite(array, f"{name} of text {usable_texts[k]!r:.40}")
                streams[name] = column
            else:
                extractor = self.extractors[name]
                streams[name] = [None if s is None else self._audio_features(extractor, s) for s in signals]
        return streams

    def _audio_features(self, extractor: FeatureExtractor, signal: np.ndarray) -> np.ndarray:
        if extractor.sampling_rate != self.sampling_rate:
            signal = resample(signal, self.sampling_rate, extractor.sampling_rate)
        if extractor.max_duration is not None:
            signal = signal[: int(extractor.max_duration * extractor.sampling_rate)]
        return check_finite(extractor.extract(signal, extractor.sampling_rate), extractor.name)

    def _prediction(self, k: int, outputs: Mapping[str, list[np.ndarray | None]], signal: np.ndarray | None,
                    transcript: str | None, origin: Literal["given", "asr", "none"], source: str | None) -> Prediction:
        heads = self.config.heads
        values: dict[str, Any] = {"posteriors": {}, "emotion": None}
        contributed: list[str] = []
        members: dict[str, dict[str, float]] = {}
        for task, head in heads.items():
            result = outputs[head][k]
            if result is None:
                missing = "audio" if signal is None else "text (no transcript was given and ASR is off or heard nothing)"
                raise RecognizerError(f"{source or 'item'}: the {task} head {head!r} needs {missing}")
            names = self.config.systems[head].outputs
            if task == "categorical":
                values["posteriors"] = {c: float(p) for c, p in zip(names, result, strict=True)}
                values["emotion"] = names[int(np.argmax(result))]
            else:
                values.update({n: float(v) for n, v in zip(names, result, strict=True) if n in {"valence", "arousal", "dominance"}})
            for name in self._order:
                spec = self.config.systems[name]
                if spec.kind != "fusion" and outputs[name][k] is not None and name not in contributed:
                    contributed.append(name)
                    members[name] = {c: float(v) for c, v in zip(spec.outputs, outputs[name][k], strict=True)}
        return Prediction(
            **values,
            transcript=transcript,
            transcript_source=origin,
            systems=tuple(contributed),
            members=members if len(members) > 1 else {},
            duration=None if signal is None else round(signal.size / self.sampling_rate, 3),
            source=source,
        )


# Files ---------------------------------------------------------------------------------------


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

            return pathlib.Path(snapshot_download(name, allow_patterns=[CONFIG_NAME, WEIGHTS_NAME, f"{ENCODERS_DIR}/**"]))
        except Exception as error:  # noqa: BLE001 - any hub failure becomes one clear message
            raise RecognizerError(f"{name!r} is not a local directory or bundled recogniser ({', '.join(BUNDLED)}), "
                                  f"and the Hugging Face hub did not provide it: {type(error).__name__}: {error}") from None
    raise RecognizerError(f"{name!r} is not a recogniser directory or a bundled recogniser ({', '.join(BUNDLED)})")


def load_weights(path: pathlib.Path) -> dict[str, dict[str, torch.Tensor]]:
    """``model.safetensors`` as ``{system: {parameter: tensor}}``."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        flat = load_file(str(path))
    except (SafetensorError, OSError) as error:
        raise RecognizerError(f"{path}: cannot read weights: {error}") from None
    state: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in flat.items():
        system, separator, parameter = key.partition("/")
        if not separator:
            raise RecognizerError(f"{path}: weight {key!r} is not named <system>/<parameter>")
        state.setdefault(system, {})[parameter] = value
    return state


def _model_field(config: Any) -> str | None:
    value = getattr(config, "model", None)
    return value if isinstance(value, str) else None


def _portable_features(features: Mapping[str, Component], directory: pathlib.Path) -> dict[str, Component]:
    """Front-ends whose ``model`` is a local directory get a copy of it under ``encoders/`` and a
    relative ``model`` path; hub ids and the packaged MiniLM stay as they are."""
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


def _localize_features(features: Mapping[str, Component], directory: pathlib.Path) -> dict[str, Component]:
    """Relative ``encoders/...`` model paths made absolute inside the recogniser directory."""
    result = {}
    for name, component in features.items():
        model = _model_field(component.config)
        if model and model.startswith(f"{ENCODERS_DIR}/") and (directory / model).is_dir():
            component = Component(component.name, dataclasses.replace(component.config, model=str(directory / model)))
        result[name] = component
    return result


def _check_versions(config: RecognizerConfig, where: pathlib.Path) -> None:
    current = library_versions()
    for package in ("emofuse", "librosa", "torch", "transformers"):
        built = config.versions.get(package)
        if built and package in current and built.split(".")[:2] != current[package].split(".")[:2]:
            log.info("%s was built with %s %s; this is %s", where, package, built, current[package])


def display_names(classes: Sequence[str]) -> dict[str, str]:
    return {c: DISPLAY_NAMES.get(c, c) for c in classes}


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value
