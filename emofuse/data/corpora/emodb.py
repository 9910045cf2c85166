"""EmoDB (Berlin Emotional Speech Database), original release.

Reads ``wav/*.wav``; everything else comes from the file name, ``03a01Fa.wav`` = speaker
``03``, text ``a01``, emotion letter ``F``, version ``a``:

- Emotion letters (German names): ``W`` Wut -> ``ang``, ``L`` Langeweile -> ``bor``, ``E`` Ekel
  -> ``dis``, ``A`` Angst -> ``fea``, ``F`` Freude -> ``hap``, ``T`` Trauer -> ``sad``,
  ``N`` neutral -> ``neu``.
- Ten speakers; gender follows the speaker (male 03 10 11 12 15, female 08 09 13 14 16).
- Ten sentences. ``text`` comes from the ``transcription`` column of a ``manifest.csv`` in the
  corpus directory when there is one, otherwise from :data:`SENTENCES`.
- Metadata: ``text_id`` and ``version``. EmoDB has no sessions: ``session`` is ``None``.
"""

from __future__ import annotations

import dataclasses
import logging
import pathlib
import re

from emofuse.data.corpora._rows import csv_rows
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

#: Emotion letter of the file name -> emofuse label code.
EMODB_CODES: dict[str, str] = {
    "W": "ang",
    "L": "bor",
    "E": "dis",
    "A": "fea",
    "F": "hap",
    "T": "sad",
    "N": "neu",
}

#: Speaker -> gender (``M`` or ``F``).
SPEAKERS: dict[str, str] = {
    "03": "M",
    "08": "F",
    "09": "F",
    "10": "M",
    "11": "M",
    "12": "M",
    "13": "F",
    "14": "F",
    "15": "M",
    "16": "F",
}

#: The ten sentences, by text id, as the release transcribes them.
SENTENCES: dict[str, str] = {
    "a01": "Der Lappen liegt auf dem Eisschrank.",
    "a02": "Das will sie am Mittwoch abgeben.",
    "a04": "Heute abend könnte ich es ihm sagen.",
    "a05": "Das schwarze Stück Papier befindet sich da oben neben dem Holzstück.",
    "a07": "In sieben Stunden wird es soweit sein.",
    "b01": "Was sind denn das für Tüten, die da unter dem Tisch stehen.",
    "b02": "Sie haben es gerade hochgetragen und jetzt gehen sie wieder runter.",
    "b03": "An den Wochenenden bin ich jetzt immer nach Hause gefahren und habe Agnes besucht.",
    "b09": "Ich will das eben wegbringen und dann mit Karl was trinken gehen.",
    "b10": "Die wird auf dem Platz sein, wo wir sie immer hinlegen.",
}

_FILE_NAME = re.compile(r"^(?P<speaker>\d\d)(?P<text_id>[ab]\d\d)(?P<letter>[A-Z])(?P<version>[a-z])\.wav$")

register_label_map(LabelMap("emodb_seven_class", {code: code for code in EMODB_CODES.values()}))
register_label_map(
    LabelMap(
        "emodb_four_class",
        {code: (code if code in FOUR_CLASSES else None) for code in EMODB_CODES.values()},
        FOUR_CLASSES,
    )
)


@dataclasses.dataclass(frozen=True)
class EmodbConfig:
    """Options of the EmoDB reader."""

    path: str
    label_map: str = "emodb_seven_class"


def parse_file_name(name: str) -> dict[str, str]:
    """Speaker, gender, text id, emotion code and version from an EmoDB file name.

    >>> facts = parse_file_name("03a01Fa.wav")
    >>> facts["speaker"], facts["gender"], facts["text_id"], facts["emotion"], facts["version"]
    ('03', 'M', 'a01', 'hap', 'a')
    """
    match = _FILE_NAME.match(name)
    if match is None:
        raise ValueError(f"file name {name!r} does not follow <speaker NN><text [ab]NN><emotion><version>.wav")
    speaker, text_id, letter = match["speaker"], match["text_id"], match["letter"]
    if speaker not in SPEAKERS:
        raise ValueError(f"unknown speaker {speaker!r} (EmoDB speakers: {' '.join(SPEAKERS)})")
    if text_id not in SENTENCES:
        raise ValueError(f"unknown text id {text_id!r} (EmoDB texts: {' '.join(SENTENCES)})")
    if letter not in EMODB_CODES:
        raise ValueError(f"unknown emotion letter {letter!r} (EmoDB letters: {' '.join(EMODB_CODES)})")
    return {
        "speaker": speaker,
        "gender": SPEAKERS[speaker],
        "text_id": text_id,
        "emotion": EMODB_CODES[letter],
        "version": match["version"],
    }


def read_transcriptions(path: pathlib.Path) -> dict[str, str]:
    """File name -> transcription from the shared ``manifest.csv`` (empty without that column)."""
    texts = {}
    for _, row in csv_rows(path, required=("file",)):
        if "transcription" not in row:
            log.info("%s has no transcription column; using the standard sentences", path)
            return {}
        if row["transcription"].strip():
            texts[pathlib.PurePosixPath(row["file"].strip()).name] = row["transcription"].strip()
    return texts


def prepare_emodb(path: str | pathlib.Path, *, label_map: str = "emodb_seven_class") -> Manifest:
    """Read an EmoDB release (a directory with ``wav/``) into a manifest of all utterances."""
    root = require_directory(path, "EmoDB")
    mapping = get_label_map(label_map)
    wav_dir = root / "wav"
    if not wav_dir.is_dir():
        raise CorpusError("no wav/ directory (is this the EmoDB release root?)", file=root)
    manifest_file = root / "manifest.csv"
    texts = read_transcriptions(manifest_file) if manifest_file.is_file() else {}
    wavs = sorted(p for p in wav_dir.iterdir() if p.suffix.lower() == ".wav" and not is_junk(p))
    if not wavs:
        raise CorpusError("no wav files", file=wav_dir)
    utterances = []
    fallback = 0
    for wav in wavs:
        try:
            facts = parse_file_name(wav.name)
        except ValueError as error:
            raise CorpusError(str(error), file=wav) from None
        text = texts.get(wav.name)
        if text is None:
            text = SENTENCES[facts["text_id"]]
            fallback += bool(texts)
        sampling_rate, duration = audio_facts(wav)
        utterances.append(
            Utterance(
                id=wav.stem,
                audio=str(wav),
                sampling_rate=sampling_rate,
                duration=duration,
                speaker=facts["speaker"],
                gender=facts["gender"],
                session=None,
                corpus="emodb",
                text=text,
                emotion=facts["emotion"],
                label=mapping(facts["emotion"]),
                metadata={"text_id": facts["text_id"], "version": facts["version"]},
            )
        )
    if fallback:
        log.warning("%s: %d wavs have no transcription row; used the standard sentences", manifest_file, fallback)
    return Manifest(utterances)


@builds(EmodbConfig)
def read_emodb(config: EmodbConfig) -> Manifest:
    return prepare_emodb(config.path, label_map=config.label_map)
