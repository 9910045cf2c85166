"""RAVDESS (Ryerson Audio-Visual Database of Emotional Speech and Song), audio-only files.

Reads every ``*.wav`` under the directory (the release puts them in ``Actor_NN/``); everything
else comes from the file name, ``03-01-05-01-02-01-12.wav`` = modality, vocal channel,
emotion, intensity, statement, repetition, actor:

- Modality ``03`` (audio-only) is what is read; wavs of other modalities are skipped.
- Vocal channel ``01`` speech, ``02`` song (song is left out unless ``include_song``).
- Emotions ``01`` neutral, ``02`` calm, ``03`` happy, ``04`` sad, ``05`` angry, ``06`` fearful,
  ``07`` disgust, ``08`` surprised; intensity ``01`` normal, ``02`` strong (not for neutral).
- Statements ``01`` "Kids are talking by the door", ``02`` "Dogs are sitting by the door".
- Actors ``01``-``24``; odd-numbered actors are male. The actor is the speaker.
- Metadata: ``vocal_channel``, ``intensity``, ``statement``, ``repetition``. No sessions.
"""

from __future__ import annotations

import dataclasses
import logging
import pathlib
import re

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
RAVDESS_CODES: dict[str, str] = {
    "01": "neu",
    "02": "cal",
    "03": "hap",
    "04": "sad",
    "05": "ang",
    "06": "fea",
    "07": "dis",
    "08": "sur",
}
STATEMENTS: dict[str, str] = {
    "01": "Kids are talking by the door",
    "02": "Dogs are sitting by the door",
}
MODALITIES: dict[str, str] = {"01": "audio-video", "02": "video-only", "03": "audio-only"}
VOCAL_CHANNELS: dict[str, str] = {"01": "speech", "02": "song"}
INTENSITIES: dict[str, str] = {"01": "normal", "02": "strong"}

_FILE_NAME = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)\.wav$")
_ACTOR_DIRECTORY = re.compile(r"^Actor_(\d\d)$")

register_label_map(
    LabelMap(
        "ravdess_four_class",
        {code: (code if code in FOUR_CLASSES else None) for code in RAVDESS_CODES.values()},
        FOUR_CLASSES,
    )
)
register_label_map(LabelMap("ravdess_eight_class", {code: code for code in RAVDESS_CODES.values()}))


@dataclasses.dataclass(frozen=True)
class RavdessConfig:
    """Options of the RAVDESS reader; ``include_song`` adds the sung recordings."""

    path: str
    label_map: str = "ravdess_four_class"
    include_song: bool = False


@dataclasses.dataclass(frozen=True)
class RavdessName:
    """The decoded fields of one RAVDESS file name."""

    modality: str
    vocal_channel: str
    emotion: str
    intensity: str
    statement: str
    repetition: int
    speaker: str
    gender: str


def parse_file_name(name: str) -> RavdessName:
    """The seven fields of a RAVDESS file name, checked and decoded.

    >>> facts = parse_file_name("03-01-05-01-02-01-12.wav")
    >>> facts.emotion, facts.speaker, facts.gender, facts.statement, facts.intensity
    ('ang', '12', 'F', '02', 'normal')
    """
    match = _FILE_NAME.match(name)
    if match is None:
        raise ValueError(
            f"file name {name!r} does not follow "
            "<modality>-<channel>-<emotion>-<intensity>-<statement>-<repetition>-<actor>.wav"
        )
    modality, channel, emotion, intensity, statement, repetition, actor = match.groups()
    checks = (
        ("modality", modality, MODALITIES),
        ("vocal channel", channel, VOCAL_CHANNELS),
        ("emotion", emotion, RAVDESS_CODES),
        ("intensity", intensity, INTENSITIES),
        ("statement", statement, STATEMENTS),
        ("repetition", repetition, {"01": 1, "02": 2}),
    )
    for what, value, known in checks:
        if value not in known:
            raise ValueError(f"unknown {what} {value!r} in {name!r} (known: {' '.join(known)})")
    if not 1 <= int(actor) <= 24:
        raise ValueError(f"actor {actor!r} in {name!r} is outside 01-24")
    if emotion == "01" and intensity == "02":
        raise ValueError(f"{name!r}: neutral has no strong intensity in RAVDESS")
    return RavdessName(
        modality=MODALITIES[modality],
        vocal_channel=VOCAL_CHANNELS[channel],
        emotion=RAVDESS_CODES[emotion],
        intensity=INTENSITIES[intensity],
        statement=statement,
        repetition=int(repetition),
        speaker=actor,
        gender="M" if int(actor) % 2 else "F",
    )


def prepare_ravdess(
    path: str | pathlib.Path,
    *,
    label_map: str = "ravdess_four_class",
    include_song: bool = False,
) -> Manifest:
    """Read the RAVDESS audio-only recordings under ``path`` into a manifest."""
    root = require_directory(path, "RAVDESS")
    mapping = get_label_map(label_map)
    wavs = sorted(p for p in root.rglob("*.wav") if not is_junk(p))
    if not wavs:
        raise CorpusError("no wav files under the directory", file=root)
    utterances = []
    seen: dict[str, pathlib.Path] = {}
    skipped = {"modality": 0, "song": 0}
    for wav in wavs:
        try:
            facts = parse_file_name(wav.name)
        except ValueError as error:
            raise CorpusError(str(error), file=wav) from None
        actor_directory = _ACTOR_DIRECTORY.match(wav.parent.name)
        if actor_directory is not None and actor_directory[1] != facts.speaker:
            raise CorpusError(f"actor {facts.speaker} in the name, but the file is in {wav.parent.name}", file=wav)
        if facts.modality != "audio-only":
            skipped["modality"] += 1
            continue
        if facts.vocal_channel == "song" and not include_song:
            skipped["song"] += 1
            continue
        if wav.stem in seen:
            raise CorpusError(f"duplicate recording; also at {seen[wav.stem]}", file=wav)
        seen[wav.stem] = wav
        sampling_rate, duration = audio_facts(wav)
        utterances.append(
            Utterance(
                id=wav.stem,
                audio=str(wav),
                sampling_rate=sampling_rate,
                duration=duration,
                speaker=facts.speaker,
                gender=facts.gender,
                session=None,
                corpus="ravdess",
                text=STATEMENTS[facts.statement],
                emotion=facts.emotion,
                label=mapping(facts.emotion),
                metadata={
                    "vocal_channel": facts.vocal_channel,
                    "intensity": facts.intensity,
                    "statement": facts.statement,
                    "repetition": facts.repetition,
                },
            )
        )
    if skipped["modality"]:
        log.warning("RAVDESS: skipped %d wavs whose modality is not audio-only (03)", skipped["modality"])
    if skipped["song"]:
        log.info("RAVDESS: left out %d song recordings (include_song=False)", skipped["song"])
    if not utterances:
        raise CorpusError("no audio-only recordings to read", file=root)
    return Manifest(utterances)


@builds(RavdessConfig)
def read_ravdess(config: RavdessConfig) -> Manifest:
    return prepare_ravdess(config.path, label_map=config.label_map, include_song=config.include_song)
