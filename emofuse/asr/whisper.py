"""Whisper through transformers (``WhisperForConditionalGeneration``), by hub id or local directory.

Loaded through the same resolution as the text encoders (:func:`emofuse.text.lm.resolve_model`:
a local directory as is, a hub id from the hub cache or the network). Signals are batched
(``batch_size``) and decoded greedily or with beams; audio longer than Whisper's 30 s window is
cut into consecutive 30 s pieces whose texts are joined. ``language`` and ``task`` are passed
to multilingual checkpoints only (English-only ``*.en`` models have neither).
"""

from __future__ import annotations

import dataclasses
import logging
import pathlib
from collections.abc import Sequence
from typing import Literal

import numpy as np

from emofuse.asr.base import Transcriber
from emofuse.asr.base import TranscriptionError
from emofuse.registry import builds

log = logging.getLogger(__name__)

DEFAULT_WHISPER_MODEL = "openai/whisper-base.en"
WINDOW_SECONDS = 30.0


@dataclasses.dataclass(frozen=True)
class WhisperConfig:
    """A Whisper checkpoint and how to decode with it (``device: auto`` takes a GPU if there is one)."""

    model: str = DEFAULT_WHISPER_MODEL
    language: str | None = "en"
    task: Literal["transcribe", "translate"] = "transcribe"
    batch_size: int = 8
    num_beams: int = 1
    max_new_tokens: int = 128
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.num_beams < 1 or not 1 <= self.max_new_tokens <= 444:
            raise ValueError("batch_size and num_beams must be positive; max_new_tokens in 1..444")


@builds(WhisperConfig)
class WhisperTranscriber(Transcriber):
    name = "whisper"
    sampling_rate = 16000

    def __init__(self, config: WhisperConfig) -> None:
        super().__init__(config)
        import torch
        from transformers import WhisperForConditionalGeneration
        from transformers import WhisperProcessor

        from emofuse.text.lm import resolve_model

        resolved = resolve_model(config.model)
        local = pathlib.Path(resolved).is_dir()
        try:
            self.processor = WhisperProcessor.from_pretrained(resolved, local_files_only=local)
            self.model = WhisperForConditionalGeneration.from_pretrained(resolved, local_files_only=local)
        except (OSError, ValueError) as error:
            raise TranscriptionError(
                f"cannot load Whisper model {config.model!r}: {error}\n"
                "Without network access, pass a local directory with the model files."
            ) from None
        device = config.device if config.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
        self.model.to(device).eval()
        self.device = device
        self.batch_size = config.batch_size
        generation = self.model.generation_config
        self.multilingual = bool(getattr(generation, "is_multilingual", False) and getattr(generation, "lang_to_id", None))

    def _generate(self, signals: Sequence[np.ndarray]) -> list[str]:
        return [text for text, _ in self._generate_scored(signals)]

    def _generate_scored(self, signals: Sequence[np.ndarray]) -> list[tuple[str, float]]:
        """Texts and the mean probability of their tokens (the exponential of the mean log-probability)."""
        import torch

        features = self.processor.feature_extractor(
            [np.asarray(s, dtype=np.float32) for s in signals], sampling_rate=self.sampling_rate,
            return_tensors="pt", return_attention_mask=True,
        )
        # the decoder prompt (start, language, task, no-timestamps) shares the model's positions
        longest = int(self.model.config.max_target_positions) - 4
        options: dict[str, object] = {"max_new_tokens": min(self.config.max_new_tokens, longest),
                                      "num_beams": self.config.num_beams}
        if self.multilingual:
            options.update(task=self.config.task, language=self.config.language)
        with torch.inference_mode():
            generated = self.model.generate(
                features["input_features"].to(self.device), attention_mask=features["attention_mask"].to(self.device),
                output_scores=True, return_dict_in_generate=True, **options,
            )
            scores = self.model.compute_transition_scores(generated.sequences, generated.scores, normalize_logits=True)
        tokens = generated.sequences
        texts = [text.strip() for text in self.processor.batch_decode(tokens, skip_special_tokens=True)]
        special = set(self.processor.tokenizer.all_special_ids)
        new_tokens = tokens[:, tokens.shape[1] - scores.shape[1]:]
        confidences = []
        for row_tokens, row_scores in zip(new_tokens.tolist(), scores.cpu().numpy(), strict=True):
            kept = [float(v) for t, v in zip(row_tokens, row_scores, strict=True) if t not in special and np.isfinite(v)]
            confidences.append(float(np.exp(np.mean(kept))) if kept else 0.0)
        return list(zip(texts, confidences, strict=True))

    def transcribe_batch(self, signals: Sequence[np.ndarray]) -> list[str]:
        return [text for text, _ in self.transcribe_scored_batch(signals)]

    def transcribe_scored_batch(self, signals: Sequence[np.ndarray]) -> list[tuple[str, float | None]]:
        """Texts and confidences (mean token probability; over 30 s pieces, their mean)."""
        window = int(WINDOW_SECONDS * self.sampling_rate)
        pieces: list[np.ndarray] = []
        owners: list[int] = []
        for index, signal in enumerate(signals):
            signal = np.asarray(signal, dtype=np.float32)
            for start in range(0, max(len(signal), 1), window):
                pieces.append(signal[start : start + window] if len(signal) else np.zeros(self.sampling_rate // 10, np.float32))
                owners.append(index)
        texts: list[list[str]] = [[] for _ in signals]
        confidences: list[list[float]] = [[] for _ in signals]
        for start in range(0, len(pieces), self.config.batch_size):
            batch = pieces[start : start + self.config.batch_size]
            for owner, (text, confidence) in zip(owners[start : start + len(batch)], self._generate_scored(batch), strict=True):
                if text:
                    texts[owner].append(text)
                    confidences[owner].append(confidence)
        return [(" ".join(parts), float(np.mean(scores)) if scores else 0.0) for parts, scores in zip(texts, confidences, strict=True)]
