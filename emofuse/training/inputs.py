"""A run's inputs: the manifest labelled for the task (label map applied once), its transcripts,
and the inputs its systems read (front-end features, texts, waveforms): from the per-utterance
cache, or, with ``extraction.store``, from a sharded feature store (:mod:`emofuse.store`).

Lightning is imported only to extract into a store; ``emofuse evaluate`` and the runner share this module.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

import numpy as np

from emofuse.components import CORPORA
from emofuse.components import RAW_INPUTS
from emofuse.config import Component
from emofuse.data.labels import FOUR_CLASSES
from emofuse.data.labels import get_label_map
from emofuse.data.manifest import Manifest
from emofuse.experiment import DataConfig
from emofuse.experiment import ExtractionConfig
from emofuse.experiment import StoreConfig
from emofuse.experiment import TaskConfig
from emofuse.features import FeatureError
from emofuse.features import build_extractor
from emofuse.features import extract_features
from emofuse.models.inputs import InputSpec
from emofuse.store import StoreError

log = logging.getLogger(__name__)


class InputError(ValueError):
    """Data that cannot be prepared for the task as configured."""


@dataclasses.dataclass
class Corpus:
    """A task-ready manifest and its inputs (input name -> utterance id -> value).

    ``failures`` names the utterances left out for want of a usable input, and why.
    """

    name: str
    manifest: Manifest
    inputs: dict[str, Mapping[str, Any]]
    modalities: dict[str, str]
    failures: dict[str, str] = dataclasses.field(default_factory=dict)

    def spec(self, name: str) -> InputSpec:
        """The :class:`InputSpec` of input ``name``, read off its first value."""
        values = self.inputs[name]
        first = next(iter(values.values()))
        if name == "waveform":
            return InputSpec(name, "audio", "waveform", 1)
        if isinstance(first, str):
            return InputSpec(name, "text", "text", 0)
        array = np.asarray(first)
        kind = "vector" if array.ndim == 1 else "sequence"
        return InputSpec(name, self.modalities[name], kind, int(array.shape[-1]))  # type: ignore[arg-type]


def load_manifest(data: DataConfig, task: TaskConfig, *, cache_dir: str | None = None,
                  progress: bool = False) -> tuple[Manifest, list[str] | None]:
    """The utterances of ``data`` labelled for ``task``, with the transcripts it asks for, and
    the class order (categorical; ``None`` for dimensional tasks).

    The label map is applied once: by the corpus reader (its own map, or ``data.label_map`` in
    its place), or, for a saved manifest, here when ``data.label_map`` is given.
    """
    label_map = data.label_map
    if data.corpus is not None:
        config = data.corpus.config
        if label_map is not None and any(f.name == "label_map" for f in dataclasses.fields(config)):
            config = dataclasses.replace(config, label_map=label_map)
            label_map = None
        manifest = CORPORA.build(data.corpus.name, config)
        reader_map = getattr(config, "label_map", None)
    else:
        manifest = Manifest.load(data.manifest)  # type: ignore[arg-type]
        reader_map = None
    classes = None
    if task.type == "categorical":
        if label_map is not None:
            manifest = manifest.with_label_map(label_map)
        manifest = manifest.filter(lambda u: u.label is not None)
        present = set(manifest.labels())
        order = get_label_map(label_map or reader_map).classes if (label_map or reader_map) else None
        if order is not None:
            classes = [c for c in order if c in present]
        elif present <= set(FOUR_CLASSES):  # the canonical order, for comparable tables
            classes = [c for c in FOUR_CLASSES if c in present]
        else:
            classes = manifest.classes()
    else:
        manifest = manifest.filter(lambda u: all(getattr(u, t) is not None for t in task.targets))
    if len(manifest) == 0:
        raise InputError("no utterances are left for this task after label mapping and filtering")
    if data.transcript == "simulated":
        from emofuse.text.noise import add_simulated_asr

        manifest = add_simulated_asr(manifest, wer=data.simulated_wer, seed=data.simulated_seed)
    elif data.transcript == "asr" and data.asr is not None:
        from emofuse.asr.transcribe import transcribe_manifest

        manifest = transcribe_manifest(manifest, asr=data.asr, cache_dir=cache_dir, on_error="skip", progress=progress)
    return manifest, classes


class LazyAudio(Mapping[str, np.ndarray]):
    """Waveforms read on access (raw ``waveform`` inputs)."""

    def __init__(self, manifest: Manifest) -> None:
        self.manifest = manifest

    def __getitem__(self, key: str) -> np.ndarray:
        from emofuse.audio.io import read_utterance

        return read_utterance(self.manifest[key])

    def __iter__(self) -> Iterator[str]:
        return iter(self.manifest.ids)

    def __len__(self) -> int:
        return len(self.manifest)

    def __contains__(self, key: object) -> bool:
        return key in self.manifest


def load_inputs(name: str, manifest: Manifest, needed: Sequence[str], features: Mapping[str, Component],
                extraction: ExtractionConfig, *, transcript: str = "reference", progress: bool = False) -> Corpus:
    """The inputs ``needed`` of ``manifest``; utterances without a usable input are left
    out and named in ``failures`` (or raised, with ``extraction.on_error: raise``)."""
    inputs: dict[str, Mapping[str, Any]] = {}
    modalities: dict[str, str] = {}
    failures: dict[str, str] = {}
    for input_name in sorted(set(needed)):
        if input_name in RAW_INPUTS:
            modalities[input_name] = RAW_INPUTS[input_name]
            if input_name == "text":
                texts = {}
                for u in manifest:
                    text = u.transcript(transcript)
                    if text is None or not text.strip():
                        failures[u.id] = f"utterance {u.id} has no {transcript} transcript"
                    else:
                        texts[u.id] = text
                inputs[input_name] = texts
            else:
                inputs[input_name] = LazyAudio(manifest)
            continue
        if input_name not in features:
            raise InputError(f"input {input_name!r} is not a front-end of the experiment")
        extractor = build_extractor(features[input_name])
        modalities[input_name] = extractor.modality
        try:
            if extraction.store is not None:  # a sharded store, extracted by Lightning where shards are missing
                from emofuse.training.extraction import extract_to_store

                table = extract_to_store(extractor, manifest, in_process_store(extraction.store), transcript=transcript,
                                         progress=progress)
            else:
                table = extract_features(extractor, manifest, cache_dir=extraction.cache_dir, num_workers=extraction.num_workers,
                                         on_error="skip", transcript=transcript, progress=progress)  # type: ignore[arg-type]
        except (FeatureError, StoreError) as error:
            raise InputError(str(error)) from None
        inputs[input_name] = table.values
        for identifier, message in table.failures.items():
            failures.setdefault(identifier, f"{input_name}: {message}")
    if failures and extraction.on_error == "raise":
        listing = "\n".join(f"  {i}: {m}" for i, m in list(failures.items())[:20])
        more = f"\n  ... and {len(failures) - 20} more" if len(failures) > 20 else ""
        raise InputError(
            f"{name}: {len(failures)} utterances have no usable input:\n{listing}{more}\n"
            "Every good utterance's features are cached. Fix or remove these, or set "
            "extraction.on_error: skip to leave them out (they are then listed in skipped.csv)."
        )
    if failures:
        manifest = manifest.filter(lambda u: u.id not in failures)
        log.warning("%s: left out %d utterances without usable input", name, len(failures))
    return Corpus(name, manifest, inputs, modalities, failures)


def in_process_store(store: StoreConfig) -> StoreConfig:
    """The store settings for extraction inside a run: several devices of this machine through
    ``ddp_spawn`` (the ``ddp`` launcher would start the whole run again in every process);
    several machines are refused (``emofuse extract`` is the command for that)."""
    if store.num_nodes > 1:
        raise InputError("extraction.store.num_nodes > 1: extract on several machines with `emofuse extract` "
                         "first; the run then reads the store")
    if store.devices != 1 and store.strategy in ("auto", "ddp"):
        return dataclasses.replace(store, strategy="ddp_spawn")
    return store


def speaker_standardize(values: Mapping[str, Any], speakers: Mapping[str, str | None]) -> Mapping[str, Any]:
    """Standardise each speaker's features with that speaker's own statistics (no labels used).

    Utterances without a speaker are standardised with the statistics of all of them; texts and
    waveforms are returned as they are.
    """
    if isinstance(values, LazyAudio) or not values or isinstance(next(iter(values.values())), str):
        return values
    groups: dict[str | None, list[str]] = {}
    for identifier in values:
        groups.setdefault(speakers.get(identifier), []).append(identifier)
    result = {}
    for members in groups.values():
        rows = np.concatenate([np.asarray(values[i]).reshape(-1, np.asarray(values[i]).shape[-1]) for i in members])
        mean, std = rows.mean(axis=0), rows.std(axis=0) + 1e-5
        for identifier in members:
            result[identifier] = ((np.asarray(values[identifier]) - mean) / std).astype(np.float32)
    return result
