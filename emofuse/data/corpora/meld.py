"""MELD (Multimodal EmotionLines Dataset, Friends dialogues), text only.

Reads ``train_sent_emo.csv``, ``dev_sent_emo.csv`` (and ``test_sent_emo.csv`` when present):
``Sr No., Utterance, Speaker, Emotion, Sentiment, Dialogue_ID, Utterance_ID, Season, Episode,
StartTime, EndTime``. Text only: ``audio`` is ``None``; ids are
``meld_<split>_<dialogue>_<utterance>``.

- Emotions become emofuse codes: neutral -> ``neu``, joy -> ``hap``, sadness -> ``sad``,
  anger -> ``ang``, surprise -> ``sur``, fear -> ``fea``, disgust -> ``dis``.
- The speaker is the character name as written (``Joey``, ``The Interviewer``).
- Metadata: ``split``, ``sentiment`` (positive / negative / neutral), ``dialogue``
  (``<split>_<Dialogue_ID>``: dialogue ids restart in every split), ``turn`` (Utterance_ID),
  and ``season`` and ``episode`` where given.
- Encodings: files are read as UTF-8, falling back to Windows-1252; stray C1 control
  characters (Windows-1252 punctuation decoded as Latin-1, as in the original release's
  ``company\\x92s``) are repaired to the characters they stand for.
"""

from __future__ import annotations

import dataclasses
import logging
import pathlib
import re

from emofuse.data.corpora._rows import csv_rows
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

MELD_CODES: dict[str, str] = {
    "neutral": "neu",
    "joy": "hap",
    "sadness": "sad",
    "anger": "ang",
    "surprise": "sur",
    "fear": "fea",
    "disgust": "dis",
}
SENTIMENTS: tuple[str, ...] = ("positive", "negative", "neutral")
SPLITS: tuple[str, ...] = ("train", "dev", "test")
COLUMNS: tuple[str, ...] = ("Utterance", "Speaker", "Emotion", "Sentiment", "Dialogue_ID", "Utterance_ID")
_C1_CONTROL = re.compile("[\u0080-\u009f]")

register_label_map(
    LabelMap(
        "meld_four_class",
        {code: (code if code in FOUR_CLASSES else None) for code in MELD_CODES.values()},
        FOUR_CLASSES,
    )
)
register_label_map(LabelMap("meld_seven_class", {code: code for code in MELD_CODES.values()}))


@dataclasses.dataclass(frozen=True)
class MeldConfig:
    """Options of the MELD reader."""

    path: str
    label_map: str = "meld_seven_class"


def repair_text(text: str) -> str:
    """Turn C1 control characters back into the Windows-1252 characters they stand for.

    >>> repair_text("company\\x92s")
    'company’s'
    """

    def windows_1252(match: re.Match[str]) -> str:
        try:
            return match[0].encode("latin-1").decode("cp1252")
        except UnicodeDecodeError:
            return ""  # 0x81, 0x8d, 0x8f, 0x90, 0x9d: no character

    return _C1_CONTROL.sub(windows_1252, text).strip()


def _whole_number(value: str, column: str, *, file: pathlib.Path, line: int) -> int:
    try:
        number = int(value.strip())
    except ValueError:
        raise CorpusError(f"{column} {value!r} is not a whole number", file=file, line=line) from None
    if number < 0:
        raise CorpusError(f"{column} {number} is negative", file=file, line=line)
    return number


def prepare_meld(path: str | pathlib.Path, *, label_map: str = "meld_seven_class") -> Manifest:
    """Read the MELD text files (``<split>_sent_emo.csv``) into a manifest."""
    root = require_directory(path, "MELD")
    mapping = get_label_map(label_map)
    files = [(split, root / f"{split}_sent_emo.csv") for split in SPLITS if (root / f"{split}_sent_emo.csv").is_file()]
    if not files:
        raise CorpusError("no train_sent_emo.csv, dev_sent_emo.csv or test_sent_emo.csv", file=root)
    utterances = []
    repaired = 0
    for split, file in files:
        first: dict[tuple[int, int], int] = {}
        for line, row in csv_rows(file, required=COLUMNS):
            dialogue = _whole_number(row["Dialogue_ID"], "Dialogue_ID", file=file, line=line)
            turn = _whole_number(row["Utterance_ID"], "Utterance_ID", file=file, line=line)
            if (dialogue, turn) in first:
                raise CorpusError(
                    f"dialogue {dialogue} utterance {turn} repeats (first on line {first[dialogue, turn]})",
                    file=file,
                    line=line,
                )
            first[dialogue, turn] = line
            emotion = row["Emotion"].strip().lower()
            if emotion not in MELD_CODES:
                raise CorpusError(f"unknown Emotion {emotion!r} (known: {', '.join(MELD_CODES)})", file=file, line=line)
            sentiment = row["Sentiment"].strip().lower()
            if sentiment not in SENTIMENTS:
                raise CorpusError(f"unknown Sentiment {sentiment!r} (known: {', '.join(SENTIMENTS)})", file=file, line=line)
            text = repair_text(row["Utterance"])
            speaker = repair_text(row["Speaker"])
            repaired += text != row["Utterance"].strip() or speaker != row["Speaker"].strip()
            metadata: dict[str, object] = {
                "split": split,
                "sentiment": sentiment,
                "dialogue": f"{split}_{dialogue}",
                "turn": turn,
            }
            for column in ("Season", "Episode"):
                if row.get(column, "").strip():
                    metadata[column.lower()] = _whole_number(row[column], column, file=file, line=line)
            code = MELD_CODES[emotion]
            utterances.append(
                Utterance(
                    id=f"meld_{split}_{dialogue}_{turn}",
                    speaker=speaker,
                    corpus="meld",
                    text=text,
                    emotion=code,
                    label=mapping(code),
                    metadata=metadata,
                )
            )
    if repaired:
        log.info("MELD: repaired Windows-1252 characters in %d rows", repaired)
    return Manifest(utterances)


@builds(MeldConfig)
def read_meld(config: MeldConfig) -> Manifest:
    return prepare_meld(config.path, label_map=config.label_map)
