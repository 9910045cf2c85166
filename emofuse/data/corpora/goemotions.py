"""GoEmotions (Reddit comments), train and dev splits.

Reads ``<taxonomy>/labels.txt`` (one label name per line, the line index is the label id) and
``<taxonomy>/train.tsv``, ``dev.tsv`` (and ``test.tsv`` when present): rows
``text<TAB>comma-separated label ids<TAB>comment id``, with CSV-style quoting (a text with a
quote is wrapped in quotes, inner quotes doubled). Text only: ``audio`` is ``None`` and ids are
``goemotions_<comment id>``.

- ``taxonomy``: ``original`` (27 emotions + neutral) or ``ekman`` (anger, disgust, fear, joy,
  neutral, sadness, surprise).
- ``emotion`` is the label name, or the comma-joined names of a multi-label row; ``label`` is
  its class (through ``label_map`` when given) for single-label rows and ``None`` for the rest.
  ``single_label_only`` keeps only the rows with exactly one label.
- Metadata: ``split`` (``train``, ``dev``, ``test``).
"""

from __future__ import annotations

import dataclasses
import logging
import pathlib
from typing import Literal

from emofuse.data.corpora._rows import csv_rows
from emofuse.data.corpora._rows import read_text
from emofuse.data.corpora.base import CorpusError
from emofuse.data.corpora.base import require_directory
from emofuse.data.labels import FOUR_CLASSES
from emofuse.data.labels import LabelMap
from emofuse.data.labels import get_label_map
from emofuse.data.labels import register_label_map
from emofuse.data.manifest import Manifest
from emofuse.data.manifest import Utterance
from emofuse.registry import builds

log = logging.getLogger(__name__)

TAXONOMIES: tuple[str, ...] = ("original", "ekman")
SPLITS: tuple[str, ...] = ("train", "dev", "test")
COLUMNS: tuple[str, ...] = ("text", "label_ids", "comment_id")
EKMAN_LABELS: tuple[str, ...] = ("anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise")
_EXPECTED_SIZE = {"original": 28, "ekman": 7}

register_label_map(
    LabelMap(
        "goemotions_ekman_four_class",
        {name: {"anger": "ang", "joy": "hap", "neutral": "neu", "sadness": "sad"}.get(name) for name in EKMAN_LABELS},
        FOUR_CLASSES,
    )
)


@dataclasses.dataclass(frozen=True)
class GoEmotionsConfig:
    """Options of the GoEmotions reader; ``label_map`` ``None`` keeps the label names."""

    path: str
    taxonomy: Literal["original", "ekman"] = "original"
    single_label_only: bool = False
    label_map: str | None = None


def read_label_names(path: pathlib.Path, *, taxonomy: str) -> list[str]:
    """The label names of ``labels.txt``, in id order."""
    if not path.is_file():
        raise CorpusError("labels.txt not found", file=path)
    names = []
    for line, text in enumerate(read_text(path).splitlines(), start=1):
        name = text.strip()
        if not name:
            continue
        if name in names:
            raise CorpusError(f"label {name!r} is listed twice", file=path, line=line)
        names.append(name)
    if len(names) != _EXPECTED_SIZE[taxonomy]:
        raise CorpusError(
            f"{len(names)} labels; the {taxonomy} taxonomy has {_EXPECTED_SIZE[taxonomy]}", file=path
        )
    return names


def prepare_goemotions(
    path: str | pathlib.Path,
    *,
    taxonomy: str = "original",
    single_label_only: bool = False,
    label_map: str | None = None,
) -> Manifest:
    """Read GoEmotions (the ``original`` or ``ekman`` taxonomy) into a manifest."""
    root = require_directory(path, "GoEmotions")
    if taxonomy not in TAXONOMIES:
        raise ValueError(f"unknown taxonomy {taxonomy!r}; use one of {', '.join(TAXONOMIES)}")
    mapping = get_label_map(label_map) if label_map is not None else None
    directory = root / taxonomy
    if not directory.is_dir():
        raise CorpusError(f"no {taxonomy}/ directory (is this the GoEmotions root?)", file=root)
    names = read_label_names(directory / "labels.txt", taxonomy=taxonomy)
    if mapping is not None:
        uncovered = [name for name in names if name not in mapping.mapping]
        if uncovered:
            raise ValueError(
                f"label map {mapping.name!r} does not cover the {taxonomy} labels {', '.join(uncovered)}"
            )
    files = [(split, directory / f"{split}.tsv") for split in SPLITS if (directory / f"{split}.tsv").is_file()]
    if not files:
        raise CorpusError("no train.tsv, dev.tsv or test.tsv", file=directory)
    utterances = []
    multi_label = 0
    first: dict[str, str] = {}
    for split, file in files:
        for line, row in csv_rows(file, required=COLUMNS, delimiter="\t", columns=COLUMNS):
            text, ids, comment = row["text"].strip(), row["label_ids"].strip(), row["comment_id"].strip()
            try:
                label_ids = [int(value) for value in ids.split(",")]
            except ValueError:
                raise CorpusError(f"label ids {ids!r} are not comma-separated integers", file=file, line=line) from None
            unknown = [value for value in label_ids if not 0 <= value < len(names)]
            if unknown:
                raise CorpusError(f"label ids {unknown} are outside 0-{len(names) - 1}", file=file, line=line)
            if comment in first:
                raise CorpusError(f"comment id {comment!r} repeats (first in {first[comment]})", file=file, line=line)
            first[comment] = f"{file.name}:{line}"
            label_names = [names[value] for value in dict.fromkeys(label_ids)]
            single = len(label_names) == 1
            if not single:
                multi_label += 1
                if single_label_only:
                    continue
            emotion = ",".join(label_names)
            label = None
            if single:
                label = mapping(emotion) if mapping is not None else emotion
            utterances.append(
                Utterance(
                    id=f"goemotions_{comment}",
                    corpus="goemotions",
                    text=text,
                    emotion=emotion,
                    label=label,
                    metadata={"split": split},
                )
            )
    log.info(
        "GoEmotions (%s): %d comments, %d with several labels%s",
        taxonomy,
        len(utterances) + (multi_label if single_label_only else 0),
        multi_label,
        " (left out)" if single_label_only else "",
    )
    return Manifest(utterances)


@builds(GoEmotionsConfig)
def read_goemotions(config: GoEmotionsConfig) -> Manifest:
    return prepare_goemotions(
        config.path,
        taxonomy=config.taxonomy,
        single_label_only=config.single_label_only,
        label_map=config.label_map,
    )
