"""MSP-Podcast, release layout.

Reads ``Labels/labels_consensus.csv`` (one row per labelled segment), the segment wavs in
``Audios/`` and, where present, the reference transcripts ``Transcripts/<stem>.txt``.

- Columns: ``FileName, EmoClass, EmoAct, EmoVal, EmoDom, SpkrID, Gender, Split_Set``. Note the
  Act, Val, Dom order: activation is arousal. Ratings are on a 1-7 scale and normalised; a
  rating outside it is an error.
- ``EmoClass`` letters become emofuse codes (``A`` -> ``ang``, ..., ``X`` -> ``xxx``, no
  agreement).
- ``SpkrID`` ``Unknown`` gives speaker ``None``; the segment is kept with its metadata.
- Metadata: ``split`` (``Train``, ``Development``, ``Test1``, ``Test2``, ``Test3``, as written).
- MSP-Podcast has no sessions: ``session`` is ``None``.
"""

from __future__ import annotations

import dataclasses
import logging
import pathlib

from emofuse.data.corpora._rows import csv_rows
from emofuse.data.corpora._rows import parse_gender
from emofuse.data.corpora._rows import parse_rating
from emofuse.data.corpora._rows import read_text
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

#: ``EmoClass`` letter -> emofuse label code.
MSP_CODES: dict[str, str] = {
    "A": "ang",
    "S": "sad",
    "H": "hap",
    "U": "sur",
    "F": "fea",
    "D": "dis",
    "C": "con",
    "N": "neu",
    "O": "oth",
    "X": "xxx",
}
SPLITS: tuple[str, ...] = ("Train", "Development", "Test1", "Test2", "Test3")
COLUMNS: tuple[str, ...] = ("FileName", "EmoClass", "EmoAct", "EmoVal", "EmoDom", "SpkrID", "Gender", "Split_Set")

register_label_map(
    LabelMap(
        "msp_four_class",
        {code: (code if code in FOUR_CLASSES else None) for code in MSP_CODES.values()},
        FOUR_CLASSES,
    )
)
register_label_map(
    LabelMap("msp_full", {code: (None if code == "xxx" else code) for code in MSP_CODES.values()})
)


@dataclasses.dataclass(frozen=True)
class MspPodcastConfig:
    """Options of the MSP-Podcast reader.

    ``require_audio`` makes a labelled segment without its wav an error instead of a warning.
    """

    path: str
    label_map: str = "msp_four_class"
    require_audio: bool = True


def prepare_msp_podcast(
    path: str | pathlib.Path,
    *,
    label_map: str = "msp_four_class",
    require_audio: bool = True,
) -> Manifest:
    """Read an MSP-Podcast release into a manifest of every labelled segment.

    ``emotion`` keeps the emofuse code of ``EmoClass``; ``label`` is its class in ``label_map``.
    """
    root = require_directory(path, "MSP-Podcast")
    mapping = get_label_map(label_map)
    labels_file = root / "Labels" / "labels_consensus.csv"
    if not labels_file.is_file():
        raise CorpusError("Labels/labels_consensus.csv not found (is this the MSP-Podcast root?)", file=root)
    audio_dir = root / "Audios"
    transcript_dir = root / "Transcripts"
    utterances = []
    seen: dict[str, int] = {}
    for line, row in csv_rows(labels_file, required=COLUMNS):
        file_name = row["FileName"].strip()
        stem = pathlib.PurePosixPath(file_name).stem
        if not file_name.lower().endswith(".wav") or "/" in file_name or not stem:
            raise CorpusError(f"FileName {file_name!r} is not a wav file name", file=labels_file, line=line)
        if stem in seen:
            raise CorpusError(f"{file_name} is listed twice (first on line {seen[stem]})", file=labels_file, line=line)
        seen[stem] = line
        letter = row["EmoClass"].strip()
        if letter not in MSP_CODES:
            raise CorpusError(
                f"unknown EmoClass {letter!r} (known: {' '.join(MSP_CODES)})", file=labels_file, line=line
            )
        code = MSP_CODES[letter]
        ratings = {
            name: parse_rating(row[column], low=1, high=7, column=column, file=labels_file, line=line)
            for name, column in (("arousal", "EmoAct"), ("valence", "EmoVal"), ("dominance", "EmoDom"))
        }
        split = row["Split_Set"].strip()
        if split not in SPLITS:
            raise CorpusError(f"unknown Split_Set {split!r} (known: {', '.join(SPLITS)})", file=labels_file, line=line)
        speaker = row["SpkrID"].strip()
        wav = audio_dir / file_name
        sampling_rate = duration = None
        if wav.is_file():
            sampling_rate, duration = audio_facts(wav)
        elif require_audio:
            raise CorpusError(f"audio {wav} not found", file=labels_file, line=line)
        else:
            log.warning("%s:%d: no audio at %s", labels_file, line, wav)
        transcript = transcript_dir / f"{stem}.txt"
        text = read_text(transcript).strip() if transcript.is_file() else ""
        utterances.append(
            Utterance(
                id=stem,
                audio=str(wav) if wav.is_file() else None,
                sampling_rate=sampling_rate,
                duration=duration,
                speaker=None if speaker.lower() == "unknown" else speaker,
                gender=parse_gender(row["Gender"], file=labels_file, line=line),
                session=None,
                corpus="msp_podcast",
                text=text or None,
                emotion=code,
                label=mapping(code),
                valence=ratings["valence"][1],
                arousal=ratings["arousal"][1],
                dominance=ratings["dominance"][1],
                valence_raw=ratings["valence"][0],
                arousal_raw=ratings["arousal"][0],
                dominance_raw=ratings["dominance"][0],
                metadata={"split": split},
            )
        )
    if not utterances:
        raise CorpusError("no labelled segments", file=labels_file)
    if audio_dir.is_dir():
        unlabelled = sum(
            1 for wav in audio_dir.glob("*.wav") if not is_junk(wav) and wav.stem not in seen
        )
        if unlabelled:
            log.info("MSP-Podcast: %d wavs in %s have no consensus label", unlabelled, audio_dir)
    missing_text = sum(u.text is None for u in utterances)
    if missing_text:
        log.info("MSP-Podcast: %d of %d segments have no transcript", missing_text, len(utterances))
    unknown = sum(u.speaker is None for u in utterances)
    if unknown:
        log.info("MSP-Podcast: %d segments have an unknown speaker", unknown)
    return Manifest(utterances)


@builds(MspPodcastConfig)
def read_msp_podcast(config: MspPodcastConfig) -> Manifest:
    return prepare_msp_podcast(config.path, label_map=config.label_map, require_audio=config.require_audio)
