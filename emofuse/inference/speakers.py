"""Speaker turns: who speaks when, from the speech segments of one recording.

1. Every speech span is embedded with the pretrained resemblyzer speaker encoder (the
   ``speaker`` extra; an ONNX recogniser carries it as ``encoders/speaker/encoder.onnx`` and
   runs it without torch): one embedding for a span up to ``window`` seconds, sliding windows of
   ``window`` seconds every ``hop`` seconds inside longer ones (so that a speaker change
   inside a span is seen).
2. The mean window embedding of each span is clustered with scikit-learn's agglomerative
   clustering (cosine distance, average linkage): into ``speakers`` clusters when the number
   is known, otherwise merging until the closest clusters are ``threshold`` apart; every
   window then joins the nearest cluster centre. (Span means are steadier than single 1.5 s
   windows; reassigning windows still splits a span where the speaker changes.) The default
   threshold was chosen on synthetic espeak-ng dialogues that the tests and the conversation
   benchmark do not use (``benchmarks/speaker_threshold.py``). Beyond ``max_clustered`` spans
   an evenly spaced subset is clustered, so memory stays bounded on long recordings.
3. Each window speaks for the time around its centre; a span is cut where the speaker
   changes, and pieces shorter than ``min_turn`` join their neighbour.

Speakers are named ``S1``, ``S2``, ... in order of first appearance.
:func:`speaker_summary` gives each speaker's share of speech time per emotion, mean
valence / arousal / dominance and number of turns.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import pathlib
from collections.abc import Sequence
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

#: resemblyzer's rate and Mel frames per second.
ENCODER_RATE = 16000
FRAMES_PER_SECOND = 100


@dataclasses.dataclass(frozen=True)
class SpeakerConfig:
    """How speaker turns are found (seconds; see the module docstring). ``speakers``: the
    number of speakers when known (``None``: estimated with ``threshold``, a cosine distance)."""

    speakers: int | None = None
    threshold: float = 0.22
    window: float = 1.5
    hop: float = 0.75
    min_turn: float = 0.5
    max_clustered: int = 2000

    def __post_init__(self) -> None:
        if self.speakers is not None and self.speakers < 1:
            raise ValueError(f"speakers must be at least 1, got {self.speakers}")
        if not 0.0 < self.threshold < 2.0:
            raise ValueError(f"threshold must be a cosine distance in (0, 2), got {self.threshold}")
        if self.window < 0.5 or not 0.0 < self.hop <= self.window:
            raise ValueError("window must be at least 0.5 s and hop in (0, window]")
        if self.min_turn < 0 or self.max_clustered < 10:
            raise ValueError("min_turn must not be negative and max_clustered at least 10")


class SpeakersUnavailable(RuntimeError):
    """Speaker turns cannot be found here (the message says why and what to install)."""


#: Where an ONNX recogniser keeps the speaker encoder (written by ``emofuse export --format onnx``).
ONNX_ENCODER = "encoders/speaker/encoder.onnx"


class SpeakerEncoder:
    """resemblyzer's encoder: 40-bin Mel frames ``(batch, frames, 40)`` -> unit vectors
    ``(batch, 256)``, run by torch (the ``speaker`` extra) or by onnxruntime (``path``: the
    encoder exported to ONNX, as ONNX recognisers carry it)."""

    def __init__(self, path: pathlib.Path | None = None) -> None:
        self.session = None
        self.model = None
        if path is not None:
            from emofuse.text.onnx_embedding import onnx_session

            self.session = onnx_session(path)
            return
        try:
            from emofuse.audio.speaker import voice_encoder
            from emofuse.features import FeatureError

            self.model = voice_encoder(None)
        except FeatureError:
            raise SpeakersUnavailable("speaker turns need the speaker extra (pip install 'emofuse[speaker]')") from None
        except ImportError as error:
            raise SpeakersUnavailable(f"speaker turns need the speaker extra (pip install 'emofuse[speaker]'): {error}") from None

    def __call__(self, mels: np.ndarray) -> np.ndarray:
        mels = np.ascontiguousarray(mels, dtype=np.float32)
        if self.session is not None:
            return self.session.run(None, {"mels": mels})[0]
        import torch

        with torch.inference_mode():
            return self.model(torch.from_numpy(mels)).numpy()  # type: ignore[misc]


@functools.lru_cache(maxsize=4)
def speaker_encoder(directory: pathlib.Path | None = None) -> SpeakerEncoder:
    """The ONNX encoder of a recogniser ``directory`` that carries one, else resemblyzer's (or
    :class:`SpeakersUnavailable` saying why not)."""
    if directory is not None and (directory / ONNX_ENCODER).is_file():
        return SpeakerEncoder(directory / ONNX_ENCODER)
    return SpeakerEncoder()


def speakers_available(directory: pathlib.Path | None = None) -> str | None:
    """``None`` when speaker turns can be found, else why not."""
    try:
        speaker_encoder(directory)
    except SpeakersUnavailable as error:
        return str(error)
    return None


def mel_frames(samples: np.ndarray) -> np.ndarray:
    """resemblyzer's input: the signal (16 kHz) brought up to -30 dBFS when quieter, then 40-bin
    Mel power frames of 25 ms every 10 ms, ``(frames, 40)`` (``resemblyzer.audio``'s
    ``normalize_volume`` and ``wav_to_mel_spectrogram``, without importing torch)."""
    import librosa

    wav = np.asarray(samples, dtype=np.float32)
    power = float(np.mean(wav.astype(np.float64) ** 2)) if wav.size else 0.0
    if power > 0:
        change = -30.0 - 10 * np.log10(power)
        if change > 0:
            wav = wav * np.float32(10 ** (change / 20))
    frames = librosa.feature.melspectrogram(y=wav, sr=ENCODER_RATE, n_fft=400, hop_length=160, n_mels=40)
    return frames.astype(np.float32).T


def window_starts(frames: int, window: int, hop: int) -> list[int]:
    """First frames of the sliding windows over ``frames`` (the last window ends at the end).

    >>> window_starts(100, 150, 75), window_starts(300, 150, 75), window_starts(320, 150, 75)
    ([0], [0, 75, 150], [0, 75, 150, 170])
    """
    if frames <= window:
        return [0]
    starts = list(range(0, frames - window + 1, hop))
    if starts[-1] + window < frames:
        starts.append(frames - window)
    return starts


class SpeakerTurns:
    """Speech spans go in one by one (:meth:`add`), speaker turns come out (:meth:`turns`).

    Only the window embeddings (256 floats each) are kept, never the audio.
    """

    def __init__(self, config: SpeakerConfig | None = None, *, directory: pathlib.Path | None = None) -> None:
        self.config = config or SpeakerConfig()
        self.encoder = speaker_encoder(directory)
        self.spans: list[tuple[float, float]] = []
        self.windows: list[tuple[int, float, float]] = []  # (span index, start, end) in seconds
        self.embeddings: list[np.ndarray] = []

    def add(self, start: float, end: float, samples: np.ndarray, sampling_rate: int) -> None:
        """Embed the speech span ``[start, end]`` whose samples are given."""
        if sampling_rate != ENCODER_RATE:
            from emofuse.audio.io import resample

            samples = resample(samples, sampling_rate, ENCODER_RATE)
        index = len(self.spans)
        self.spans.append((start, end))
        mel = mel_frames(samples)  # (frames, 40)
        size = max(1, int(round(self.config.window * FRAMES_PER_SECOND)))
        hop = max(1, int(round(self.config.hop * FRAMES_PER_SECOND)))
        starts = window_starts(len(mel), size, hop)
        batch = np.stack([mel[s : s + size] for s in starts]) if len(mel) >= size else mel[None]
        for first, vector in zip(starts, self.encoder(batch), strict=True):
            last = min(first + size, len(mel))
            self.windows.append((index, start + first / FRAMES_PER_SECOND,
                                 min(end, start + last / FRAMES_PER_SECOND)))
            self.embeddings.append(vector.astype(np.float32))

    def turns(self) -> list[tuple[float, float, str]]:
        """``(start, end, speaker)`` pieces of the spans, in time order."""
        if not self.spans:
            return []
        labels = cluster_embeddings(np.stack(self.embeddings), np.array([w[0] for w in self.windows]), self.config)
        names: dict[int, str] = {}
        for label in labels:
            names.setdefault(int(label), f"S{len(names) + 1}")
        pieces: list[tuple[float, float, str]] = []
        by_span: dict[int, list[int]] = {}
        for k, (index, _, _) in enumerate(self.windows):
            by_span.setdefault(index, []).append(k)
        for index, (start, end) in enumerate(self.spans):
            members = by_span[index]
            centres = [(self.windows[k][1] + self.windows[k][2]) / 2 for k in members]
            cuts = [start] + [(a + b) / 2 for a, b in zip(centres, centres[1:], strict=False)] + [end]
            runs = [[cuts[i], cuts[i + 1], names[int(labels[k])]] for i, k in enumerate(members)]
            pieces += [(round(a, 3), round(b, 3), s) for a, b, s in merge_runs(runs, self.config.min_turn)]
        return pieces


def merge_runs(runs: list[list[Any]], min_turn: float) -> list[list[Any]]:
    """Adjacent ``[start, end, speaker]`` runs of one span: same speakers joined, runs shorter
    than ``min_turn`` given to the longer neighbour.

    >>> merge_runs([[0, 1, "A"], [1, 1.2, "B"], [1.2, 3, "A"], [3, 5, "B"]], 0.5)
    [[0, 3, 'A'], [3, 5, 'B']]
    """
    runs = [list(r) for r in runs]
    changed = True
    while changed and len(runs) > 1:
        changed = False
        joined = [runs[0]]
        for run in runs[1:]:
            if run[2] == joined[-1][2]:
                joined[-1][1] = run[1]
            else:
                joined.append(run)
        runs = joined
        lengths = [r[1] - r[0] for r in runs]
        shortest = int(np.argmin(lengths))
        if len(runs) > 1 and lengths[shortest] < min_turn:
            neighbours = [k for k in (shortest - 1, shortest + 1) if 0 <= k < len(runs)]
            target = max(neighbours, key=lambda k: lengths[k])
            runs[shortest][2] = runs[target][2]
            changed = True
    return runs


def cluster_embeddings(embeddings: np.ndarray, groups: np.ndarray, config: SpeakerConfig) -> np.ndarray:
    """A speaker label per window embedding (row of ``embeddings``; ``groups`` says which
    span each comes from): the spans' mean embeddings are clustered (agglomerative, cosine
    distance, average linkage), and each window goes to the nearest cluster centre, so that a
    span in which the speaker changes is split.

    >>> windows = np.array([[1, 0], [0.99, 0.1], [0.1, 0.99], [0, 1], [0.98, 0.05]], dtype=np.float32)
    >>> cluster_embeddings(windows, np.array([0, 0, 1, 1, 2]), SpeakerConfig()).tolist()
    [0, 0, 1, 1, 0]
    >>> cluster_embeddings(windows, np.array([0, 0, 0, 0, 0]), SpeakerConfig()).tolist()  # a change inside a span
    [0, 0, 1, 1, 0]
    >>> cluster_embeddings(windows, np.array([0, 0, 1, 1, 2]), SpeakerConfig(speakers=1)).tolist()
    [0, 0, 0, 0, 0]
    """
    from sklearn.cluster import AgglomerativeClustering

    def unit(rows: np.ndarray) -> np.ndarray:
        return rows / (np.linalg.norm(rows, axis=-1, keepdims=True) + 1e-12)

    spans = np.unique(groups)
    means = unit(np.stack([embeddings[groups == g].mean(axis=0) for g in spans]))
    if config.speakers == 1:
        return np.zeros(len(embeddings), dtype=int)
    sample = np.arange(len(means))
    if len(means) > config.max_clustered:
        sample = np.linspace(0, len(means) - 1, config.max_clustered).round().astype(int)
    points = embeddings if len(sample) == 1 else means[sample]  # one span: its windows may be two speakers
    if config.speakers is not None:
        clustering = AgglomerativeClustering(n_clusters=min(config.speakers, len(points)), metric="cosine",
                                             linkage="average")
    else:
        clustering = AgglomerativeClustering(n_clusters=None, distance_threshold=config.threshold, metric="cosine",
                                             linkage="average")
    labels = clustering.fit_predict(points) if len(points) > 1 else np.zeros(1, dtype=int)
    centres = unit(np.stack([points[labels == c].mean(axis=0) for c in range(labels.max() + 1)]))
    nearest = (unit(embeddings) @ centres.T).argmax(axis=1)
    order: dict[int, int] = {}
    for label in nearest:
        order.setdefault(int(label), len(order))
    return np.array([order[int(label)] for label in nearest])


def speaker_summary(segments: Sequence[Any], classes: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Per speaker: speech seconds, the share of their speech time per emotion (the top class of
    each segment), mean valence / arousal / dominance (time-weighted, when predicted) and the
    number of turns (runs of consecutive segments by the same speaker).

    ``segments`` are timeline segments (``start``, ``end``, ``speaker``, ``prediction``).
    """
    summary: dict[str, dict[str, Any]] = {}
    previous = None
    for segment in segments:
        if segment.speaker is None:
            continue
        entry = summary.setdefault(segment.speaker, {"speech_seconds": 0.0, "turns": 0, "_emotion": {},
                                                      "_dimensions": {}, "_weight": 0.0})
        length = segment.end - segment.start
        entry["speech_seconds"] += length
        if segment.speaker != previous:
            entry["turns"] += 1
        previous = segment.speaker
        prediction = segment.prediction
        if prediction.emotion is not None:
            entry["_emotion"][prediction.emotion] = entry["_emotion"].get(prediction.emotion, 0.0) + length
        for name in ("valence", "arousal", "dominance"):
            value = getattr(prediction, name)
            if value is not None:
                entry["_dimensions"].setdefault(name, []).append((length, value))
    result = {}
    for speaker, entry in summary.items():
        labelled = sum(entry["_emotion"].values())
        item: dict[str, Any] = {"speech_seconds": round(entry["speech_seconds"], 3), "turns": entry["turns"]}
        if classes:
            item["emotion_share"] = {c: round(entry["_emotion"].get(c, 0.0) / labelled, 4) if labelled else 0.0
                                     for c in classes}
            item["emotion"] = max(classes, key=lambda c: entry["_emotion"].get(c, 0.0)) if labelled else None
        for name, pairs in entry["_dimensions"].items():
            weights = np.array([w for w, _ in pairs])
            item[name] = round(float(np.dot(weights, [v for _, v in pairs]) / weights.sum()), 4)
        result[speaker] = item
    return result
