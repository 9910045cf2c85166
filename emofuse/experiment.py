"""The typed config of an experiment (``emofuse run CONFIG.yaml``).

An experiment names a corpus, a task, a protocol, seeds, feature streams and systems. A system
either trains a model on some inputs (feature streams, or the raw ``text`` / ``waveform``) or
fuses the outputs of member systems. Unknown keys anywhere are errors naming the key path.

.. code-block:: yaml

    name: iemocap_mini
    data: {corpus: {name: iemocap, path: ../shared/fixtures/IEMOCAP_mini}}
    task: {type: categorical}
    protocol: {name: leave_one_session_out}
    seeds: [0, 1, 2]
    features:
      logmel: {name: logmel_stats}
      minilm: {name: text_embedding}
    systems:
      audio: {inputs: [logmel], model: {name: mlp}}
      text: {inputs: [minilm], model: {name: mlp, hidden_sizes: []}}
      fused: {members: [audio, text], fusion: {name: late, method: average}}
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import re
from typing import Any
from typing import Literal

from emofuse.components import CORPORA
from emofuse.components import FEATURES
from emofuse.components import MODELS
from emofuse.components import PROTOCOLS
from emofuse.components import RAW_INPUTS
from emofuse.components import SCORE_FUSIONS
from emofuse.config import Component
from emofuse.config import ConfigError
from emofuse.config import apply_overrides
from emofuse.config import component_dict_field
from emofuse.config import component_field
from emofuse.config import load_yaml
from emofuse.config import parse
from emofuse.data.manifest import DIMENSIONS


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where the utterances come from: a registered ``corpus`` reader or a saved ``manifest``.

    ``label_map`` re-maps emotion codes (default: the corpus's own map). ``transcript`` chooses
    the text that text inputs read: the ``reference`` transcript; ``asr`` (the manifest's ASR
    text, or transcripts made by the ``asr`` engine, cached: ``pocketsphinx``,
    ``whisper[:model]``); or ``simulated`` (the
    reference with simulated ASR errors at ``simulated_wer``, reproducible for
    ``simulated_seed``, as in IEmoNet).
    """

    corpus: Component | None = component_field(CORPORA, default=None)
    manifest: str | None = None
    label_map: str | None = None
    transcript: Literal["reference", "asr", "simulated"] = "reference"
    asr: str | None = None
    simulated_wer: float = 0.06
    simulated_seed: int = 0

    def __post_init__(self) -> None:
        if (self.corpus is None) == (self.manifest is None):
            raise ValueError("give exactly one of data.corpus or data.manifest")
        if self.asr is not None:
            if self.transcript != "asr":
                raise ValueError("data.asr is used with transcript: asr")
            from emofuse.asr.base import check_asr

            check_asr(self.asr)
        if not 0.0 <= self.simulated_wer < 1.0:
            raise ValueError(f"simulated_wer must be in [0, 1), got {self.simulated_wer}")

    @property
    def text_field(self) -> Literal["reference", "asr"]:
        """The manifest field that text inputs read: ``reference`` or ``asr``."""
        return "reference" if self.transcript == "reference" else "asr"


@dataclasses.dataclass(frozen=True)
class TaskConfig:
    """``categorical`` (weighted cross-entropy, UA) or ``dimensional`` (CCC or MSE, mean CCC).

    ``loss_weights`` weight the dimensional targets (Atmaja & Akagi's ``a, b, 1 - a - b``);
    ``label_smoothing`` softens the categorical targets of the cross-entropy (0.1 by default,
    0 in the papers' settings).

    ``class_weighting`` and ``selection_metric`` (categorical) say what a model is trained for:
    ``inverse_frequency`` weighting and ``UA`` (the epoch, or C, with the best dev UA; the
    default) for balanced recall, the metric of emotion corpora; ``none`` and ``WA`` when a
    corpus is scored by accuracy (WA; SemEval-2017 4A in IEmoNet): weighting the loss by inverse
    class frequency costs accuracy on skewed classes (benchmarks/results/deep_text.md).
    ``macro_F1`` is the third choice. Dimensional tasks select on the mean CCC.
    """

    type: Literal["categorical", "dimensional"] = "categorical"
    class_weighting: Literal["inverse_frequency", "none"] = "inverse_frequency"
    targets: tuple[str, ...] = DIMENSIONS
    loss: Literal["ccc", "mse"] = "ccc"
    loss_weights: tuple[float, ...] | None = None
    label_smoothing: float = 0.1
    selection_metric: Literal["UA", "WA", "macro_F1"] = "UA"

    def __post_init__(self) -> None:
        unknown = [t for t in self.targets if t not in DIMENSIONS]
        if unknown or not self.targets:
            raise ValueError(f"targets must be a non-empty subset of {list(DIMENSIONS)}, got {list(self.targets)}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.type == "dimensional" and self.selection_metric != "UA":
            raise ValueError(f"selection_metric {self.selection_metric!r} is categorical; dimensional tasks select on "
                             "the mean CCC")


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    """How a model is trained (Lightning): optimiser, schedule, model selection, hardware.

    The defaults learn from a few hundred utterances: AdamW (weight decay 0.01), a linear
    warm-up over ``warmup_fraction`` of the steps then cosine decay, gradients clipped at norm
    1, the epoch with the best dev score kept and training stopped after 10 epochs without
    improvement, length-bucketed batches. ``mixup`` (Beta parameter, 0 = off) mixes pairs of
    utterances whose inputs are feature vectors or frames. Papers' own settings are written out
    in each recipe's ``paper`` variant.

    ``selection: best_dev`` keeps the epoch with the best dev score (UA or mean CCC) and allows
    ``early_stopping_patience``; ``last`` trains a fixed number of epochs (IEmoNet). Only the
    fold's dev set is ever used for selection. ``repeat`` shows every training utterance that
    many times per epoch (Padi et al.'s two augmented copies per segment, with augmentation in
    the model). ``length_bucketing`` batches utterances of similar length together; ``auto``
    (the default) does so unless the model has batch norm: batches of similar length are
    batches of similar emotion on acted corpora (sad speech is slow, angry speech short), and
    batch norm then normalises the emotion away (CNN14 did not learn on EmoDB with buckets).
    ``shuffle_buffer``: utterances shuffled together when training streams from a feature
    store (``extraction.store``); a buffer that holds the whole training set gives the same
    batches as training from memory. ``ema_decay`` (``None`` = off) keeps an exponential moving
    average of the weights (and batch-norm statistics), updated after every step (Lightning's
    ``WeightAveraging``), its decay warmed up as ``min(ema_decay, (1 + n) / (10 + n))`` after
    ``n`` steps; the dev score, the selected epoch and the saved model then use the averaged
    weights. With a few hundred utterances an epoch is a few dozen steps: 0.99 averages over
    about the last four epochs of that size.

    ``precision`` is Lightning's: ``bf16-mixed`` runs the forward pass under ``torch.autocast`` in
    bfloat16 with float32 weights and optimiser state (batch-norm statistics in float32), on GPUs
    and on CPUs with bfloat16 instructions (AVX-512 BF16, AMX), where wide convolutional models
    train faster (``benchmarks/training_speed.py`` measures it per model; narrow ones gain little).
    Under mixed precision with ``gradient_clip`` the optimiser is the multi-tensor rather than the
    fused one, whose gradients Lightning does not clip.
    """

    max_epochs: int = 30
    batch_size: int = 32
    optimizer: Literal["adam", "adamw", "sgd", "nadam", "rmsprop"] = "adamw"
    learning_rate: float = 1e-3
    encoder_learning_rate: float | None = None
    weight_decay: float = 0.01
    momentum: float = 0.9
    nesterov: bool = False
    scheduler: Literal["none", "linear_warmup", "step_halving", "cosine", "one_cycle"] = "cosine"
    warmup_fraction: float = 0.1
    step_size: int = 2
    step_start: int = 8
    gamma: float = 0.5
    selection: Literal["best_dev", "last"] = "best_dev"
    early_stopping_patience: int | None = 10
    gradient_clip: float | None = 1.0
    mixup: float = 0.0
    precision: Literal["32-true", "32", "16-mixed", "bf16-mixed"] = "32-true"
    accelerator: str = "auto"
    devices: int | str = 1
    num_nodes: int = 1
    strategy: str = "auto"
    num_workers: int = 0
    length_bucketing: bool | Literal["auto"] = "auto"
    repeat: int = 1
    shuffle_buffer: int = 10000
    ema_decay: float | None = None

    def __post_init__(self) -> None:
        if self.max_epochs < 1 or self.batch_size < 1 or self.learning_rate <= 0 or self.repeat < 1:
            raise ValueError("max_epochs, batch_size, learning_rate and repeat must be positive")
        if self.shuffle_buffer < self.batch_size:
            raise ValueError(f"shuffle_buffer ({self.shuffle_buffer}) must hold at least one batch ({self.batch_size})")
        if self.mixup < 0:
            raise ValueError(f"mixup must be 0 (off) or a positive Beta parameter, got {self.mixup}")
        if self.ema_decay is not None and not 0.0 < self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in (0, 1) (or null for no averaging), got {self.ema_decay}")


@dataclasses.dataclass(frozen=True)
class SystemConfig:
    """A model trained on ``inputs``; a ``fusion`` of ``members``' outputs (score fusion); or a
    ``model`` over trained ``members`` (classification-block fusion: its inputs are the members').

    ``normalization`` standardises vector and frame inputs with training statistics
    (``global``), with each speaker's own statistics (``speaker``: uses the test speaker's
    unlabelled features; report it separately) or not at all (``none``). ``loss_weights``
    overrides the task's weights of the dimensional targets for this system (Atmaja & Akagi
    weight their acoustic-only model differently from the text and fused ones).
    """

    inputs: tuple[str, ...] = ()
    model: Component | None = component_field(MODELS, default=None)
    members: tuple[str, ...] = ()
    fusion: Component | None = component_field(SCORE_FUSIONS, default=None)
    training: TrainingConfig = dataclasses.field(default_factory=TrainingConfig)
    normalization: Literal["global", "speaker", "none"] = "global"
    loss_weights: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if (self.model is None) == (self.fusion is None):
            raise ValueError("a system has either a model (with inputs or members) or a fusion (with members)")
        if self.model is not None and not self.inputs and not self.members:
            raise ValueError("a model system needs at least one input (or members, for a classification block)")
        if self.inputs and self.members:
            raise ValueError("a system over members takes its inputs from them; leave 'inputs' out")
        if self.fusion is not None and len(self.members) < 2:
            raise ValueError("a fusion system needs at least two members")


@dataclasses.dataclass(frozen=True)
class StoreConfig:
    """A sharded feature store (:mod:`emofuse.store`) at ``path``, filled by Lightning's
    ``Trainer.predict`` (:mod:`emofuse.training.extraction`): one process per device
    (``accelerator``, ``devices``, ``num_nodes``, ``strategy`` as for a Lightning Trainer; CPU
    processes count as devices), each writing whole shards of ``shard_size`` utterances,
    ``batch_size`` utterances per step, audio decoded by ``num_workers`` loader processes per
    device. ``dtype: float16`` halves the bytes (features are read back as float32);
    ``precision`` is the Trainer's (``bf16-mixed`` for neural front-ends on GPUs)."""

    path: str
    shard_size: int = 1000
    dtype: Literal["float32", "float16"] = "float32"
    batch_size: int = 16
    num_workers: int = 0
    accelerator: str = "auto"
    devices: int | str = 1
    num_nodes: int = 1
    strategy: str = "auto"
    precision: Literal["32-true", "16-mixed", "bf16-mixed"] = "32-true"

    def __post_init__(self) -> None:
        if self.shard_size < 1 or self.batch_size < 1 or self.num_nodes < 1 or self.num_workers < 0:
            raise ValueError("shard_size, batch_size and num_nodes must be positive, num_workers at least 0")


@dataclasses.dataclass(frozen=True)
class ExtractionConfig:
    """Feature extraction: cache directory, worker processes, and what to do with bad audio
    (``raise`` after caching every good file, or ``skip`` and record the bad ones).

    With a ``store``, features go into a sharded store instead of the per-utterance cache, and
    neural systems train from it by streaming (``training.shuffle_buffer``)."""

    cache_dir: str | None = None
    num_workers: int = 1
    on_error: Literal["raise", "skip"] = "raise"
    store: StoreConfig | None = None


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
    """An experiment. ``evaluate_on`` names further corpora on which every trained fold model is
    also tested as a whole (cross-corpus evaluation: train on one corpus, test on another).
    ``variants`` are named lists of ``key.path=value`` overrides that a recipe documents (for
    example ``offline``: small offline encoders in place of hub models); choose one with
    ``emofuse run RECIPE --variant NAME``."""

    name: str
    data: DataConfig
    systems: dict[str, SystemConfig]
    task: TaskConfig = dataclasses.field(default_factory=TaskConfig)
    protocol: Component = component_field(PROTOCOLS, default="leave_one_session_out")
    allow_speaker_overlap: bool = False
    seeds: tuple[int, ...] = (0,)
    features: dict[str, Component] = component_dict_field(FEATURES)
    extraction: ExtractionConfig = dataclasses.field(default_factory=ExtractionConfig)
    references: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)
    evaluate_on: dict[str, DataConfig] = dataclasses.field(default_factory=dict)
    variants: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    description: str = ""

    def __post_init__(self) -> None:
        if not self.systems:
            raise ValueError("define at least one system")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be a non-empty list of distinct integers, got {list(self.seeds)}")
        for name, system in self.systems.items():
            for source in system.inputs:
                if source not in self.features and source not in RAW_INPUTS:
                    raise ValueError(
                        f"system {name!r}: input {source!r} is neither a feature stream "
                        f"({', '.join(self.features) or 'none defined'}) nor one of {sorted(RAW_INPUTS)}"
                    )
            for member in system.members:
                if member not in self.systems:
                    raise ValueError(f"system {name!r}: member {member!r} is not a system")
                if system.model is not None and self.systems[member].model is None:
                    raise ValueError(f"system {name!r}: member {member!r} must be a trained model system, not a fusion")
        self.system_order()  # raises on cycles
        for name in self.references:
            if name not in self.systems:
                raise ValueError(f"references: {name!r} is not a system")
        for name in self.evaluate_on:
            if not name.replace("_", "").replace("-", "").isalnum():
                raise ValueError(f"evaluate_on: {name!r} must be a plain name (letters, digits, _ or -)")

    def system_inputs(self, name: str) -> tuple[str, ...]:
        """The input streams a system reads: its own, or its members' in member order."""
        system = self.systems[name]
        if system.members and system.model is not None:
            return tuple(source for member in system.members for source in self.system_inputs(member))
        return system.inputs

    def closure(self, names: list[str] | tuple[str, ...]) -> list[str]:
        """``names`` and every member they need, in :meth:`system_order`."""
        wanted: set[str] = set()

        def add(name: str) -> None:
            wanted.add(name)
            for member in self.systems[name].members:
                add(member)

        for name in names:
            add(name)
        return [n for n in self.system_order() if n in wanted]

    def system_order(self) -> list[str]:
        """Systems with every member before the systems that fuse it."""
        order: list[str] = []
        visiting: set[str] = set()

        def visit(name: str) -> None:
            if name in order:
                return
            if name in visiting:
                raise ValueError(f"system {name!r} is its own member (a cycle)")
            visiting.add(name)
            for member in self.systems[name].members:
                visit(member)
            visiting.discard(name)
            order.append(name)

        for name in self.systems:
            visit(name)
        return order


def load_experiment(
    source: str | pathlib.Path | dict[str, Any],
    *,
    overrides: list[str] | None = None,
    variant: str | None = None,
) -> ExperimentConfig:
    """Parse an experiment from a YAML file or a dict.

    ``variant`` applies one of the experiment's named override lists (several, comma-separated,
    in order: ``offline,paper``), then ``overrides`` (``key.path=value``) apply on top. Relative paths in data sections are resolved against the
    current directory, as on a command line; environment variables (``$IEMOCAP``) and ``~`` are
    expanded.
    """
    data = load_yaml(source) if isinstance(source, str | pathlib.Path) else source
    where = f"{source}: " if isinstance(source, str | pathlib.Path) else ""
    for name in (variant.split(",") if variant else []):
        variants = (data or {}).get("variants") or {}
        if name.strip() not in variants:
            raise ConfigError(f"{where}unknown variant {name.strip()!r}; this experiment defines: {', '.join(variants) or 'none'}")
        data = apply_overrides(data, list(variants[name.strip()]))
    defined = list(((data or {}).get("systems") or {}) if isinstance(data, dict) else [])
    data = apply_overrides(data, overrides or [])
    try:
        config = parse(ExperimentConfig, data)
    except ConfigError as error:
        system = re.match(r"systems\.([^.:]+)", str(error))
        new = (f" (the overrides made a new system {system.group(1)!r}; the config defines: {', '.join(defined)})"
               if system and defined and system.group(1) not in defined else "")
        raise ConfigError(f"{where}{error}{new}") from None
    return resolve_paths(config, pathlib.Path.cwd())


def resolve_paths(config: ExperimentConfig, base: pathlib.Path) -> ExperimentConfig:
    """Make the corpus and manifest paths of every data section absolute."""
    return dataclasses.replace(
        config,
        data=_resolve_data(config.data, base),
        evaluate_on={name: _resolve_data(data, base) for name, data in config.evaluate_on.items()},
    )


_PATH_FIELDS = {"path", "dialogue_acts", "transcripts"}


def _resolve_data(data: DataConfig, base: pathlib.Path) -> DataConfig:
    def resolve(value: str | None) -> str | None:
        if value is None:
            return None
        path = pathlib.Path(os.path.expandvars(value)).expanduser()
        if str(path).startswith("$"):  # an unset variable: left as written, so that the error names it
            return str(path)
        return str(path if path.is_absolute() else (base / path).resolve())

    def resolve_config(config: Any) -> Any:  # path fields, also inside nested corpus components
        changes = {}
        for field in dataclasses.fields(config):
            value = getattr(config, field.name)
            if field.name in _PATH_FIELDS and isinstance(value, str):
                changes[field.name] = resolve(value)
            elif isinstance(value, Component) and dataclasses.is_dataclass(value.config):
                changes[field.name] = Component(value.name, resolve_config(value.config))
        return dataclasses.replace(config, **changes)

    if data.manifest is not None:
        data = dataclasses.replace(data, manifest=resolve(data.manifest))
    if data.corpus is not None:
        data = dataclasses.replace(data, corpus=Component(data.corpus.name, resolve_config(data.corpus.config)))
    return data
