"""Voice activity: where in a recording somebody speaks.

Two detectors share one interface, :class:`VoiceActivity` (``probabilities`` per frame and
``speech_regions`` in seconds):

- ``silero`` (the default): the pretrained Silero VAD network, whose ONNX weights ship inside
  the ``silero-vad`` wheel, run with onnxruntime on 32 ms windows (512 samples at 16 kHz, with
  the 64-sample context and recurrent state the model expects). Neither torch nor the
  ``silero_vad`` package is imported: the weights are read from the installed wheel.
- ``energy``: frames whose RMS level is above an absolute floor (``floor_db`` dBFS) and within
  ``top_db`` of the loudest frame. It needs nothing, and is what is used when the Silero
  weights or onnxruntime are missing.

Regions follow the Silero recipe: a region opens at a probability of ``threshold`` and closes
below ``threshold - 0.15``; regions shorter than ``min_speech`` are dropped, pauses shorter
than ``min_silence`` are bridged, and each region gets ``padding`` of context.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import logging
import pathlib
from typing import Literal

import numpy as np

log = logging.getLogger(__name__)

SAMPLING_RATE = 16000
WINDOW = 512  # samples per Silero frame at 16 kHz (32 ms)
CONTEXT = 64


@dataclasses.dataclass(frozen=True)
class VoiceActivityConfig:
    """Which detector, and how probabilities become regions (seconds; see the module docstring)."""

    method: Literal["silero", "energy"] = "silero"
    threshold: float = 0.5
    min_speech: float = 0.25
    min_silence: float = 0.1
    padding: float = 0.03
    floor_db: float = -50.0
    top_db: float = 40.0

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {self.threshold}")
        if self.min_speech < 0 or self.min_silence < 0 or self.padding < 0:
            raise ValueError("min_speech, min_silence and padding must not be negative")


@functools.lru_cache(maxsize=1)
def silero_weights() -> pathlib.Path | None:
    """The Silero VAD ONNX file inside the installed ``silero-vad`` wheel (``None`` without it)."""
    spec = importlib.util.find_spec("silero_vad")  # finds the package without importing it (and torch)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = pathlib.Path(next(iter(spec.submodule_search_locations))) / "data" / "silero_vad.onnx"
    return path if path.is_file() else None


class VoiceActivity:
    """Speech probabilities per frame and speech regions of a mono signal."""

    def __init__(self, config: VoiceActivityConfig | None = None) -> None:
        self.config = config or VoiceActivityConfig()
        self.method = self.config.method
        self._session = None
        if self.method == "silero":
            weights = silero_weights()
            try:
                import onnxruntime
            except ImportError:
                weights = None
            if weights is None:
                log.warning("Silero VAD weights or onnxruntime are missing; using the energy detector")
                self.method = "energy"
            else:
                options = onnxruntime.SessionOptions()
                options.inter_op_num_threads = 1
                options.intra_op_num_threads = 1
                self._session = onnxruntime.InferenceSession(str(weights), sess_options=options,
                                                             providers=["CPUExecutionProvider"])

    @property
    def frame_seconds(self) -> float:
        return WINDOW / SAMPLING_RATE

    def probabilities(self, signal: np.ndarray, sampling_rate: int) -> np.ndarray:
        """Speech probability of each 32 ms frame of ``signal`` (1 or 0 for the energy detector)."""
        stream = self.stream(sampling_rate)
        stream.feed(signal)
        return stream.finish()

    def stream(self, sampling_rate: int) -> ActivityStream:
        """An :class:`ActivityStream` for a recording fed block by block at ``sampling_rate``."""
        return ActivityStream(self, sampling_rate)

    def speech_regions(self, signal: np.ndarray, sampling_rate: int) -> list[tuple[float, float]]:
        """``(start, end)`` seconds of every speech region, in time order."""
        duration = len(signal) / sampling_rate
        return regions_from_probabilities(self.probabilities(signal, sampling_rate), self.frame_seconds, duration,
                                          self.config)

    def speech_seconds(self, signal: np.ndarray, sampling_rate: int) -> float:
        return float(sum(end - start for start, end in self.speech_regions(signal, sampling_rate)))


class ActivityStream:
    """Frame scores of a recording fed in blocks of any size, the same as for the whole signal.

    Silero carries its recurrent state, its context and the samples of an unfinished frame from
    one block to the next; the energy detector keeps each frame's level and compares it with the
    loudest frame of the whole recording in :meth:`finish`. One float per 32 ms frame is kept
    (about 1 MB for two hours), never the audio.
    """

    def __init__(self, activity: VoiceActivity, sampling_rate: int) -> None:
        self.activity = activity
        self._resampler = None
        if sampling_rate != SAMPLING_RATE:
            import soxr

            self._resampler = soxr.ResampleStream(sampling_rate, SAMPLING_RATE, 1, dtype="float32", quality="HQ")
        self._pending = np.zeros(0, dtype=np.float32)
        self._scores: list[np.ndarray] = []
        self._state = np.zeros((2, 1, 128), dtype=np.float32)
        self._context = np.zeros((1, CONTEXT), dtype=np.float32)
        self._finished = False

    def feed(self, samples: np.ndarray) -> None:
        """Add the next samples of the recording."""
        if self._finished:
            raise RuntimeError("the stream is finished")
        samples = np.asarray(samples, dtype=np.float32)
        if self._resampler is not None:
            samples = self._resampler.resample_chunk(samples, last=False)
        self._consume(np.concatenate([self._pending, samples]))

    def _consume(self, samples: np.ndarray) -> None:
        frames = samples.size // WINDOW
        self._pending = samples[frames * WINDOW :].copy()
        if frames:
            self._scores.append(self._score(samples[: frames * WINDOW].reshape(frames, WINDOW)))

    def _score(self, frames: np.ndarray) -> np.ndarray:
        if self.activity.method == "energy":  # level in dB
            return (10 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-12)).astype(np.float32)
        session = self.activity._session
        rate = np.array(SAMPLING_RATE, dtype=np.int64)
        result = np.zeros(len(frames), dtype=np.float32)
        for k, chunk in enumerate(frames):
            window = np.concatenate([self._context, chunk[None, :]], axis=1)
            output, self._state = session.run(None, {"input": window, "state": self._state, "sr": rate})  # type: ignore[union-attr]
            result[k] = float(output.reshape(-1)[0])
            self._context = window[:, -CONTEXT:]
        return result

    def finish(self) -> np.ndarray:
        """The speech probability of every frame fed (the last one zero-padded)."""
        if not self._finished:
            self._finished = True
            rest = self._pending
            if self._resampler is not None:
                rest = np.concatenate([rest, self._resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True)])
            if rest.size:
                padded = np.zeros(-(-rest.size // WINDOW) * WINDOW, dtype=np.float32)
                padded[: rest.size] = rest
                self._consume(padded)
        scores = np.concatenate(self._scores) if self._scores else np.zeros(0, dtype=np.float32)
        if self.activity.method == "silero":
            return scores
        loudest = float(scores.max()) if scores.size else -120.0
        config = self.activity.config
        return ((scores > config.floor_db) & (scores > loudest - config.top_db)).astype(np.float32)


def regions_from_probabilities(probabilities: np.ndarray, frame_seconds: float, duration: float,
                               config: VoiceActivityConfig) -> list[tuple[float, float]]:
    """Speech regions from frame probabilities (hysteresis, minimum lengths, padding).

    >>> config = VoiceActivityConfig(min_speech=0.05, min_silence=0.05, padding=0.0)
    >>> regions_from_probabilities(np.array([0, 0.9, 0.9, 0.1, 0, 0.8, 0.9, 0]), 0.1, 0.8, config)
    [(0.1, 0.3), (0.5, 0.7)]
    """
    low = max(config.threshold - 0.15, 0.01)
    raw: list[list[float]] = []
    speaking = False
    for k, probability in enumerate(probabilities):
        if not speaking and probability >= config.threshold:
            speaking = True
            raw.append([k * frame_seconds, duration])
        elif speaking and probability < low:
            speaking = False
            raw[-1][1] = k * frame_seconds
    merged: list[list[float]] = []
    for start, end in raw:
        if merged and start - merged[-1][1] < config.min_silence:
            merged[-1][1] = end
        else:
            merged.append([start, end])
    regions = []
    for start, end in merged:
        if end - start < config.min_speech:
            continue
        regions.append((round(max(0.0, start - config.padding), 3), round(min(duration, end + config.padding), 3)))
    return regions
