"""The System contract: one description of every trained thing, from training to export to inference.

A *system* maps what it reads for a list of utterances (:class:`SystemData`: input streams, or
its members' predictions) to :class:`~emofuse.predictions.Predictions`. Four kinds share the
contract: neural models (:mod:`emofuse.systems.neural`), classic models
(:mod:`emofuse.systems.classic`), score fusions of member systems
(:mod:`emofuse.systems.score_fusion`) and model fusions (neural models with several inputs, or
built over trained members). Each is

- built from a :class:`SystemSpec` (:func:`build_system`),
- fitted with :meth:`System.fit` (the runner's only way to train anything),
- applied with :meth:`System.predict`,
- saved as a directory with :meth:`System.save` (``system.json`` + ``model.safetensors``, no
  pickle) and loaded back with :func:`load_system`.

A run's fold directory and an exported recogniser hold the same files, so ``emofuse export``
copies them and the recogniser runs exactly what the run evaluated.
"""

from __future__ import annotations

import abc
import dataclasses
import json
import os
import pathlib
from collections.abc import Mapping
from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import Any
from typing import Literal

import numpy as np

from emofuse.components import FEATURES
from emofuse.components import MODELS
from emofuse.components import SCORE_FUSIONS
from emofuse.config import Component
from emofuse.config import ConfigError
from emofuse.config import component_dict_field
from emofuse.config import component_field
from emofuse.config import parse
from emofuse.config import to_dict
from emofuse.files import atomic_write_text
from emofuse.files import jsonable
from emofuse.models.inputs import InputSpec
from emofuse.predictions import Predictions
from emofuse.predictions import TaskType

if TYPE_CHECKING:
    from emofuse.experiment import TrainingConfig
    from emofuse.tasks import Task

FORMAT = "emofuse-system"
FORMAT_VERSION = 1
SPEC_FILE = "system.json"
WEIGHTS_FILE = "model.safetensors"


class InvalidSystemError(ValueError):
    """A system that cannot be built, fitted, saved or loaded as asked."""


@dataclasses.dataclass(frozen=True)
class SystemSpec:
    """What a system is; with its weights, everything needed to run it.

    ``task_type`` and ``outputs`` say what it predicts (class names or rating names). A model
    system reads ``inputs`` (front-ends named in ``features``, with all their settings, or raw
    ``text`` / ``waveform``) with ``model``; ``normalization`` is ``global`` (standardisers
    fitted on training data, stored with the weights), ``speaker`` (inputs standardised per
    speaker before the system sees them) or ``none``. A model built over trained member models
    (the classification block) lists their specs in ``member_specs``; their weights are part of
    its own. A score-fusion system fuses the outputs of the systems named in ``members`` with
    ``fusion``. ``transcript`` is the text its text inputs were trained on. ``fitted`` records
    what training chose (epochs, C, dev score); ``provenance`` where the system came from.
    """

    task_type: TaskType
    outputs: tuple[str, ...]
    inputs: tuple[InputSpec, ...] = ()
    model: Component | None = component_field(MODELS, default=None)
    normalization: Literal["global", "speaker", "none"] = "global"
    member_specs: tuple[SystemSpec, ...] = ()
    members: tuple[str, ...] = ()
    fusion: Component | None = component_field(SCORE_FUSIONS, default=None)
    features: dict[str, Component] = component_dict_field(FEATURES)
    transcript: Literal["reference", "asr"] = "reference"
    fitted: dict[str, Any] = dataclasses.field(default_factory=dict)
    provenance: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if (self.model is None) == (self.fusion is None):
            raise ValueError("a system has either a model (with inputs) or a fusion (with members)")
        if self.fusion is not None:
            if len(self.members) < 2:
                raise ValueError("a score-fusion system needs at least two members")
            if self.inputs or self.member_specs:
                raise ValueError("a score-fusion system reads its members' outputs, not inputs")
        elif not self.inputs:
            raise ValueError("a model system needs at least one input")
        if not self.outputs:
            raise ValueError("a system needs at least one output")
        for spec in self.inputs:
            from emofuse.components import RAW_INPUTS

            if spec.name not in RAW_INPUTS and spec.name not in self.features:
                raise ValueError(f"input {spec.name!r} is neither raw text/waveform nor a front-end in 'features'")

    @property
    def kind(self) -> Literal["model", "score_fusion"]:
        return "score_fusion" if self.fusion is not None else "model"

    def to_dict(self) -> dict[str, Any]:
        return jsonable(to_dict(self))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SystemSpec:
        return parse(cls, dict(data))


@dataclasses.dataclass(frozen=True)
class SystemData:
    """What a system reads for a list of utterances (``ids``, in order).

    ``inputs`` maps each input name to its values by utterance id (arrays, or texts);
    ``members`` maps each member system to its predictions on the same ids (score fusion);
    ``truth`` holds the targets (class indices or ratings) when fitting or scoring; ``split``
    names each utterance's part of the fold; ``groups`` (a speaker per id, say) is what
    per-group standardisation uses.
    """

    ids: tuple[str, ...]
    inputs: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
    members: Mapping[str, Predictions] = dataclasses.field(default_factory=dict)
    truth: np.ndarray | None = None
    split: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "ids", tuple(self.ids))
        if self.truth is not None and len(self.truth) != len(self.ids):
            raise ValueError(f"{len(self.truth)} targets for {len(self.ids)} utterances")
        for name, predictions in self.members.items():
            if predictions.ids != self.ids:
                raise ValueError(f"member {name!r} predicted other utterances than the ones given")

    def __len__(self) -> int:
        return len(self.ids)

    def column(self, name: str) -> list[Any]:
        """The values of input ``name`` in ``ids`` order."""
        try:
            stream = self.inputs[name]
        except KeyError:
            raise InvalidSystemError(f"input {name!r} is missing (given: {', '.join(self.inputs) or 'none'})") from None
        try:
            return [stream[i] for i in self.ids]
        except KeyError as error:
            raise InvalidSystemError(f"input {name!r} has no value for utterance {error.args[0]!r}") from None


class System(abc.ABC):
    """A trainable, savable emotion system (see the module docstring)."""

    def __init__(self, spec: SystemSpec) -> None:
        self.spec = spec

    @property
    def outputs(self) -> tuple[str, ...]:
        return self.spec.outputs

    @abc.abstractmethod
    def fit(self, train: SystemData, dev: SystemData | None, *, task: Task, training: TrainingConfig,
            seed: int | None = 0, directory: pathlib.Path | None = None, progress: bool = False) -> dict[str, Any]:
        """Fit on ``train`` (choosing what it chooses on ``dev``, never on test); returns what was
        chosen, which :meth:`save` records in the spec's ``fitted``. ``seed`` seeds the random
        number generators first (``None``: leave them as the caller seeded them, before building
        the system). ``directory`` holds checkpoints of long training."""

    @abc.abstractmethod
    def scores(self, data: SystemData) -> np.ndarray:
        """``(len(data), outputs)`` posteriors or ratings."""

    @abc.abstractmethod
    def state_dict(self) -> dict[str, np.ndarray]:
        """The fitted parameters, as named arrays."""

    @abc.abstractmethod
    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        """Restore :meth:`state_dict`; an error names what does not fit."""

    def predict(self, data: SystemData) -> Predictions:
        """The system's :class:`Predictions` on ``data`` (with its truth and split, when given)."""
        scores = self.scores(data) if len(data) else np.zeros((0, len(self.outputs)))
        return Predictions(self.spec.task_type, self.outputs, data.ids, scores, truth=data.truth, split=data.split)

    def save(self, directory: str | os.PathLike[str], *, fitted: Mapping[str, Any] | None = None,
             provenance: Mapping[str, Any] | None = None) -> pathlib.Path:
        """Write ``system.json`` and ``model.safetensors`` into ``directory`` (atomically)."""
        from safetensors.numpy import save as save_arrays

        from emofuse.files import atomic_write_bytes
        from emofuse.files import library_versions

        directory = pathlib.Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        spec = self.spec
        if fitted is not None or provenance is not None:
            spec = dataclasses.replace(spec, fitted={**spec.fitted, **jsonable(dict(fitted or {}))},
                                       provenance={**spec.provenance, **jsonable(dict(provenance or {}))})
            self.spec = spec
        arrays = {k: np.ascontiguousarray(v) for k, v in self.state_dict().items()}
        atomic_write_bytes(directory / WEIGHTS_FILE, save_arrays(arrays, metadata={"format": FORMAT}))
        payload = {"format": FORMAT, "format_version": FORMAT_VERSION, "versions": library_versions(), **spec.to_dict()}
        atomic_write_text(directory / SPEC_FILE, json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
        return directory


def is_classic_model(name: str) -> bool:
    """Whether model ``name`` is fitted by scikit-learn (a :class:`ClassicSystem`: no epochs,
    optimiser or learning rate) rather than trained as a neural system."""
    from emofuse.models.classic import ClassicModel

    return getattr(MODELS.get(name).builder, "__module__", "") == ClassicModel.__module__


def build_system(spec: SystemSpec, *, members: Sequence[System] | None = None) -> System:
    """An unfitted system of ``spec`` (the kind follows from the spec and the model);
    ``members``: the trained member systems a model over members starts from."""
    if spec.fusion is not None:
        from emofuse.systems.score_fusion import ScoreFusionSystem

        return ScoreFusionSystem(spec)
    assert spec.model is not None
    if is_classic_model(spec.model.name):
        from emofuse.systems.classic import ClassicSystem

        return ClassicSystem(spec)
    from emofuse.systems.neural import NeuralSystem

    return NeuralSystem(spec, members=members)


def read_spec(directory: str | os.PathLike[str]) -> SystemSpec:
    """The :class:`SystemSpec` saved in ``directory``."""
    path = pathlib.Path(directory) / SPEC_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidSystemError(f"{path.parent} holds no saved system (no {SPEC_FILE})") from None
    except json.JSONDecodeError as error:
        raise InvalidSystemError(f"{path}: invalid JSON: {error}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InvalidSystemError(f"{path} does not describe an {FORMAT}")
    version = data.pop("format_version", None)
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise InvalidSystemError(f"{path}: format version {version} is newer than this emofuse reads ({FORMAT_VERSION}); upgrade emofuse")
    data.pop("format")
    data.pop("versions", None)
    try:
        return SystemSpec.from_dict(data)
    except ConfigError as error:
        raise InvalidSystemError(f"{path}: {error}") from None


def load_system(directory: str | os.PathLike[str], *, spec: SystemSpec | None = None) -> System:
    """The fitted system saved in ``directory`` (by :meth:`System.save`); ``spec`` replaces the
    saved spec (a recogniser relocates front-end paths, say)."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    directory = pathlib.Path(directory)
    spec = spec or read_spec(directory)
    system = build_system(spec)
    path = directory / WEIGHTS_FILE
    if not path.is_file():
        raise InvalidSystemError(f"{directory}: missing {WEIGHTS_FILE}")
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError) as error:
        raise InvalidSystemError(f"{path}: cannot read weights: {error}") from None
    try:
        system.load_state_dict(state)
    except (ValueError, RuntimeError, KeyError) as error:
        raise InvalidSystemError(f"{path}: the weights do not fit {SPEC_FILE}: {error}") from None
    return system
