"""CREMA-D (Crowd-sourced Emotional Multimodal Actors Dataset), audio files.

Reads ``AudioWAV/*.wav`` (or the wavs directly in the directory); the rest comes from the file
name, ``1001_DFA_ANG_XX.wav`` = actor, sentence, emotion, intensity level:

- Actors ``1001``-``1091`` are the speakers. Gender comes from ``VideoDemographics.csv``
  (``ActorID, Age, Sex, Race, Ethnicity``) when the directory has it, otherwise it is ``None``.
- Twelve sentences (:data:`SENTENCES`); emotions ``ANG DIS FEA HAP NEU SAD``.
- Level ``LO`` / ``MD`` / ``HI`` / ``XX`` (unspecified) -> metadata ``intensity`` ``low`` /
  ``medium`` / ``high`` / ``unspecified``. Older copies of the release name one file
  ``1040_ITH_SAD_X.wav``; a single ``X`` is read as unspecified, with a warning.
- Metadata: ``sentence`` (the code), ``intensity``. No sessions.
- A wav that is a Git LFS pointer (a clone without ``git lfs``) or cannot be read is an error,
  or, with ``skip_unreadable_audio``, a logged skip (the release has a few broken files, such as
  ``1076_MTI_NEU_XX.wav``).
"""

from __future__ import annotations

import dataclasses
import logging
import pathlib
import re
from typing import Any

from emofuse.data.corpora._rows import csv_rows
from emofuse.data.corpora._rows import parse_gender
from emofuse.data.corpora.base import CorpusError
from emofuse.data.corpora.base import audio_facts
from emofuse.data.corpora.base import is_junk
from emofuse.data.corpora.base import require_directory
from emofuse.data.labels import FOUR_CLASSES
from emofuse.data.labels import LabelMap
from emofuse.data.labels import get_label_map
from emofuse.data.labels import register_label_map
from emofuse.data.manifest import Manifest
from emofuse.data.manifest import Utterance
from emofuse.registry import builds

log = logging.getLogger(__name__)

#: Emotion field of the file name -> emofuse label code.
CREMAD_CODES: dict[str, str] = {
    "ANG": "ang",
    "DIS": "dis",
    "FEA": "fea",
    "HAP": "hap",
    "NEU": "neu",
    "SAD": "sad",
}
SENTENCES: dict[str, str] = {
    "IEO": "It's eleven o'clock",
    "TIE": "That is exactly what happened",
    "IOM": "I'm on my way to the meeting",
    "IWW": "I wonder what this is about",
    "TAI": "The airplane is almost full",
    "MTI": "Maybe tomorrow it will be cold",
    "IWL": "I would like a new alarm clock",
    "ITH": "I think I have a doctor's appointment",
    "DFA": "Don't forget a jacket",
    "ITS": "I think I've seen this before",
    "TSI": "The surface is slick",
    "WSI": "We'll stop in a couple of minutes",
}
LEVELS: dict[str, str] = {"LO": "low", "MD": "medium", "HI": "high", "XX": "unspecified", "X": "unspecified"}

_FILE_NAME = re.compile(r"^(?P<actor>\d{4})_(?P<sentence>[A-Z]{3})_(?P<emotion>[A-Z]{3})_(?P<level>[A-Z]{1,2})\.wav$")
_LFS_POINTER = b"version https://git-lfs"

register_label_map(
    LabelMap(
        "cremad_four_class",
        {code: (code if code in FOUR_CLASSES else None) for code in CREMAD_CODES.values()},
        FOUR_CLASSES,
    )
)
register_label_map(LabelMap("cremad_six_class", {code: code for code in CREMAD_CODES.values()}))


@dataclasses.dataclass(frozen=True)
class CremadConfig:
    """Options of the CREMA-D reader."""

    path: str
    label_map: str = "cremad_four_class"
    skip_unreadable_audio: bool = False


def parse_file_name(name: str) -> dict[str, str]:
    """Actor, sentence code, emotion code and intensity from a CREMA-D file name.

    >>> facts = parse_file_name("1001_DFA_ANG_XX.wav")
    >>> facts["speaker"], facts["sentence"], facts["emotion"], facts["intensity"]
    ('1001', 'DFA', 'ang', 'unspecified')
    """
    match = _FILE_NAME.match(name)
    if match is None:
        raise ValueError(f"file name {name!r} does not follow <actor NNNN>_<sentence>_<emotion>_<level>.wav")
    actor, sentence, emotion, level = match["actor"], match["sentence"], match["emotion"], match["level"]
    if not 1001 <= int(actor) <= 1091:
        raise ValueError(f"actor {actor!r} in {name!r} is outside 1001-1091")
    for what, value, known in (
        ("sentence", sentence, SENTENCES),
        ("emotion", emotion, CREMAD_CODES),
        ("level", level, LEVELS),
    ):
        if value not in known:
            raise ValueError(f"unknown {what} {value!r} in {name!r} (known: {' '.join(known)})")
    return {
        "speaker": actor,
        "sentence": sentence,
        "emotion": CREMAD_CODES[emotion],
        "intensity": LEVELS[level],
    }


def read_demographics(path: pathlib.Path) -> dict[str, dict[str, Any]]:
    """Actor -> ``gender`` (and ``age``) from ``VideoDemographics.csv``."""
    actors: dict[str, dict[str, Any]] = {}
    for line, row in csv_rows(path, required=("ActorID", "Sex")):
        actor = row["ActorID"].strip()
        if not re.fullmatch(r"\d{4}", actor):
            raise CorpusError(f"ActorID {actor!r} is not a four-digit actor id", file=path, line=line)
        facts: dict[str, Any] = {"gender": parse_gender(row["Sex"], file=path, line=line)}
        age = row.get("Age", "").strip()
        if age:
            try:
                facts["age"] = int(age)
            except ValueError:
                raise CorpusError(f"Age {age!r} is not a whole number", file=path, line=line) from None
        actors[actor] = facts
    return actors


def _is_lfs_pointer(path: pathlib.Path) -> bool:
    with path.open("rb") as file:
        return file.read(len(_LFS_POINTER)) == _LFS_POINTER


def prepare_cremad(
    path: str | pathlib.Path,
    *,
    label_map: str = "cremad_four_class",
    skip_unreadable_audio: bool = False,
) -> Manifest:
    """Read the CREMA-D audio files into a manifest."""
    root = require_directory(path, "CREMA-D")
    mapping = get_label_map(label_map)
    wav_dir = root / "AudioWAV" if (root / "AudioWAV").is_dir() else root
    demographics_file = root / "VideoDemographics.csv"
    demographics = read_demographics(demographics_file) if demographics_file.is_file() else {}
    wavs = sorted(p for p in wav_dir.iterdir() if p.suffix.lower() == ".wav" and not is_junk(p))
    if not wavs:
        raise CorpusError("no wav files (expected AudioWAV/*.wav)", file=wav_dir)
    utterances = []
    skipped = []
    for wav in wavs:
        try:
            facts = parse_file_name(wav.name)
        except ValueError as error:
            raise CorpusError(str(error), file=wav) from None
        if wav.name.endswith("_X.wav"):
            log.warning("%s: level 'X' read as unspecified (the release names this file ..._XX.wav)", wav)
        try:
            if _is_lfs_pointer(wav):
                raise CorpusError("a Git LFS pointer, not audio (fetch the release with git lfs)", file=wav)
            sampling_rate, duration = audio_facts(wav)
        except CorpusError as error:
            if not skip_unreadable_audio:
                raise
            log.warning("CREMA-D: skipping unreadable audio: %s", error)
            skipped.append(wav.name)
            continue
        speaker = facts["speaker"]
        if demographics and speaker not in demographics:
            raise CorpusError(f"actor {speaker} is not in {demographics_file.name}", file=wav)
        actor = demographics.get(speaker, {})
        metadata: dict[str, Any] = {"sentence": facts["sentence"], "intensity": facts["intensity"]}
        if "age" in actor:
            metadata["age"] = actor["age"]
        utterances.append(
            Utterance(
                id=wav.stem,
                audio=str(wav),
                sampling_rate=sampling_rate,
                duration=duration,
                speaker=speaker,
                gender=actor.get("gender"),
                session=None,
                corpus="cremad",
                text=SENTENCES[facts["sentence"]],
                emotion=facts["emotion"],
                label=mapping(facts["emotion"]),
                metadata=metadata,
            )
        )
    if skipped:
        log.warning("CREMA-D: skipped %d unreadable wavs: %s", len(skipped), ", ".join(skipped))
    if not demographics:
        log.info("CREMA-D: no VideoDemographics.csv in %s; gender is unknown", root)
    if not utterances:
        raise CorpusError("no readable wav files", file=wav_dir)
    return Manifest(utterances)


@builds(CremadConfig)
def read_cremad(config: CremadConfig) -> Manifest:
    return prepare_cremad(
        config.path,
        label_map=config.label_map,
        skip_unreadable_audio=config.skip_unreadable_audio,
    )
