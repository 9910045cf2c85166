"""Log-Mel spectrograms (frame sequences) and their utterance-level statistics.

CNN14 uses 64 bins with a 32 ms window and 10 ms hop; the ResNet34 of Padi et al. 128 bins with
25 ms / 10 ms and segment-level mean/variance normalisation.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import librosa
import numpy as np

from emofuse.features import FeatureExtractor
from emofuse.registry import builds


@dataclasses.dataclass(frozen=True)
class LogMelConfig:
    """Log-Mel front-end. ``normalization: utterance`` subtracts each bin's mean and divides by
    its standard deviation over the segment."""

    sampling_rate: int = 16000
    n_mels: int = 64
    window_ms: float = 32.0
    hop_ms: float = 10.0
    f_min: float = 0.0
    f_max: float | None = None
    normalization: Literal["none", "utterance"] = "none"
    max_duration: float | None = None

    def __post_init__(self) -> None:
        if self.n_mels < 1 or self.window_ms <= 0 or self.hop_ms <= 0:
            raise ValueError("n_mels, window_ms and hop_ms must be positive")


def log_mel(signal: np.ndarray, sampling_rate: int, config: LogMelConfig) -> np.ndarray:
    """``(frames, n_mels)`` natural-log Mel power spectrogram (Hann window, power 2)."""
    win_length = int(round(config.window_ms * sampling_rate / 1000))
    hop_length = int(round(config.hop_ms * sampling_rate / 1000))
    n_fft = 1 << (win_length - 1).bit_length()
    mel = librosa.feature.melspectrogram(
        y=signal,
        sr=sampling_rate,
        n_fft=n_fft,
        hop_length=hop_length,
        win_length=win_length,
        n_mels=config.n_mels,
        fmin=config.f_min,
        fmax=config.f_max,
        power=2.0,
        center=True,
    )
    features = np.log(mel + 1e-10).T.astype(np.float32)  # (frames, n_mels)
    if config.normalization == "utterance":
        features = (features - features.mean(axis=0)) / (features.std(axis=0) + 1e-5)
    return features


@builds(LogMelConfig)
class LogMel(FeatureExtractor):
    """Log-Mel frames: ``(frames, n_mels)``."""

    def extract(self, signal: np.ndarray, sampling_rate: int) -> np.ndarray:
        return log_mel(signal, sampling_rate, self.config)


@dataclasses.dataclass(frozen=True)
class LogMelStatsConfig(LogMelConfig):
    """Utterance statistics of log-Mel frames: per-bin mean and standard deviation, and with
    ``deltas`` the same of the first-order deltas (``4 * n_mels`` values)."""

    deltas: bool = True


@builds(LogMelStatsConfig)
class LogMelStats(FeatureExtractor):
    """Mean and std (and delta mean and std) of log-Mel frames: ``(2 or 4 * n_mels,)``."""

    def extract(self, signal: np.ndarray, sampling_rate: int) -> np.ndarray:
        frames = log_mel(signal, sampling_rate, self.config)
        parts = [frames.mean(axis=0), frames.std(axis=0)]
        if self.config.deltas:
            delta = librosa.feature.delta(frames, axis=0, width=9, mode="nearest")
            parts += [delta.mean(axis=0), delta.std(axis=0)]
        return np.concatenate(parts).astype(np.float32)

