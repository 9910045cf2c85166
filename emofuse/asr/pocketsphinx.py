"""pocketsphinx: offline US English ASR with the acoustic model, language model and dictionary
inside the wheel (or your own, by path). Fast and weak: a floor for real-ASR experiments."""

from __future__ import annotations

import dataclasses
import logging
import pathlib
import threading
from collections.abc import Sequence

import numpy as np

from emofuse.asr.base import Transcriber
from emofuse.asr.base import TranscriptionError
from emofuse.registry import builds

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class PocketsphinxConfig:
    """Model files; ``None`` takes the packaged US English one."""

    acoustic_model: str | None = None
    language_model: str | None = None
    dictionary: str | None = None

    def __post_init__(self) -> None:
        for name in ("acoustic_model", "language_model", "dictionary"):
            value = getattr(self, name)
            if value is not None and not pathlib.Path(value).expanduser().exists():
                raise ValueError(f"pocketsphinx {name} not found: {value}")


@builds(PocketsphinxConfig)
class PocketsphinxTranscriber(Transcriber):
    """One decoder per thread (decoders are not thread-safe), built on first use."""

    name = "pocketsphinx"
    sampling_rate = 16000

    def __init__(self, config: PocketsphinxConfig) -> None:
        super().__init__(config)
        try:
            import pocketsphinx  # noqa: F401
        except ImportError as error:
            raise TranscriptionError(f"pocketsphinx is not installed (a core dependency of emofuse; pip install pocketsphinx): {error}") from None
        self._local = threading.local()

    def _decoder(self) -> object:
        decoder = getattr(self._local, "decoder", None)
        if decoder is None:
            from pocketsphinx import Decoder

            options: dict[str, object] = {"samprate": self.sampling_rate, "loglevel": "ERROR"}
            for key, value in (("hmm", self.config.acoustic_model), ("lm", self.config.language_model),
                               ("dict", self.config.dictionary)):
                if value is not None:
                    options[key] = str(pathlib.Path(value).expanduser())
            try:
                decoder = Decoder(**options)
            except (RuntimeError, ValueError) as error:
                raise TranscriptionError(f"cannot start pocketsphinx with {options}: {error}") from None
            self._local.decoder = decoder
        return decoder

    def transcribe_batch(self, signals: Sequence[np.ndarray]) -> list[str]:
        return [text for text, _ in self.transcribe_scored_batch(signals)]

    def transcribe_scored_batch(self, signals: Sequence[np.ndarray]) -> list[tuple[str, float | None]]:
        """Texts and confidences: the hypothesis' posterior probability per word, ``P ** (1 / words)``
        (0 when nothing was recognised)."""
        decoder = self._decoder()
        results: list[tuple[str, float | None]] = []
        for signal in signals:
            if len(signal) == 0:
                results.append(("", 0.0))  # nothing to hear
                continue
            pcm = (np.clip(np.asarray(signal, dtype=np.float32), -1.0, 1.0) * 32767).astype("<i2").tobytes()
            decoder.start_utt()  # type: ignore[attr-defined]
            decoder.process_raw(pcm, full_utt=True)  # type: ignore[attr-defined]
            decoder.end_utt()  # type: ignore[attr-defined]
            hypothesis = decoder.hyp()  # type: ignore[attr-defined]
            text = _words(hypothesis.hypstr.strip()) if hypothesis is not None else ""
            results.append((text, word_confidence(float(hypothesis.prob), len(text.split())) if text else 0.0))
        return results


def word_confidence(posterior: float, words: int) -> float:
    """The geometric mean per word of a hypothesis' posterior probability, in [0, 1].

    >>> round(word_confidence(0.01, 2), 3)
    0.1
    """
    if words < 1 or not posterior > 0:
        return 0.0
    return float(min(1.0, posterior ** (1.0 / words)))


def _words(hypothesis: str) -> str:
    """The words of a hypothesis without pocketsphinx's silence and filler markers.

    >>> _words("<s> hello [NOISE] ++UH++ world <sil> </s>")
    'hello world'
    """
    return " ".join(w for w in hypothesis.split() if not w.startswith(("<", "[", "++")))
