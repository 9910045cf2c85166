"""IEMOCAP, official release layout.

Reads, per session, the summary lines of ``dialog/EmoEvaluation/*.txt`` (one per labelled turn:
time span, turn name, majority label code, [V, A, D]), the transcripts in
``dialog/transcriptions/*.txt`` and the sentence wavs in ``sentences/wav/<dialog>/<turn>.wav``.

- The speaker is the session plus the first letter of the turn name's last field
  (``Ses01F_impro01_M003`` -> ``Ses01M``); the letter after ``Ses01`` names who wore the
  motion-capture markers, not the speaker.
- Valence, arousal (activation) and dominance are on a 1-5 scale and normalised to [-1, 1]. The
  release has a few averaged ratings outside it (5.5): they are an error naming the file, line and
  value, unless ``out_of_scale: clip`` asks to clip them (as the papers do); clipped ratings keep
  their value in ``*_raw`` and are listed in the utterance's ``rating_clipped`` metadata.
- Transcript lines that are not labelled turns (``..._MXX0``, ``M: Yeah.``) and macOS ``._*``
  files are ignored.
- Metadata: ``scripted`` (bool), ``dialog``, ``script`` (``script01``; the same script is
  performed in every session) and, optionally, ``dialogue_act`` from an EMOTyDA-format CSV.
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import pathlib
import re
from typing import Literal

from emofuse.data.corpora.base import CorpusError
from emofuse.data.corpora.base import audio_facts
from emofuse.data.corpora.base import is_junk
from emofuse.data.corpora.base import require_directory
from emofuse.data.labels import IEMOCAP_CODES
from emofuse.data.labels import get_label_map
from emofuse.data.labels import normalize_rating
from emofuse.data.manifest import Manifest
from emofuse.data.manifest import Utterance
from emofuse.registry import builds

log = logging.getLogger(__name__)

_SUMMARY = re.compile(
    r"^\[(?P<start>\d+(?:\.\d+)?)\s*-\s*(?P<end>\d+(?:\.\d+)?)\]\s+"
    r"(?P<turn>Ses\d\d[FM]_\S+)\s+(?P<code>\S+)\s+"
    r"\[(?P<v>[^,\]]+),\s*(?P<a>[^,\]]+),\s*(?P<d>[^,\]]+)\]\s*$"
)
_TRANSCRIPT = re.compile(r"^(?P<turn>Ses\d\d[FM]_\S+)\s+\[[^\]]*\]:\s?(?P<text>.*)$")
_TURN = re.compile(r"^Ses(?P<session>\d\d)(?P<marker>[FM])_(?P<dialog>.+)_(?P<who>[FM])(?P<index>\d+)$")


@dataclasses.dataclass(frozen=True)
class IemocapConfig:
    """Options of the IEMOCAP reader.

    ``dialogue_acts`` is an optional EMOTyDA-format CSV (``TURN,UTTERANCE,DA,EMOTION``).
    ``require_audio`` makes a labelled turn without its wav an error instead of a warning.
    ``out_of_scale``: a rating outside 1-5 is an ``error``, or is ``clip``-ped (and recorded).
    """

    path: str
    label_map: str = "iemocap_four_class"
    dialogue_acts: str | None = None
    require_audio: bool = True
    out_of_scale: Literal["error", "clip"] = "error"


def parse_turn(turn: str) -> dict[str, str]:
    """Session, speaker, gender and dialog from a turn name.

    >>> parse_turn("Ses01F_impro01_M003")["speaker"]
    'Ses01M'
    >>> parse_turn("Ses03M_script01_1_F010")["script"]
    'script01'
    """
    match = _TURN.match(turn)
    if match is None:
        raise ValueError(f"turn name {turn!r} does not follow SesNN[FM]_<dialog>_[FM]NNN")
    session = match["session"]
    dialog = f"Ses{session}{match['marker']}_{match['dialog']}"
    scripted = match["dialog"].startswith("script")
    return {
        "session": str(int(session)),
        "speaker": f"Ses{session}{match['who']}",
        "gender": match["who"],
        "dialog": dialog,
        "scripted": scripted,
        "script": match["dialog"].split("_")[0] if scripted else "",
    }


def read_evaluation(path: pathlib.Path) -> list[dict]:
    """The summary lines of one EmoEvaluation file."""
    rows = []
    with path.open(encoding="utf-8", errors="strict") as file:
        for number, line in enumerate(file, start=1):
            line = line.rstrip("\r\n")
            if not line.startswith("["):
                continue  # header, per-evaluator lines, blank lines
            match = _SUMMARY.match(line)
            if match is None:
                raise CorpusError("malformed summary line: " + repr(line), file=path, line=number)
            code = match["code"]
            if code not in IEMOCAP_CODES:
                raise CorpusError(
                    f"unknown label code {code!r} (known: {', '.join(IEMOCAP_CODES)})",
                    file=path,
                    line=number,
                )
            try:
                vad = [float(match[k]) for k in ("v", "a", "d")]
                start, end = float(match["start"]), float(match["end"])
            except ValueError:
                raise CorpusError("non-numeric time or rating: " + repr(line), file=path, line=number) from None
            if end < start:
                raise CorpusError(f"end time {end} before start time {start}", file=path, line=number)
            rows.append({"turn": match["turn"], "code": code, "vad": vad, "start": start, "end": end, "line": number})
    return rows


def read_transcripts(path: pathlib.Path) -> dict[str, str]:
    """Turn name -> text for the labelled-turn lines of one transcription file."""
    texts = {}
    with path.open(encoding="utf-8", errors="replace") as file:
        for line in file:
            match = _TRANSCRIPT.match(line.strip())
            if match is not None and _TURN.match(match["turn"]):
                texts[match["turn"]] = match["text"].strip()
    return texts


def read_dialogue_acts(path: str | pathlib.Path) -> dict[str, str]:
    """Turn name -> dialogue act from an EMOTyDA-format CSV."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise CorpusError("dialogue-act file not found", file=path)
    acts = {}
    with path.open(encoding="utf-8", newline="") as file:
        reader = csv.DictReader(file)
        missing = {"TURN", "DA"} - set(reader.fieldnames or [])
        if missing:
            raise CorpusError(f"missing columns {sorted(missing)}", file=path, line=1)
        for number, row in enumerate(reader, start=2):
            turn, act = (row.get("TURN") or "").strip(), (row.get("DA") or "").strip()
            if not turn or not act:
                raise CorpusError("empty TURN or DA", file=path, line=number)
            acts[turn] = act
    return acts


def prepare_iemocap(
    path: str | pathlib.Path,
    *,
    label_map: str = "iemocap_four_class",
    dialogue_acts: str | pathlib.Path | None = None,
    require_audio: bool = True,
    out_of_scale: Literal["error", "clip"] = "error",
) -> Manifest:
    """Read an IEMOCAP release into a manifest of every labelled turn.

    ``label`` holds the class of ``label_map`` (``None`` for codes it leaves out, such as
    ``fru`` in the four-class map); ``emotion`` keeps the original code.
    """
    root = require_directory(path, "IEMOCAP")
    mapping = get_label_map(label_map)
    acts = read_dialogue_acts(dialogue_acts) if dialogue_acts else {}
    sessions = sorted(p for p in root.glob("Session[0-9]*") if p.is_dir() and not is_junk(p))
    if not sessions:
        raise CorpusError("no Session* directories found (is this the IEMOCAP release root?)", file=root)
    utterances = []
    for session_dir in sessions:
        evaluation_dir = session_dir / "dialog" / "EmoEvaluation"
        transcript_dir = session_dir / "dialog" / "transcriptions"
        wav_dir = session_dir / "sentences" / "wav"
        if not evaluation_dir.is_dir():
            raise CorpusError("missing dialog/EmoEvaluation directory", file=session_dir)
        for evaluation in sorted(evaluation_dir.glob("*.txt")):
            if is_junk(evaluation):
                continue
            dialog = evaluation.stem
            transcript_file = transcript_dir / f"{dialog}.txt"
            texts = read_transcripts(transcript_file) if transcript_file.is_file() else {}
            if not texts:
                log.warning("%s: no transcripts found for dialog %s", transcript_file, dialog)
            for row in read_evaluation(evaluation):
                turn = row["turn"]
                try:
                    facts = parse_turn(turn)
                except ValueError as error:
                    raise CorpusError(str(error), file=evaluation, line=row["line"]) from None
                wav = wav_dir / facts["dialog"] / f"{turn}.wav"
                sampling_rate = duration = None
                if wav.is_file():
                    sampling_rate, duration = audio_facts(wav)
                elif require_audio:
                    raise CorpusError(f"audio of turn {turn} not found at {wav}", file=evaluation, line=row["line"])
                else:
                    log.warning("%s: no audio for %s", evaluation, turn)
                valence, arousal, dominance = row["vad"]
                metadata = {"scripted": facts["scripted"], "dialog": facts["dialog"], "script": facts["script"]}
                outside = [(n, v) for n, v in zip(("valence", "arousal", "dominance"), row["vad"], strict=True)
                           if not 1.0 <= v <= 5.0]
                if outside and out_of_scale == "error":
                    name, value = outside[0]
                    raise CorpusError(f"turn {turn}: {name} {value:g} is outside the 1-5 scale; correct the file, or read "
                                      "the corpus with out_of_scale: clip (emofuse prepare ... --set out_of_scale=clip) "
                                      "to clip it and record that in the manifest", file=evaluation, line=row["line"])
                if outside:
                    metadata["rating_clipped"] = "; ".join(f"{n} {v:g} -> {min(max(v, 1.0), 5.0):g}" for n, v in outside)
                if turn in acts:
                    metadata["dialogue_act"] = acts[turn]
                utterances.append(
                    Utterance(
                        id=turn,
                        audio=str(wav) if wav.is_file() else None,
                        sampling_rate=sampling_rate,
                        duration=duration,
                        speaker=facts["speaker"],
                        gender=facts["gender"],
                        session=facts["session"],
                        corpus="iemocap",
                        text=texts.get(turn),
                        emotion=row["code"],
                        label=mapping(row["code"]),
                        valence=normalize_rating(valence, low=1, high=5, clip=True),
                        arousal=normalize_rating(arousal, low=1, high=5, clip=True),
                        dominance=normalize_rating(dominance, low=1, high=5, clip=True),
                        valence_raw=valence,
                        arousal_raw=arousal,
                        dominance_raw=dominance,
                        metadata=metadata,
                    )
                )
    missing_text = sum(u.text is None for u in utterances)
    if missing_text:
        log.warning("IEMOCAP: %d labelled turns have no transcript", missing_text)
    if acts:
        unmatched = sum("dialogue_act" not in u.metadata for u in utterances)
        log.info("IEMOCAP: dialogue acts for %d of %d turns", len(utterances) - unmatched, len(utterances))
    return Manifest(utterances)


@builds(IemocapConfig)
def read_iemocap(config: IemocapConfig) -> Manifest:
    return prepare_iemocap(
        config.path,
        label_map=config.label_map,
        dialogue_acts=config.dialogue_acts,
        require_audio=config.require_audio,
        out_of_scale=config.out_of_scale,
    )
