"""How a recogniser runs: front-ends built on first use, torch threads set without importing
torch, and every system's scores on a batch (members before the fusions that use them)."""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import Any

import numpy as np

from emofuse.config import Component
from emofuse.features import FeatureExtractor
from emofuse.features import build_extractor
from emofuse.inference.directory import RecognizerError
from emofuse.inference.prediction import discount_neutral
from emofuse.inference.prediction import input_columns
from emofuse.inference.prediction import temper
from emofuse.predictions import Predictions
from emofuse.systems.base import SystemData

if TYPE_CHECKING:
    from emofuse.inference.recognizer import Recognizer


def set_torch_threads(count: int) -> None:
    """torch's intra-op threads: set now if torch is loaded, else through ``OMP_NUM_THREADS`` when
    it loads (a recogniser whose systems need no torch never imports it)."""
    import sys

    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(count)
    else:
        os.environ["OMP_NUM_THREADS"] = str(count)


class LazyExtractors(Mapping[str, FeatureExtractor]):
    """Front-ends by input name, each built the first time it is asked for."""

    def __init__(self, components: Mapping[str, Component]) -> None:
        self._components = dict(components)
        self._built: dict[str, FeatureExtractor] = {}
        self._lock = threading.Lock()

    def __getitem__(self, name: str) -> FeatureExtractor:
        if name not in self._built:
            if name not in self._components:
                raise KeyError(name)
            with self._lock:
                if name not in self._built:
                    self._built[name] = build_extractor(self._components[name])
        return self._built[name]

    def __iter__(self):  # noqa: ANN204
        return iter(self._components)

    def __len__(self) -> int:
        return len(self._components)


def run_systems(recognizer: Recognizer, signals: Sequence[np.ndarray | None], transcripts: Sequence[str | None], *,
                   groups: Sequence[str] | None = None,
                   transcript_confidences: Sequence[float | None] | None = None) -> dict[str, list[np.ndarray | None]]:
    """Every system of ``recognizer`` on a batch: scores per item (``None`` where the system lacks
    an input), calibrated with the recogniser's temperatures; with ``groups``, the systems of
    ``config.adaptation`` replace theirs and read inputs standardised per group
    (:meth:`Recognizer.predict`). Where a text member is fused with a member that hears the
    voice, it is first tempered by how much emotion it gives the words (``config.neutral_words``)."""
    active = [recognizer.config.adaptation.get(n, n) if groups is not None else n for n in recognizer._order]
    needed = {i.name for n in active for i in recognizer.systems[n].spec.inputs}  # an adapted system may read its own front-end
    columns = input_columns(needed, recognizer.extractors, signals, transcripts,
                            sampling_rate=recognizer.sampling_rate, text_lock=recognizer._text_lock, modalities=recognizer._modalities)
    count = len(signals)
    keys = [str(k) for k in range(count)]
    if groups is not None and len(groups) != count:
        raise RecognizerError(f"{count} items but {len(groups)} adaptation groups")
    confidences = list(transcript_confidences) if transcript_confidences is not None else [None] * count
    outputs: dict[str, list[np.ndarray | None]] = {}
    shares: dict[str, list[float | None]] = {}  # a text system's neutral-words share, before any transcript doubt
    for name, system_name in zip(recognizer._order, active, strict=True):
        system = recognizer.systems[system_name]
        spec = system.spec
        if groups is not None and spec.normalization == "speaker":
            columns = {**columns, **_standardized(spec, columns, groups)}
        rows: list[np.ndarray | None] = [None] * count
        single: set[int] = set()
        if spec.members:  # score fusion: fuse, per item, the members that answered
            answered: dict[tuple[str, ...], list[int]] = {}
            for k in range(count):
                available = tuple(m for m in spec.members if outputs[m][k] is not None)
                if available:
                    answered.setdefault(available, []).append(k)
            for available, items in answered.items():
                ids = tuple(keys[k] for k in items)
                members = {m: Predictions(spec.task_type, recognizer.systems[m].outputs, ids,
                                          _fused_scores(recognizer, m, available, [outputs[m][k] for k in items],
                                                        [shares[m][k] for k in items] if m in shares else None))  # type: ignore[misc]
                           for m in available}
                values = system.predict(SystemData(ids, members=members)).scores
                if len(available) < 2:
                    single.update(items)  # one member answered: its calibrated output as it is
                for position, k in enumerate(items):
                    rows[k] = values[position]
        else:
            ready = [k for k in range(count) if all(columns[i.name][k] is not None for i in spec.inputs)]
            if ready:
                ids = tuple(keys[k] for k in ready)
                inputs = {i.name: {keys[k]: columns[i.name][k] for k in ready} for i in spec.inputs}
                values = system.predict(SystemData(ids, inputs=inputs)).scores
                # a categorical text member: its neutral share is read here, its transcript's confidence tempers it
                text_posteriors = "text" in recognizer._system_modalities(system_name) and spec.task_type == "categorical"
                neutral = recognizer.config.neutral_words
                if text_posteriors and neutral is not None:
                    column = list(system.outputs).index(neutral)
                    calibrated = _calibrated(recognizer, system_name, values)
                    shares[name] = [None] * count
                    for position, k in enumerate(ready):
                        shares[name][k] = float(calibrated[position, column])
                for position, k in enumerate(ready):
                    rows[k] = values[position]
                    if text_posteriors and confidences[k] is not None:
                        rows[k] = temper(values[position], float(confidences[k]))  # type: ignore[arg-type]
        if spec.task_type == "categorical":
            rows = [row if row is None or k in single else _calibrated(recognizer, system_name, row[None, :])[0]
                    for k, row in enumerate(rows)]
        outputs[name] = rows
    return outputs


def _calibrated(recognizer: Recognizer, system_name: str, scores: np.ndarray) -> np.ndarray:
    """``scores`` (one row per item) scaled by the system's temperature, if it has one."""
    temperature = recognizer.config.temperatures.get(system_name)
    if temperature is None:
        return scores
    from emofuse.calibration import apply_temperature

    return apply_temperature(scores, temperature)


def _fused_scores(recognizer: Recognizer, member: str, available: Sequence[str],
                  rows: list[np.ndarray], shares: list[float | None] | None = None) -> np.ndarray:
    """A member's scores as a fusion of ``available`` reads them: a text member fused with a
    member that hears the voice is tempered by ``1 - n``, ``n`` its calibrated share of
    ``neutral_words`` before any tempering by the transcript's confidence (``shares``; else
    read from ``rows``) (:attr:`RecognizerConfig.neutral_words`, :func:`discount_neutral`)."""
    scores = np.stack(rows)
    neutral = recognizer.config.neutral_words
    if neutral is None or len(available) < 2:
        return scores
    reads = {m: recognizer._system_modalities(m) for m in available}
    if reads[member] != {"text"} or not any("audio" in r for r in reads.values()):
        return scores
    known = None if shares is None or any(n is None for n in shares) else np.asarray(shares, dtype=np.float64)
    return discount_neutral(scores, list(recognizer.systems[member].outputs).index(neutral), known)


def _standardized(spec: Any, columns: Mapping[str, list[Any]], groups: Sequence[str]) -> dict[str, list[Any]]:
    """The system's vector inputs standardised per group with the group's own statistics."""
    from emofuse.training.inputs import speaker_standardize

    result = {}
    for input_spec in spec.inputs:
        column = columns[input_spec.name]
        present = {str(k): v for k, v in enumerate(column) if v is not None}
        if not present or isinstance(next(iter(present.values())), str):
            continue
        sizes: dict[str, int] = {}
        for k in present:
            sizes[groups[int(k)]] = sizes.get(groups[int(k)], 0) + 1
        small = sorted(g or "all" for g, n in sizes.items() if n < 2)
        if small:
            raise RecognizerError(f"adaptation needs at least two recordings per speaker; {', '.join(small)} "
                                  "has one (give more recordings, or predict without adapt)")
        standardized = speaker_standardize(present, {k: groups[int(k)] for k in present})
        result[input_spec.name] = [standardized.get(str(k)) for k in range(len(column))]
    return result
