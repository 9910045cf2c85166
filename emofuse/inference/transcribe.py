"""Speech recognition for inference behind one small interface: ``transcribe(signal, sampling_rate)``.

The offline default is pocketsphinx (a core dependency, US English). This adapter is the single
place where inference builds a recogniser: :func:`build_transcriber`. When ``emofuse.asr`` (with
Whisper and transcript caching) lands, :func:`build_transcriber` should delegate to it and the
pocketsphinx class here be deleted.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from typing import Protocol

import numpy as np

log = logging.getLogger(__name__)

#: ASR back-ends that inference knows by name (``none`` switches ASR off).
ASR_NAMES: tuple[str, ...] = ("pocketsphinx", "none")


class TranscriptionError(RuntimeError):
    """A speech recogniser that cannot be built or run."""


class Transcriber(Protocol):
    """Anything that turns a mono float signal into text."""

    name: str

    def transcribe(self, signal: np.ndarray, sampling_rate: int) -> str: ...


@dataclasses.dataclass(frozen=True)
class ASRConfig:
    """Which recogniser inference runs when no transcript is given (``none``: speech only)."""

    name: str = "pocketsphinx"
    language: str = "en-us"

    def __post_init__(self) -> None:
        if self.name not in ASR_NAMES:
            raise ValueError(f"unknown ASR {self.name!r}; available: {', '.join(ASR_NAMES)}")


class PocketsphinxTranscriber:
    """pocketsphinx with its packaged US English models, one decoder per thread.

    Decoders are not thread-safe, so each thread that calls :meth:`transcribe` gets its own
    (about 0.5 s to build, built on first use).
    """

    name = "pocketsphinx"
    sampling_rate = 16000

    def __init__(self, language: str = "en-us") -> None:
        if language != "en-us":
            raise TranscriptionError(f"pocketsphinx here has the US English model only, not {language!r}")
        try:
            import pocketsphinx  # noqa: F401
        except ImportError as error:  # pragma: no cover - a core dependency
            raise TranscriptionError(f"pocketsphinx is not installed: {error}") from None
        self.language = language
        self._local = threading.local()

    def _decoder(self):  # noqa: ANN202 (pocketsphinx object)
        decoder = getattr(self._local, "decoder", None)
        if decoder is None:
            from pocketsphinx import Decoder

            decoder = Decoder(samprate=self.sampling_rate, loglevel="ERROR")
            self._local.decoder = decoder
        return decoder

    def transcribe(self, signal: np.ndarray, sampling_rate: int) -> str:
        """The best hypothesis for ``signal`` (lower-case words, ``""`` when nothing was heard)."""
        if sampling_rate != self.sampling_rate:
            from emofuse.audio.io import resample

            signal = resample(np.asarray(signal, dtype=np.float32), sampling_rate, self.sampling_rate)
        pcm = (np.clip(np.asarray(signal, dtype=np.float32), -1.0, 1.0) * 32767).astype("<i2").tobytes()
        decoder = self._decoder()
        decoder.start_utt()
        decoder.process_raw(pcm, full_utt=True)
        decoder.end_utt()
        hypothesis = decoder.hyp()
        text = "" if hypothesis is None else hypothesis.hypstr.strip()
        # silence and filler markers are not words
        return " ".join(w for w in text.split() if not (w.startswith("<") or w.startswith("[") or w.startswith("++")))


def build_transcriber(config: ASRConfig | str | None) -> Transcriber | None:
    """The recogniser of ``config`` (a name or config), or ``None`` for ``none``/``None``."""
    if config is None:
        return None
    if isinstance(config, str):
        config = ASRConfig(config)
    if config.name == "none":
        return None
    return PocketsphinxTranscriber(config.language)
