"""EmoBank: English sentences rated for valence, arousal and dominance.

Reads one CSV, ``id,split,V,A,D,text`` (``emobank.csv`` as released, or the train + dev extract
``emobank_train_dev.csv``; ``path`` may also name the CSV file itself). Text only: ``audio`` is
``None`` and ids are ``emobank_<id>``.

- Ratings are on a 1-5 scale and normalised; a rating outside it is an error naming the line.
- There are no categories: ``emotion`` and ``label`` are ``None``.
- Metadata: ``split`` (``train``, ``dev``, ``test``) and ``document``, the source document of
  the sentence (the id without its trailing character offsets, ``SemEval`` for the headlines),
  for keeping a document's sentences on one side of a split.
"""

from __future__ import annotations

import dataclasses
import logging
import pathlib
import re

from emofuse.data.corpora._rows import csv_rows
from emofuse.data.corpora._rows import parse_rating
from emofuse.data.corpora.base import CorpusError
from emofuse.data.manifest import Manifest
from emofuse.data.manifest import Utterance
from emofuse.registry import builds

log = logging.getLogger(__name__)

COLUMNS: tuple[str, ...] = ("id", "split", "V", "A", "D", "text")
SPLITS: tuple[str, ...] = ("train", "dev", "test")
FILE_NAMES: tuple[str, ...] = ("emobank.csv", "emobank_train_dev.csv")
_OFFSETS = re.compile(r"(_\d+)+$")


@dataclasses.dataclass(frozen=True)
class EmobankConfig:
    """Options of the EmoBank reader."""

    path: str


def _find_file(path: pathlib.Path) -> pathlib.Path:
    if path.is_file():
        return path
    if not path.is_dir():
        raise CorpusError("EmoBank file or directory not found", file=path)
    for name in FILE_NAMES:
        if (path / name).is_file():
            return path / name
    raise CorpusError(f"no {' or '.join(FILE_NAMES)} in the directory", file=path)


def prepare_emobank(path: str | pathlib.Path) -> Manifest:
    """Read EmoBank (a directory holding the CSV, or the CSV itself) into a manifest."""
    file = _find_file(pathlib.Path(path).expanduser()).resolve()
    utterances = []
    first: dict[str, int] = {}
    for line, row in csv_rows(file, required=COLUMNS):
        sentence_id = row["id"].strip()
        if sentence_id in first:
            raise CorpusError(f"id {sentence_id!r} repeats (first on line {first[sentence_id]})", file=file, line=line)
        first[sentence_id] = line
        split = row["split"].strip()
        if split not in SPLITS:
            raise CorpusError(f"unknown split {split!r} (known: {', '.join(SPLITS)})", file=file, line=line)
        valence, arousal, dominance = (
            parse_rating(row[column], low=1, high=5, column=column, file=file, line=line) for column in ("V", "A", "D")
        )
        utterances.append(
            Utterance(
                id=f"emobank_{sentence_id}",
                corpus="emobank",
                text=row["text"].strip(),
                valence=valence[1],
                arousal=arousal[1],
                dominance=dominance[1],
                valence_raw=valence[0],
                arousal_raw=arousal[0],
                dominance_raw=dominance[0],
                metadata={"split": split, "document": _OFFSETS.sub("", sentence_id) or sentence_id},
            )
        )
    if not utterances:
        raise CorpusError("no rows", file=file)
    log.info("EmoBank: %d sentences from %s", len(utterances), file)
    return Manifest(utterances)


@builds(EmobankConfig)
def read_emobank(config: EmobankConfig) -> Manifest:
    return prepare_emobank(config.path)
