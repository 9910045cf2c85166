"""Long recordings: split into segments, find who speaks, predict each, and get an emotion
timeline (and a plot).

A recording is read in blocks (:class:`~emofuse.audio.stream.AudioStream`) and never held
whole in memory, in up to three passes:

1. **Segments.** ``method: vad`` (the default) cuts at pauses found by voice activity
   (:mod:`emofuse.audio.vad`): ``vad: silero`` (the default), the pretrained Silero network
   (speech where its probability reaches ``threshold``), or ``vad: energy``, frames within
   ``top_db`` of the loudest frame of the recording. Pauses shorter than ``min_silence`` are
   bridged, regions get ``padding`` of context, regions longer than ``max_segment`` are cut
   into equal parts and regions shorter than ``min_segment`` are dropped. ``method: fixed``
   gives windows of ``window`` seconds every ``hop`` seconds (a last part shorter than
   ``min_segment`` joins the previous window).
2. **Speakers** (:mod:`emofuse.inference.speakers`, with the ``speaker`` extra): segments are
   embedded, the embeddings clustered, and segments cut where the speaker changes. Without the
   extra, segments carry no speaker and the timeline's ``notes`` say why.
3. **Emotion.** Each segment is predicted on its own (with ASR per segment when the recogniser
   reads text and has ASR), ``batch_size`` segments at a time.

Memory is that of one block (``block`` seconds), the segments' predictions, one score per
32 ms frame and one speaker embedding per window: flat from a minute to hours of audio.
"""

from __future__ import annotations

import dataclasses
import math
import os
import pathlib
from collections.abc import Iterator
from collections.abc import Sequence
from typing import Any
from typing import Literal

import numpy as np

from emofuse.audio.stream import AudioStream
from emofuse.inference.prediction import Prediction
from emofuse.inference.recognizer import AudioSource
from emofuse.inference.recognizer import Recognizer
from emofuse.inference.speakers import SpeakerConfig

#: Colours of the four classes in plots (others get matplotlib's cycle).
CLASS_COLORS = {"neu": "#9e9e9e", "hap": "#f2b701", "sad": "#3969ac", "ang": "#e73f74"}


@dataclasses.dataclass(frozen=True)
class SegmentationConfig:
    """How a recording is cut into segments (seconds; see the module docstring). ``block`` is
    how much audio is read at a time."""

    method: Literal["vad", "fixed"] = "vad"
    vad: Literal["silero", "energy"] = "silero"
    threshold: float = 0.5
    top_db: float = 35.0
    min_silence: float = 0.3
    padding: float = 0.1
    min_segment: float = 0.4
    max_segment: float = 8.0
    window: float = 3.0
    hop: float = 3.0
    block: float = 60.0

    def __post_init__(self) -> None:
        if self.window <= 0 or self.hop <= 0 or self.max_segment <= 0 or self.block <= 0:
            raise ValueError("window, hop, max_segment and block must be positive")
        if self.min_segment < 0.1 or self.min_segment > self.max_segment:
            raise ValueError("min_segment must be at least 0.1 s and at most max_segment")
        if self.top_db <= 0 or self.min_silence < 0 or self.padding < 0:
            raise ValueError("top_db must be positive; min_silence and padding not negative")
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"threshold must be a probability in (0, 1), got {self.threshold}")


@dataclasses.dataclass(frozen=True)
class Segment:
    start: float
    end: float
    prediction: Prediction
    speaker: str | None = None

    def to_dict(self) -> dict[str, Any]:
        speaker = {} if self.speaker is None else {"speaker": self.speaker}
        return {"start": self.start, "end": self.end, **speaker, **self.prediction.to_dict()}


@dataclasses.dataclass(frozen=True)
class Timeline:
    """Predictions per segment of one recording, in time order.

    ``speakers`` lists the speakers found (``None``: speaker turns were not looked for, or
    could not be; ``notes`` says why); ``notes`` also says when there was no speech.
    """

    segments: tuple[Segment, ...]
    duration: float
    classes: tuple[str, ...]
    method: str
    source: str | None = None
    speakers: tuple[str, ...] | None = None
    notes: tuple[str, ...] = ()

    def summary(self) -> dict[str, Any]:
        """Posteriors (and valence / arousal / dominance) averaged over the segments weighted by
        their length, and the top emotion."""
        answered = [s for s in self.segments if s.prediction.posteriors or s.prediction.valence is not None]
        if not answered:
            return {"emotion": None, "posteriors": {}, "speech_seconds": 0.0}
        weights = np.array([s.end - s.start for s in answered])
        result: dict[str, Any] = {"emotion": None, "posteriors": {}}
        if self.classes:
            matrix = np.array([[s.prediction.posteriors.get(c, 0.0) for c in self.classes] for s in answered])
            mean = weights @ matrix / weights.sum()
            result = {"emotion": self.classes[int(mean.argmax())],
                      "posteriors": dict(zip(self.classes, mean.tolist(), strict=True))}
        for name in ("valence", "arousal", "dominance"):
            values = [getattr(s.prediction, name) for s in answered]
            if all(v is not None for v in values):
                result[name] = float(np.dot(weights, values) / weights.sum())
        result["speech_seconds"] = round(float(weights.sum()), 3)
        return result

    def speaker_summary(self) -> dict[str, dict[str, Any]] | None:
        """Per speaker: speech time, share of it per emotion, mean V/A/D, turns
        (:func:`emofuse.inference.speakers.speaker_summary`); ``None`` without speakers."""
        from emofuse.inference.speakers import speaker_summary

        return None if self.speakers is None else speaker_summary(self.segments, self.classes)

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "duration": self.duration, "method": self.method, "classes": list(self.classes),
                "summary": self.summary(), "speakers": self.speaker_summary(), "notes": list(self.notes),
                "segments": [s.to_dict() for s in self.segments]}

    def to_rows(self) -> list[dict[str, Any]]:
        """One flat row per segment (for CSV)."""
        return [{"start": s.start, "end": s.end, "speaker": s.speaker, **s.prediction.to_row()} for s in self.segments]


def speech_spans(probabilities: np.ndarray, frame_seconds: float, duration: float,
                 config: SegmentationConfig) -> list[tuple[float, float]]:
    """Segments from voice-activity frame probabilities: bridged, padded, short ones dropped,
    long ones cut into equal parts.

    >>> probabilities = np.r_[np.zeros(10), np.ones(30), np.zeros(2), np.ones(20), np.zeros(40)]
    >>> speech_spans(probabilities, 0.1, 10.2, SegmentationConfig(max_segment=3.0))
    [(0.9, 3.6), (3.6, 6.3)]
    """
    from emofuse.audio.vad import VoiceActivityConfig
    from emofuse.audio.vad import regions_from_probabilities

    vad = VoiceActivityConfig(threshold=config.threshold if config.vad == "silero" else 0.5, min_speech=0.0,
                              min_silence=config.min_silence, padding=config.padding)
    spans = []
    for first, last in regions_from_probabilities(probabilities, frame_seconds, duration, vad):
        if last - first < config.min_segment:
            continue
        parts = max(1, math.ceil((last - first) / config.max_segment - 1e-9))
        step = (last - first) / parts
        spans += [(first + k * step, first + (k + 1) * step) for k in range(parts)]
    return [(round(a, 3), round(b, 3)) for a, b in spans]


def fixed_spans(duration: float, config: SegmentationConfig) -> list[tuple[float, float]]:
    """Windows of ``config.window`` seconds every ``config.hop`` seconds.

    >>> fixed_spans(6.5, SegmentationConfig(method="fixed", window=3.0, hop=3.0, min_segment=1.0))
    [(0.0, 3.0), (3.0, 6.5)]
    """
    spans: list[tuple[float, float]] = []
    start = 0.0
    while start < duration:
        end = min(start + config.window, duration)
        if end - start < config.min_segment and spans:
            spans[-1] = (spans[-1][0], end)
        elif end - start >= min(config.min_segment, duration):
            spans.append((start, end))
        start += config.hop
    return [(round(a, 3), round(b, 3)) for a, b in spans]


def _detector(config: SegmentationConfig):  # noqa: ANN202 (a VoiceActivity)
    from emofuse.audio.vad import VoiceActivity
    from emofuse.audio.vad import VoiceActivityConfig

    return VoiceActivity(VoiceActivityConfig(method=config.vad, top_db=config.top_db, floor_db=-60.0))


def find_segments(stream: AudioStream, config: SegmentationConfig | None = None, *,
                  progress: bool = False) -> tuple[list[tuple[float, float]], float, str]:
    """The segments of a stream, its duration in seconds (as decoded) and the detector used
    (``silero``, ``energy`` or ``fixed``), reading it once, block by block."""
    from tqdm.auto import tqdm

    config = config or SegmentationConfig()
    rate = stream.sampling_rate
    if config.method == "fixed":
        return fixed_spans(stream.duration, config), stream.duration, "fixed"
    detector = _detector(config)
    activity = detector.stream(rate)
    samples = 0
    with tqdm(total=round(stream.duration, 1), desc=f"voice activity of {stream.name or 'the recording'}", unit="s",
              disable=not progress, leave=False) as bar:
        for block in stream.blocks(config.block):
            activity.feed(block)
            samples += block.size
            bar.update(round(block.size / rate, 1))
    duration = samples / rate
    spans = speech_spans(activity.finish(), detector.frame_seconds, duration, config)
    return spans, round(duration, 3), detector.method


def split_segments(signal: np.ndarray, sampling_rate: int, config: SegmentationConfig | None = None) -> list[tuple[float, float]]:
    """``(start, end)`` seconds of the segments of a signal in memory."""
    stream = AudioStream(np.asarray(signal, dtype=np.float32), sampling_rate, source_rate=sampling_rate)
    return find_segments(stream, config)[0]


def emotion_timeline(
    recognizer: Recognizer,
    audio: AudioSource,
    *,
    config: SegmentationConfig | None = None,
    speakers: SpeakerConfig | None = SpeakerConfig(),  # noqa: B008 (frozen)
    sampling_rate: int | None = None,
    name: str | None = None,
    max_duration: float | None = None,
    batch_size: int = 16,
    text: str | None = None,
    progress: bool = False,
    asr: bool = True,
    warnings: list[str] | None = None,
) -> Timeline:
    """The timeline of ``audio`` (a path, file bytes, or a signal with its ``sampling_rate``),
    read block by block.

    ``speakers`` says how speaker turns are found (``None``: not looked for). ``text``, a
    transcript of the whole recording, is given to every segment (without it, segments are
    transcribed one by one when the recogniser reads text). A recording without speech gives
    an empty timeline whose ``notes`` say so. Problems with the file that do not stop reading
    (it is truncated) are appended to ``warnings``.
    """
    source = name or (str(audio) if isinstance(audio, str | os.PathLike) else None)
    stream = AudioStream(audio, recognizer.sampling_rate, source_rate=sampling_rate, name=source, warnings=warnings)
    if max_duration is not None and stream.duration > max_duration:
        from emofuse.audio.io import AudioError

        raise AudioError(f"too long: {stream.duration:.1f} s (maximum {max_duration} s)", source=source)
    return stream_timeline(recognizer, stream, config=config, speakers=speakers, source=source, batch_size=batch_size,
                           text=text, progress=progress, asr=asr)


def timeline_of_signal(recognizer: Recognizer, signal: np.ndarray, *, config: SegmentationConfig | None = None,
                       speakers: SpeakerConfig | None = SpeakerConfig(),  # noqa: B008 (frozen)
                       source: str | None = None, batch_size: int = 16, text: str | None = None,
                       progress: bool = False, asr: bool = True) -> Timeline:
    """The timeline of a signal already at the recogniser's sampling rate (see
    :func:`emotion_timeline`)."""
    stream = AudioStream(np.asarray(signal, dtype=np.float32), recognizer.sampling_rate,
                         source_rate=recognizer.sampling_rate, name=source)
    return stream_timeline(recognizer, stream, config=config, speakers=speakers, source=source, batch_size=batch_size,
                           text=text, progress=progress, asr=asr)


def stream_timeline(recognizer: Recognizer, stream: AudioStream, *, config: SegmentationConfig | None = None,
                    speakers: SpeakerConfig | None = SpeakerConfig(),  # noqa: B008 (frozen)
                    source: str | None = None, batch_size: int = 16, text: str | None = None,
                    progress: bool = False, asr: bool = True) -> Timeline:
    """The timeline of an :class:`AudioStream` at the recogniser's rate (the three passes of
    the module docstring)."""
    from tqdm.auto import tqdm

    config = config or SegmentationConfig()
    label = source or stream.name or "the recording"
    spans, duration, detector = find_segments(stream, config, progress=progress)
    method = config.method if config.method == "fixed" else f"vad ({detector})"
    notes: list[str] = []
    if not spans:
        notes.append("no speech found (fixed windows need at least min_segment seconds of audio)"
                     if config.method == "fixed" else
                     f"no speech found ({detector} voice activity): the timeline is empty")
        return Timeline((), duration, recognizer.classes, method, source, None, tuple(notes))
    pieces: list[tuple[float, float, str | None]] = [(a, b, None) for a, b in spans]
    names: tuple[str, ...] | None = None
    if speakers is not None:
        from emofuse.inference.speakers import SpeakersUnavailable
        from emofuse.inference.speakers import SpeakerTurns

        try:
            turns = SpeakerTurns(speakers, directory=recognizer.directory)
        except SpeakersUnavailable as error:
            notes.append(f"no speaker turns: {error}")
        else:
            with tqdm(total=len(spans), desc=f"speakers of {label}", unit="segment", disable=not progress,
                      leave=False) as bar:
                for (first, last), samples in zip(spans, stream.spans(spans, block_seconds=config.block), strict=True):
                    if samples.size:
                        turns.add(first, last, samples, stream.sampling_rate)
                    bar.update(1)
            pieces = list(turns.turns())  # type: ignore[arg-type]
            names = tuple(dict.fromkeys(s for _, _, s in pieces))  # type: ignore[misc]
    segments: list[Segment] = []
    with tqdm(total=len(pieces), desc=f"emotion of {label}", unit="segment", disable=not progress) as bar:
        for batch in _batches(pieces, stream.spans([(a, b) for a, b, _ in pieces], block_seconds=config.block),
                              batch_size):
            signals = [samples for _, samples in batch]
            predictions = recognizer.predict_signals(signals, texts=[text] * len(batch), sources=[source] * len(batch),
                                                     asr=asr)
            segments += [Segment(a, b, p, speaker) for ((a, b, speaker), _), p in zip(batch, predictions, strict=True)]
            bar.update(len(batch))
    return Timeline(tuple(segments), duration, recognizer.classes, method, source, names, tuple(notes))


def _batches(pieces: Sequence[tuple[float, float, str | None]], signals: Iterator[np.ndarray],
             size: int) -> Iterator[list[tuple[tuple[float, float, str | None], np.ndarray]]]:
    batch = []
    for piece, samples in zip(pieces, signals, strict=True):
        if samples.size < 160:  # a span past the end of a file shorter than its header said
            continue
        batch.append((piece, samples))
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def plot_timeline(timeline: Timeline, path: str | os.PathLike[str] | None = None, *, title: str | None = None,
                  label_names: dict[str, str] | None = None):  # noqa: ANN201 (a matplotlib Figure)
    """Class posteriors per segment as stacked bars over time, one lane per speaker (one lane
    without speakers), the top emotion written on each segment, and valence / arousal /
    dominance lines when the recogniser has them. Saved to ``path`` (PNG, SVG or PDF by suffix)
    when given; returns the figure."""
    from matplotlib.figure import Figure

    names = label_names or {}
    dimensions = [d for d in ("valence", "arousal", "dominance")
                  if timeline.segments and getattr(timeline.segments[0].prediction, d) is not None]
    lanes: list[str | None] = list(timeline.speakers) if timeline.speakers else [None]
    rows = len(lanes) + bool(dimensions)
    figure = Figure(figsize=(10, (2.6 if len(lanes) == 1 else 1.7) * len(lanes) + 2.6 * bool(dimensions) + 0.4),
                    layout="constrained")
    axes = figure.subplots(rows, 1, sharex=True, squeeze=False)[:, 0]
    cycle = iter(["#7f3c8d", "#11a579", "#80ba5a", "#e68310", "#008695", "#cf1c90", "#4b4b8f"])
    colors = {c: CLASS_COLORS.get(c) or next(cycle) for c in timeline.classes}
    for ax, lane in zip(axes, lanes, strict=False):
        for segment in timeline.segments:
            if lane is not None and segment.speaker != lane:
                continue
            bottom = 0.0
            width = segment.end - segment.start
            for name in timeline.classes:
                value = segment.prediction.posteriors.get(name, 0.0)
                ax.bar(segment.start, value, width=width, bottom=bottom, align="edge", color=colors[name],
                       edgecolor="white", linewidth=0.5)
                bottom += value
            if segment.prediction.emotion is not None:
                ax.text(segment.start + width / 2, 1.03, names.get(segment.prediction.emotion, segment.prediction.emotion),
                        ha="center", va="bottom", fontsize=8)
        ax.set_ylim(0, 1.15)
        ax.set_ylabel("posterior" if lane is None else f"{lane}\nposterior")
        ax.set_xlim(0, max(timeline.duration, 1e-3))
    handles = [axes[0].bar(0, 0, color=colors[c], label=names.get(c, c)) for c in timeline.classes]
    if handles:
        axes[0].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    heading = title or (pathlib.Path(timeline.source).name if timeline.source else "emotion timeline")
    if not timeline.segments and timeline.notes:
        heading += f" ({timeline.notes[0]})"
    axes[0].set_title(heading, loc="left")
    if dimensions:
        dims_ax = axes[-1]
        for dimension in dimensions:
            xs: list[float] = []
            ys: list[float] = []
            for segment in timeline.segments:
                value = getattr(segment.prediction, dimension)
                xs += [segment.start, segment.end, segment.end]
                ys += [value, value, np.nan]
            dims_ax.plot(xs, ys, label=dimension)
        dims_ax.axhline(0, color="#cccccc", linewidth=0.8)
        dims_ax.set_ylim(-1.05, 1.05)
        dims_ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    axes[-1].set_xlabel("time (s)")
    if path is not None:
        from emofuse.files import atomic_path

        with atomic_path(path, suffix=pathlib.Path(path).suffix) as tmp_path:
            figure.savefig(tmp_path, dpi=120)
    return figure


def timeline_rows(timelines: Sequence[Timeline]) -> list[dict[str, Any]]:
    """Flat rows of several timelines (one per segment)."""
    return [row for timeline in timelines for row in timeline.to_rows()]
