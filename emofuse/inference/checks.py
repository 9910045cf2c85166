"""What is checked before a recogniser answers: is there speech at all, and is the signal sane.

:func:`inspect_signal` looks at a mono signal as the recogniser received it and returns a
:class:`SignalReport`: the seconds of speech a voice-activity detector hears (Silero by
default), and warnings about samples beyond full scale (an int16-scaled array, a float file
recorded too hot), clipping and a DC offset. Without speech the recogniser gives no emotion
and says why, instead of a confident class for silence, a hum or a constant.
:func:`clean_text` makes a transcript safe for the tokenizers (lone surrogates replaced).
"""

from __future__ import annotations

import dataclasses
import functools
import os

import numpy as np

from emofuse.audio.io import AudioError
from emofuse.audio.io import read_audio
from emofuse.audio.io import resample
from emofuse.audio.vad import VoiceActivity
from emofuse.audio.vad import VoiceActivityConfig

#: Less speech than this (seconds) is no speech.
MIN_SPEECH_SECONDS = 0.1
#: A share of samples at full scale above this is reported as clipping.
CLIPPED_SHARE = 0.001


@dataclasses.dataclass(frozen=True)
class SignalReport:
    speech_seconds: float
    warnings: tuple[str, ...] = ()

    @property
    def has_speech(self) -> bool:
        return self.speech_seconds >= MIN_SPEECH_SECONDS


@functools.lru_cache(maxsize=2)
def _detector(method: str) -> VoiceActivity:
    return VoiceActivity(VoiceActivityConfig(method=method, min_speech=MIN_SPEECH_SECONDS))  # type: ignore[arg-type]


def inspect_signal(signal: np.ndarray, sampling_rate: int, *, vad: str = "silero") -> SignalReport:
    """Speech seconds and warnings for ``signal`` (see the module docstring).

    >>> report = inspect_signal(np.full(16000, 0.5, dtype=np.float32), 16000, vad="energy")
    >>> report.has_speech, report.warnings[0][:9]
    (False, 'DC offset')
    """
    signal = np.asarray(signal, dtype=np.float32)
    warnings: list[str] = []
    peak = float(np.max(np.abs(signal))) if signal.size else 0.0
    if peak > 1.0:
        warnings.append(f"samples exceed full scale (peak {peak:.3g}): the signal is not in [-1, 1] "
                        "(an int16-scaled array, or a float file recorded too hot)")
    elif peak > 0:
        clipped = float(np.mean(np.abs(signal) >= 0.999 * peak)) if peak >= 0.99 else 0.0
        if clipped > CLIPPED_SHARE:
            warnings.append(f"clipped: {100 * clipped:.2f} % of the samples are at full scale")
    offset = float(np.mean(signal)) if signal.size else 0.0
    centred = signal - offset
    spread = float(np.std(centred))
    if abs(offset) > 0.05 and abs(offset) > 0.5 * spread:
        warnings.append(f"DC offset {offset:+.3f}: the signal is not centred on zero")
    if peak > 1.0:  # judge speech on the level the detector was trained on
        centred = centred / peak
    speech = _detector(vad).speech_seconds(centred, sampling_rate) if spread > 1e-6 else 0.0
    if speech < MIN_SPEECH_SECONDS:
        duration = signal.size / sampling_rate
        warnings.append(f"no speech detected ({_detector(vad).method} voice activity: {speech:.2f} s of speech in "
                        f"{duration:.1f} s)")
    return SignalReport(speech, tuple(warnings))


def clean_text(text: str) -> tuple[str, list[str]]:
    """``text`` with lone surrogates (invalid Unicode) replaced by U+FFFD, and a warning if any.

    >>> clean_text("ok")
    ('ok', [])
    >>> clean_text("bad \\ud800 char")[0]
    'bad \\ufffd char'
    """
    try:
        text.encode("utf-8")
        return text, []
    except UnicodeEncodeError:
        cleaned = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        cleaned = "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in cleaned)
        return cleaned, ["the transcript held invalid characters (lone surrogates), replaced by U+FFFD"]


def load_signal(audio: str | os.PathLike[str] | bytes | np.ndarray, target_rate: int, *, sampling_rate: int | None = None,
                name: str | None = None, max_duration: float | None = None,
                warnings: list[str] | None = None) -> np.ndarray:
    """A mono float32 signal at ``target_rate`` from a path, file bytes or an array (with its
    ``sampling_rate``), every argument checked with a clear error."""
    if isinstance(audio, np.ndarray):
        if sampling_rate is None:
            raise ValueError("give sampling_rate with a signal array")
        if isinstance(sampling_rate, bool) or int(sampling_rate) != sampling_rate or sampling_rate <= 0:
            raise ValueError(f"sampling_rate must be a positive integer, got {sampling_rate!r}")
        if not np.issubdtype(audio.dtype, np.number):
            raise AudioError(f"a signal must hold numbers, got dtype {audio.dtype}", source=name)
        signal = np.asarray(audio, dtype=np.float32)
        if signal.ndim == 2:
            signal = signal.mean(axis=1 if signal.shape[1] <= signal.shape[0] else 0, dtype=np.float32)
        if signal.ndim != 1 or signal.size == 0 or not np.all(np.isfinite(signal)):
            raise AudioError("a signal must be a non-empty, finite 1-D (or 2-D multichannel) array", source=name)
        if not np.any(signal):
            raise AudioError("silent: every sample is zero", source=name)
        if sampling_rate != target_rate:
            signal = resample(signal, int(sampling_rate), target_rate)
        if max_duration is not None and signal.size / target_rate > max_duration:
            raise AudioError(f"too long: {signal.size / target_rate:.1f} s (maximum {max_duration} s)", source=name)
        return signal
    if not isinstance(audio, str | bytes | os.PathLike):
        raise ValueError(f"audio must be a path, file bytes or a signal array, got {type(audio).__name__}")
    return read_audio(audio, sampling_rate=target_rate, name=name, max_duration=max_duration, warnings=warnings)
