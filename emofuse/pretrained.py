"""Pretrained encoders: default names, layer selection, and the configs of the front-ends
built on them (self-supervised speech features, language-model embeddings, the speaker
encoder). Light to import (no torch), so configs naming them are checked before any network
loads; the extractors live in :mod:`emofuse.audio.ssl`, :mod:`emofuse.text.lm` and
:mod:`emofuse.audio.speaker`.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

#: The default text encoder (all-MiniLM-L6-v2, packaged for offline use).
DEFAULT_TEXT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
#: The default self-supervised speech encoder.
DEFAULT_SSL_MODEL = "facebook/wav2vec2-base"
#: Named encoder layers: hidden-state indices.
LAYER_NAMES = {"last": -1, "second_to_last": -2}


def parse_layer(layer: int | str, *, allowed: tuple[str, ...] = ("all",)) -> int | str:
    """An index for ``last`` / ``second_to_last`` / an integer; other names if ``allowed``.

    >>> parse_layer("second_to_last"), parse_layer("3"), parse_layer("weighted", allowed=("weighted",))
    (-2, 3, 'weighted')
    """
    if isinstance(layer, int):
        return layer
    if layer in LAYER_NAMES:
        return LAYER_NAMES[layer]
    if layer in allowed:
        return layer
    try:
        return int(layer)
    except ValueError:
        choices = ", ".join([*LAYER_NAMES, *allowed, "an integer index"])
        raise ValueError(f"layer must be one of {choices}; got {layer!r}") from None


@dataclasses.dataclass(frozen=True)
class SSLConfig:
    """Frozen self-supervised features. ``layer``: ``last``, ``second_to_last``, an index into
    the hidden states (0: the input projection), or ``all`` (concatenated; the ``pooling``
    model's ``num_layers`` learns their weighted sum). ``pooling``: ``none`` keeps frames,
    ``mean`` averages them into one vector. ``max_duration`` crops long audio (seconds)."""

    model: str = DEFAULT_SSL_MODEL
    layer: int | str = "last"
    pooling: Literal["none", "mean"] = "none"
    max_duration: float | None = 20.0
    sampling_rate: int = 16000

    def __post_init__(self) -> None:
        parse_layer(self.layer)
        if self.max_duration is not None and self.max_duration <= 0:
            raise ValueError("max_duration must be positive (or null)")


@dataclasses.dataclass(frozen=True)
class TextEmbeddingConfig:
    """Frozen embeddings of a pretrained LM.

    ``pooling``: ``mean`` over tokens, ``cls`` (the first token), or ``tokens`` for the token
    sequence ``(tokens, dim)`` used by alignment models. ``layer`` indexes the hidden states
    (``-1`` last, ``-2`` second to last as in Boigne et al.).
    """

    model: str = DEFAULT_TEXT_MODEL
    pooling: Literal["mean", "cls", "tokens"] = "mean"
    layer: int = -1
    max_length: int = 128
    batch_size: int = 32
    normalize: bool = False

    def __post_init__(self) -> None:
        if self.max_length < 2:
            raise ValueError("max_length must be at least 2")


@dataclasses.dataclass(frozen=True)
class ResemblyzerConfig:
    """``output``: ``utterance`` (256,) or ``partials`` (windows, 256). ``preprocess`` applies
    resemblyzer's volume normalisation and long-silence trimming (its own VAD) first. ``rate``
    partial windows per second, ``min_coverage`` of the last window. ``weights``: another
    checkpoint of the same encoder (default: the packaged one)."""

    output: Literal["utterance", "partials"] = "utterance"
    preprocess: bool = True
    rate: float = 1.3
    min_coverage: float = 0.75
    weights: str | None = None
    sampling_rate: int = 16000
    max_duration: float | None = None

    def __post_init__(self) -> None:
        if not 0.625 <= self.rate <= 100:
            raise ValueError(f"rate must be in [0.625, 100] partial windows per second, got {self.rate}")
        if not 0.0 < self.min_coverage <= 1.0:
            raise ValueError(f"min_coverage must be in (0, 1], got {self.min_coverage}")
        if self.sampling_rate != 16000:
            raise ValueError("the resemblyzer encoder works at 16 kHz (sampling_rate: 16000)")
