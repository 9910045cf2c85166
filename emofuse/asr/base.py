"""The ASR contract: a :class:`Transcriber` turns speech into text.

An ASR engine is registered by name in :data:`emofuse.components.TRANSCRIBERS` with a config
dataclass. ``transcribe(signal, sampling_rate)`` turns one mono float signal into text (``""``
when nothing was recognised); ``transcribe_batch(signals)`` does several at the engine's own
``sampling_rate``. A spec string chooses one on the command line and in configs:
``pocketsphinx``, ``whisper``, ``whisper:<hub id or local directory>``, or ``none`` (no ASR).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from emofuse.components import TRANSCRIBERS
from emofuse.config import Component


class TranscriptionError(RuntimeError):
    """An ASR engine that cannot be built or run, or utterances that could not be transcribed."""

    def __init__(self, message: str, failures: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.failures = failures or {}


class Transcriber:
    """Base class of ASR engines: subclasses set ``name`` and implement :meth:`transcribe_batch`."""

    name: str = "asr"
    sampling_rate: int = 16000
    #: Signals per :meth:`transcribe_batch` call that the engine handles well.
    batch_size: int = 1

    def __init__(self, config: object) -> None:
        self.config = config

    @property
    def component(self) -> Component:
        return Component(self.name, self.config)

    @property
    def spec(self) -> str:
        """The spec string that builds this engine again (``whisper:<model>``)."""
        model = getattr(self.config, "model", None)
        return f"{self.name}:{model}" if model else self.name

    def transcribe_batch(self, signals: Sequence[np.ndarray]) -> list[str]:
        raise NotImplementedError

    def transcribe_scored_batch(self, signals: Sequence[np.ndarray]) -> list[tuple[str, float | None]]:
        """Texts with the engine's confidence in each (0-1, ``None`` when it gives none): engines
        that score their hypotheses override this."""
        return [(text, None) for text in self.transcribe_batch(signals)]

    def _at_rate(self, signal: np.ndarray, sampling_rate: int) -> np.ndarray:
        if sampling_rate != self.sampling_rate:
            from emofuse.audio.io import resample

            return resample(np.asarray(signal, dtype=np.float32), sampling_rate, self.sampling_rate)
        return np.asarray(signal, dtype=np.float32)

    def transcribe(self, signal: np.ndarray, sampling_rate: int) -> str:
        """The text of one mono signal at any sampling rate."""
        return self.transcribe_batch([self._at_rate(signal, sampling_rate)])[0]

    def transcribe_scored(self, signal: np.ndarray, sampling_rate: int) -> tuple[str, float | None]:
        """The text of one mono signal and the engine's confidence in it: pocketsphinx's
        hypothesis posterior per word (its geometric mean), Whisper's mean token probability."""
        return self.transcribe_scored_batch([self._at_rate(signal, sampling_rate)])[0]


def parse_asr(spec: str) -> Component:
    """An ASR component from ``name`` or ``name:model``.

    >>> parse_asr("whisper:openai/whisper-tiny.en").config.model
    'openai/whisper-tiny.en'
    >>> parse_asr("pocketsphinx").name
    'pocketsphinx'
    """
    name, separator, model = spec.strip().partition(":")
    entry = TRANSCRIBERS.get(name)
    if not separator:
        return Component(name, entry.config_class())
    if not model:
        raise ValueError(f"{spec!r}: give a model after '{name}:' or leave the colon out")
    if "model" not in {f.name for f in dataclasses.fields(entry.config_class)}:
        raise ValueError(f"{spec!r}: ASR engine {name!r} takes no model name")
    return Component(name, entry.config_class(model=model))


def check_asr(spec: str) -> str:
    """``spec`` if it names an ASR engine or ``none``; a ``ValueError`` otherwise."""
    if spec != "none":
        try:
            parse_asr(spec)
        except (KeyError, ValueError) as error:
            raise ValueError(f"unknown ASR {spec!r}: {error}") from None
    return spec


def build_transcriber(asr: str | Component | Transcriber | None) -> Transcriber | None:
    """An ASR engine from a spec string, a component, or as given; ``None`` for ``none``."""
    if asr is None or isinstance(asr, Transcriber):
        return asr
    if isinstance(asr, str):
        if asr == "none":
            return None
        asr = parse_asr(asr)
    transcriber = TRANSCRIBERS.build(asr.name, asr.config)
    transcriber.name = asr.name
    return transcriber
