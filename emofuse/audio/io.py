"""Reading audio: one checked path from a file to a mono float32 signal at a known rate.

Everything that can go wrong with a file (missing, corrupt, empty, digital silence, too short,
non-finite samples) raises :class:`AudioError` naming the file; multi-channel audio is mixed
down and other sampling rates are resampled.
"""

from __future__ import annotations

import io
import logging
import os
import pathlib

import numpy as np
import soundfile

log = logging.getLogger(__name__)

DEFAULT_SAMPLING_RATE = 16000
MIN_DURATION = 0.1


class AudioError(ValueError):
    """Audio that cannot be used; the message names the file."""

    def __init__(self, message: str, *, source: str | os.PathLike[str] | None = None):
        self.source = None if source is None else str(source)
        super().__init__(f"{self.source}: {message}" if self.source else message)


def read_audio(
    source: str | os.PathLike[str] | bytes,
    *,
    sampling_rate: int = DEFAULT_SAMPLING_RATE,
    start: float | None = None,
    end: float | None = None,
    min_duration: float = MIN_DURATION,
    max_duration: float | None = None,
    allow_silence: bool = False,
    name: str | None = None,
) -> np.ndarray:
    """A mono float32 signal in [-1, 1] at ``sampling_rate``.

    ``source`` is a path or the bytes of an audio file (``name`` then labels errors).
    ``start``/``end`` (seconds) read a span of a longer file. Signals shorter than
    ``min_duration`` or longer than ``max_duration`` seconds, and all-zero signals (unless
    ``allow_silence``), are rejected.
    """
    label = name or (str(source) if not isinstance(source, bytes) else "<upload>")
    if isinstance(source, bytes):
        if not source:
            raise AudioError("empty upload (0 bytes)", source=label)
        handle: object = io.BytesIO(source)
    else:
        path = pathlib.Path(source)
        if not path.is_file():
            raise AudioError("file not found", source=label)
        if path.stat().st_size == 0:
            raise AudioError("empty file (0 bytes)", source=label)
        handle = str(path)
    try:
        with soundfile.SoundFile(handle) as file:  # type: ignore[arg-type]
            native_rate = file.samplerate
            first = 0 if start is None else int(round(start * native_rate))
            last = file.frames if end is None else min(int(round(end * native_rate)), file.frames)
            if first < 0 or first > file.frames or (end is not None and last <= first):
                raise AudioError(
                    f"span [{start}, {end}] s is outside the file ({file.frames / native_rate:.3f} s)",
                    source=label,
                )
            file.seek(first)
            signal = file.read(last - first, dtype="float32", always_2d=True)
    except AudioError:
        raise
    except (RuntimeError, soundfile.LibsndfileError, TypeError, ValueError) as error:
        raise AudioError(f"cannot decode audio ({error})", source=label) from None
    if signal.size == 0:
        raise AudioError("no audio samples", source=label)
    if signal.shape[1] > 1:
        log.debug("%s: mixing %d channels down to mono", label, signal.shape[1])
        signal = signal.mean(axis=1, dtype=np.float32)
    else:
        signal = signal[:, 0]
    if not np.all(np.isfinite(signal)):
        raise AudioError("audio contains NaN or infinite samples", source=label)
    if native_rate != sampling_rate:
        signal = resample(signal, native_rate, sampling_rate)
    duration = signal.size / sampling_rate
    if duration < min_duration:
        raise AudioError(f"too short: {duration:.3f} s (minimum {min_duration} s)", source=label)
    if max_duration is not None and duration > max_duration:
        raise AudioError(f"too long: {duration:.1f} s (maximum {max_duration} s)", source=label)
    if not allow_silence and not np.any(signal):
        raise AudioError("silent: every sample is zero", source=label)
    return np.ascontiguousarray(signal, dtype=np.float32)


def resample(signal: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    """Band-limited resampling (soxr through librosa)."""
    import librosa

    return librosa.resample(signal, orig_sr=source_rate, target_sr=target_rate, res_type="soxr_hq").astype(
        np.float32
    )


def read_utterance(utterance: object, *, sampling_rate: int = DEFAULT_SAMPLING_RATE, **kwargs: object) -> np.ndarray:
    """The audio of a manifest :class:`~emofuse.data.manifest.Utterance` (respecting start/end)."""
    audio = getattr(utterance, "audio", None)
    if not audio:
        raise AudioError(f"utterance {getattr(utterance, 'id', '?')} has no audio path")
    return read_audio(
        audio,
        sampling_rate=sampling_rate,
        start=getattr(utterance, "start", None),
        end=getattr(utterance, "end", None),
        name=f"{audio} ({getattr(utterance, 'id', '?')})",
        **kwargs,  # type: ignore[arg-type]
    )
