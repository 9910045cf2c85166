"""pyAudioAnalysis short-term features (optional extra ``pyaudioanalysis``).

The 34 descriptors of ``pyAudioAnalysis.ShortTermFeatures.feature_extraction``: zero-crossing
rate, energy, entropy of energy, spectral centroid, spread, entropy, flux and roll-off, 13 MFCCs,
12 chroma bins and the chroma deviation (with ``deltas``, their 34 deltas too). ``output:
frames`` gives the ``(frames, 34)`` sequence (Boigne et al.'s hand-engineered baseline);
``output: hsf`` Atmaja & Akagi's "high-level statistical functions": the utterance mean and
standard deviation of each descriptor, 68 values. Defaults: 50 ms windows every 25 ms, the
settings most pyAudioAnalysis users (and its examples) take.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import Iterator
from typing import Literal

import numpy as np

from emofuse.features import FeatureError
from emofuse.features import FeatureExtractor
from emofuse.registry import builds

#: Names of the 34 descriptors, in pyAudioAnalysis's order.
DESCRIPTORS = (
    ["zcr", "energy", "energy_entropy", "spectral_centroid", "spectral_spread", "spectral_entropy",
     "spectral_flux", "spectral_rolloff"]
    + [f"mfcc_{i}" for i in range(1, 14)]
    + [f"chroma_{i}" for i in range(1, 13)]
    + ["chroma_std"]
)


@dataclasses.dataclass(frozen=True)
class PyAudioAnalysisConfig:
    """``output``: ``hsf`` (mean and std per descriptor) or ``frames``."""

    output: Literal["hsf", "frames"] = "hsf"
    window_ms: float = 50.0
    hop_ms: float = 25.0
    deltas: bool = False
    sampling_rate: int = 16000
    max_duration: float | None = None

    def __post_init__(self) -> None:
        if self.window_ms <= 0 or self.hop_ms <= 0:
            raise ValueError("window_ms and hop_ms must be positive")


def short_term_features(signal: np.ndarray, sampling_rate: int, *, window_ms: float = 50.0,
                        hop_ms: float = 25.0, deltas: bool = False) -> np.ndarray:
    """``(frames, 34)`` (or 68 with deltas) pyAudioAnalysis descriptors of a float signal.

    A signal shorter than one window is zero-padded to one window.
    """
    try:
        from pyAudioAnalysis import ShortTermFeatures
    except ImportError:
        raise FeatureError("pyAudioAnalysis features need the optional extra: pip install 'emofuse[pyaudioanalysis]'") from None
    _cache_chroma_tables(ShortTermFeatures)
    window = int(round(window_ms * sampling_rate / 1000))
    step = int(round(hop_ms * sampling_rate / 1000))
    if signal.size < window:
        signal = np.pad(signal, (0, window - signal.size))
    features, _ = ShortTermFeatures.feature_extraction(signal, sampling_rate, window, step, deltas=deltas)
    return np.asarray(features, dtype=np.float64).T.astype(np.float32)  # (frames, 34)


def _cache_chroma_tables(module) -> None:
    """Make pyAudioAnalysis build its chroma tables once per FFT size and rate.

    ``chroma_features`` rebuilds them for every frame (a Python loop over the FFT bins), which took
    about half of the extraction time. The tables depend on ``(num_fft, sampling_rate)`` only; the
    cached copies are read-only, so the library cannot change them, and the features stay the same.
    The library's own function stays reachable as ``chroma_features_init.__wrapped__``.
    """
    original = module.chroma_features_init
    if hasattr(original, "__wrapped__"):
        return

    @functools.lru_cache(maxsize=16)
    def tables(num_fft, sampling_rate) -> tuple[np.ndarray, np.ndarray]:
        arrays = original(num_fft, sampling_rate)
        for array in arrays:
            array.flags.writeable = False
        return arrays

    @functools.wraps(original)
    def chroma_features_init(num_fft, sampling_rate):
        return tables(num_fft, sampling_rate)

    module.chroma_features_init = chroma_features_init


@contextlib.contextmanager
def library_chroma_tables() -> Iterator[None]:
    """Within it, pyAudioAnalysis builds its chroma tables for every frame again, as the library
    does on its own (for comparisons with the uncached library: tests and ``speech_speed``)."""
    from pyAudioAnalysis import ShortTermFeatures

    cached = ShortTermFeatures.chroma_features_init
    ShortTermFeatures.chroma_features_init = getattr(cached, "__wrapped__", cached)
    try:
        yield
    finally:
        ShortTermFeatures.chroma_features_init = cached


def hsf(frames: np.ndarray) -> np.ndarray:
    """Mean and (population) standard deviation of each column: ``(frames, d) -> (2 d,)``."""
    frames = np.asarray(frames, dtype=np.float64)
    return np.concatenate([frames.mean(axis=0), frames.std(axis=0)]).astype(np.float32)


@builds(PyAudioAnalysisConfig)
class PyAudioAnalysis(FeatureExtractor):
    """pyAudioAnalysis descriptors: ``(68,)`` HSF or ``(frames, 34)`` frames."""

    def extract(self, signal: np.ndarray, sampling_rate: int) -> np.ndarray:
        config = self.config
        frames = short_term_features(signal, sampling_rate, window_ms=config.window_ms, hop_ms=config.hop_ms,
                                     deltas=config.deltas)
        return hsf(frames) if config.output == "hsf" else frames
