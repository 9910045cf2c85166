"""The utterance record and the manifest: one typed row per utterance.

Audio and text always join on ``Utterance.id``. Operations on a :class:`Manifest` return new
manifests; nothing is changed in place. Columns that are not fields of :class:`Utterance` are
free metadata (``scripted``, ``dialogue_act``, ``split``, ...).
"""

from __future__ import annotations

import collections
import dataclasses
import json
import math
import os
import pathlib
import re
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

import pandas as pd

from emofuse.data.labels import LabelMap
from emofuse.data.labels import get_label_map
from emofuse.files import atomic_path

DIMENSIONS: tuple[str, ...] = ("valence", "arousal", "dominance")


def unset_variables_hint(path: str | os.PathLike[str]) -> str:
    """For a path not found: ``" (the environment variable IEMOCAP is not set)"`` when it names
    variables the environment does not hold (``$IEMOCAP/...`` left unexpanded), else ``""``.

    >>> unset_variables_hint("$EMOFUSE_SURELY_UNSET/Session1")
    ' (the environment variable EMOFUSE_SURELY_UNSET is not set: export it, or give the path itself)'
    """
    names = [n for n in re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", str(path)) if n not in os.environ]
    if not names:
        return ""
    return (f" (the environment variable{'s' * (len(names) > 1)} {', '.join(names)} "
            f"{'are' if len(names) > 1 else 'is'} not set: export {'them' if len(names) > 1 else 'it'}, or give the path itself)")


class ManifestError(ValueError):
    """A manifest that cannot be read or is inconsistent."""


@dataclasses.dataclass(frozen=True)
class Utterance:
    """One utterance: where its audio is, who said it, what was said, and how it was rated.

    ``valence``, ``arousal`` and ``dominance`` are normalised to [-1, 1]; the ``*_raw`` fields
    keep the corpus's own scale. ``emotion`` is the corpus's label code and ``label`` the class
    of the current label map (``None`` when the map leaves the utterance out).
    """

    id: str
    audio: str | None = None
    start: float | None = None
    end: float | None = None
    sampling_rate: int | None = None
    duration: float | None = None
    speaker: str | None = None
    gender: str | None = None
    session: str | None = None
    corpus: str | None = None
    text: str | None = None
    asr_text: str | None = None
    emotion: str | None = None
    label: str | None = None
    valence: float | None = None
    arousal: float | None = None
    dominance: float | None = None
    valence_raw: float | None = None
    arousal_raw: float | None = None
    dominance_raw: float | None = None
    metadata: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.id or not isinstance(self.id, str):
            raise ManifestError(f"utterance id must be a non-empty string, got {self.id!r}")
        for name in DIMENSIONS:
            value = getattr(self, name)
            if value is not None and not -1.0 - 1e-9 <= value <= 1.0 + 1e-9:
                raise ManifestError(f"{self.id}: normalised {name} {value} is outside [-1, 1]")

    def replace(self, **changes: Any) -> Utterance:
        return dataclasses.replace(self, **changes)

    def transcript(self, source: str = "reference") -> str | None:
        """The text of the utterance: ``reference`` or ``asr``."""
        if source == "reference":
            return self.text
        if source == "asr":
            return self.asr_text
        raise ValueError(f"unknown transcript source {source!r}; use 'reference' or 'asr'")


FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Utterance) if f.name != "metadata")
_FLOAT_FIELDS = {"start", "end", "duration", *DIMENSIONS, *(f"{d}_raw" for d in DIMENSIONS)}
_INT_FIELDS = {"sampling_rate"}


class Manifest(Sequence[Utterance]):
    """An immutable, ordered collection of utterances with unique ids."""

    def __init__(self, utterances: Iterable[Utterance]) -> None:
        self._utterances = tuple(utterances)
        self._index: dict[str, int] = {}
        for position, utterance in enumerate(self._utterances):
            if utterance.id in self._index:
                raise ManifestError(f"duplicate utterance id {utterance.id!r}")
            self._index[utterance.id] = position

    # Sequence protocol -------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._utterances)

    def __iter__(self) -> Iterator[Utterance]:
        return iter(self._utterances)

    def __getitem__(self, key: int | str) -> Utterance:  # type: ignore[override]
        if isinstance(key, str):
            try:
                return self._utterances[self._index[key]]
            except KeyError:
                raise KeyError(f"utterance {key!r} is not in the manifest") from None
        return self._utterances[key]

    def __contains__(self, key: object) -> bool:
        return key in self._index

    def __repr__(self) -> str:
        return f"Manifest({len(self)} utterances)"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Manifest) and self._utterances == other._utterances

    # Views ------------------------------------------------------------------------------
    @property
    def ids(self) -> list[str]:
        return [u.id for u in self._utterances]

    def speakers(self) -> list[str]:
        return sorted({u.speaker for u in self if u.speaker is not None})

    def labels(self) -> list[str | None]:
        return [u.label for u in self]

    def classes(self) -> list[str]:
        return sorted({u.label for u in self if u.label is not None})

    # Operations returning new manifests -------------------------------------------------
    def filter(self, predicate: Callable[[Utterance], bool]) -> Manifest:
        return Manifest(u for u in self if predicate(u))

    def subset(self, ids: Iterable[str]) -> Manifest:
        """The utterances with these ids, in the given order."""
        return Manifest(self[i] for i in ids)

    def map(self, function: Callable[[Utterance], Utterance]) -> Manifest:
        return Manifest(function(u) for u in self)

    def with_label_map(self, label_map: LabelMap | str, *, drop_unlabelled: bool = True) -> Manifest:
        """Re-map ``emotion`` codes to ``label`` classes; by default drop what the map leaves out."""
        if isinstance(label_map, str):
            label_map = get_label_map(label_map)
        mapped = self.map(lambda u: u.replace(label=label_map(u.emotion)))
        return mapped.filter(lambda u: u.label is not None) if drop_unlabelled else mapped

    def __add__(self, other: Manifest) -> Manifest:
        return Manifest([*self, *other])

    # Summaries --------------------------------------------------------------------------
    def counts(self, key: str) -> dict[str, int]:
        """Utterances per value of a field or metadata key (missing values as ``<none>``)."""
        counter: collections.Counter[str] = collections.Counter()
        for utterance in self:
            value = _get(utterance, key)
            counter["<none>" if value is None else str(value)] += 1
        return dict(sorted(counter.items()))

    def total_duration(self) -> float:
        return float(sum(u.duration or 0.0 for u in self))

    def summary(self) -> dict[str, Any]:
        """Counts per class, emotion code, session and speaker, and total duration in hours."""
        return {
            "utterances": len(self),
            "hours": round(self.total_duration() / 3600.0, 4),
            "label": self.counts("label"),
            "emotion": self.counts("emotion"),
            "session": self.counts("session"),
            "speaker": self.counts("speaker"),
            "corpus": self.counts("corpus"),
        }

    # Tables and files -------------------------------------------------------------------
    def to_frame(self) -> pd.DataFrame:
        """One row per utterance; metadata keys become extra columns."""
        rows = []
        for utterance in self:
            row = {name: getattr(utterance, name) for name in FIELDS}
            for key, value in utterance.metadata.items():
                if key in FIELDS:
                    raise ManifestError(f"{utterance.id}: metadata key {key!r} shadows a field")
                row[key] = value
            rows.append(row)
        frame = pd.DataFrame(rows, columns=None if rows else list(FIELDS))
        return frame

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, *, source: str = "<frame>") -> Manifest:
        if "id" not in frame.columns:
            raise ManifestError(f"{source}: missing required column 'id'")
        extra = [c for c in frame.columns if c not in FIELDS]
        utterances = []
        for position, row in enumerate(frame.to_dict("records")):
            where = f"{source}: row {position + 2}"  # +1 header, +1 one-based
            try:
                values = {name: _clean(name, row.get(name)) for name in FIELDS if name in row}
                if values.get("id") is not None:
                    values["id"] = str(values["id"])
                metadata = {key: _clean_meta(row[key]) for key in extra}
                metadata = {k: v for k, v in metadata.items() if v is not None}
                utterances.append(Utterance(**values, metadata=metadata))
            except (ManifestError, ValueError, TypeError) as error:
                raise ManifestError(f"{where}: {error}") from None
        try:
            return cls(utterances)
        except ManifestError as error:
            raise ManifestError(f"{source}: {error}") from None

    def save(self, path: str | os.PathLike[str]) -> pathlib.Path:
        """Write CSV, Parquet or JSON lines (by suffix), atomically."""
        path = pathlib.Path(path)
        frame = self.to_frame()
        suffix = path.suffix.lower()
        if suffix not in {".csv", ".parquet", ".jsonl"}:
            raise ManifestError(f"{path}: use a .csv, .parquet or .jsonl file name")
        with atomic_path(path, suffix=suffix) as tmp_path:
            if suffix == ".csv":
                frame.to_csv(tmp_path, index=False)
            elif suffix == ".parquet":
                frame.to_parquet(tmp_path, index=False)
            else:
                with tmp_path.open("w", encoding="utf-8") as file:
                    for row in frame.to_dict("records"):
                        row = {k: v for k, v in row.items() if not _missing(v)}
                        file.write(json.dumps(row, ensure_ascii=False) + "\n")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Manifest:
        path = pathlib.Path(path)
        if not path.is_file():
            raise ManifestError(f"manifest not found: {path}{unset_variables_hint(path)}")
        suffix = path.suffix.lower()
        try:
            if suffix == ".csv":
                frame = pd.read_csv(path, dtype={"id": str, "speaker": str, "session": str})
            elif suffix == ".parquet":
                frame = pd.read_parquet(path)
            elif suffix == ".jsonl":
                frame = pd.read_json(path, lines=True, dtype={"id": str, "speaker": str, "session": str})
            else:
                raise ManifestError(f"{path}: use a .csv, .parquet or .jsonl file")
        except (ValueError, OSError) as error:
            if isinstance(error, ManifestError):
                raise
            raise ManifestError(f"{path}: cannot read manifest: {error}") from None
        return cls.from_frame(frame, source=str(path))


def _get(utterance: Utterance, key: str) -> Any:
    if key in FIELDS:
        return getattr(utterance, key)
    return utterance.metadata.get(key)


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _clean(name: str, value: Any) -> Any:
    if _missing(value):
        return None
    if name in _FLOAT_FIELDS:
        value = float(value)
        if math.isnan(value):
            return None
        return value
    if name in _INT_FIELDS:
        return int(value)
    if isinstance(value, float) and value.is_integer() and name in {"speaker", "session"}:
        return str(int(value))
    return str(value)


def _clean_meta(value: Any) -> Any:
    if _missing(value):
        return None
    if hasattr(value, "item"):  # numpy scalar
        value = value.item()
    return value
