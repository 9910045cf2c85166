"""Which speech recogniser inference runs when a caller gives no transcript.

Inference names a recogniser the way the ``transcribe`` command does (``pocketsphinx``,
``whisper`` or ``whisper:<hub id or local directory>``; ``none`` switches ASR off) and builds it
through :mod:`emofuse.asr`, the one place where recognisers live. The offline default is
pocketsphinx (a core dependency, US English).
"""

from __future__ import annotations

import dataclasses
from typing import Protocol

import numpy as np

from emofuse.asr import SpeechRecognizer
from emofuse.asr import TranscriptionError
from emofuse.asr import build_recognizer
from emofuse.asr import parse_recognizer

__all__ = ["ASRConfig", "Transcriber", "TranscriptionError", "build_transcriber"]


class Transcriber(Protocol):
    """Anything that turns a mono float signal into text."""

    name: str

    def transcribe(self, signal: np.ndarray, sampling_rate: int) -> str: ...


@dataclasses.dataclass(frozen=True)
class ASRConfig:
    """A recogniser spec (``pocketsphinx``, ``whisper[:model]``) or ``none`` for speech only."""

    name: str = "pocketsphinx"

    def __post_init__(self) -> None:
        if self.name != "none":
            try:
                parse_recognizer(self.name)
            except (KeyError, ValueError) as error:
                raise ValueError(f"unknown ASR {self.name!r}: {error}") from None


def build_transcriber(config: ASRConfig | str | None) -> SpeechRecognizer | None:
    """The recogniser of ``config`` (a spec or config), or ``None`` for ``none``/``None``."""
    if config is None:
        return None
    if isinstance(config, str):
        config = ASRConfig(config)
    if config.name == "none":
        return None
    return build_recognizer(config.name)
