"""The speech-recogniser contract and registry.

A recogniser is registered under a name with a config dataclass. ``transcribe(signal,
sampling_rate)`` turns one mono float signal into text (``""`` when nothing was recognised);
``transcribe_batch(signals)`` does several at the recogniser's own ``sampling_rate``. A spec
string chooses one on the command line: ``pocketsphinx``, ``whisper`` or ``whisper:<hub id or
local directory>``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from emofuse.config import Component
from emofuse.registry import Registry


class TranscriptionError(RuntimeError):
    """A recogniser that cannot be built or run, or utterances that could not be transcribed."""

    def __init__(self, message: str, failures: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.failures = failures or {}


class SpeechRecognizer:
    """Base class: subclasses set ``name`` and implement :meth:`transcribe_batch`."""

    name: str = "recognizer"
    sampling_rate: int = 16000
    #: Signals per :meth:`transcribe_batch` call that the recogniser handles well.
    batch_size: int = 1

    def __init__(self, config: object) -> None:
        self.config = config

    @property
    def component(self) -> Component:
        return Component(self.name, self.config)

    def transcribe_batch(self, signals: Sequence[np.ndarray]) -> list[str]:
        raise NotImplementedError

    def transcribe(self, signal: np.ndarray, sampling_rate: int) -> str:
        """The text of one mono signal at any sampling rate."""
        if sampling_rate != self.sampling_rate:
            from emofuse.audio.io import resample

            signal = resample(np.asarray(signal, dtype=np.float32), sampling_rate, self.sampling_rate)
        return self.transcribe_batch([np.asarray(signal, dtype=np.float32)])[0]


RECOGNIZERS: Registry[SpeechRecognizer] = Registry("speech recognizer")


def parse_recognizer(spec: str) -> Component:
    """A recogniser component from ``name`` or ``name:model``.

    >>> parse_recognizer("whisper:openai/whisper-tiny.en").config.model
    'openai/whisper-tiny.en'
    >>> parse_recognizer("pocketsphinx").name
    'pocketsphinx'
    """
    name, separator, model = spec.strip().partition(":")
    entry = RECOGNIZERS.get(name)
    if not separator:
        return Component(name, entry.config_class())
    if not model:
        raise ValueError(f"{spec!r}: give a model after '{name}:' or leave the colon out")
    if "model" not in {f.name for f in dataclasses.fields(entry.config_class)}:
        raise ValueError(f"{spec!r}: recogniser {name!r} takes no model name")
    return Component(name, entry.config_class(model=model))


def build_recognizer(asr: str | Component | SpeechRecognizer) -> SpeechRecognizer:
    """A recogniser from a spec string, a component, or as given."""
    if isinstance(asr, SpeechRecognizer):
        return asr
    component = parse_recognizer(asr) if isinstance(asr, str) else asr
    recognizer = RECOGNIZERS.build(component.name, component.config)
    recognizer.name = component.name
    return recognizer
