"""SemEval-2017 Task 4, subtask A (tweet sentiment), the training pool of 2013-2016 files.

Reads every ``twitter-<year><part>-A.tsv`` in the directory: ``id<TAB>label<TAB>text``. Text
only: ``audio`` is ``None`` and ids are ``semeval_<tweet id>``.

- Labels ``positive`` / ``negative`` / ``neutral`` become codes ``pos`` / ``neg`` / ``neu``.
- Some tweet ids repeat across files (a few with a different label); the first occurrence, in
  file-name order, is kept and the duplicates are counted in the log.
- Quirks of the real files, handled: ``twitter-2016test-A.tsv`` has a fourth column (empty, or
  a date on a few rows), ignored; texts are sometimes wrapped in CSV-style quotes with doubled
  inner quotes (unwrapped), and the 2013 and 2015-train files write ``\\u002c`` and ``\\u2019``
  as literal escapes (decoded), HTML entities such as ``&amp;`` are decoded too
  (``clean_text=False`` keeps the text as written).
- Metadata: ``year`` (2013...), ``split`` (``train``, ``dev``, ``test``, ``devtest``,
  ``sarcasm``: the part of the file name) and ``file``.
"""

from __future__ import annotations

import dataclasses
import html
import logging
import pathlib
import re

from emofuse.data.corpora._rows import read_text
from emofuse.data.corpora.base import CorpusError
from emofuse.data.corpora.base import is_junk
from emofuse.data.corpora.base import require_directory
from emofuse.data.labels import LabelMap
from emofuse.data.labels import get_label_map
from emofuse.data.labels import register_label_map
from emofuse.data.manifest import Manifest
from emofuse.data.manifest import Utterance
from emofuse.registry import builds

log = logging.getLogger(__name__)

SENTIMENT_CODES: dict[str, str] = {"positive": "pos", "negative": "neg", "neutral": "neu"}

_FILE_NAME = re.compile(r"^twitter-(?P<year>\d{4})(?P<split>[a-z]+)-A\.tsv$")
_TWEET_ID = re.compile(r"^\d+$")
_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")

register_label_map(LabelMap("semeval_three_class", {"pos": "pos", "neg": "neg", "neu": "neu"}))


@dataclasses.dataclass(frozen=True)
class SemevalConfig:
    """Options of the SemEval-2017 4A reader."""

    path: str
    label_map: str = "semeval_three_class"
    clean_text: bool = True


def clean_tweet(text: str) -> str:
    r"""Undo the quoting and escaping that the distributed files add to a tweet.

    >>> clean_tweet('"He said ""hi""\\u002c then left &amp; ran"')
    'He said "hi", then left & ran'
    """
    text = text.strip()
    if len(text) >= 2 and text.startswith('"') and text.endswith('"'):
        text = text[1:-1].replace('""', '"')
    text = text.replace('\\"', '"')
    text = _ESCAPE.sub(lambda match: chr(int(match[1], 16)), text)
    return html.unescape(text).strip()


def read_file(path: pathlib.Path, *, clean_text: bool = True) -> list[tuple[int, str, str, str]]:
    """``(line, tweet id, sentiment code, text)`` for each line of one file."""
    rows = []
    for line, content in enumerate(read_text(path).splitlines(), start=1):
        if not content.strip():
            continue
        fields = content.split("\t")
        if len(fields) < 3:
            raise CorpusError(f"expected id<TAB>label<TAB>text, found {len(fields)} field(s)", file=path, line=line)
        tweet_id, sentiment, text = fields[0].strip(), fields[1].strip(), fields[2]
        if not _TWEET_ID.match(tweet_id):
            raise CorpusError(f"tweet id {tweet_id!r} is not a number", file=path, line=line)
        if sentiment not in SENTIMENT_CODES:
            raise CorpusError(
                f"unknown label {sentiment!r} (known: {', '.join(SENTIMENT_CODES)})", file=path, line=line
            )
        text = clean_tweet(text) if clean_text else text
        if not text.strip():
            raise CorpusError("empty tweet text", file=path, line=line)
        rows.append((line, tweet_id, SENTIMENT_CODES[sentiment], text))
    return rows


def prepare_semeval(
    path: str | pathlib.Path,
    *,
    label_map: str = "semeval_three_class",
    clean_text: bool = True,
) -> Manifest:
    """Read the SemEval-2017 4A training pool (all ``twitter-*-A.tsv`` files) into a manifest."""
    root = require_directory(path, "SemEval-2017 4A")
    mapping = get_label_map(label_map)
    files = []
    for file in sorted(root.glob("*.tsv")):
        if is_junk(file):
            continue
        name = _FILE_NAME.match(file.name)
        if name is None:
            log.warning("%s: not named twitter-<year><part>-A.tsv; skipped", file)
            continue
        files.append((file, int(name["year"]), name["split"]))
    if not files:
        raise CorpusError("no twitter-<year><part>-A.tsv files", file=root)
    utterances = []
    first: dict[str, tuple[str, str]] = {}
    duplicates = conflicting = 0
    for file, year, split in files:
        for _, tweet_id, code, text in read_file(file, clean_text=clean_text):
            if tweet_id in first:
                duplicates += 1
                conflicting += first[tweet_id][1] != code
                continue
            first[tweet_id] = (file.name, code)
            utterances.append(
                Utterance(
                    id=f"semeval_{tweet_id}",
                    corpus="semeval",
                    text=text,
                    emotion=code,
                    label=mapping(code),
                    metadata={"year": year, "split": split, "file": file.name},
                )
            )
    if duplicates:
        log.info(
            "SemEval-2017 4A: dropped %d repeated tweet ids (kept the first; %d had a different label)",
            duplicates,
            conflicting,
        )
    return Manifest(utterances)


@builds(SemevalConfig)
def read_semeval(config: SemevalConfig) -> Manifest:
    return prepare_semeval(config.path, label_map=config.label_map, clean_text=config.clean_text)
