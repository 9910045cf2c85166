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
        """Speech probability of each 32 ms frame of ``signal``."""
        signal = np.asarray(signal, dtype=np.float32)
        if sampling_rate != SAMPLING_RATE:
            from emofuse.audio.io import resample

            signal = resample(signal, sampling_rate, SAMPLING_RATE)
        frames = -(-signal.size // WINDOW)
        padded = np.zeros(frames * WINDOW, dtype=np.float32)
        padded[: signal.size] = signal
        if self.method == "energy":
            return self._energy(padded.reshape(frames, WINDOW))
        state = np.zeros((2, 1, 128), dtype=np.float32)
        context = np.zeros((1, CONTEXT), dtype=np.float32)
        rate = np.array(SAMPLING_RATE, dtype=np.int64)
        result = np.zeros(frames, dtype=np.float32)
        for k in range(frames):
            chunk = padded[k * WINDOW : (k + 1) * WINDOW][None, :]
            window = np.concatenate([context, chunk], axis=1)
            output, state = self._session.run(None, {"input": window, "state": state, "sr": rate})  # type: ignore[union-attr]
            result[k] = float(output.reshape(-1)[0])
            context = window[:, -CONTEXT:]
        return result

    def _energy(self, frames: np.ndarray) -> np.ndarray:
        level = 10 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-12)
        loudest = float(level.max()) if level.size else -120.0
        active = (level > self.config.floor_db) & (level > loudest - self.config.top_db)
        return active.astype(np.float32)

    def speech_regions(self, signal: np.ndarray, sampling_rate: int) -> list[tuple[float, float]]:
        """``(start, end)`` seconds of every speech region, in time order."""
        duration = len(signal) / sampling_rate
        return regions_from_probabilities(self.probabilities(signal, sampling_rate), self.frame_seconds, duration,
                                          self.config)

    def speech_seconds(self, signal: np.ndarray, sampling_rate: int) -> float:
        return float(sum(end - start for start, end in self.speech_regions(signal, sampling_rate)))


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
