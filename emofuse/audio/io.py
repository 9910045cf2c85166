"""Reading audio: one checked path from a file to a mono float32 signal at a known rate.

Everything that can go wrong with a file (missing, corrupt, empty, digital silence, too short,
non-finite samples) raises :class:`AudioError` naming the file; multi-channel audio is mixed
down and other sampling rates are resampled. A WAV file that holds fewer samples than its header
promises (a truncated copy or upload) is read, and reported in ``warnings`` when a list is given.
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
# What reading a file raises when the file is at fault (undecodable, wrong type): reported as
# "cannot decode audio". Any other error (an interrupted distributed run, say) is no fault of the
# file and propagates: recorded as the file's, it would stay in a feature store for good.
DECODE_ERRORS = (soundfile.SoundFileError, TypeError, ValueError)


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
    warnings: list[str] | None = None,
) -> np.ndarray:
    """A mono float32 signal in [-1, 1] at ``sampling_rate``.

    ``source`` is a path or the bytes of an audio file (``name`` then labels errors).
    ``start``/``end`` (seconds) read a span of a longer file. Signals shorter than
    ``min_duration`` or longer than ``max_duration`` seconds, and all-zero signals (unless
    ``allow_silence``), are rejected. Problems that do not stop reading (a truncated file) are
    appended to ``warnings``.
    """
    if sampling_rate is None or int(sampling_rate) != sampling_rate or sampling_rate <= 0:
        raise ValueError(f"sampling_rate must be a positive integer, got {sampling_rate!r}")
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
            frames = file.frames
    except AudioError:
        raise
    except DECODE_ERRORS as error:
        raise AudioError(f"cannot decode audio ({error})", source=label) from None
    if signal.size == 0:
        raise AudioError("no audio samples", source=label)
    declared = _declared_wav_frames(source if isinstance(source, bytes) else pathlib.Path(source))
    if declared is not None and declared > frames:
        message = (f"truncated: the header promises {declared / native_rate:.2f} s, the file holds "
                   f"{frames / native_rate:.2f} s (only what is there was read)")
        log.warning("%s: %s", label, message)
        if warnings is not None:
            warnings.append(message)
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


def _declared_wav_frames(source: bytes | pathlib.Path) -> int | None:
    """The frames a RIFF/WAVE header declares in its ``data`` chunk (``None``: not a WAV file, or
    a streamed one with no size)."""
    head = source[:65536] if isinstance(source, bytes) else _head(source)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    block_align, position = None, 12
    while position + 8 <= len(head):
        chunk, size = head[position : position + 4], int.from_bytes(head[position + 4 : position + 8], "little")
        if chunk == b"fmt " and position + 22 <= len(head):
            block_align = int.from_bytes(head[position + 20 : position + 22], "little")
        elif chunk == b"data":
            if not block_align or size in (0, 0xFFFFFFFF):
                return None
            return size // block_align
        position += 8 + size + (size % 2)
    return None


def _head(path: pathlib.Path) -> bytes:
    with path.open("rb") as handle:
        return handle.read(65536)


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
