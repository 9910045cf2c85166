"""Reading a long recording block by block, never holding all of it in memory.

:class:`AudioStream` opens a file (a path or the bytes of an upload) or wraps a signal already
in memory, and gives mono float32 samples at the rate asked for:

- :meth:`AudioStream.blocks`: consecutive blocks of ``seconds`` (the last one shorter when the
  file ends mid-block);
- :meth:`AudioStream.spans`: the samples of each ``(start, end)`` span, in one pass over the
  file; only the samples between the earliest unfinished span and the read position are kept.

Files are decoded with soundfile, mixed down to mono and resampled with soxr's streaming
resampler, so that memory stays that of one block whatever the length of the recording. The
same errors as :func:`emofuse.audio.io.read_audio` name the file (missing, empty, undecodable,
non-finite samples); a WAV file shorter than its header says is read and reported in
``warnings``.
"""

from __future__ import annotations

import io
import os
import pathlib
from collections.abc import Iterator
from collections.abc import Sequence

import numpy as np
import soundfile

from emofuse.audio.io import DECODE_ERRORS
from emofuse.audio.io import AudioError
from emofuse.audio.io import _declared_wav_frames

AudioSource = str | os.PathLike[str] | bytes | np.ndarray


class AudioStream:
    """A recording at ``sampling_rate`` read in blocks (see the module docstring).

    ``source`` is a path, the bytes of a file, or a signal with its ``source_rate`` (a 1-D
    array, or 2-D with channels on either axis).

    >>> stream = AudioStream(np.ones(25, dtype=np.float32), 10, source_rate=10)
    >>> [len(b) for b in stream.blocks(1.0)], stream.duration
    ([10, 10, 5], 2.5)
    >>> [s.tolist() for s in stream.spans([(0.0, 0.3), (2.2, 2.5)], block_seconds=1.0)]
    [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
    """

    def __init__(self, source: AudioSource, sampling_rate: int, *, source_rate: int | None = None,
                 name: str | None = None, warnings: list[str] | None = None) -> None:
        self.sampling_rate = int(sampling_rate)
        self.name = name or (str(source) if isinstance(source, str | os.PathLike) else
                             "<upload>" if isinstance(source, bytes) else None)
        self._signal: np.ndarray | None = None
        self._handle: object = None
        if isinstance(source, np.ndarray):
            if source_rate is None:
                raise ValueError("give source_rate with a signal array")
            from emofuse.inference.checks import load_signal

            self._signal = load_signal(source, self.sampling_rate, sampling_rate=source_rate, name=name)
            self.native_rate = self.sampling_rate
            self.frames = self._signal.size
            return
        if isinstance(source, bytes):
            if not source:
                raise AudioError("empty upload (0 bytes)", source=self.name)
            self._handle = source
        else:
            path = pathlib.Path(source)
            if not path.is_file():
                raise AudioError("file not found", source=self.name)
            if path.stat().st_size == 0:
                raise AudioError("empty file (0 bytes)", source=self.name)
            self._handle = str(path)
        with self._open() as file:
            self.native_rate = int(file.samplerate)
            self.frames = int(file.frames)
        declared = _declared_wav_frames(source if isinstance(source, bytes) else pathlib.Path(source))
        if declared is not None and declared > self.frames and warnings is not None:
            warnings.append(f"truncated: the header promises {declared / self.native_rate:.2f} s, the file holds "
                            f"{self.frames / self.native_rate:.2f} s (only what is there was read)")

    def _open(self) -> soundfile.SoundFile:
        handle = io.BytesIO(self._handle) if isinstance(self._handle, bytes) else self._handle
        try:
            return soundfile.SoundFile(handle)  # type: ignore[arg-type]
        except DECODE_ERRORS as error:
            raise AudioError(f"cannot decode audio ({error})", source=self.name) from None

    @property
    def duration(self) -> float:
        """Seconds of audio (from the file's header: a decoder may find a few samples fewer)."""
        return round(self.frames / self.native_rate, 6)

    def blocks(self, seconds: float) -> Iterator[np.ndarray]:
        """Consecutive mono blocks of ``seconds`` at :attr:`sampling_rate` (the last may be shorter)."""
        if seconds <= 0:
            raise ValueError(f"block seconds must be positive, got {seconds}")
        if self._signal is not None:
            size = max(1, int(round(seconds * self.sampling_rate)))
            for start in range(0, self._signal.size, size):
                yield self._signal[start : start + size]
            return
        resampler = None
        if self.native_rate != self.sampling_rate:
            import soxr

            resampler = soxr.ResampleStream(self.native_rate, self.sampling_rate, 1, dtype="float32", quality="HQ")
        size = max(1, int(round(seconds * self.native_rate)))
        with self._open() as file:
            while True:
                try:
                    block = file.read(size, dtype="float32", always_2d=True)
                except soundfile.SoundFileError as error:
                    raise AudioError(f"cannot decode audio ({error})", source=self.name) from None
                last = block.shape[0] < size
                mono = block.mean(axis=1, dtype=np.float32) if block.shape[1] > 1 else block[:, 0]
                if not np.all(np.isfinite(mono)):
                    raise AudioError("audio contains NaN or infinite samples", source=self.name)
                if resampler is not None:
                    mono = resampler.resample_chunk(mono, last=last)
                if mono.size:
                    yield np.ascontiguousarray(mono, dtype=np.float32)
                if last:
                    return

    def spans(self, spans: Sequence[tuple[float, float]], *, block_seconds: float = 60.0) -> Iterator[np.ndarray]:
        """The samples of each ``(start, end)`` span (seconds, sorted by start; spans may
        overlap), read in one pass over the recording."""
        rate = self.sampling_rate
        bounds = [(int(round(a * rate)), max(int(round(a * rate)) + 1, int(round(b * rate)))) for a, b in spans]
        if any(bounds[k][0] < bounds[k - 1][0] for k in range(1, len(bounds))):
            raise ValueError("spans must be sorted by their start")
        if self._signal is not None:
            for first, last in bounds:
                yield self._signal[first:last]
            return
        blocks = self.blocks(block_seconds)
        buffer = np.zeros(0, dtype=np.float32)
        offset = 0  # the sample index of buffer[0]
        exhausted = False
        for k, (first, last) in enumerate(bounds):
            while offset + buffer.size < last and not exhausted:
                block = next(blocks, None)
                if block is None:
                    exhausted = True
                else:
                    buffer = np.concatenate([buffer, block])
            yield buffer[max(0, first - offset) : max(0, last - offset)].copy()
            keep = bounds[k + 1][0] if k + 1 < len(bounds) else offset + buffer.size
            drop = min(max(0, keep - offset), buffer.size)
            buffer, offset = buffer[drop:], offset + drop

