"""Predicting many files (``emofuse predict DIR``) and the demo on the bundled examples."""

from __future__ import annotations

import csv
import logging
import os
import pathlib
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

from tqdm.auto import tqdm

from emofuse.audio.io import AudioError
from emofuse.inference.recognizer import Recognizer
from emofuse.inference.recognizer import RecognizerError
from emofuse.inference.segment import SegmentationConfig
from emofuse.inference.segment import emotion_timeline
from emofuse.inference.segment import plot_timeline
from emofuse.inference.speakers import SpeakerConfig

log = logging.getLogger(__name__)

AudioFile = tuple[str, pathlib.Path]


def find_audio(inputs: Sequence[str | os.PathLike[str]], *, suffixes: set[str]) -> list[AudioFile]:
    """``(key, path)`` of every input file and every audio file under input directories (sorted).

    The key is the path relative to its directory, or the file as given.
    """
    found: list[AudioFile] = []
    for item in inputs:
        path = pathlib.Path(item)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in suffixes and not p.name.startswith("._"))
            if not files:
                raise ValueError(f"{path}: no audio files ({', '.join(sorted(suffixes))})")
            found += [(p.relative_to(path).as_posix(), p) for p in files]
        elif path.is_file():
            found.append((str(item), path))
        else:
            raise ValueError(f"{path}: no such file or directory")
    return found


def read_transcripts(path: str | os.PathLike[str], files: Sequence[AudioFile]) -> dict[str, str]:
    """Transcripts from a CSV with ``file`` and ``text`` columns, matched to ``files`` by key,
    by file name or by stem."""
    return read_file_table(path, files, "text")


def read_speakers(path: str | os.PathLike[str], files: Sequence[AudioFile]) -> dict[str, str]:
    """Speakers from a CSV with ``file`` and ``speaker`` columns (for ``--adapt`` per speaker),
    matched as in :func:`read_transcripts`; files it does not name are adapted together."""
    return {k: v for k, v in read_file_table(path, files, "speaker").items() if v}


def read_file_table(path: str | os.PathLike[str], files: Sequence[AudioFile], column: str) -> dict[str, str]:
    """A ``file`` -> ``column`` table from a CSV, matched to ``files`` by key, name or stem."""
    path = pathlib.Path(path)
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as error:
        raise ValueError(f"{path}: cannot read transcripts: {error}") from None
    if not rows or not {"file", column} <= set(rows[0]):
        raise ValueError(f"{path}: needs the columns file,{column}")
    table: dict[str, str] = {}
    for line, row in enumerate(rows, start=2):
        name = (row.get("file") or "").strip()
        if not name:
            raise ValueError(f"{path}, line {line}: empty file name")
        table[pathlib.PurePath(name).as_posix()] = (row.get(column) or "").strip()
    texts = {}
    for key, file in files:
        for candidate in (key, file.name, file.stem):
            if candidate in table:
                texts[key] = table[candidate]
                break
    missing = len(files) - len(texts)
    if missing:
        log.info("%d of %d files have no %s in %s", missing, len(files), column, path)
    return texts


def predict_files(
    recognizer: Recognizer,
    files: Sequence[AudioFile],
    *,
    texts: Mapping[str, str | None] | None = None,
    batch_size: int = 16,
    segmentation: SegmentationConfig | None = None,
    speakers: SpeakerConfig | None = SpeakerConfig(),  # noqa: B008 (frozen)
    plot_dir: pathlib.Path | None = None,
    progress: bool = True,
    max_duration: float | None = None,
    adapt: bool = False,
    speaker_labels: Mapping[str, str] | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """One record per file, in input order (``file`` + the prediction, with ``warnings`` about the
    input), and the failed ones among them (``file`` + ``error``); a bad file does not stop the
    rest.

    With ``segmentation`` each file is streamed (read block by block, never whole) into an
    emotion timeline (``timeline``: segments, ``speakers`` as :func:`emotion_timeline` finds
    them), and the file's emotion is the timeline's time-weighted summary.

    ``adapt`` adapts the recogniser to these files (transductive; see
    :meth:`Recognizer.predict`): per speaker where ``speaker_labels`` names one, the rest
    together; the files are then read and predicted as one batch. A streamed timeline sees one
    block at a time, so ``adapt`` works on whole files only.
    """
    texts = texts or {}
    if segmentation is not None:
        if adapt:
            raise ValueError("--adapt works on whole files, not with --timeline (a timeline is streamed block by block)")
        return _timelines(recognizer, files, texts=texts, batch_size=batch_size, segmentation=segmentation,
                          speakers=speakers, plot_dir=plot_dir, progress=progress, max_duration=max_duration)
    if adapt:
        batch_size = max(len(files), 1)
    records: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    bar = tqdm(total=len(files), desc="predict", unit="file", disable=not progress or len(files) < 2)
    for start in range(0, len(files), batch_size):
        batch = files[start : start + batch_size]
        results: dict[str, dict[str, Any]] = {}
        good, signals, notes = [], [], []
        for key, path in batch:
            warnings: list[str] = []
            try:
                signals.append(recognizer.load_audio(path, name=key, max_duration=max_duration, warnings=warnings))
                good.append(key)
                notes.append(warnings)
            except (AudioError, ValueError) as error:
                results[key] = {"file": key, "error": str(error)}
        groups = [(speaker_labels or {}).get(k, "") for k in good] if adapt else None
        predictions = recognizer.predict_each(signals, [texts.get(k) for k in good], list(good), notes, groups=groups)
        for key, prediction in zip(good, predictions, strict=True):
            results[key] = {"file": key, **{k: v for k, v in prediction.to_dict().items() if k != "source"}}
        for key, _ in batch:
            (failures if "error" in results[key] else records).append(results[key])
        bar.update(len(batch))
    bar.close()
    order = {key: k for k, (key, _) in enumerate(files)}
    return sorted(records + failures, key=lambda r: order[r["file"]]), failures


#: A batch whose most frequent answer takes more than this share (of at least SKEW_MIN_FILES
#: answers) gets a warning: on data with a few balanced classes, one answer for most files is the
#: usual sign of recordings unlike the training data, not of a corpus that is mostly one emotion.
SKEW_SHARE, SKEW_MIN_FILES = 0.6, 20


def answer_skew(records: Sequence[Mapping[str, Any]], *, adapted: bool = False) -> str | None:
    """A warning when one emotion answers most of a batch of files (``None`` otherwise).

    >>> answer_skew([{"emotion": "sad"}] * 18 + [{"emotion": "ang"}] * 4)[:34]
    '18 of 22 answers are "sad" (82 %).'
    """
    answers = [r["emotion"] for r in records if r.get("emotion") not in {None, "uncertain"}]
    if len(answers) < SKEW_MIN_FILES:
        return None
    import collections

    emotion, count = collections.Counter(answers).most_common(1)[0]
    if count / len(answers) <= SKEW_SHARE:
        return None
    advice = ("they were adapted together: if they hold several speakers, --speaker-csv adapts each speaker "
              "on their own") if adapted else (
              "--adapt standardises the voice features over the given files (transductive; see the model card)")
    return (f"{count} of {len(answers)} answers are \"{emotion}\" ({100 * count / len(answers):.0f} %). If these "
            f"recordings are not mostly {emotion}, they may differ from the model's training data (voices, language, "
            f"microphone, room); {advice}.")


def _timelines(recognizer: Recognizer, files: Sequence[AudioFile], *, texts: Mapping[str, str | None], batch_size: int,
               segmentation: SegmentationConfig, speakers: SpeakerConfig | None, plot_dir: pathlib.Path | None,
               progress: bool, max_duration: float | None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """:func:`predict_files` with timelines: one file at a time, each streamed."""
    records: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    for key, path in tqdm(files, desc="predict", unit="file", disable=not progress or len(files) < 2):
        warnings: list[str] = []
        text = texts.get(key)
        try:
            timeline = emotion_timeline(recognizer, path, config=segmentation, speakers=speakers, name=key,
                                        max_duration=max_duration, batch_size=batch_size, text=text, progress=progress,
                                        warnings=warnings)
        except (AudioError, RecognizerError, ValueError) as error:
            failures.append({"file": key, "error": str(error)})
            records.append(failures[-1])
            continue
        sources = {s.prediction.transcript_source for s in timeline.segments}
        record: dict[str, Any] = {"file": key, **{k: v for k, v in timeline.summary().items() if k != "speech_seconds"},
                                  "transcript": text, "transcript_source": "given" if text else
                                  ("asr" if "asr" in sources else "none"), "duration": timeline.duration}
        notes = warnings + list(timeline.notes)
        if notes:
            record["warnings"] = notes
        record["timeline"] = {k: v for k, v in timeline.to_dict().items() if k != "source"}
        if plot_dir is not None:
            plot_timeline(timeline, plot_dir / (key.replace("/", "__") + ".png"), label_names=recognizer.config.label_names)
        records.append({k: v for k, v in record.items() if v is not None})
    return records, failures


def examples_directory() -> pathlib.Path:
    from importlib.resources import files

    return pathlib.Path(str(files("emofuse") / "assets" / "examples"))


def run_demo(model: str | os.PathLike[str] = "default", output: str | os.PathLike[str] = "emofuse-demo", *,
             asr: str | None = None, num_threads: int | None = None) -> Iterator[str]:
    """The README's main job, as lines of text: the bundled model on the bundled example clips,
    then the timeline of the longer example with a plot and the dialogue reward per segment."""
    from emofuse.reward import RewardConfig
    from emofuse.reward import RewardTracker

    examples = examples_directory()
    clips = sorted(p for p in examples.glob("*.wav") if p.stem != "dialogue")
    long_clip = examples / "dialogue.wav"
    if not clips or not long_clip.is_file():
        raise RecognizerError(f"the example clips are missing from this installation ({examples})")
    recognizer = Recognizer.from_pretrained(model, asr=asr, num_threads=num_threads)
    describe = recognizer.describe()
    classes = recognizer.classes
    names = recognizer.config.label_names
    yield f"model: {describe['name']} (systems: {', '.join(describe['systems'])}; ASR: {describe['asr']})"
    yield f"classes: {', '.join(f'{c} = {names.get(c, c)}' for c in classes)}"
    yield ("confidence: the calibrated probability of the answer (temperature-scaled on speakers the model never heard); "
           "the clips were synthesised with espeak-ng, so the voice carries little emotion and the words carry most of it")
    yield ""
    truth = {stem: code for code, name in names.items() for stem in (code, name, {"ang": "angry", "hap": "happy"}.get(code, ""))}
    header = (f"{'file':<12} {'spoken as':<9} {'emotion':<8} {'conf.':>5} " + " ".join(f"{'p_' + c:>6}" for c in classes)
              + "  transcript")
    yield header
    yield "-" * len(header)
    hits = 0
    for clip, prediction in zip(clips, recognizer.predict([str(c) for c in clips]), strict=True):
        values = " ".join(f"{prediction.posteriors[c]:>6.3f}" for c in classes)
        expected = truth.get(clip.stem, "?")
        mark = "" if expected == "?" else (" right" if prediction.emotion == expected else " MISS")
        hits += prediction.emotion == expected
        confidence = f"{prediction.confidence:>5.2f}" if prediction.confidence is not None else f"{'-':>5}"
        yield (f"{clip.name:<12} {expected:<9} {(prediction.emotion or '-') + mark:<8} {confidence} {values}  "
               f"({prediction.transcript_source}) {prediction.transcript or ''}")
    yield f"{hits} of {len(clips)} clips right (a miss is shown as MISS, not hidden)"
    yield ""
    timeline = emotion_timeline(recognizer, long_clip, name=long_clip.name)
    output = pathlib.Path(output)
    output.mkdir(parents=True, exist_ok=True)
    figure_path = output / "dialogue_timeline.png"
    plot_timeline(timeline, figure_path, title=f"{long_clip.name}: emotion timeline", label_names=recognizer.config.label_names)
    who = f"{len(timeline.speakers)} speakers" if timeline.speakers is not None else "; ".join(timeline.notes)
    yield f"{long_clip.name}: {timeline.duration:.1f} s, {len(timeline.segments)} segments ({timeline.method}), {who}"
    tracker = RewardTracker(RewardConfig(classes=classes)) if set(classes) == {"neu", "hap", "sad", "ang"} else None
    yield "spoken as: neutral, happy, sad, angry (one sentence each, in that order)"
    if tracker:
        yield (f"reward: how much this segment moved the emotion towards pleasant, sum over emotions of f(e) x the change in "
               f"P(e) since the last segment (IEmoNet's dialogue reward; f: {', '.join(f'{c} {v:+g}' for c, v in RewardConfig().mapping.items())})")
    header = (f"{'start':>6} {'end':>6} {'speaker':<7} {'emotion':<8} {'conf.':>5} " + " ".join(f"{'p_' + c:>6}" for c in classes)
              + f" {'reward':>7}  transcript")
    yield header
    yield "-" * len(header)
    for segment in timeline.segments:
        prediction = segment.prediction
        values = " ".join(f"{prediction.posteriors[c]:>6.3f}" for c in classes)
        reward = f"{tracker.update(prediction.posteriors).reward:>7.3f}" if tracker else f"{'':>7}"
        confidence = max(prediction.posteriors.values()) if prediction.posteriors else None
        shown = f"{confidence:>5.2f}" if confidence is not None else f"{'-':>5}"
        yield (f"{segment.start:>6.2f} {segment.end:>6.2f} {segment.speaker or '-':<7} {prediction.emotion or '-':<8} {shown} "
               f"{values} {reward}  {prediction.transcript or ''}")
    summary = timeline.summary()
    yield f"overall (time-weighted): {summary['emotion']}"
    yield f"timeline plot: {figure_path}"
