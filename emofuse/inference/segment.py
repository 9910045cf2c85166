"""Long recordings: split into segments, predict each, and get an emotion timeline (and a plot).

Two ways to split:

- ``vad``: energy-based voice activity (``librosa.effects.split``: frames quieter than
  ``top_db`` below the loudest frame are silence); pauses shorter than ``min_silence`` are
  bridged, regions get ``padding`` of context, regions longer than ``max_segment`` are cut into
  equal parts and regions shorter than ``min_segment`` are dropped.
- ``fixed``: windows of ``window`` seconds every ``hop`` seconds (a last part shorter than
  ``min_segment`` joins the previous window).

Each segment is predicted on its own (with ASR per segment when the recogniser reads text and
has ASR), so the timeline shows how the emotion changes over the recording.
"""

from __future__ import annotations

import dataclasses
import math
import os
import pathlib
from collections.abc import Sequence
from typing import Any
from typing import Literal

import numpy as np

from emofuse.inference.prediction import Prediction
from emofuse.inference.recognizer import AudioSource
from emofuse.inference.recognizer import Recognizer

#: Colours of the four classes in plots (others get matplotlib's cycle).
CLASS_COLORS = {"neu": "#9e9e9e", "hap": "#f2b701", "sad": "#3969ac", "ang": "#e73f74"}


@dataclasses.dataclass(frozen=True)
class SegmentationConfig:
    """How a recording is cut into segments (seconds; see the module docstring)."""

    method: Literal["vad", "fixed"] = "vad"
    top_db: float = 35.0
    min_silence: float = 0.3
    padding: float = 0.1
    min_segment: float = 0.4
    max_segment: float = 8.0
    window: float = 3.0
    hop: float = 3.0

    def __post_init__(self) -> None:
        if self.window <= 0 or self.hop <= 0 or self.max_segment <= 0:
            raise ValueError("window, hop and max_segment must be positive")
        if self.min_segment < 0.1 or self.min_segment > self.max_segment:
            raise ValueError("min_segment must be at least 0.1 s and at most max_segment")
        if self.top_db <= 0 or self.min_silence < 0 or self.padding < 0:
            raise ValueError("top_db must be positive; min_silence and padding not negative")


@dataclasses.dataclass(frozen=True)
class Segment:
    start: float
    end: float
    prediction: Prediction

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, **self.prediction.to_dict()}


@dataclasses.dataclass(frozen=True)
class Timeline:
    """Predictions per segment of one recording, in time order."""

    segments: tuple[Segment, ...]
    duration: float
    classes: tuple[str, ...]
    method: str
    source: str | None = None

    def summary(self) -> dict[str, Any]:
        """Posteriors averaged over segments weighted by their length, and the top emotion."""
        if not self.segments or not self.classes:
            return {"emotion": None, "posteriors": {}, "speech_seconds": 0.0}
        weights = np.array([s.end - s.start for s in self.segments])
        matrix = np.array([[s.prediction.posteriors[c] for c in self.classes] for s in self.segments])
        mean = weights @ matrix / weights.sum()
        return {"emotion": self.classes[int(mean.argmax())], "posteriors": dict(zip(self.classes, mean.tolist(), strict=True)),
                "speech_seconds": round(float(weights.sum()), 3)}

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "duration": self.duration, "method": self.method, "classes": list(self.classes),
                "summary": self.summary(), "segments": [s.to_dict() for s in self.segments]}

    def to_rows(self) -> list[dict[str, Any]]:
        """One flat row per segment (for CSV)."""
        return [{"start": s.start, "end": s.end, **s.prediction.to_row()} for s in self.segments]


def split_segments(signal: np.ndarray, sampling_rate: int, config: SegmentationConfig | None = None) -> list[tuple[float, float]]:
    """``(start, end)`` seconds of the segments of ``signal``."""
    config = config or SegmentationConfig()
    duration = len(signal) / sampling_rate
    if config.method == "fixed":
        spans = []
        start = 0.0
        while start < duration:
            end = min(start + config.window, duration)
            if end - start < config.min_segment and spans:
                spans[-1] = (spans[-1][0], end)
            elif end - start >= min(config.min_segment, duration):
                spans.append((start, end))
            start += config.hop
        return [(round(a, 3), round(b, 3)) for a, b in spans]
    import librosa

    hop = max(1, int(0.010 * sampling_rate))
    frame = max(hop, int(0.025 * sampling_rate))
    intervals = librosa.effects.split(signal, top_db=config.top_db, frame_length=frame, hop_length=hop)
    merged: list[list[float]] = []
    for first, last in intervals / sampling_rate:
        if merged and first - merged[-1][1] < config.min_silence:
            merged[-1][1] = float(last)
        else:
            merged.append([float(first), float(last)])
    spans = []
    for first, last in merged:
        first, last = max(0.0, first - config.padding), min(duration, last + config.padding)
        if last - first < config.min_segment:
            continue
        parts = max(1, math.ceil((last - first) / config.max_segment))
        step = (last - first) / parts
        spans += [(first + k * step, first + (k + 1) * step) for k in range(parts)]
    return [(round(a, 3), round(b, 3)) for a, b in spans]


def emotion_timeline(
    recognizer: Recognizer,
    audio: AudioSource,
    *,
    config: SegmentationConfig | None = None,
    sampling_rate: int | None = None,
    name: str | None = None,
    max_duration: float | None = None,
    batch_size: int = 16,
) -> Timeline:
    """Split ``audio`` (a path, file bytes or a signal with its rate) and predict every segment."""
    config = config or SegmentationConfig()
    signal = recognizer.load_audio(audio, sampling_rate=sampling_rate, name=name, max_duration=max_duration)
    return timeline_of_signal(recognizer, signal, config=config, source=name or (str(audio) if isinstance(audio, str | os.PathLike) else None),
                              batch_size=batch_size)


def timeline_of_signal(recognizer: Recognizer, signal: np.ndarray, *, config: SegmentationConfig | None = None,
                       source: str | None = None, batch_size: int = 16, text: str | None = None,
                       progress: bool = False, asr: bool = True) -> Timeline:
    """The timeline of a signal already at the recogniser's sampling rate.

    ``text``, a transcript of the whole recording, is given to every segment (the same answer
    as for the whole recording, without ASR per segment); without it, segments are transcribed
    one by one when the recogniser reads text.
    """
    config = config or SegmentationConfig()
    rate = recognizer.sampling_rate
    spans = split_segments(signal, rate, config)
    segments: list[Segment] = []
    from tqdm.auto import tqdm

    bar = tqdm(total=len(spans), desc=f"segments of {source or 'the recording'}", unit="segment",
               disable=not progress or len(spans) <= batch_size)
    for first in range(0, len(spans), batch_size):
        chunk = spans[first : first + batch_size]
        pieces = [signal[int(a * rate) : int(b * rate)] for a, b in chunk]
        predictions = recognizer.predict_signals(pieces, texts=[text] * len(pieces), sources=[source] * len(pieces),
                                                 asr=asr)
        segments += [Segment(a, b, p) for (a, b), p in zip(chunk, predictions, strict=True)]
        bar.update(len(chunk))
    bar.close()
    return Timeline(tuple(segments), round(len(signal) / rate, 3), recognizer.classes, config.method, source)


def plot_timeline(timeline: Timeline, path: str | os.PathLike[str] | None = None, *, title: str | None = None,
                  label_names: dict[str, str] | None = None):  # noqa: ANN201 (a matplotlib Figure)
    """Class posteriors per segment as stacked bars over time, the top emotion written on each
    segment, and valence / arousal / dominance lines when the recogniser has them. Saved to
    ``path`` (PNG, SVG or PDF by suffix) when given; returns the figure."""
    from matplotlib.figure import Figure

    names = label_names or {}
    dimensions = [d for d in ("valence", "arousal", "dominance")
                  if timeline.segments and getattr(timeline.segments[0].prediction, d) is not None]
    rows = 1 + bool(dimensions)
    figure = Figure(figsize=(10, 2.6 * rows + 0.4), layout="constrained")
    axes = figure.subplots(rows, 1, sharex=True, squeeze=False)[:, 0]
    ax = axes[0]
    cycle = iter(["#7f3c8d", "#11a579", "#80ba5a", "#e68310", "#008695", "#cf1c90", "#4b4b8f"])
    colors = {c: CLASS_COLORS.get(c) or next(cycle) for c in timeline.classes}
    for segment in timeline.segments:
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
    ax.set_ylabel("posterior")
    ax.set_xlim(0, max(timeline.duration, 1e-3))
    handles = [ax.bar(0, 0, color=colors[c], label=names.get(c, c)) for c in timeline.classes]
    if handles:
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    ax.set_title(title or (pathlib.Path(timeline.source).name if timeline.source else "emotion timeline"), loc="left")
    if dimensions:
        dims_ax = axes[1]
        for dimension in dimensions:
            xs: list[float] = []
            ys: list[float] = []
            for segment in timeline.segments:
                value = getattr(segment.prediction, dimension)
                xs += [segment.start, segment.end]
                ys += [value, value]
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
