"""Users' own corpora: a CSV or JSON-lines manifest file, one utterance per row.

Required columns are ``id`` and ``audio``; any other :class:`~emofuse.data.manifest.Utterance`
field may be given, and every other column becomes metadata (CSV cells as strings, JSON values
as they are; a JSON ``metadata`` object is merged in).

- ``audio`` paths relative to the manifest file's directory are resolved to absolute paths;
  a missing audio file is an error naming the manifest file and row.
- ``sampling_rate`` and ``duration`` are read from the audio header when missing.
- ``label_map`` (a registered name) sets ``label`` from ``emotion``; without it ``label`` is the
  file's ``label`` column, or else ``emotion``.
- ``scale = (low, high)`` normalises the ``valence_raw``, ``arousal_raw`` and ``dominance_raw``
  columns to [-1, 1]; a rating outside the scale is an error naming the file and row.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import pathlib
from collections.abc import Iterator
from collections.abc import Mapping
from typing import Any

from emofuse.data.corpora._rows import csv_rows
from emofuse.data.corpora._rows import read_text
from emofuse.data.corpora.base import CorpusError
from emofuse.data.corpora.base import audio_facts
from emofuse.data.labels import LabelError
from emofuse.data.labels import LabelMap
from emofuse.data.labels import get_label_map
from emofuse.data.labels import normalize_rating
from emofuse.data.manifest import DIMENSIONS
from emofuse.data.manifest import FIELDS
from emofuse.data.manifest import Manifest
from emofuse.data.manifest import ManifestError
from emofuse.data.manifest import Utterance
from emofuse.registry import builds

log = logging.getLogger(__name__)

REQUIRED: tuple[str, ...] = ("id", "audio")
_FLOAT_FIELDS = {"start", "end", "duration", *DIMENSIONS, *(f"{name}_raw" for name in DIMENSIONS)}


@dataclasses.dataclass(frozen=True)
class ManifestConfig:
    """Options of the manifest-file reader.

    ``scale`` is ``(low, high)`` of the ``*_raw`` rating columns, for example ``(1, 5)``.
    """

    path: str
    label_map: str | None = None
    scale: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        _check_scale(self.scale)


def _check_scale(scale: tuple[float, float] | None) -> None:
    if scale is None:
        return
    if len(scale) != 2 or not float(scale[0]) < float(scale[1]):
        raise ValueError(f"scale must be [low, high] with low < high, got {list(scale)}")


def _records(path: pathlib.Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line, record)`` from a CSV or JSON-lines file; blank CSV cells are dropped."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        for line, row in csv_rows(path, required=REQUIRED):
            yield line, {key: value for key, value in row.items() if value.strip()}
    elif suffix in {".jsonl", ".ndjson"}:
        for line, text in enumerate(read_text(path).splitlines(), start=1):
            if not text.strip():
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError as error:
                raise CorpusError(f"invalid JSON: {error}", file=path, line=line) from None
            if not isinstance(record, dict):
                raise CorpusError(f"expected a JSON object, got {type(record).__name__}", file=path, line=line)
            missing = [key for key in REQUIRED if record.get(key) in (None, "")]
            if missing:
                raise CorpusError(f"missing or empty {missing}", file=path, line=line)
            yield line, {key: value for key, value in record.items() if value is not None}
    else:
        raise CorpusError("use a .csv or .jsonl manifest file", file=path)


def _number(name: str, value: Any, *, file: pathlib.Path, line: int) -> float:
    if isinstance(value, bool):
        raise CorpusError(f"{name}: {value!r} is not a number", file=file, line=line)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise CorpusError(f"{name}: {value!r} is not a number", file=file, line=line) from None
    if math.isnan(number):
        raise CorpusError(f"{name} is NaN", file=file, line=line)
    return number


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _utterance(
    record: Mapping[str, Any],
    *,
    file: pathlib.Path,
    line: int,
    mapping: LabelMap | None,
    scale: tuple[float, float] | None,
) -> Utterance:
    values: dict[str, Any] = {}
    metadata: dict[str, Any] = {}
    for key, value in record.items():
        if key in FIELDS:
            if key in _FLOAT_FIELDS:
                values[key] = _number(key, value, file=file, line=line)
            elif key == "sampling_rate":
                rate = _number(key, value, file=file, line=line)
                if not rate.is_integer() or rate <= 0:
                    raise CorpusError(f"sampling_rate {value!r} is not a positive whole number", file=file, line=line)
                values[key] = int(rate)
            else:
                values[key] = _text(value)
        elif key == "metadata" and isinstance(value, Mapping):
            metadata.update(value)
        else:
            metadata[key] = value
    clash = sorted(set(metadata) & set(FIELDS))
    if clash:
        raise CorpusError(f"metadata keys {clash} shadow utterance fields", file=file, line=line)

    audio = pathlib.Path(values["audio"]).expanduser()
    if not audio.is_absolute():
        audio = file.parent / audio
    audio = audio.resolve()
    if not audio.is_file():
        raise CorpusError(f"audio file {audio} not found", file=file, line=line)
    values["audio"] = str(audio)
    if values.get("sampling_rate") is None or values.get("duration") is None:
        try:
            sampling_rate, duration = audio_facts(audio)
        except CorpusError as error:
            raise CorpusError(str(error), file=file, line=line) from None
        values.setdefault("sampling_rate", sampling_rate)
        values.setdefault("duration", duration)
    start, end = values.get("start"), values.get("end")
    if start is not None and end is not None and end < start:
        raise CorpusError(f"end {end} is before start {start}", file=file, line=line)

    if scale is not None:
        low, high = scale
        for name in DIMENSIONS:
            raw = values.get(f"{name}_raw")
            if raw is None:
                continue
            try:
                normalised = normalize_rating(raw, low=low, high=high)
            except ValueError as error:
                raise CorpusError(f"{name}_raw: {error}", file=file, line=line) from None
            given = values.get(name)
            if given is not None and abs(given - normalised) > 1e-6:
                raise CorpusError(
                    f"{name} {given} disagrees with {name}_raw {raw} on scale [{low}, {high}] ({normalised:.4f})",
                    file=file,
                    line=line,
                )
            values[name] = normalised

    emotion = values.get("emotion")
    if mapping is not None:
        try:
            values["label"] = mapping(emotion)
        except LabelError as error:
            raise CorpusError(str(error), file=file, line=line) from None
    elif values.get("label") is None:
        values["label"] = emotion
    try:
        return Utterance(**values, metadata=metadata)
    except (ManifestError, TypeError) as error:
        raise CorpusError(str(error), file=file, line=line) from None


def prepare_manifest(
    path: str | pathlib.Path,
    *,
    label_map: str | None = None,
    scale: tuple[float, float] | None = None,
) -> Manifest:
    """Read a user's corpus from a CSV or JSON-lines manifest file.

    Each row is checked; errors name the file and the row's line.
    """
    file = pathlib.Path(path).expanduser()
    if not file.is_file():
        raise CorpusError("manifest file not found", file=file)
    file = file.resolve()
    _check_scale(scale)
    mapping = get_label_map(label_map) if label_map is not None else None
    utterances = []
    first_line: dict[str, int] = {}
    raw_without_scale = 0
    for line, record in _records(file):
        utterance = _utterance(record, file=file, line=line, mapping=mapping, scale=scale)
        if utterance.id in first_line:
            raise CorpusError(
                f"duplicate id {utterance.id!r} (first on line {first_line[utterance.id]})", file=file, line=line
            )
        first_line[utterance.id] = line
        if scale is None and any(
            getattr(utterance, f"{name}_raw") is not None and getattr(utterance, name) is None for name in DIMENSIONS
        ):
            raw_without_scale += 1
        utterances.append(utterance)
    if not utterances:
        raise CorpusError("no rows", file=file)
    if raw_without_scale:
        log.warning(
            "%s: %d rows have raw ratings but no normalised ones; pass scale=(low, high) to normalise them",
            file,
            raw_without_scale,
        )
    return Manifest(utterances)


@builds(ManifestConfig)
def read_manifest(config: ManifestConfig) -> Manifest:
    return prepare_manifest(config.path, label_map=config.label_map, scale=config.scale)
